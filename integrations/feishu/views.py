"""One grid view per ad account, named after the account, filtered on the account-id text field.

Views are matched to accounts by their *filter* (``account-id is "<id>"``), so an account whose
name changed gets its view renamed rather than a second one; a view carrying an account's name
but a wrong filter gets its filter patched. Only missing views are created.

Feishu caps a table at 200 views (public, locked and personal all count; ``1254101``). Accounts
past the cap get no view: a warning names them, and records are written regardless.

Cost: one paged list per call, then writes only for what differs. views.list items may lack
``property`` (docs/contracts/feishu.md §3); each view's filter must then be read with views.get
(~200 reads for a full table). Without an engine every view is read on every call. With one,
``bitable_view_map`` (``view_map.py``) remembers each view's account id and name: a listed view
whose name matches the cache is trusted without a read, except for the oldest-verified ceil(n /
verify_days) of them, so every filter is re-read at least every ``verify_days`` runs (a warm run
with 200 views: 29 reads, not 200). Unknown or renamed views are always read. The cache never drives
a write: a rename reads its view first, and a run that must create or re-point a view (an account
without one) reads every view first, since "no view serves this account" is a claim about all of
them. So a wrong cache costs at most a late repair (a hand-edited filter within ``verify_days``
runs), never a duplicate view or a wrong filter. Views about to change are dropped from the cache
before the write, so a crash leaves them unknown, not stale.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lark_oapi.api.bitable.v1 import AppTableView
from sqlalchemy import Engine

from integrations.feishu import view_map
from integrations.feishu.client import BitableApi
from integrations.feishu.errors import FeishuApiError, FeishuTransportError
from integrations.feishu.schema import TableHandle

log = logging.getLogger(__name__)

MAX_VIEWS_PER_TABLE = 200
MAX_VIEW_NAME = 100
WITHOUT_VIEW_SHOWN = 5  # accounts named in the over-cap warning (the count says how many)
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
    # "id: reason" of views whose create/patch failed (e.g. an HTML 502): the records are still
    # written; the next run lists the views again and retries these.
    failed: list[str] = field(default_factory=list)


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
    """The view filter value: a JSON-encoded string array (docs/contracts/feishu.md §3)."""
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


@dataclass(frozen=True)
class _Step:
    """What to do for one account: keep or rename its view, re-point another view, create one."""

    kind: Literal["keep", "rename", "patch", "create"]
    aid: str
    want: str  # the view name this account should have
    view: AppTableView | None = None  # None for "create"


def _plan(
    views: list[AppTableView], aid_of: Mapping[str, str | None], names: Mapping[str, str]
) -> list[_Step]:
    """The steps for every account, from each view's account id (``aid_of[view_id]``)."""
    by_account: dict[str, AppTableView] = {}
    for v in views:
        aid = aid_of[v.view_id]
        if aid is None:
            continue
        cur = by_account.get(aid)
        # Two views on one account (a filter edited by hand): keep the one already named for it,
        # so the other is re-pointed to its own account instead of renamed into a name clash.
        if cur is None or (cur.view_name != names.get(aid) and v.view_name == names.get(aid)):
            by_account[aid] = v
    by_name = {v.view_name: v for v in views}
    # Views already serving one of these accounts; others (old/removed accounts) may be reused.
    claimed = {v.view_id for aid, v in by_account.items() if aid in names}
    steps: list[_Step] = []
    for aid in sorted(names, key=_sort_key):
        want = names[aid]
        v = by_account.get(aid)
        if v is not None:
            steps.append(_Step("keep" if v.view_name == want else "rename", aid, want, v))
            continue
        v = by_name.get(want)
        if v is not None and v.view_id not in claimed:
            claimed.add(v.view_id)
            steps.append(_Step("patch", aid, want, v))
            continue
        steps.append(_Step("create", aid, want))
    return steps


def _must_read(
    steps: list[_Step], views: list[AppTableView], read: Mapping[str, Any], can_create: bool
) -> list[str]:
    """Views whose cached account id a write in ``steps`` relies on (never write from the cache).

    A rename relies on its view only. A patch or a create relies on *no* view serving the account,
    a claim about every view: all unread ones are read first (only when an account lacks a view).
    """
    unread = [v.view_id for v in views if v.view_id not in read]
    if any(s.kind == "patch" or (s.kind == "create" and can_create) for s in steps):
        return unread
    return [
        s.view.view_id
        for s in steps
        if s.kind == "rename" and s.view is not None and s.view.view_id not in read
    ]


def _trusted(
    views: list[AppTableView],
    cache: Mapping[str, view_map.ViewEntry],
    read: Mapping[str, Any],
    verify_days: int,
) -> dict[str, str | None]:
    """view_id → cached account id for views not re-read this run.

    Unknown views and views renamed since they were cached are not trusted. Of the others, the
    oldest-verified ceil(n / verify_days) are due again, so every view's filter is re-read at
    least every ``verify_days`` runs (a filter a user edited is repaired within that many runs).
    """
    pool = [
        v
        for v in views
        if v.view_id not in read
        and v.view_id in cache
        and cache[v.view_id].view_name == v.view_name
    ]
    pool.sort(key=lambda v: (cache[v.view_id].verified_at, v.view_id))
    due = math.ceil(len(pool) / verify_days)
    return {v.view_id: cache[v.view_id].account_id or None for v in pool[due:]}


def ensure_views(
    api: BitableApi,
    handle: TableHandle,
    accounts: Mapping[int | str, str],
    *,
    max_views: int = MAX_VIEWS_PER_TABLE,
    engine: Engine | None = None,
    verify_days: int = 7,
) -> ViewsResult:
    """Create, rename or re-point views so each account has one, filtered on its id.

    With ``engine``, the ``bitable_view_map`` cache spares views.get for views verified recently
    (see the module docstring); without it every view's filter is read on every call.
    """
    spec = handle.spec
    if spec.account_id_field is None:
        raise ValueError(f"{spec.dataset}: no account-id field declared; no per-account views")
    if verify_days < 1:
        raise ValueError(f"verify_days must be >= 1, got {verify_days}")
    fid = handle.fields[spec.account_id_field].field_id
    tid = handle.table_id
    res = ViewsResult()
    names = view_names({str(k): v for k, v in accounts.items()})

    views = api.list_views(tid)
    # view_id → account id (None: not one of ours) as read from Feishu during this call.
    read: dict[str, str | None] = {
        v.view_id: _filter_account(v.property, fid) for v in views if v.property is not None
    }
    cache: dict[str, view_map.ViewEntry] = {}
    if engine is not None:
        with engine.connect() as conn:
            cache = view_map.load(conn, api.app_token, tid)
    trusted = _trusted(views, cache, read, verify_days)

    def read_views(view_ids: list[str]) -> None:
        for vid in view_ids:
            read[vid] = _filter_account(api.get_view(tid, vid).property, fid)
            trusted.pop(vid, None)

    read_views([v.view_id for v in views if v.view_id not in read and v.view_id not in trusted])
    # Plan, read what the plan's writes rely on, plan again; each round reads ≥ 1 more view.
    while True:
        steps = _plan(views, {**trusted, **read}, names)
        todo = _must_read(steps, views, read, can_create=len(views) < max_views)
        if not todo:
            break
        read_views(todo)

    touched = [s.view.view_id for s in steps if s.kind != "keep" and s.view is not None]
    if engine is not None and any(vid in cache for vid in touched):
        # Forget the views about to change first: a crash after the write leaves them unknown
        # (read next run), never cached with their old name or filter.
        with engine.begin() as conn:
            view_map.delete(conn, api.app_token, tid, (vid for vid in touched if vid in cache))

    done = _apply(api, handle, fid, steps, accounts, res, max_views=max_views, total=len(views))

    if engine is not None:
        # Views read this call, then what we wrote on top; trusted views keep their verified_at.
        names_now = {v.view_id: v.view_name for v in views}
        rows = {vid: (aid or "", names_now[vid]) for vid, aid in read.items()}
        rows.update(done)
        listed = set(names_now)
        with engine.begin() as conn:
            view_map.delete(conn, api.app_token, tid, (vid for vid in cache if vid not in listed))
            view_map.put(
                conn,
                api.app_token,
                tid,
                [(vid, a, n) for vid, (a, n) in rows.items()],
                view_map.now(),
            )

    if res.without_view:
        msg = (
            f"table {spec.name!r} reached Feishu's cap of {max_views} views: "
            f"{len(res.without_view)} account(s) have no view (their records are still "
            f"written); first: {', '.join(res.without_view[:WITHOUT_VIEW_SHOWN])}"
            + ("…" if len(res.without_view) > WITHOUT_VIEW_SHOWN else "")
        )
        res.warnings.append(msg)
        log.warning("bitable: %s", msg)
    return res


def _apply(
    api: BitableApi,
    handle: TableHandle,
    fid: str,
    steps: list[_Step],
    accounts: Mapping[int | str, str],
    res: ViewsResult,
    *,
    max_views: int,
    total: int,
) -> dict[str, tuple[str, str]]:
    """Run the steps; returns view_id → (account id, name) of every view we left changed."""
    tid = handle.table_id
    done: dict[str, tuple[str, str]] = {}
    capped = False
    hidden = key_hidden(handle)
    for s in steps:
        aid, want, v = s.aid, s.want, s.view
        try:
            if s.kind == "keep":
                res.unchanged += 1
            elif s.kind == "rename" and v is not None:
                api.patch_view(tid, v.view_id, name=want)
                done[v.view_id] = (aid, want)
                res.renamed += 1
            elif s.kind == "patch" and v is not None:
                api.patch_view(
                    tid,
                    v.view_id,
                    filter_conditions=[(fid, "is", filter_value(aid))],
                    hidden_fields=hidden,
                )
                done[v.view_id] = (aid, v.view_name)
                res.patched += 1
            elif capped or total >= max_views:
                capped = True
                res.without_view.append(f"{aid} {accounts_name(accounts, aid)}".strip())
            else:
                created = _create_view(api, tid, want)
                total += 1
                api.patch_view(
                    tid,
                    created.view_id,
                    filter_conditions=[(fid, "is", filter_value(aid))],
                    hidden_fields=hidden,
                )
                done[created.view_id] = (aid, want)
                res.created += 1
        except FeishuApiError as e:
            if e.code == VIEW_EXCEED_LIMIT:
                capped = True
                res.without_view.append(f"{aid} {accounts_name(accounts, aid)}".strip())
            elif e.code == VIEW_NAME_DUPLICATED:
                msg = f"view {want!r} for account {aid}: the name is taken by another view"
                res.warnings.append(msg)
                log.warning("bitable %r: %s", handle.spec.name, msg)
            else:
                _failed(handle, res, aid, s.kind, e)
        except FeishuTransportError as e:  # e.g. an HTML 502 on a create: retried next run
            _failed(handle, res, aid, s.kind, e)
    return done


def _create_view(api: BitableApi, tid: str, name: str) -> AppTableView:
    """Create a view; a create that failed in transport (an HTML 502, a timeout: created or
    not?) is settled at once by listing the table's views — the view of that name is adopted
    (the name was free just before: it is ours), else the create is sent once more. The views
    API is not idempotent, so it is never blindly retried (integrations/feishu/client.py)."""
    try:
        return api.create_view(tid, name)
    except FeishuTransportError as first:
        log.warning("views.create %r failed in transport (%s); settling by listing", name, first)
        found = next((v for v in api.list_views(tid) if v.view_name == name), None)
        return found if found is not None else api.create_view(tid, name)


def key_hidden(handle: TableHandle) -> list[str] | None:
    """``hidden_fields`` for views we create or re-point: the business-key column, so the first
    column a person sees is a meaningful one (None for adopted tables without a key field)."""
    key = handle.spec.key_field
    return [handle.fields[key.key].field_id] if key is not None else None


def _failed(handle: TableHandle, res: ViewsResult, aid: str, kind: str, e: Exception) -> None:
    reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    res.failed.append(f"{aid} ({kind}): {reason}")
    log.warning(
        "bitable %r: view of account %s: %s failed: %s", handle.spec.name, aid, kind, reason
    )


def accounts_name(accounts: Mapping[int | str, str], aid: str) -> str:
    if aid in accounts:
        return accounts[aid]
    try:
        return accounts.get(int(aid), "")  # type: ignore[call-overload]
    except ValueError:
        return ""
