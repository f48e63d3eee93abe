"""The run pattern every flow shares: ledger row, summary, artifacts, notification, final state.

A flow body fills a :class:`RunSummary`; :func:`run_sync` wraps it so that whatever happens the
ledger row is closed, the artifacts are published, the Feishu card is sent (when configured) and
the Prefect run ends non-green when any account or sink failed (rule 3 of ARCHITECTURE.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed, State

from flows.runtime import Runtime, get_runtime
from flows.summary import RunStatus, RunSummary
from flows.window import Window, resolve_window
from integrations.database import ledger

log = logging.getLogger("adsync.flows")


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a run (tests calling .fn)
        return log


def _flow_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


def run_sync(
    flow_name: str,
    window: Window,
    body: Callable[[Runtime, RunSummary], None],
    *,
    artifact_key: str,
) -> State:
    """Run ``body`` with a ledger row and publish the outcome. Returns the final Prefect state."""
    rt = get_runtime()
    summary = RunSummary(
        flow=flow_name, window_start=window.start, window_end=window.end, run_id=_flow_run_id()
    )
    logger = _logger()
    run_pk = ledger.start_run(rt.engine, flow_name, window.start, window.end, run_id=summary.run_id)
    calls_before = rt.api_calls()
    t0 = time.monotonic()
    try:
        with rt.run_scope():
            body(rt, summary)
    except Exception as e:  # noqa: BLE001 - recorded in ledger/state; never lost
        logger.exception("%s failed", flow_name)
        summary.error = f"{type(e).__name__}: {e}"
    finally:
        summary.seconds = time.monotonic() - t0
        summary.api_calls = rt.api_calls() - calls_before
        ledger.finish_run(
            rt.engine,
            run_pk,
            status=summary.status.value,
            accounts_ok=len(summary.ok_accounts),
            accounts_failed=len(summary.failed_accounts),
            failed_accounts=summary.failed_accounts_json(),
            counts=summary.counts_json(),
            api_calls=summary.api_calls,
            error=summary.failure_message() or None,
        )
    _publish(summary, artifact_key, logger)
    rt.notify(summary)
    logger.info("%s", summary.text().splitlines()[0])
    if summary.status is RunStatus.SUCCESS:
        return Completed(message=f"{len(summary.ok_accounts)} accounts ok", data=summary)
    name = "Partial" if summary.status is RunStatus.PARTIAL else "Failed"
    return Failed(name=name, message=summary.failure_message(), data=summary)


def run_windowed(
    flow_name: str,
    body: Callable[[Runtime, RunSummary, Window], None],
    *,
    date: str | None,
    start: str | None,
    end: str | None,
    lookback_days: int | None,
) -> State:
    """:func:`run_sync` over the window of a dated flow's parameters (see resolve_window)."""
    s = get_runtime().settings
    try:
        window = resolve_window(
            date=date,
            start=start,
            end=end,
            lookback_days=s.lookback_days if lookback_days is None else lookback_days,
            tz=s.timezone,
        )
    except Exception as e:
        record_failed_start(flow_name, e)
        raise
    return run_sync(
        flow_name, window, lambda rt, summary: body(rt, summary, window), artifact_key=flow_name
    )


def record_failed_start(flow_name: str, error: BaseException) -> None:
    """A run that failed before its ledger row (e.g. a deployment run with an invalid window
    parameter) still leaves a FAILED row, so ``monitor.py`` sees it without Prefect. Best effort:
    when the database itself is what failed, Prefect's state is the only record."""
    try:
        rt = get_runtime()
        pk = ledger.start_run(rt.engine, flow_name, None, None, run_id=_flow_run_id())
        ledger.finish_run(
            rt.engine, pk, status=RunStatus.FAILED.value, error=f"{type(error).__name__}: {error}"
        )
    except Exception as e:  # noqa: BLE001 - never mask the original failure
        log.warning("%s: could not record the failed start in sync_runs: %s", flow_name, e)


def _publish(summary: RunSummary, key: str, logger) -> None:
    if FlowRunContext.get() is None:
        return
    try:
        create_table_artifact(
            key=f"{key}-accounts",
            table=summary.account_table() or [{"account_id": "-", "status": "no accounts"}],
            description=f"{summary.flow} {summary.window_start}..{summary.window_end}: "
            f"{summary.status.value}",
        )
        create_markdown_artifact(key=f"{key}-summary", markdown=summary.markdown())
    except Exception as e:  # noqa: BLE001 - artifacts are best effort, the ledger is the record
        logger.warning("could not publish artifacts: %s", e)
