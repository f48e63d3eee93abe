"""本地推 (local promotion) daily report → DB → Bitable: ``laike-daily``, the flagship flow.

window → list LOCAL accounts → fetch each account's DAILY promotion rows (one fan-out over
the accounts, concurrency bounded by the client's per-app rate limiter) → validate → polars per-account
aggregate → upsert both into the DB → project those DB rows into Bitable + per-account views.
The writing is done batch by batch on the run's write-behind lane while the remaining accounts
are still being fetched (see ``_Batches``): the run is bound by the Ocean Engine QPS, not by
fetch + write. A backfill longer than ``chunk_days`` is processed chunk by chunk, so progress is
durable; the progress artifact moves with every written batch (flows/context.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from flows import steps
from flows.context import RunContext
from flows.params import AccountId
from flows.runtime import get_runtime
from flows.summary import RunSummary
from flows.sync_run import run_name
from flows.window import Window
from integrations.database import tables
from integrations.exact import to_rows
from integrations.sources.oceanengine import endpoints as E
from integrations.sources.oceanengine.transforms import laike as transform

FLOW_NAME = "laike-daily"
# Threads; the rate limiter bounds the request rate as long as enough are waiting for a slot:
# QPS × (latency + a task run's own overhead) with margin; half as many fell short of the
# limiter's rate (bench/RESULTS.md, "Fetch threads").
FETCH_WORKERS = 32
# Write as soon as one Bitable create chunk's worth of rows is fetched (= feishu.client.BATCH_SIZE;
# not imported from there: that module imports lark-oapi, seconds of start-up before the first
# report call; tests/flows/test_startup.py checks they agree).
FLUSH_ROWS = 500
PROMOS, ACCOUNTS = "local_promotion_daily", "local_account_daily"
DATASETS = (PROMOS, ACCOUNTS)


@task(name="list-local-accounts", **steps.API_TASK)
def list_local_accounts(only: list[int] | None) -> dict[int, str]:
    rt = get_runtime()
    return steps.select_accounts(rt, steps.local_accounts(rt), only, "local accounts")


@task(
    name="fetch-local-report",
    task_run_name="fetch-{account_id}-{start}",
    **steps.API_TASK,
)
def fetch_local_report(account_id: int, start: date, end: date) -> steps.FetchResult:
    client = get_runtime().client_for("oceanengine", account_id)  # its principal's token
    fetched = steps.fetch_complete(
        lambda: E.fetch_local_promotion_report(client, account_id, start, end),
        f"local account {account_id}",
    )
    return steps.FetchResult(account_id, fetched.rows, fetched.rejections)


@dataclass(frozen=True)
class Projection:
    """DB rows of ``dataset`` in the window for ``accounts`` (or all but ``exclude``) → Bitable."""

    dataset: str
    accounts: list[int] | None = None
    exclude: list[int] | None = None


@task(name="write-batch", cache_policy=NO_CACHE)
def write_batch(
    rows: list[dict],
    names: dict[int, str],
    summary: RunSummary,
    window: Window,
    projections: list[Projection],
) -> None:
    """A batch of fetched rows into the DB, then the listed DB rows into Bitable (DB first)."""
    rt = get_runtime()
    rows = steps.screen_rows(summary, tables.local_promotion_daily, rows, "local_account_id")
    if rows:
        promos = transform.promotion_frame(rows)
        daily = to_rows(transform.account_daily(promos, names))
        daily = steps.screen_rows(summary, tables.local_account_daily, daily, "local_account_id")
        steps.upsert_db(rt, tables.local_promotion_daily, to_rows(promos), summary)
        steps.upsert_db(rt, tables.local_account_daily, daily, summary)
    for p in projections:
        # A tenant routing accounts to several bases: each base gets its own accounts' rows.
        groups = rt.routed(p.accounts) if p.accounts is not None else [(rt, None)]
        for base_rt, accounts in groups:
            out = steps.window_rows(
                rt, p.dataset, window, accounts=accounts, exclude_accounts=p.exclude
            )
            steps.project_rows(base_rt, summary, p.dataset, out, account_names=names)


@task(name="ensure-views", cache_policy=NO_CACHE)
def ensure_views(names: dict[int, str], summary: RunSummary) -> None:
    for base_rt, accounts in get_runtime().routed(names):  # each base: views of its accounts
        steps.ensure_account_views(base_rt, summary, DATASETS, {a: names[a] for a in accounts})


@task(name="count-account-table", cache_policy=NO_CACHE)
def count_account_table(names: dict[int, str]) -> None:
    """The account table is first written by a chunk's last flush (one create for every
    account): its record count, the cap check's one read, is taken while the fetch goes on,
    not on the run's tail (bench/RESULTS.md, issue 20)."""
    for base_rt, _ in get_runtime().routed(names):
        steps.count_ahead(base_rt, ACCOUNTS)


class _Batches:
    """Writes fetched accounts while the others are still being fetched (the fetch is bound by
    the Ocean Engine QPS, so DB and Bitable work hides behind it): batches go to the run's
    write-behind lane, written in order, one at a time, off the flow thread.

    Each flush: the batch's rows → DB, then the DB rows of those accounts → the promotion table
    (one Bitable create chunk per flush); the account table once enough accounts are in, and
    the per-account views after the run's first flush. A chunk's last flush projects every
    other DB row of the chunk (failed accounts' earlier rows, accounts not in this run), so
    Bitable ends up equal to the DB for the window exactly as if it were projected in one go.
    """

    def __init__(self, run: RunContext, names: dict[int, str]) -> None:
        self.run, self.names = run, names
        self.bitable = run.rt.bitable_enabled
        self.views_done = False
        self.chunk = run.window
        self.rows: list[dict] = []
        self.batch: list[int] = []
        self.promo_done: list[int] = []  # accounts whose promotion rows are projected
        self.acct_todo: list[int] = []  # accounts in the DB, not yet projected to the account table
        self.acct_done: list[int] = []

    def start(self, chunk: Window) -> None:
        """A new chunk: nothing of it projected yet."""
        self.chunk = chunk
        self.promo_done, self.acct_todo, self.acct_done = [], [], []

    def add(self, account_id: int, rows: list[dict]) -> None:
        if self.rows and len(self.rows) + len(rows) > FLUSH_ROWS:
            # Flush before going over one create chunk: 512 rows would cost two creates
            # (500 + 12), almost twice the calls per flush (bench/RESULTS.md, issue 20).
            self.flush()
        self.rows.extend(rows)
        self.batch.append(account_id)
        if len(self.rows) >= FLUSH_ROWS:
            self.flush()

    def flush(self, *, last: bool = False) -> None:
        """Queue the batch on the write lane (the fetch goes on meanwhile); ``last``: the
        chunk's final flush, which projects the rest of the chunk's DB rows."""
        batch, rows, self.rows, self.batch = self.batch, self.rows, [], []
        plan: list[Projection] = []
        if self.bitable and last and self.run.rt.tenant_spec is not None:
            # A tenant's base holds its own accounts only: the DB has other tenants' rows.
            mine = list(self.names)
            plan = [Projection(PROMOS, accounts=[a for a in mine if a not in self.promo_done])]
            plan.append(Projection(ACCOUNTS, accounts=[a for a in mine if a not in self.acct_done]))
        elif self.bitable and last:
            plan = [Projection(PROMOS, exclude=list(self.promo_done))]
            plan.append(Projection(ACCOUNTS, exclude=list(self.acct_done)))
        elif self.bitable:
            plan = [Projection(PROMOS, accounts=batch)]
            self.promo_done += batch
            self.acct_todo += batch
            if len(self.acct_todo) * len(self.chunk) >= FLUSH_ROWS:
                plan.append(Projection(ACCOUNTS, accounts=self.acct_todo))
                self.acct_done += self.acct_todo
                self.acct_todo = []
        if rows or plan:
            self.run.write(write_batch, rows, self.names, self.run.summary, self.chunk, plan)
        if self.bitable and not self.views_done:
            self.run.write(ensure_views, self.names, self.run.summary)
            self.run.write(count_account_table, self.names)
            self.views_done = True


@flow(
    name=FLOW_NAME,
    description="本地推 promotion daily report → DB → Bitable (yesterday + lookback, or a backfill).",
    task_runner=ThreadPoolTaskRunner(max_workers=FETCH_WORKERS),
    log_prints=True,
    flow_run_name=run_name("laike"),
)
def laike_daily(
    date: dt.date | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    accounts: list[AccountId] | None = None,
    lookback_days: int | None = None,
    chunk_days: int = 7,
    tenant: str = "default",
):
    """Sync the window. No parameters: yesterday (China time) plus the lookback days.

    Args:
        date: One China date to sync (a backfill of one day). Leave empty for the daily run.
        start: First China date of a backfill (inclusive); with end, or alone for start..yesterday.
        end: Last China date of a backfill (inclusive); needs start.
        accounts: Only these 本地推 local account ids (default: every authorised one).
        lookback_days: Days before yesterday re-synced by a daily run (default ADSYNC_LOOKBACK_DAYS).
        chunk_days: Days fetched per report call of a backfill (at most 7, the API's span limit).
        tenant: Which tenant of adsync.toml's [[tenants]] to sync (its app, principals, accounts
            and bases); "default" is the single ADSYNC_* setup.
    """
    run = RunContext.dated(
        FLOW_NAME, date=date, start=start, end=end, lookback_days=lookback_days, tenant=tenant
    )
    if isinstance(run, State):  # could not start: settings, tokens or parameters
        return run
    with run:
        names = run.one(list_local_accounts, accounts)
        run.add_accounts(names)
        if not run.rt.bitable_enabled:
            run.summary.warnings.append(run.rt.bitable_off_warning())
        batches = _Batches(run, names)
        for chunk in run.chunks(chunk_days):
            batches.start(chunk)
            for aid, fetched in run.fan_out(
                fetch_local_report, run.healthy(), chunk.start, chunk.end
            ):
                batches.add(aid, run.record(aid, fetched))
            batches.flush(last=True)
    return run.state
