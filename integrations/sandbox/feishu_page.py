"""Read-only HTML view of the simulator: bases → tables → views (with filters) → records."""

from __future__ import annotations

import json
from html import escape

from integrations.sandbox.feishu_filters import day_of
from integrations.sandbox.feishu_state import Base, Table, View
from integrations.sandbox.feishu_values import CREATED_TIME, DATE, MODIFIED_TIME, display

MAX_ROWS = 1000  # per table; a person scrolls, a benchmark table would make the page unusable

_CSS = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:24px;color:#1f2329}
h1{font-size:20px} h2{font-size:17px;margin-top:28px} h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
th,td{border:1px solid #dee0e3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f6f7} code{background:#f5f6f7;padding:1px 4px;border-radius:3px}
.muted{color:#8f959e;font-size:12px}
"""


def _cell(ftype: int, value: object) -> str:
    if value is None:
        return ""
    if ftype in (DATE, CREATED_TIME, MODIFIED_TIME) and isinstance(value, int):
        return f"{day_of(value).isoformat()} <span class=muted>({value})</span>"
    return escape(display(ftype, value))


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


def _table_html(table: Table) -> str:
    out = [
        f"<h3>{escape(table.name)} <span class=muted>{escape(table.table_id)} · "
        f"revision {table.revision} · {len(table.records)} records</span></h3>",
        "<table><tr><th>view</th><th>type</th><th>filter</th></tr>",
    ]
    for v in table.views:
        out.append(
            f"<tr><td>{escape(v.view_name)} <span class=muted>{escape(v.view_id)}</span></td>"
            f"<td>{escape(v.view_type)}</td><td>{_filter_text(v, table)}</td></tr>"
        )
    out.append("</table><table><tr><th>record_id</th>")
    out += [
        f"<th>{escape(f.field_name)}{' 🔑' if f.is_primary else ''}"
        f"<br><span class=muted>{escape(f.ui_type)}</span></th>"
        for f in table.fields
    ]
    out.append("</tr>")
    for i, rec in enumerate(table.records.values()):
        if i >= MAX_ROWS:
            out.append(
                f"<tr><td colspan={len(table.fields) + 1} class=muted>"
                f"… {len(table.records) - MAX_ROWS} more records not shown</td></tr>"
            )
            break
        cells = "".join(
            f"<td>{_cell(f.type, rec.fields.get(f.field_id))}</td>" for f in table.fields
        )
        out.append(f"<tr><td class=muted>{escape(rec.record_id)}</td>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def render_page(bases: list[Base], counters: dict[str, int]) -> str:
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
            f"<h2>Base {escape(base.name)} <span class=muted>app_token {escape(base.app_token)}"
            f" · {len(base.tables)} tables</span></h2>"
        )
        if not base.tables:
            body.append("<p class=muted>No tables yet.</p>")
        body += [_table_html(t) for t in base.tables]
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>Feishu sandbox</title><style>{_CSS}</style></head><body>"
        + "".join(body)
        + "</body></html>"
    )
