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
from sqlalchemy.exc import SQLAlchemyError

from flows import progress
from flows.runtime import Runtime, check_flow_settings, get_runtime
from flows.summary import RunNotGreen, RunStatus, RunSummary
from flows.window import Window, china_today, resolve_window
from integrations.database import ledger
from integrations.settings import ConfigError
from token_store.errors import TokenStoreError

log = logging.getLogger("adsync.flows")

_ENGINE_EXIT_MESSAGE = "Engine execution exited with unexpected exception"


class _ExpectedFailure(logging.Filter):
    """Drops Prefect's "Engine execution exited with unexpected exception" record (ERROR, with a
    traceback) when the exception is our own :class:`RunNotGreen`.

    A worker's engine re-raises a Failed final state's data when the flow returns, and logs that
    as unexpected (prefect/flow_engine.py ``run_flow``). A Partial run is an expected outcome,
    already named in the state message, the artifact and the ledger; any other exception is
    still logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (record.msg == _ENGINE_EXIT_MESSAGE and isinstance(exc, RunNotGreen))


def _install_filter() -> None:
    logger = logging.getLogger("prefect.flow_runs")
    if not any(isinstance(f, _ExpectedFailure) for f in logger.filters):
        logger.addFilter(_ExpectedFailure())


_install_filter()


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
    """Run ``body`` with a ledger row and publish the outcome. Returns the final Prefect state.

    Settings and tokens are checked first: a run that cannot start ends Failed with one line
    naming the setting, no traceback, no retries and no ledger row (it never ran).
    """
    progress.quiet_task_logging()
    try:
        rt = get_runtime()
        check_flow_settings(rt.settings, flow_name)
        rt.check_tokens()
    except (ConfigError, TokenStoreError) as e:
        return _not_started(flow_name, str(e))
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        return _not_started(flow_name, f"cannot use ADSYNC_DATABASE_URL: {reason}")
    summary = RunSummary(
        flow=flow_name, window_start=window.start, window_end=window.end, run_id=_flow_run_id()
    )
    logger = _logger()
    run_pk = ledger.start_run(rt.engine, flow_name, window.start, window.end, run_id=summary.run_id)
    calls_before, throttled_before = rt.api_calls(), rt.throttled_calls()
    t0 = time.monotonic()
    try:
        with (
            rt.run_scope(),
            progress.tracking(
                flow_name, f"{window.start}..{window.end}", rt.api_calls, rt.throttled_calls
            ),
        ):
            body(rt, summary)
    except Exception as e:  # noqa: BLE001 - recorded in ledger/state; never lost
        logger.exception("%s failed", flow_name)
        summary.error = f"{type(e).__name__}: {e}"
    except BaseException as e:
        # A deployment's flow timeout (flows/deployed.py) or a cancellation interrupts the body
        # with a BaseException: the ledger row must not read SUCCESS for a run cut short.
        summary.error = f"interrupted ({type(e).__name__}): the run did not finish"
        raise
    finally:
        summary.seconds = time.monotonic() - t0
        summary.api_calls = rt.api_calls() - calls_before
        counts = summary.counts_json()
        # Not a sink (no "kind:" prefix): the run's API cost, for monitor.py metrics.
        counts["api"] = {
            "calls": summary.api_calls,
            "throttled": rt.throttled_calls() - throttled_before,  # 40100 / HTTP 429, retried
        }
        ledger.finish_run(
            rt.engine,
            run_pk,
            status=summary.status.value,
            accounts_ok=len(summary.ok_accounts),
            accounts_failed=len(summary.failed_accounts),
            failed_accounts=summary.failed_accounts_json(),
            counts=counts,
            api_calls=summary.api_calls,
            error=summary.failure_message() or None,
        )
    _publish(summary, artifact_key, logger)
    rt.notify(summary)
    logger.info("%s", summary.text().splitlines()[0])
    if summary.status is RunStatus.SUCCESS:
        return Completed(message=f"{len(summary.ok_accounts)} accounts ok", data=summary)
    name = "Partial" if summary.status is RunStatus.PARTIAL else "Failed"
    return Failed(name=name, message=summary.failure_message(), data=RunNotGreen.of(summary))


def _not_started(flow_name: str, reason: str) -> State:
    _logger().error("%s did not start: %s", flow_name, reason)
    record_failed_start(flow_name, reason)
    return Failed(name="NotStarted", message=reason, data=ConfigError(reason))


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
    try:
        s = get_runtime().settings
        window = resolve_window(
            date=date,
            start=start,
            end=end,
            lookback_days=s.lookback_days if lookback_days is None else lookback_days,
            tz=s.timezone,
        )
    except (ConfigError, ValueError, TypeError) as e:  # parameters or settings: never retried
        return _not_started(flow_name, str(e))
    return run_sync(
        flow_name, window, lambda rt, summary: body(rt, summary, window), artifact_key=flow_name
    )


def run_today(
    flow_name: str, body: Callable[[Runtime, RunSummary], None], *, artifact_key: str
) -> State:
    """:func:`run_sync` over today (China time) for undated flows (accounts, DPA)."""
    try:
        today = china_today(get_runtime().settings.timezone)
    except ConfigError as e:
        return _not_started(flow_name, str(e))
    return run_sync(flow_name, Window.single(today), body, artifact_key=artifact_key)


def run_name(label: str) -> Callable[[], str]:
    """A ``flow_run_name`` callable: ``laike 2026-11-25..2026-11-28`` (+ the token principal when
    it is not the default), so runs and backfills can be told apart in the Prefect UI."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = dict(flow_run.parameters or {})
        try:
            s = get_runtime().settings
            if {"date", "start", "end"} & set(params):
                lookback = params.get("lookback_days")
                window: Window | str = resolve_window(
                    date=params.get("date"),
                    start=params.get("start"),
                    end=params.get("end"),
                    lookback_days=s.lookback_days if lookback is None else lookback,
                    tz=s.timezone,
                )
            else:
                window = Window.single(china_today(s.timezone))
            tenant = "" if s.oceanengine_principal == "default" else f" {s.oceanengine_principal}"
        except Exception:  # noqa: BLE001 - bad settings/parameters: the run itself reports them
            return label
        return f"{label} {window}{tenant}"

    return name


def record_failed_start(flow_name: str, reason: str) -> None:
    """A run that failed before its ledger row (e.g. a deployment run with an invalid window
    parameter) still leaves a FAILED row, so ``monitor.py`` sees it without Prefect. Best effort:
    when the database itself is what failed, Prefect's state is the only record."""
    try:
        rt = get_runtime()
        pk = ledger.start_run(rt.engine, flow_name, None, None, run_id=_flow_run_id())
        ledger.finish_run(
            rt.engine, pk, status=RunStatus.FAILED.value, error=f"did not start: {reason}"
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
