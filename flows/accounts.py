"""Authorised ad accounts → ``ad_accounts``, with a Prefect event per change (hourly).

list the token's accounts (``oauth2/advertiser/get``) and, under each 工作台, the customer-center
lists per account type (LOCAL by default) → diff against the DB (integrations/sources/oceanengine/transforms/accounts.py)
→ emit one event per change (``adsync.account.added|removed|renamed|disabled|enabled``, the
account as the resource ``adsync.account.<type>.<id>``, old/new in the payload) → upsert.

Events are emitted before the DB commit: if the commit fails, the next run sees the same change
and emits it again (at least once, never lost). An automation reacts to them, e.g. trigger
``expect: adsync.account.renamed`` / ``match: {"prefect.resource.id": "adsync.account.*"}``.

A listing that failed or was truncated never marks accounts removed: only complete listings
of a type count. Renamed accounts' Bitable views follow on the next sink run (views are found
by their filter's account id, see integrations/feishu/views.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.states import State
from sqlalchemy import select, update

from flows import steps
from flows.context import RunContext
from flows.runtime import Runtime, get_runtime
from flows.summary import RunSummary
from flows.sync_run import run_name
from integrations.database import tables
from integrations.events import ChangeEvent, forward_events
from integrations.sources.oceanengine import endpoints as E
from integrations.sources.oceanengine.transforms import accounts as transform

FLOW_NAME = "accounts-hourly"
DEFAULT_CC_ACCOUNT_TYPES = ("LOCAL",)
SEEN_CHUNK = 500

log = logging.getLogger("adsync.flows")


@dataclass
class Listing:
    """One listing source's accounts; ``complete`` = nothing rejected, nothing truncated."""

    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    notes: list[str] = field(default_factory=list)


INCOMPLETE = Listing("-", complete=False)  # what a failed listing counts as


@task(
    name="list-authorised-accounts",
    **steps.API_TASK,
)
def list_authorised() -> Listing:
    fetched = steps.authorized_accounts(get_runtime())  # every principal's consent
    out = Listing(E.EP_ADVERTISER_GET, [a.to_row() for a in fetched.rows])
    if fetched.rejections:
        out.complete = False
        out.notes = [str(r) for r in fetched.rejections]
    return out


@task(
    name="list-workbench-accounts",
    task_run_name="list-{cc_account_id}-{account_type}",
    **steps.API_TASK,
)
def list_workbench(cc_account_id: int, account_type: str) -> Listing:
    # A listing that does not add up (page_info total, repeated keys) is read again once.
    return steps.fetch_complete(
        lambda: _list_workbench(cc_account_id, account_type),
        f"工作台 {cc_account_id} {account_type} listing",
    )


def _list_workbench(cc_account_id: int, account_type: str) -> Listing:
    out = Listing(f"{cc_account_id}:{account_type}")
    for page, rejections in E.iter_customer_center_accounts(
        get_runtime().client("oceanengine"), cc_account_id, account_type
    ):
        out.rows.extend(a.to_row() for a in page)
        if rejections:  # unparsable rows, or the API's 10,000-row cap
            out.complete = False
            out.notes.extend(str(r) for r in rejections)
    return out


@task(
    name="list-life-accounts",
    task_run_name="list-life-{life_account_id}",
    **steps.API_TASK,
)
def list_life(life_account_id: int) -> Listing:
    """LOCAL accounts of a 来客 account (v3.0/local/life/advertiser/list; ids only)."""
    out = Listing(f"{life_account_id}:LIFE")
    for page, rejections in E.iter_life_local_accounts(
        get_runtime().client("oceanengine"), life_account_id
    ):
        out.rows.extend(a.to_row() for a in page)
        if rejections:
            out.complete = False
            out.notes.extend(str(r) for r in rejections)
    return out


def life_ids(authorised: Sequence[dict[str, Any]]) -> list[int]:
    """The consent's 来客 accounts (account_type PLATFORM_ROLE_LIFE, kind ``LIFE``)."""
    return sorted({int(r["account_id"]) for r in authorised if r["account_type"] == "LIFE"})


def workbench_ids(rt: Runtime, authorised: Sequence[dict[str, Any]]) -> list[int]:
    """The configured 工作台, else the CUSTOMER_ADMIN/OPERATOR accounts of the consent."""
    if rt.settings.oceanengine_cc_account_id is not None:
        return [rt.settings.oceanengine_cc_account_id]
    return sorted(
        {int(r["account_id"]) for r in authorised if r["account_type"] in steps.CC_ACCOUNT_TYPES}
    )


def _stored(rt: Runtime) -> dict[transform.Key, dict[str, Any]]:
    with rt.engine.connect() as conn:
        rows = conn.execute(select(tables.ad_accounts)).mappings()
        return {transform.key_of(r): dict(r) for r in rows}


def _touch_seen(rt: Runtime, seen: Sequence[transform.Key], now: datetime) -> None:
    """last_seen_at for every listed account (the upsert leaves unchanged rows alone)."""
    t = tables.ad_accounts
    by_type: dict[str, list[int]] = {}
    for atype, aid in seen:
        by_type.setdefault(atype, []).append(aid)
    with rt.engine.begin() as conn:
        for atype, ids in by_type.items():
            for i in range(0, len(ids), SEEN_CHUNK):
                conn.execute(
                    update(t)
                    .where(t.c.account_type == atype, t.c.account_id.in_(ids[i : i + SEEN_CHUNK]))
                    .values(last_seen_at=now)
                )


def emit(change: transform.AccountChange) -> None:
    emit_event(event=change.kind.event, resource=change.resource(), payload=change.payload())


def forward(rt: Runtime, changes: Sequence[transform.AccountChange], summary: RunSummary) -> None:
    """The same events to ADSYNC_EVENTS_WEBHOOK_URL when set; a failure is a warning only."""
    events = [ChangeEvent(c.kind.event, c.resource(), c.payload()) for c in changes]
    res = forward_events(rt.settings, events)
    if res is not None and not res.ok:
        summary.warnings.append(
            f"events webhook: {res.failed} of {len(events)} account event(s) not forwarded "
            f"({res.error}); the sync itself is unaffected"
        )


@task(name="write-accounts", cache_policy=NO_CACHE)
def write_accounts(
    listings: list[Listing], covered_types: set[str], cc_types: set[str], summary: RunSummary
) -> list[transform.AccountChange]:
    rt = get_runtime()
    now = datetime.now(UTC).replace(tzinfo=None)

    def covers(account_type: str) -> bool:
        # Types listed per 工作台 are covered by those listings; every other type by
        # oauth2/advertiser/get. Only complete, successful listings count.
        return account_type in covered_types or (
            account_type not in cc_types and E.EP_ADVERTISER_GET in covered_types
        )

    p = transform.plan(_stored(rt), [r for li in listings for r in li.rows], covers=covers, now=now)
    for c in p.changes:
        log.info("account %s %s (%s): %s → %s", c.resource_id, c.kind.value, c.name, c.old, c.new)
        emit(c)
    forward(rt, p.changes, summary)
    rows = steps.screen_rows(summary, tables.ad_accounts, p.rows, None)
    steps.upsert_db(rt, tables.ad_accounts, rows, summary)
    _touch_seen(rt, p.seen, now)
    summary.sink("prefect:events").add(inserted=len(p.changes))
    return p.changes


def _listed(run: RunContext, key: str, listing: Listing | None) -> Listing | None:
    """A listing on its source's outcome (rows, incomplete as rejected); None when it failed
    (a failed listing removes nothing; the run is PARTIAL)."""
    if listing is None:
        return None
    res = run.outcome(key)
    res.rows += len(listing.rows)
    res.rejected += 0 if listing.complete else max(1, len(listing.notes))
    for n in listing.notes[:20]:
        log.warning("listing %s: %s", key, n)
    return listing


@flow(
    name=FLOW_NAME,
    description="Authorised ad accounts → ad_accounts; a Prefect event per added/removed/"
    "renamed/disabled account.",
    log_prints=True,
    flow_run_name=run_name("accounts"),
)
def accounts_hourly(cc_account_types: list[str] | None = None, tenant: str = "default"):
    """List the accounts and record changes.

    Args:
        cc_account_types: Customer-center account types listed under each 工作台 (default
            LOCAL; also AD, QIANCHUAN).
        tenant: Which tenant of adsync.toml's [[tenants]] to sync (its app, principals, accounts
            and bases); "default" is the single ADSYNC_* setup.
    """
    types = list(DEFAULT_CC_ACCOUNT_TYPES) if cc_account_types is None else cc_account_types
    cc_types = {t.upper() for t in types}
    run = RunContext.today(FLOW_NAME, tenant)
    if isinstance(run, State):  # could not start: settings or tokens
        return run
    with run:
        listings: list[Listing] = []
        covered: set[str] = set()
        # Every listing source is an outcome: a failed one is named and the run is PARTIAL.
        run.outcome(E.EP_ADVERTISER_GET, "authorised accounts")
        authorised = _listed(
            run, E.EP_ADVERTISER_GET, run.attempt(list_authorised, E.EP_ADVERTISER_GET)
        )
        if authorised is not None:
            listings.append(authorised)
            if authorised.complete:
                covered.add(E.EP_ADVERTISER_GET)
        cc_ids = workbench_ids(run.rt, authorised.rows if authorised else [])
        lives = life_ids(authorised.rows if authorised else [])
        if not cc_ids and not lives and cc_types and authorised is not None:
            run.summary.warnings.append(
                f"no 工作台 (CUSTOMER_ADMIN/OPERATOR) account: {', '.join(sorted(cc_types))} "
                "accounts not listed (and never marked removed)"
            )

        # Per 工作台 and account type; a type counts as covered only if every listing of it
        # was complete.
        jobs = {f"{cc}:{t}": (cc, t) for cc in cc_ids for t in sorted(cc_types)}
        for key, (_, t) in jobs.items():
            run.outcome(key, f"工作台 {t} accounts")
        got = dict(run.fan_out(list_workbench, list(jobs), args_of=jobs.__getitem__))
        for key in jobs:  # in 工作台 and type order, whatever order they completed in
            if (listing := _listed(run, key, got.get(key))) is not None:
                listings.append(listing)
        ok_by_type = {
            t: bool(cc_ids) and all(got.get(f"{cc}:{t}", INCOMPLETE).complete for cc in cc_ids)
            for t in cc_types
        }

        # 来客 grants: their LOCAL accounts, listed where no 工作台 listing already names them
        # (the 工作台 rows carry names, the 来客 rows only ids).
        if lives and "LOCAL" in cc_types:
            named = {
                r["account_id"] for li in listings for r in li.rows if r["account_type"] == "LOCAL"
            }
            life_ok = not cc_ids or ok_by_type.get("LOCAL", False)
            keys = {f"{life}:LIFE": life for life in lives}
            for key in keys:
                run.outcome(key, "来客 LOCAL accounts")
            got = dict(run.fan_out(list_life, list(keys), args_of=lambda k: (keys[k],)))
            for key in keys:  # in id order: a LOCAL account under two 来客 is listed once
                listing = _listed(run, key, got.get(key))
                life_ok = life_ok and listing is not None and listing.complete
                if listing is not None:
                    listing.rows = [r for r in listing.rows if r["account_id"] not in named]
                    named |= {r["account_id"] for r in listing.rows}
                    listings.append(listing)
            ok_by_type["LOCAL"] = life_ok
        covered |= {t for t, ok in ok_by_type.items() if ok}
        run.write(write_accounts, listings, covered, cc_types, run.summary)
    return run.state
