"""The bookkeeping around every run: run names, a run that could not start, artifacts, the
final Prefect state. :class:`flows.context.RunContext` uses these, so whatever happens the ledger
row is closed, the artifacts are published, the Feishu card is sent (when configured) and the
Prefect run ends non-green when any account or sink failed.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext
from prefect.exceptions import FailedRun, MissingResult, ParameterTypeError
from prefect.states import Completed, Failed, State

from flows.runtime import get_runtime
from flows.summary import RunNotGreen, RunStatus, RunSummary
from flows.window import Window, china_today, resolve_window
from integrations.database import ledger
from integrations.settings import ConfigError

log = logging.getLogger("adsync.flows")

_ENGINE_EXIT_MESSAGE = "Engine execution exited with unexpected exception"


class RunNotStarted(ConfigError):
    """A run refused before its body (settings, parameters, tokens): its Failed state's data.
    Already logged as one ERROR line ("<flow> did not start: …") and recorded in the ledger."""


class _ExpectedFailure(logging.Filter):
    """Drops Prefect's "Engine execution exited with unexpected exception" record (ERROR, with a
    traceback) when the exception is our own :class:`RunNotGreen`.

    A worker's engine re-raises a Failed final state's data when the flow returns, and logs that
    as unexpected (prefect/flow_engine.py ``run_flow``). A Partial run is an expected outcome,
    already named in the state message, the artifact and the ledger: dropped, and so is a run
    that did not start (:class:`RunNotStarted`, logged in one line by :func:`_not_started`). Parameters Prefect
    refused (e.g. ``date=2026-02-30`` on a deployment run, before any of our code runs) become
    one ERROR line naming the parameter, without the traceback. Any other exception is logged
    as Prefect logs it. A Failed state that came back without its data (:func:`summary_of`)
    is re-raised as a bare FailedRun: dropped when it is a run of ours that ended non-green.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if record.msg != _ENGINE_EXIT_MESSAGE:
            return True
        if isinstance(exc, ParameterTypeError):
            detail = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
            record.msg, record.args = "Run refused: %s", (detail,)
            record.exc_info, record.exc_text = None, None
            return True
        if isinstance(exc, FailedRun):  # the state came back without its data (summary_of)
            return not any(str(exc) == s.failure_message() for s in _ENDED.values())
        return not isinstance(exc, RunNotGreen | RunNotStarted)


def _install_filter() -> None:
    logger = logging.getLogger("prefect.flow_runs")
    if not any(isinstance(f, _ExpectedFailure) for f in logger.filters):
        logger.addFilter(_ExpectedFailure())


_install_filter()


def logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a run (tests calling .fn)
        return log


def flow_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


def not_started(flow_name: str, reason: str) -> State:
    """The state of a run that could not start (settings, tokens, parameters): one line, no
    traceback, no retries; a FAILED ledger row when the database can take it."""
    logger().error("%s did not start: %s", flow_name, reason)
    record_failed_start(flow_name, reason)
    return Failed(name="NotStarted", message=reason, data=RunNotStarted(reason))


# The summaries of the last runs that ended in this process, by flow run id (see summary_of).
_ENDED: OrderedDict[str, RunSummary] = OrderedDict()
_ENDED_KEPT = 64


def final_state(summary: RunSummary) -> State:
    """Completed when every account and sink is fine, else Failed named Partial or Failed."""
    if summary.run_id:
        _ENDED[summary.run_id] = summary
        while len(_ENDED) > _ENDED_KEPT:
            _ENDED.popitem(last=False)
    if summary.status is RunStatus.SUCCESS:
        return Completed(message=f"{len(summary.ok_accounts)} accounts ok", data=summary)
    name = "Partial" if summary.status is RunStatus.PARTIAL else "Failed"
    return Failed(name=name, message=summary.failure_message(), data=RunNotGreen.of(summary))


def summary_of(state: State) -> Any:
    """What a flow run of this process returned: its RunSummary, or the exception of a run that
    could not start (``state.result(raise_on_failure=False)``).

    The final state a flow call returns is not always the one the flow built. When the answer
    to the final set-state request is lost (a busy server, a dropped connection), Prefect's
    client sends it again; the server rejects the repeat ("already made this state transition")
    and the engine returns the server's copy, which carries no data (the result is not
    persisted): ``state.result()`` is then a bare FailedRun, or MissingResult for a Completed
    run. The summary is the same object either way, so it is taken from this process's record
    of the runs that ended (QUIRKS.md in flows/).
    """
    try:
        result = state.result(raise_on_failure=False)
    except MissingResult:
        result = None
    if isinstance(result, RunSummary | RunNotStarted):
        return result
    run_id = state.state_details.flow_run_id
    return _ENDED.get(str(run_id), result) if run_id else result


def run_name(label: str) -> Callable[[], str]:
    """A ``flow_run_name`` callable: ``laike 2026-11-25..2026-11-28`` (+ the tenant when it is
    not ``default``, + the token principal when it is not the default), so runs, tenants and
    backfills can be told apart in the Prefect UI."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = dict(flow_run.parameters or {})
        tenant = str(params.get("tenant") or "default")
        who = "" if tenant == "default" else f" {tenant}"
        try:
            s = get_runtime(tenant).settings
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
            principal = s.oceanengine_principal
            who += "" if principal in ("default", None) else f" {principal}"
        except Exception:  # noqa: BLE001 - bad settings/parameters: the run itself reports them
            return f"{label}{who}"
        return f"{label} {window}{who}"

    return name


def record_failed_start(flow_name: str, reason: str) -> None:
    """A run that failed before its ledger row (e.g. a deployment run with an invalid window
    parameter) still leaves a FAILED row, so ``monitor.py`` sees it without Prefect. Best effort:
    when the database itself is what failed, Prefect's state is the only record."""
    try:
        try:
            rt = get_runtime()  # the current run's tenant (flows/context.py sets it first)
        except ConfigError:  # e.g. an unknown tenant: still a row, in the shared database
            from flows.runtime import Runtime, current_tenant
            from integrations.settings import get_settings

            rt = Runtime(settings=get_settings(), tenant=current_tenant.get())
        pk = ledger.start_run(
            rt.engine, flow_name, None, None, run_id=flow_run_id(), tenant=rt.tenant
        )
        ledger.finish_run(
            rt.engine, pk, status=RunStatus.FAILED.value, error=f"did not start: {reason}"
        )
    except Exception as e:  # noqa: BLE001 - never mask the original failure
        log.warning("%s: could not record the failed start in sync_runs: %s", flow_name, e)


def artifact_key(flow_name: str, tenant: str) -> str:
    """Artifact key stem: the flow, plus the tenant when it is not ``default`` (each tenant's
    latest artifacts apart; keys allow lower-case letters, digits and dashes only)."""
    return flow_name if tenant == "default" else f"{flow_name}-{tenant.replace('_', '-')}"


def publish(summary: RunSummary, key: str) -> None:
    """The run's account table and summary as Prefect artifacts (inside a flow run only)."""
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
        logger().warning("could not publish artifacts: %s", e)
