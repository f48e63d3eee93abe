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
from prefect.utilities.annotations import quote, unmapped

from flows import steps
from flows.runtime import Runtime, get_runtime
from flows.summary import AccountResult, RunSummary
from flows.sync_run import run_windowed
from flows.transforms import laike as T
from flows.transforms.exact import to_rows
from flows.window import Window, split_window
from integrations.database import tables
from integrations.oceanengine import endpoints as E

FLOW_NAME = "laike-daily"
FETCH_WORKERS = 16  # threads; the rate limiter, not this, bounds the request rate


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


@task(name="project-bitable", cache_policy=NO_CACHE)
def project_bitable(window: Window, names: dict[int, str], summary: RunSummary) -> None:
    steps.project_to_bitable(
        get_runtime(),
        summary,
        datasets=("local_promotion_daily", "local_account_daily"),
        window=window,
        account_names=names,
    )


def _sync(
    rt: Runtime, summary: RunSummary, window: Window, accounts: list[int] | None, chunk_days: int
) -> None:
    names = list_local_accounts(accounts)
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
    for i, chunk in enumerate(chunks, 1):
        ids = [aid for aid, r in results.items() if r.ok]
        futures = fetch_local_report.map(ids, unmapped(chunk.start), unmapped(chunk.end))
        rows = steps.collect(futures, ids, results)
        # quote(): Prefect would otherwise walk every row looking for futures (~3 s / 15k rows).
        write_db(quote(rows), quote(names), quote(summary))
        del futures, rows  # free this chunk's rows before the next chunk / the Bitable phase
        if progress_id is not None:
            update_progress_artifact(artifact_id=progress_id, progress=100.0 * i / len(chunks))
    if rt.bitable_enabled:
        project_bitable(window, quote(names), quote(summary))
    else:
        summary.warnings.append("Feishu not configured (ADSYNC_FEISHU_*): Bitable skipped")


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
