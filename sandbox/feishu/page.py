"""Read-only HTML pages of the simulator, at Feishu's own web addresses where there is one.

- ``/`` (also ``/_sandbox/``): every base and table with its views, and the cards the bot got;
- ``/base/{app_token}``: one base; ``?table=tbl…`` one table, ``&view=vew…`` one view with the
  view's filter applied (Feishu's URL form ``/base/{app_token}?table=…&view=…``, so the run
  card's link to the base works against the sandbox as against Feishu); ``&page=N`` pages of
  :data:`PAGE_SIZE` records;
- cells shown as Feishu shows them: number fields in their ``formatter``, dates in their
  ``date_formatter`` (China time);
- per account view, a sync-status mark: the latest date the view holds against yesterday (China
  time), and the account's outcome on the newest bot card that names it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any
from urllib.parse import urlencode

from sandbox.feishu.filters import BASE_TZ, compile_filter, day_of
from sandbox.feishu.state import Base, Field, Record, Table, View
from sandbox.feishu.values import (
    CHECKBOX,
    CREATED_TIME,
    DATE,
    MODIFIED_TIME,
    NUMBER,
    TEXT,
    display,
)

PAGE_SIZE = 100  # records per page
MAX_CARDS = 50  # newest cards shown

_CSS = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:24px;color:#1f2329}
h1{font-size:20px} h2{font-size:17px;margin-top:28px} h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
th,td{border:1px solid #dee0e3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f6f7} code{background:#f5f6f7;padding:1px 4px;border-radius:3px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#8f959e;font-size:12px} .ok{color:#2ea121} .bad{color:#d83931} .warn{color:#de7802}
.card{border:1px solid #dee0e3;border-radius:6px;margin:10px 0;max-width:760px}
.card .hd{padding:6px 10px;color:#fff;font-weight:600}
.card .bd{padding:8px 10px;font-size:13px;line-height:1.6}
.green{background:#2ea121} .orange{background:#de7802} .red{background:#d83931} .blue{background:#3370ff}
"""


# -- cell formats -------------------------------------------------------------------------------

_NUMBER_FORMATS: dict[str, tuple[str, int, bool, bool]] = {
    # formatter: (prefix, decimals, thousands separator, percent)
    "0": ("", 0, False, False),
    "0.0": ("", 1, False, False),
    "0.00": ("", 2, False, False),
    "0.000": ("", 3, False, False),
    "0.0000": ("", 4, False, False),
    "1,000": ("", 0, True, False),
    "1,000.00": ("", 2, True, False),
    "%": ("", 0, False, True),
    "0.00%": ("", 2, False, True),
    "¥": ("¥", 0, True, False),
    "¥0.00": ("¥", 2, True, False),
    "$": ("$", 0, True, False),
    "$0.00": ("$", 2, True, False),
}


def format_number(value: Any, formatter: str | None) -> str:
    """A number as Feishu shows it in a field with ``formatter`` (exact: via Decimal)."""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    prefix, places, thousands, percent = _NUMBER_FORMATS.get(
        formatter or "0.0", ("", 1, False, False)
    )
    if percent:
        d *= 100
    text = f"{d:,.{places}f}" if thousands else f"{d:.{places}f}"
    return f"{prefix}{text}{'%' if percent else ''}"


_DATE_TOKENS = (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"))


def format_date(ms: int, formatter: str | None) -> str:
    """Epoch milliseconds in the field's ``date_formatter``, China time (the base's zone)."""
    fmt = formatter or "yyyy/MM/dd"
    for token, directive in _DATE_TOKENS:
        fmt = fmt.replace(token, directive)
    return datetime.fromtimestamp(ms / 1000, BASE_TZ).strftime(fmt)


def format_cell(f: Field, value: Any) -> str:
    """HTML of one cell."""
    if value is None:
        return ""
    prop = f.property or {}
    if f.type == NUMBER and not isinstance(value, bool):
        return escape(format_number(value, prop.get("formatter")))
    if f.type in (DATE, CREATED_TIME, MODIFIED_TIME) and isinstance(value, int):
        return escape(format_date(value, prop.get("date_formatter")))
    if f.type == CHECKBOX:
        return "✓" if value else ""
    return escape(display(f.type, value))


# -- cards --------------------------------------------------------------------------------------

_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _markdown(text: str) -> str:
    """The little markdown our cards use: **bold**, [text](url), line breaks."""
    html = escape(text)
    html = _LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', html)
    html = _BOLD.sub(r"<b>\1</b>", html)
    return html.replace("\n", "<br>")


def card_text(message: dict[str, Any]) -> str:
    card = message.get("card") or {}
    body = card.get("body") or {}
    elements = body.get("elements") or card.get("elements") or []
    return "\n".join(str(e.get("content", "")) for e in elements if isinstance(e, dict))


def render_cards(messages: Sequence[dict[str, Any]]) -> str:
    """The cards the bot received, newest first."""
    if not messages:
        return "<p class=muted>No cards yet.</p>"
    out = []
    for m in list(reversed(messages))[:MAX_CARDS]:
        card = m.get("card") or {}
        header = card.get("header") or {}
        title = (header.get("title") or {}).get("content", m.get("msg_type", ""))
        colour = header.get("template", "blue")
        if m.get("msg_type") == "text":
            title, body = "text", escape(str((m.get("content") or {}).get("text", "")))
        else:
            body = _markdown(card_text(m))
        out.append(
            f'<div class="card"><div class="hd {escape(colour)}">{escape(str(title))}</div>'
            f'<div class="bd">{body}</div></div>'
        )
    if len(messages) > MAX_CARDS:
        out.append(f"<p class=muted>… {len(messages) - MAX_CARDS} older cards not shown</p>")
    return "".join(out)


# -- per-account sync status --------------------------------------------------------------------


@dataclass(frozen=True)
class AccountStatus:
    account_id: str
    latest: date | None  # latest date the account's rows hold (None: no rows / no date field)
    expected: date  # yesterday, China time
    card: str  # "ok" / "failed" / "" (no card names the account)
    reason: str = ""

    def html(self) -> str:
        parts = []
        if self.card == "failed":
            parts.append(f"<span class=bad>✗ last run failed</span>: {escape(self.reason)}")
        elif self.card == "ok":
            parts.append("<span class=ok>✓ last run ok</span>")
        if self.latest is None:
            parts.append("<span class=warn>no dated rows</span>")
        elif self.latest >= self.expected:
            parts.append(f"<span class=ok>up to date</span> ({self.latest})")
        else:
            behind = (self.expected - self.latest).days
            parts.append(f"<span class=warn>{behind} day(s) behind</span> (latest {self.latest})")
        return " · ".join(parts)


def account_of(view: View, table: Table) -> tuple[Field, str] | None:
    """(field, account id) when the view is one of ours: a single ``is`` on a text field."""
    conds = (view.filter_info or {}).get("conditions") or []
    if len(conds) != 1 or conds[0].get("operator") != "is":
        return None
    f = table.field_by_id(str(conds[0].get("field_id")))
    try:
        values = json.loads(conds[0].get("value") or "[]")
    except ValueError:
        return None
    if f is None or f.type != TEXT or not isinstance(values, list) or len(values) != 1:
        return None
    return f, str(values[0])


def _date_field(table: Table) -> Field | None:
    return next((f for f in table.fields if f.type == DATE), None)


def _card_outcome(account_id: str, messages: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """The account's outcome on the newest card that names it: ("ok"|"failed"|"", reason)."""
    for m in reversed(messages):
        text = card_text(m)
        if account_id not in text:
            continue
        for line in text.splitlines():
            if line.startswith(f"- {account_id} ") or line.startswith(f"- {account_id}："):
                return "failed", line.split("：", 1)[1] if "：" in line else ""
        return "ok", ""
    return "", ""


def account_statuses(
    table: Table, messages: Sequence[dict[str, Any]], today: date | None = None
) -> dict[str, AccountStatus]:
    """view_id → status, for the table's account views (one pass over the records)."""
    today = today or datetime.now(BASE_TZ).date()
    expected = today - timedelta(days=1)
    views = {v.view_id: a for v in table.views if (a := account_of(v, table)) is not None}
    if not views:
        return {}
    dated = _date_field(table)
    latest: dict[tuple[str, str], date] = {}
    fields = {f.field_id for f, _ in views.values()}
    for rec in table.records.values():
        day = rec.fields.get(dated.field_id) if dated else None
        if not isinstance(day, int):
            continue
        d = day_of(day)
        for fid in fields:
            key = (fid, display(TEXT, rec.fields.get(fid)))
            if d > latest.get(key, date.min):
                latest[key] = d
    out = {}
    for vid, (f, account) in views.items():
        card, reason = _card_outcome(account, messages)
        out[vid] = AccountStatus(account, latest.get((f.field_id, account)), expected, card, reason)
    return out


# -- pages --------------------------------------------------------------------------------------


def _doc(title: str, body: Sequence[str]) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )


def base_href(
    base: Base, table: Table | None = None, view: View | None = None, page: int = 1
) -> str:
    q: dict[str, str | int] = {}
    if table is not None:
        q["table"] = table.table_id
    if view is not None:
        q["view"] = view.view_id
    if page > 1:
        q["page"] = page
    # Escaped: it goes into href attributes.
    return escape(f"/base/{base.app_token}" + (f"?{urlencode(q)}" if q else ""))


def _filter_text(view: View, table: Table) -> str:
    fi = view.filter_info
    if not fi or not fi.get("conditions"):
        return "<span class=muted>no filter</span>"
    parts = []
    for c in fi["conditions"]:
        f = table.field_by_id(c["field_id"])
        name = f.field_name if f else c["field_id"]
        try:
            value = json.loads(c.get("value") or "[]")
        except ValueError:
            value = c.get("value")
        parts.append(
            f"<code>{escape(name)}</code> {escape(c['operator'])} "
            f"<code>{escape(json.dumps(value, ensure_ascii=False))}</code>"
        )
    return f" {escape(fi.get('conjunction', 'and'))} ".join(parts)


def _views_html(
    base: Base, table: Table, statuses: dict[str, AccountStatus], current: str | None = None
) -> str:
    out = ["<table><tr><th>view</th><th>type</th><th>filter</th><th>sync status</th></tr>"]
    for v in table.views:
        name = escape(v.view_name)
        if v.view_id != current:
            name = f'<a href="{base_href(base, table, v)}">{name}</a>'
        st = statuses.get(v.view_id)
        out.append(
            f"<tr><td>{name} <span class=muted>{escape(v.view_id)}</span></td>"
            f"<td>{escape(v.view_type)}</td><td>{_filter_text(v, table)}</td>"
            f"<td>{st.html() if st else ''}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _records_html(
    base: Base, table: Table, view: View | None, records: list[Record], page: int
) -> str:
    pages = max(1, -(-len(records) // PAGE_SIZE))
    page = min(max(1, page), pages)
    shown = records[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    hidden = set(view.hidden_fields) if view else set()
    fields = [f for f in table.fields if f.field_id not in hidden]
    out = [
        f"<p class=muted>{len(records)} records · page {page} of {pages}"
        f" ({PAGE_SIZE} per page)</p>",
        _pager(base, table, view, page, pages),
        "<table><tr><th>record_id</th>",
    ]
    out += [
        f"<th>{escape(f.field_name)}{' 🔑' if f.is_primary else ''}"
        f"<br><span class=muted>{escape(f.ui_type)}</span></th>"
        for f in fields
    ]
    out.append("</tr>")
    for rec in shown:
        cells = "".join(
            f"<td{' class=num' if f.type == NUMBER else ''}>"
            f"{format_cell(f, rec.fields.get(f.field_id))}</td>"
            for f in fields
        )
        out.append(f"<tr><td class=muted>{escape(rec.record_id)}</td>{cells}</tr>")
    out.append("</table>")
    out.append(_pager(base, table, view, page, pages))
    return "".join(out)


def _pager(base: Base, table: Table, view: View | None, page: int, pages: int) -> str:
    if pages <= 1:
        return ""
    links = []
    if page > 1:
        links.append(f'<a href="{base_href(base, table, view, page - 1)}">‹ previous</a>')
    links.append(f"page {page}/{pages}")
    if page < pages:
        links.append(f'<a href="{base_href(base, table, view, page + 1)}">next ›</a>')
    return f"<p>{' · '.join(links)}</p>"


def _table_summary(base: Base, t: Table) -> str:
    return (
        f'<h3><a href="{base_href(base, t)}">{escape(t.name)}</a> <span class=muted>'
        f"{escape(t.table_id)} · revision {t.revision} · {len(t.records)} records · "
        f"{len(t.views)} views</span></h3>"
    )


def render_page(
    bases: list[Base], counters: dict[str, int], messages: Sequence[dict[str, Any]] = ()
) -> str:
    """The index: bases → tables (links to their pages), and the cards the bot received."""
    body = ["<h1>Feishu sandbox</h1>"]
    body.append(
        '<p class=muted>Read-only. Request counters: <a href="/_sandbox/counters">JSON</a> · '
        + escape(", ".join(f"{k}={v}" for k, v in sorted(counters.items()) if v))
        + "</p>"
    )
    if not bases:
        body.append("<p>No bases.</p>")
    for base in bases:
        body.append(
            f'<h2>Base <a href="{base_href(base)}">{escape(base.name)}</a> <span class=muted>'
            f"app_token {escape(base.app_token)} · {len(base.tables)} tables</span></h2>"
        )
        if not base.tables:
            body.append("<p class=muted>No tables yet.</p>")
        body += [_table_summary(base, t) for t in base.tables]
    body.append(f"<h2>Cards the bot received ({len(messages)})</h2>")
    body.append(render_cards(messages))
    return _doc("Feishu sandbox", body)


class NotFound(LookupError):
    """A table or view id the base does not have (the page answers 404)."""


def render_base(
    base: Base,
    table_id: str | None,
    view_id: str | None,
    page: int,
    messages: Sequence[dict[str, Any]] = (),
    today: date | None = None,
) -> str:
    """``/base/{app_token}[?table=…[&view=…]][&page=N]``: the base, a table, or one view."""
    crumbs = f'<p class=muted><a href="/">sandbox</a> › <a href="{base_href(base)}">{escape(base.name)}</a>'
    if table_id is None:
        body = [crumbs + "</p>", f"<h1>Base {escape(base.name)}</h1>"]
        body += [_table_summary(base, t) for t in base.tables] or ["<p>No tables yet.</p>"]
        return _doc(base.name, body)
    table = base.table(table_id)
    if table is None:
        raise NotFound(f"table {table_id!r}")
    view = None
    if view_id is not None:
        view = table.view_by_id(view_id)
        if view is None:
            raise NotFound(f"view {view_id!r}")
    records = list(table.records.values())
    if view is not None and view.filter_info:
        keep = compile_filter(table, view.filter_info, by_id=True, today=today)
        records = [r for r in records if keep(r)]
    statuses = account_statuses(table, messages, today)
    body = [
        crumbs
        + f' › <a href="{base_href(base, table)}">{escape(table.name)}</a>'
        + (f" › {escape(view.view_name)}" if view else "")
        + "</p>",
        f"<h1>{escape(table.name)}{' · ' + escape(view.view_name) if view else ''}</h1>",
    ]
    if view is not None:
        body.append(f"<p>Filter: {_filter_text(view, table)}</p>")
        if view.view_id in statuses:
            body.append(f"<p>Sync status: {statuses[view.view_id].html()}</p>")
    body.append("<h3>Views</h3>")
    body.append(_views_html(base, table, statuses, view.view_id if view else None))
    body.append(_records_html(base, table, view, records, page))
    return _doc(table.name, body)
