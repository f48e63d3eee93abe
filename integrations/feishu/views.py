"""One grid view per ad account, named after the account, filtered on the account-id text field.

Views are matched to accounts by their *filter* (``account-id is "<id>"``), so an account whose
name changed gets its view renamed rather than a second one; a view carrying an account's name
but a wrong filter gets its filter patched. Only missing views are created.

Feishu caps a table at 200 views (public, locked and personal all count; ``1254101``). Accounts
past the cap get no view: a warning names them, and records are written regardless.

Cost: one paged list; views.list items may lack ``property`` (contract §3), in which case each
view's filter is read with views.get (reads, no writes); then writes only for what differs.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from integrations.feishu.client import BitableApi
from integrations.feishu.errors import FeishuApiError
from integrations.feishu.schema import TableHandle

log = logging.getLogger(__name__)

MAX_VIEWS_PER_TABLE = 200
MAX_VIEW_NAME = 100
VIEW_EXCEED_LIMIT = 1254101
VIEW_NAME_DUPLICATED = 1254020
_FORBIDDEN = re.compile(r"[\[\]]")
_SPACES = re.compile(r"\s+")


@dataclass
class ViewsResult:
    created: int = 0
    patched: int = 0
    renamed: int = 0
    unchanged: int = 0
    without_view: list[str] = field(default_factory=list)  # "id name" of accounts left out
    warnings: list[str] = field(default_factory=list)


def sanitize_view_name(name: str, account_id: str) -> str:
    """Feishu view names: non-empty, ≤100 chars, no ``[`` ``]``."""
    clean = _SPACES.sub(" ", _FORBIDDEN.sub(lambda m: "(" if m[0] == "[" else ")", name)).strip()
    return (clean or account_id)[:MAX_VIEW_NAME].rstrip() or account_id


def view_names(accounts: Mapping[str, str]) -> dict[str, str]:
    """account id → view name; identical names get `` (<id suffix>)`` to stay unique."""
    base = {aid: sanitize_view_name(name or "", aid) for aid, name in accounts.items()}
    counts: dict[str, int] = {}
    for n in base.values():
        counts[n] = counts.get(n, 0) + 1
    out: dict[str, str] = {}
    for aid, n in base.items():
        if counts[n] > 1:
            suffix = f" ({aid[-6:]})"
            n = n[: MAX_VIEW_NAME - len(suffix)].rstrip() + suffix
        out[aid] = n
    # Two accounts sharing the same last 6 digits and name: fall back to the whole id.
    seen: dict[str, str] = {}
    for aid in sorted(out, key=_sort_key):
        if out[aid] in seen:
            suffix = f" ({aid})"
            out[aid] = base[aid][: MAX_VIEW_NAME - len(suffix)].rstrip() + suffix
        seen[out[aid]] = aid
    return out


def _sort_key(aid: str) -> tuple[int, int | str]:
    return (0, int(aid)) if aid.isdigit() else (1, aid)


def filter_value(account_id: str) -> str:
    """The view filter value: a JSON-encoded string array (contract §3)."""
    return json.dumps([account_id], ensure_ascii=False)


def _filter_account(prop: Any, field_id: str) -> str | None:
    """The account id a view filters on, if its filter is exactly ``field is [id]``."""
    info = getattr(prop, "filter_info", None) if prop is not None else None
    conds = getattr(info, "conditions", None) or []
    if len(conds) != 1:
        return None
    c = conds[0]
    if c.field_id != field_id or c.operator != "is" or not c.value:
        return None
    try:
        vals = json.loads(c.value)
    except (TypeError, ValueError):
        return None
    return str(vals[0]) if isinstance(vals, list) and len(vals) == 1 else None


def ensure_views(
    api: BitableApi,
    handle: TableHandle,
    accounts: Mapping[int | str, str],
    *,
    max_views: int = MAX_VIEWS_PER_TABLE,
) -> ViewsResult:
    spec = handle.spec
    if spec.account_id_field is None:
        raise ValueError(f"{spec.dataset}: no account-id field declared; no per-account views")
    fid = handle.fields[spec.account_id_field].field_id
    tid = handle.table_id
    res = ViewsResult()
    names = view_names({str(k): v for k, v in accounts.items()})

    views = api.list_views(tid)
    by_account: dict[str, Any] = {}
    by_name: dict[str, Any] = {}
    for v in views:
        prop = v.property if v.property is not None else api.get_view(tid, v.view_id).property
        aid = _filter_account(prop, fid)
        if aid is not None and aid not in by_account:
            by_account[aid] = v
        by_name[v.view_name] = v
    total = len(views)
    # Views already serving one of these accounts; others (old/removed accounts) may be reused.
    claimed = {id(v) for aid, v in by_account.items() if aid in names}

    capped = False
    for aid in sorted(names, key=_sort_key):
        want = names[aid]
        v = by_account.get(aid)
        try:
            if v is not None:
                if v.view_name != want:
                    api.patch_view(tid, v.view_id, name=want)
                    res.renamed += 1
                else:
                    res.unchanged += 1
                continue
            v = by_name.get(want)
            if v is not None and id(v) not in claimed:
                api.patch_view(tid, v.view_id, filter_conditions=[(fid, "is", filter_value(aid))])
                claimed.add(id(v))
                res.patched += 1
                continue
            if capped or total >= max_views:
                capped = True
                res.without_view.append(f"{aid} {accounts_name(accounts, aid)}".strip())
                continue
            created = api.create_view(tid, want)
            total += 1
            api.patch_view(tid, created.view_id, filter_conditions=[(fid, "is", filter_value(aid))])
            res.created += 1
        except FeishuApiError as e:
            if e.code == VIEW_EXCEED_LIMIT:
                capped = True
                res.without_view.append(f"{aid} {accounts_name(accounts, aid)}".strip())
            elif e.code == VIEW_NAME_DUPLICATED:
                msg = f"view {want!r} for account {aid}: the name is taken by another view"
                res.warnings.append(msg)
                log.warning("bitable %r: %s", spec.name, msg)
            else:
                raise
    if res.without_view:
        msg = (
            f"table {spec.name!r} reached Feishu's cap of {max_views} views: "
            f"{len(res.without_view)} account(s) have no view (their records are still "
            f"written): {', '.join(res.without_view)}"
        )
        res.warnings.append(msg)
        log.warning("bitable: %s", msg)
    return res


def accounts_name(accounts: Mapping[int | str, str], aid: str) -> str:
    if aid in accounts:
        return accounts[aid]
    try:
        return accounts.get(int(aid), "")  # type: ignore[call-overload]
    except ValueError:
        return ""
