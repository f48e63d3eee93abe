"""DOU+ (boosted Douyin videos): orders, daily order stats, the video ranking → DB → Bitable.

For each 抖音号 account (``aweme_sec_uid`` = ``account_string_id`` of an AWEME account in
``oauth2/advertiser/get``), one fan-out over the accounts per window chunk:

1. the order report per day of the chunk (the API has no date dimension: one request per day)
   → ``douplus_order_daily`` (order_id, stat_date), money converted from
   ``settings.douplus_money_unit`` (fen by default) to Decimal yuan exactly;
2. the order list → ``douplus_orders``: incremental by default — orders created in the last
   7 days (China) plus every order that has stats in the chunk (an order that spent changed:
   its status and numbers moved), fetched by id when the creation filter missed it; ``full``:
   created in the last 90 days, plus those. The stats' orders are therefore always known, so
   the order → video map is complete except for orders that promote no video (LIVE).

Then, for the whole window, read back from the DB: the per-video daily aggregate
(``integrations.sources.oceanengine.transforms.douplus.video_daily``) → ``douplus_video_daily``; stats whose order has no
known video are counted and named in the run's warnings, never dropped silently.

Bitable (a projection of the DB, through the shared sink and per-account views):
- ``DOU+订单``: the orders the run touched (created since the listing horizon, or with stats in
  the window), each with its own numbers (its stats summed over its days, and the date they
  reach) — order-level, never summed across orders;
- ``DOU+视频日报``: the video ranking per day for the window (orders summed per video);
- ``DOU+视频排行`` / ``DOU+账号日报``: the period rankings per video / 抖音号 (today / 7 / 30
  days / all time, as of yesterday, the last settled day), recomputed from all the DB's
  order-day rows each run (``write_periods``; cost in bench/RESULTS.md), replaced as a whole.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from sqlalchemy import ColumnElement, Connection, Select, case, delete, select

from flows import steps
from flows.context import RunContext
from flows.douplus_rows import (
    ORDER_KEY,
    ORDER_STATS_KEY,
    latest_by_key,
    money_unit_mismatch,
    order_list_rows,
    order_video_frame,
    stats_frame,
)
from flows.runtime import Runtime, get_runtime
from flows.summary import RunSummary
from flows.sync_run import run_name
from flows.window import Window, china_today
from integrations.database import tables
from integrations.database.upsert import upsert
from integrations.exact import to_rows
from integrations.feishu.specs import table_spec
from integrations.sources.oceanengine import endpoints as E
from integrations.sources.oceanengine.fields import MoneyUnitMismatch
from integrations.sources.oceanengine.pagination import Fetched
from integrations.sources.oceanengine.transforms import douplus as transform
from integrations.sources.oceanengine.transforms import douplus_periods

FLOW_NAME = "douplus-daily"
FETCH_WORKERS = 16  # threads; the rate limiter, not this, bounds the request rate
INCREMENTAL_ORDER_DAYS = 7
FULL_ORDER_DAYS = 90
ORDER_IDS_PER_REQUEST = 100  # filter.order_id per order-list request (its max page size)
AWEME = "AWEME"
BITABLE_DATASETS = ("douplus_orders", "douplus_video_daily")
PERIOD_TABLES = (tables.douplus_video_periods, tables.douplus_account_periods)
IN_CHUNK = 500  # ids per SQL IN (...) when reading orders back

log = logging.getLogger("adsync.flows")


# --- accounts --------------------------------------------------------------------------------


def aweme_accounts(rt: Runtime, only: Sequence[str] | None = None) -> dict[str, str]:
    """Authorised 抖音号 accounts: aweme_sec_uid → name.

    ``settings.accounts`` names win, keyed by account id or aweme_sec_uid. ``only`` keeps the
    accounts named there by aweme_sec_uid or account id; an unknown one is a ValueError.
    """
    listed = steps.authorized_accounts(rt)  # every principal's consent
    for rej in listed.rejections:
        log.warning("account listing: %s", rej)
    names: dict[str, str] = {}
    ids: dict[str, str] = {}  # account id (text) → aweme_sec_uid
    for a in listed.rows:
        if a.kind != AWEME:
            continue
        if not a.account_string_id:
            log.warning("抖音号 account %s has no account_string_id (aweme_sec_uid); skipped", a.id)
            continue
        uid = a.account_string_id
        names[uid] = a.account_name or a.advertiser_name or uid
        ids[str(a.id)] = uid
    return steps.select_accounts(rt, names, only, "抖音号 accounts", aliases=ids)


@task(
    name="list-aweme-accounts",
    **steps.API_TASK,
)
def list_aweme_accounts(only: list[str] | None) -> dict[str, str]:
    return aweme_accounts(get_runtime(), only)


# --- fetch -----------------------------------------------------------------------------------


@task(
    name="fetch-douplus-stats",
    task_run_name="stats-{aweme_sec_uid}-{start}",
    **steps.API_TASK,
)
def fetch_stats(aweme_sec_uid: str, start: date, end: date) -> steps.FetchResult:
    """Per-order daily stats of one 抖音号 for ``[start, end]`` (one request per day)."""
    rt = get_runtime()
    fetched = steps.fetch_complete(
        lambda: E.collect(
            E.iter_douplus_report(
                rt.client_for("oceanengine", aweme_sec_uid),  # its principal's token
                aweme_sec_uid,
                start,
                end,
                money_unit=rt.settings.douplus_money_unit,
            )
        ),
        f"抖音号 {aweme_sec_uid} stats",
    )
    return steps.FetchResult(aweme_sec_uid, fetched.rows, fetched.rejections)


@task(
    name="fetch-douplus-orders",
    task_run_name="orders-{aweme_sec_uid}",
    **steps.API_TASK,
)
def fetch_orders(
    aweme_sec_uid: str, created_since: date | None, today: date, order_ids: list[int]
) -> steps.FetchResult:
    """Orders created since ``created_since`` (None: none by date), then any of ``order_ids``
    that listing did not return, by id."""
    rt = get_runtime()
    return steps.fetch_complete(
        lambda: _fetch_orders(rt, aweme_sec_uid, created_since, today, order_ids),
        f"抖音号 {aweme_sec_uid} orders",
    )


def _fetch_orders(
    rt: Runtime, aweme_sec_uid: str, created_since: date | None, today: date, order_ids: list[int]
) -> steps.FetchResult:
    client, unit = rt.client_for("oceanengine", aweme_sec_uid), rt.settings.douplus_money_unit
    out: Fetched[dict] = Fetched()
    if created_since is not None:
        out = E.collect(
            E.iter_douplus_orders_created(
                client, aweme_sec_uid, created_since, today, money_unit=unit
            )
        )
    seen = {r["order_id"] for r in out.rows}
    missing = sorted(set(order_ids) - seen)
    for i in range(0, len(missing), ORDER_IDS_PER_REQUEST):
        batch = missing[i : i + ORDER_IDS_PER_REQUEST]
        for rows, rejections in E.iter_douplus_orders(
            client, aweme_sec_uid, money_unit=unit, filter={"order_id": batch}
        ):
            out.add(rows, rejections)
    return steps.FetchResult(aweme_sec_uid, out.rows, out.rejections)


def fetch_chunk(
    run: RunContext, chunk: Window, created_since: date | None, today: date
) -> tuple[list[dict], list[dict]]:
    """Stats then orders of every still-healthy account for one chunk: (orders, stats).

    An account whose stats or orders failed is marked failed (and skipped in later chunks); its
    rows from this chunk are left out, so the DB never gets stats without their orders. A money
    unit mismatch is the setting's fault, not an account's: it fails the run, in one line.
    """
    ids = run.healthy()
    stats: list[dict] = []
    for uid, fetched in run.fan_out(
        fetch_stats, ids, chunk.start, chunk.end, fatal=(MoneyUnitMismatch,)
    ):
        stats += run.record(uid, fetched)
    ok = run.healthy()
    run.skip(len(ids) - len(ok))  # their orders are not fetched
    wanted = {
        uid: sorted({r["order_id"] for r in stats if r["aweme_sec_uid"] == uid}) for uid in ok
    }
    orders: list[dict] = []
    for uid, fetched in run.fan_out(
        fetch_orders,
        ok,
        args_of=lambda uid: (uid, created_since, today, wanted[uid]),
        what="order list",
        fatal=(MoneyUnitMismatch,),
    ):
        orders += run.record(uid, fetched, count_rows=False)
    good = set(run.healthy())
    orders = [o for o in orders if o["aweme_sec_uid"] in good]
    stats = [s for s in stats if s["aweme_sec_uid"] in good]
    problem = money_unit_mismatch(orders, stats)
    if problem is not None:
        raise MoneyUnitMismatch(problem)
    return orders, stats


# --- DB --------------------------------------------------------------------------------------


@task(name="write-db", cache_policy=NO_CACHE)
def write_db(orders: list[dict], stats: list[dict], summary: RunSummary) -> None:
    rt = get_runtime()
    orders = steps.screen_rows(summary, tables.douplus_orders, orders, "aweme_sec_uid")
    stats = steps.screen_rows(summary, tables.douplus_order_daily, stats, "aweme_sec_uid")
    # Orders first: a crash in between leaves orders without stats (harmless), never the reverse.
    steps.upsert_db(rt, tables.douplus_orders, latest_by_key(orders, ORDER_KEY), summary)
    steps.upsert_db(rt, tables.douplus_order_daily, latest_by_key(stats, ORDER_STATS_KEY), summary)


def _in_chunks(
    conn: Connection, q: Select, column: ColumnElement, ids: Sequence[int]
) -> list[dict]:
    ids = sorted(set(ids))
    out: list[dict] = []
    for i in range(0, len(ids), IN_CHUNK):
        out.extend(
            dict(r) for r in conn.execute(q.where(column.in_(ids[i : i + IN_CHUNK]))).mappings()
        )
    return out


def _read_orders(rt: Runtime, order_ids: Sequence[int]) -> list[dict]:
    t = tables.douplus_orders
    with rt.engine.connect() as conn:
        return _in_chunks(conn, select(t), t.c.order_id, order_ids)


def _read_stats(rt: Runtime, window: Window) -> list[dict]:
    t = tables.douplus_order_daily
    q = select(t).where(t.c.stat_date.between(window.start, window.end))
    with rt.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def _touched_orders(
    rt: Runtime, window: Window, created_since: date
) -> tuple[list[dict], list[dict]]:
    """The orders this run may have changed — created since ``created_since`` or with stats in
    the window — and all their stats (every day, for their totals)."""
    o, d = tables.douplus_orders, tables.douplus_order_daily
    since = datetime.combine(created_since, time.min)
    with rt.engine.connect() as conn:
        ids = set(
            conn.execute(select(o.c.order_id).where(o.c.order_create_time >= since)).scalars()
        )
        ids |= set(
            conn.execute(
                select(d.c.order_id).where(d.c.stat_date.between(window.start, window.end))
            ).scalars()
        )
        orders = _in_chunks(conn, select(o), o.c.order_id, sorted(ids))
        stats = _in_chunks(conn, select(d), d.c.order_id, sorted(ids))
    return orders, stats


@task(name="write-video-daily", cache_policy=NO_CACHE)
def write_video_daily(window: Window, summary: RunSummary) -> None:
    """The video ranking for the window, from the DB's order stats and order → video map."""
    rt = get_runtime()
    stats = stats_frame(_read_stats(rt, window))
    orders = _read_orders(rt, stats["order_id"].to_list())
    videos, unmapped_stats = transform.video_daily(stats, order_video_frame(orders))
    steps.upsert_db(rt, tables.douplus_video_daily, to_rows(videos), summary)
    if unmapped_stats:
        summary.warnings.append(f"video ranking: {unmapped_stats.describe()}")
        log.warning("video ranking: %s", unmapped_stats.describe())


def _period_inputs(rt: Runtime, as_of: date) -> tuple[list[dict], list[dict]]:
    """Every order-day row up to ``as_of`` (all time is a period) and the order → video map.
    Only the columns the period transform reads; measured in bench/RESULTS.md."""
    d, o = tables.douplus_order_daily, tables.douplus_orders
    cols = [d.c[c] for c in dict.fromkeys((*transform.ORDER_STATS_COLUMNS, transform.RANK))]
    with rt.engine.connect() as conn:
        stats = [
            dict(r) for r in conn.execute(select(*cols).where(d.c.stat_date <= as_of)).mappings()
        ]
        vmap = [
            dict(r)
            for r in conn.execute(
                select(o.c.order_id, o.c.item_id).where(o.c.item_id.is_not(None))
            ).mappings()
        ]
    return stats, vmap


@task(name="write-periods", cache_policy=NO_CACHE)
def write_periods(as_of: date, summary: RunSummary) -> None:
    """The rankings over today / 7 / 30 days / all time ending at ``as_of``, recomputed from the
    DB's order-day rows, upserted by (period, video / 抖音号); rows of another ``as_of`` (an
    entity that left a period) are deleted in the same transaction, so the tables always hold
    one ranking and a rerun changes nothing (integrations/sources/oceanengine/datasets.py).
    Any other as_of goes, not only older ones: after an intraday run (as_of today) a backfill
    or the test's morning run (as_of yesterday) leaves exactly its own ranking."""
    rt = get_runtime()
    stats, vmap = _period_inputs(rt, as_of)
    videos, accounts = douplus_periods.periods(stats_frame(stats), order_video_frame(vmap), as_of)
    for table, df in zip(PERIOD_TABLES, (videos, accounts), strict=True):
        with rt.engine.begin() as conn:
            res = upsert(conn, table, to_rows(df))
            gone = conn.execute(delete(table).where(table.c.as_of != as_of)).rowcount
        summary.sink(f"db:{table.name}").add(
            inserted=res.inserted, updated=res.updated, unchanged=res.unchanged, deleted=gone
        )


def _period_rows(rt: Runtime, table: Any, as_of: date) -> list[dict]:
    """A period table's rows in ranking order: today first, then by 抖音号 and cost rank. The
    view API cannot sort (docs/contracts/feishu.md V3: a view's property is filter_info and
    hidden_fields only), so records are created in this order and carry 消耗排名."""
    order = case(
        {p: i for i, p in enumerate(douplus_periods.PERIODS)}, value=table.c.period, else_=99
    )
    by = (
        [order, table.c.cost_rank]
        if "item_id" not in table.c
        else [
            order,
            table.c.aweme_sec_uid,
            table.c.cost_rank,
        ]
    )
    with rt.engine.connect() as conn:
        q = select(table).where(table.c.as_of == as_of).order_by(*by)
        return [dict(r) for r in conn.execute(q).mappings()]


@task(name="project-periods", cache_policy=NO_CACHE)
def project_periods(as_of: date, names: dict[str, str], summary: RunSummary) -> None:
    """DOU+视频排行 and DOU+账号日报 from the DB, a view per 抖音号; records of another as_of
    (the DB deleted their rows) are deleted from Bitable too, by the as_of date field."""
    from integrations.feishu.reconcile import purge_other_dates  # lark-oapi: only when writing

    rt = get_runtime()
    rows = {t.name: _period_rows(rt, t, as_of) for t in PERIOD_TABLES}
    steps.project_to_bitable(
        rt,
        summary,
        datasets=list(rows),
        window=None,
        account_names=names,
        account_field="aweme_sec_uid",
        rows=rows,
    )
    for name in rows:
        out = summary.sink(f"bitable:{name}")
        if out.error:
            continue
        try:
            handle = rt.bitable.ensure_table(table_spec(name, rt.settings))
            out.add(deleted=purge_other_dates(rt.bitable.api, rt.bitable.engine, handle, as_of))
        except Exception as e:  # noqa: BLE001 - recorded per sink, run ends PARTIAL
            log.exception("Bitable %s: removing an older ranking failed", name)
            out.error = steps.short_reason(e)


# --- Bitable ---------------------------------------------------------------------------------


@task(name="project-bitable", cache_policy=NO_CACHE)
def project_bitable(
    window: Window, created_since: date, names: dict[str, str], summary: RunSummary
) -> None:
    """The orders this run touched (with their own numbers) and the window's video ranking,
    from the DB. A full run re-projects the last 90 days' orders."""
    rt = get_runtime()
    orders, stats = _touched_orders(rt, window, created_since)
    order_rows = order_list_rows(orders, stats_frame(stats), names)
    steps.project_to_bitable(
        rt,
        summary,
        datasets=BITABLE_DATASETS,
        window=window,
        account_names=names,
        account_field="aweme_sec_uid",
        rows={"douplus_orders": order_rows},
    )


# --- flow ------------------------------------------------------------------------------------


@flow(
    name=FLOW_NAME,
    description="DOU+ orders, daily order stats and the per-video ranking → DB → Bitable "
    "(yesterday + lookback, or a backfill).",
    task_runner=ThreadPoolTaskRunner(max_workers=FETCH_WORKERS),
    log_prints=True,
    flow_run_name=run_name("douplus"),
)
def douplus_daily(
    date: dt.date | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    accounts: list[str] | None = None,
    full: bool = False,
    lookback_days: int | None = None,
    chunk_days: int = 7,
    tenant: str = "default",
):
    """Sync the window. No parameters: yesterday (China time) plus the lookback days, and the
    orders created in the last 7 days (``full``: 90 days) plus every order with stats.

    Args:
        date: One China date to sync (a backfill of one day). Leave empty for the daily run.
        start: First China date of a backfill (inclusive); with end, or alone for start..yesterday.
        end: Last China date of a backfill (inclusive); needs start.
        accounts: Only these 抖音号 (aweme_sec_uid or account id; default: every authorised one).
        full: Orders created in the last 90 days instead of the last 7.
        lookback_days: Days before yesterday re-synced by a daily run (default ADSYNC_LOOKBACK_DAYS).
        chunk_days: Days fetched per report call of a backfill.
        tenant: Which tenant of adsync.toml's [[tenants]] to sync (its app, principals, accounts
            and bases); "default" is the single ADSYNC_* setup.
    """
    run = RunContext.dated(
        FLOW_NAME, date=date, start=start, end=end, lookback_days=lookback_days, tenant=tenant
    )
    if isinstance(run, State):  # could not start: settings, tokens or parameters
        return run
    with run:
        names = run.one(list_aweme_accounts, accounts)
        run.add_accounts(names)
        today = china_today(run.rt.settings.timezone)
        since = today - timedelta(days=FULL_ORDER_DAYS if full else INCREMENTAL_ORDER_DAYS)
        try:
            # Two fetches per account and chunk: stats, then the orders they name. The
            # created-since listing once per run; later chunks fetch their stats' orders by id.
            for i, chunk in enumerate(run.chunks(chunk_days, fetches_per_account=2)):
                orders, stats = fetch_chunk(run, chunk, since if i == 0 else None, today)
                run.write(write_db, orders, stats, run.summary)
        except MoneyUnitMismatch:
            # No account synced anything trustworthy: the run is FAILED, not PARTIAL.
            run.summary.accounts.clear()
            raise
        run.write(write_video_daily, run.window, run.summary)
        as_of = today - timedelta(days=1)  # the last settled day; intraday runs use today
        run.write(write_periods, as_of, run.summary)
        if run.rt.bitable_enabled:
            run.write(project_bitable, run.window, since, names, run.summary)
            run.write(project_periods, as_of, names, run.summary)
        else:
            run.summary.warnings.append(run.rt.bitable_off_warning())
    return run.state
