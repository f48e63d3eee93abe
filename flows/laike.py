"""抖音来客 / 本地推 daily promotion report → DB → Bitable (the flagship flow).

window → list LOCAL accounts → fetch each account's DAILY promotion rows (one task per account,
concurrency bounded by the client's per-app rate limiter) → validate → polars per-account
aggregate → upsert both into the DB → project the window's DB rows into Bitable + per-account
views. A backfill longer than ``chunk_days`` is processed chunk by chunk, so progress is durable
and visible (progress artifact).
"""

from __future__ import annotations

from datetime import date

from prefect import flow, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner

from flows import steps
from flows.calls import Calls, PrefectCalls
from flows.runtime import Runtime, get_runtime
from flows.summary import AccountResult, RunSummary
from flows.sync_run import run_windowed
from flows.transforms import laike as T
from flows.transforms.exact import to_rows
from flows.window import Window, split_window
from integrations.database import tables
from integrations.feishu.client import BATCH_SIZE
from integrations.oceanengine import endpoints as E

FLOW_NAME = "laike-daily"
FETCH_WORKERS = 16  # threads; the rate limiter, not this, bounds the request rate
FLUSH_ROWS = BATCH_SIZE  # write as soon as one Bitable create chunk's worth of rows is fetched
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
    fetched = E.fetch_local_promotion_report(get_runtime().oceanengine, account_id, start, end)
    return steps.FetchResult(account_id, fetched.rows, fetched.rejections)


@task(name="write-db", cache_policy=NO_CACHE)
def write_db(rows: list[dict], names: dict[int, str], summary: RunSummary) -> None:
    rt = get_runtime()
    promos = T.promotion_frame(rows)
    daily = T.account_daily(promos, names)
    steps.upsert_db(rt, tables.local_promotion_daily, to_rows(promos), summary)
    steps.upsert_db(rt, tables.local_account_daily, to_rows(daily), summary)


@task(name="project-bitable", task_run_name="project-{dataset}", cache_policy=NO_CACHE)
def project_bitable(
    dataset: str,
    window: Window,
    names: dict[int, str],
    summary: RunSummary,
    accounts: list[int] | None,
    exclude_accounts: list[int] | None,
) -> None:
    """The DB rows of ``dataset`` in ``window`` (for ``accounts``, or all but
    ``exclude_accounts``) into Bitable."""
    rt = get_runtime()
    rows = steps.window_rows(
        rt, dataset, window, accounts=accounts, exclude_accounts=exclude_accounts
    )
    steps.project_rows(rt, summary, dataset, rows, account_names=names)


@task(name="ensure-views", cache_policy=NO_CACHE)
def ensure_views(names: dict[int, str], summary: RunSummary) -> None:
    steps.ensure_account_views(get_runtime(), summary, DATASETS, names)


class _Writer:
    """Writes fetched accounts while the others are still being fetched (the fetch is bound by
    the Ocean Engine QPS, so DB and Bitable work hides behind it).

    Each flush: the batch's rows → DB, then the DB rows of those accounts → the promotion table
    (one Bitable create chunk per flush); the account table once enough accounts are in, and
    the per-account views after the first flush. The chunk's final flush projects every other
    DB row of the window (failed accounts' earlier rows, accounts not in this run), so Bitable
    ends up equal to the DB for the window exactly as if it were projected in one go.
    """

    def __init__(self, rt: Runtime, calls: Calls, names: dict[int, str], summary: RunSummary):
        self.calls, self.names, self.summary = calls, names, summary
        self.bitable = rt.bitable_enabled
        self.views_done = False
        if not self.bitable:
            summary.warnings.append("Feishu not configured (ADSYNC_FEISHU_*): Bitable skipped")

    def chunk(self, window: Window) -> None:
        self.window = window
        self.rows: list[dict] = []
        self.batch: list[int] = []
        self.promo_done: list[int] = []  # accounts whose promotion rows are projected
        self.acct_todo: list[int] = []  # accounts in the DB, not yet projected to the account table
        self.acct_done: list[int] = []

    def add(self, account_id: int, rows: list[dict]) -> None:
        self.rows.extend(rows)
        self.batch.append(account_id)
        if len(self.rows) >= FLUSH_ROWS:
            self.flush(final=False)

    def flush(self, *, final: bool) -> None:
        c, names, summary = self.calls, self.names, self.summary
        if self.rows:
            c.one(write_db, self.rows, names, summary)
        batch, self.rows, self.batch = self.batch, [], []
        if not self.bitable:
            return
        w = self.window
        if final:
            c.one(project_bitable, PROMOS, w, names, summary, None, self.promo_done)
            c.one(project_bitable, ACCOUNTS, w, names, summary, None, self.acct_done)
        else:
            c.one(project_bitable, PROMOS, w, names, summary, batch, None)
            self.promo_done += batch
            self.acct_todo += batch
            if len(self.acct_todo) * len(w) >= FLUSH_ROWS:
                c.one(project_bitable, ACCOUNTS, w, names, summary, self.acct_todo, None)
                self.acct_done += self.acct_todo
                self.acct_todo = []
        if not self.views_done:
            c.one(ensure_views, names, summary)
            self.views_done = True


def _sync(
    rt: Runtime,
    summary: RunSummary,
    window: Window,
    accounts: list[int] | None,
    chunk_days: int,
    calls: Calls | None = None,
) -> None:
    c = calls or PrefectCalls()
    names: dict[int, str] = c.one(list_local_accounts, accounts)
    results: dict[int, AccountResult] = {
        aid: AccountResult(account_id=aid, name=name) for aid, name in names.items()
    }
    summary.accounts = list(results.values())
    chunks = split_window(window, chunk_days)
    progress_id = None
    if len(chunks) > 1 and FlowRunContext.get() is not None:
        progress_id = create_progress_artifact(
            progress=0.0, key=f"{FLOW_NAME}-backfill", description=f"backfill {window}"
        )
    writer = _Writer(rt, c, names, summary)
    for i, chunk in enumerate(chunks, 1):
        writer.chunk(chunk)
        ids = [aid for aid, r in results.items() if r.ok]
        for aid, outcome in c.each(fetch_local_report, ids, chunk.start, chunk.end):
            rows = steps.record_fetch(results[aid], outcome)
            if results[aid].ok:
                writer.add(aid, rows)
        writer.flush(final=True)
        if progress_id is not None:
            update_progress_artifact(artifact_id=progress_id, progress=100.0 * i / len(chunks))


@flow(
    name=FLOW_NAME,
    description="本地推 promotion daily report → DB → Bitable (yesterday + lookback, or a backfill).",
    task_runner=ThreadPoolTaskRunner(max_workers=FETCH_WORKERS),
    log_prints=True,
)
def laike_daily(
    date: str | None = None,
    start: str | None = None,
    end: str | None = None,
    accounts: list[int] | None = None,
    lookback_days: int | None = None,
    chunk_days: int = 7,
):
    """Sync the window. No parameters: yesterday (China time) plus the lookback days.

    Backfill: ``start``/``end`` (YYYY-MM-DD, inclusive) or a single ``date``; ``accounts``
    limits the run to some local account ids.
    """
    return run_windowed(
        FLOW_NAME,
        lambda rt, summary, window: _sync(rt, summary, window, accounts, chunk_days),
        date=date,
        start=start,
        end=end,
        lookback_days=lookback_days,
    )
