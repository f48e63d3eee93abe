"""DOU+ intraday: today's numbers of the orders delivering now, refreshed during the day.

Optional (``douplus-intraday`` in prefect.yaml, hourly by default). Per 抖音号: the order list
filtered on ``status = DELIVERING`` (docs/contracts/oceanengine.md, "Status enum"), then the
order report for today restricted to those orders (``filter.order_ids``) → ``douplus_orders`` and
today's ``douplus_order_daily`` rows, the video ranking of today, the period rankings as of today,
and their Bitable projections — all by the same business keys as douplus-daily, so nothing
duplicates: the next morning's douplus-daily re-fetches the day (its window ends yesterday, plus
lookback) and its numbers replace these partial ones ("settles the day"). Orders that stopped
delivering earlier today keep their last numbers until then.

Cost: 1 + ⌈delivering orders / 100⌉ requests per 抖音号 (more with pages); the flow prints the
run's API calls, which at the hourly schedule are its calls per hour.
"""

from __future__ import annotations

import logging
from datetime import date

from prefect import flow, task
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from flows import steps
from flows.context import RunContext
from flows.douplus import (
    FETCH_WORKERS,
    list_aweme_accounts,
    project_bitable,
    project_periods,
    write_db,
    write_periods,
    write_video_daily,
)
from flows.douplus_rows import money_unit_mismatch
from flows.runtime import get_runtime
from flows.sync_run import run_name
from integrations.sources.oceanengine import endpoints as E
from integrations.sources.oceanengine.fields import MoneyUnitMismatch
from integrations.sources.oceanengine.pagination import Fetched

FLOW_NAME = "douplus-intraday"
DELIVERING = "DELIVERING"
ORDER_IDS_PER_REPORT = 100  # filter.order_ids per report request (kept like the order list's)

log = logging.getLogger("adsync.flows")


@task(name="fetch-delivering-orders", task_run_name="delivering-{aweme_sec_uid}", **steps.API_TASK)
def fetch_delivering(aweme_sec_uid: str) -> steps.FetchResult:
    """The 抖音号's orders with status DELIVERING."""
    rt = get_runtime()

    def go() -> steps.FetchResult:
        got = E.collect(
            E.iter_douplus_orders(
                rt.client("oceanengine"),
                aweme_sec_uid,
                money_unit=rt.settings.douplus_money_unit,
                filter={"status": [DELIVERING]},
            )
        )
        return steps.FetchResult(aweme_sec_uid, got.rows, got.rejections)

    return steps.fetch_complete(go, f"抖音号 {aweme_sec_uid} delivering orders")


@task(name="fetch-today-stats", task_run_name="today-{aweme_sec_uid}", **steps.API_TASK)
def fetch_today(aweme_sec_uid: str, today: date, order_ids: list[int]) -> steps.FetchResult:
    """Today's stats of ``order_ids`` (one report request per 100 ids)."""
    rt = get_runtime()

    def go() -> steps.FetchResult:
        out: Fetched[dict] = Fetched()
        for i in range(0, len(order_ids), ORDER_IDS_PER_REPORT):
            part = E.collect(
                E.iter_douplus_report(
                    rt.client("oceanengine"),
                    aweme_sec_uid,
                    today,
                    today,
                    money_unit=rt.settings.douplus_money_unit,
                    order_ids=order_ids[i : i + ORDER_IDS_PER_REPORT],
                )
            )
            out.add(part.rows, part.rejections)
        return steps.FetchResult(aweme_sec_uid, out.rows, out.rejections)

    return steps.fetch_complete(go, f"抖音号 {aweme_sec_uid} today's stats")


@flow(
    name=FLOW_NAME,
    description="DOU+ today's stats of the delivering orders → DB → Bitable (optional, hourly); "
    "the next morning's douplus-daily settles the day.",
    task_runner=ThreadPoolTaskRunner(max_workers=FETCH_WORKERS),
    log_prints=True,
    flow_run_name=run_name("douplus-intraday"),
)
def douplus_intraday(accounts: list[str] | None = None, tenant: str = "default"):
    """Refresh today's numbers of the orders delivering now.

    Args:
        accounts: Only these 抖音号 (aweme_sec_uid or account id; default: every authorised one).
        tenant: Which tenant of adsync.toml's [[tenants]] to sync (its app, principals, accounts
            and bases); "default" is the single setup of the ADSYNC_* settings.
    """
    run = RunContext.today(FLOW_NAME, tenant)
    if isinstance(run, State):  # could not start: settings or tokens
        return run
    today = run.window.start
    wanted: dict[str, list[int]] = {}
    with run:
        names = run.one(list_aweme_accounts, accounts)
        ids = run.add_accounts(names)
        orders: list[dict] = []
        for uid, fetched in run.fan_out(
            fetch_delivering, ids, what="delivering orders", fatal=(MoneyUnitMismatch,)
        ):
            orders += run.record(uid, fetched, count_rows=False)
        ok = run.healthy()
        wanted = {u: sorted({o["order_id"] for o in orders if o["aweme_sec_uid"] == u}) for u in ok}
        busy = [u for u in ok if wanted[u]]  # no delivering order: nothing to ask for today
        stats: list[dict] = []
        for uid, fetched in run.fan_out(
            fetch_today,
            busy,
            args_of=lambda u: (u, today, wanted[u]),
            what="today's stats",
            fatal=(MoneyUnitMismatch,),
        ):
            stats += run.record(uid, fetched)
        good = set(run.healthy())
        orders = [o for o in orders if o["aweme_sec_uid"] in good]
        stats = [s for s in stats if s["aweme_sec_uid"] in good]
        problem = money_unit_mismatch(orders, stats)
        if problem is not None:
            run.summary.accounts.clear()
            raise MoneyUnitMismatch(problem)
        run.write(write_db, orders, stats, run.summary)
        run.write(write_video_daily, run.window, run.summary)
        run.write(write_periods, today, run.summary)
        if run.rt.bitable_enabled:
            run.write(project_bitable, run.window, today, names, run.summary)
            run.write(project_periods, today, names, run.summary)
        else:
            run.summary.warnings.append(run.rt.bitable_off_warning())
    calls = run.summary.api_calls
    print(
        f"{FLOW_NAME}: {calls} Ocean Engine API call(s) this run "
        f"({sum(len(v) for v in wanted.values())} delivering order(s)); "
        f"at the hourly schedule that is {calls} call(s) per hour"
    )
    return run.state
