"""A flow's final set-state answer lost and re-sent (docs/contracts/prefect.md, Pitfalls): the
server rejects the repeat and the engine returns its copy of the state, without data. The
run's summary must still reach the caller (flows.sync_run.summary_of), for a green run and for
a partial one; this is what failed a CI run under load in tests/flows/test_douplus.py."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import SyncPrefectClient
from prefect.exceptions import FailedRun, MissingResult
from prefect.states import State

from flows.context import RunContext
from flows.summary import AccountResult, RunStatus, RunSummary
from flows.sync_run import summary_of
from tests.flows.sandboxed import small_sandbox

repeated: list[str] = []


@flow
def ends(start: str, end: str, broken: bool = False):
    run = RunContext.dated("laike-daily", date=None, start=start, end=end, lookback_days=None)
    if isinstance(run, State):
        return run
    with run:
        run.add_accounts({1: "one", 2: "two"})
        if broken:
            run.fail(2, ValueError("account 2 is broken"))
    return run.state


@pytest.fixture
def answer_lost(monkeypatch):
    """The first answer to a final set-state POST never arrives: the same body is sent again,
    as Prefect's HTTP client does after a dropped connection."""
    send = SyncPrefectClient.request

    def request(self, method: str, path: str, *args: Any, **kwargs: Any):
        state = (kwargs.get("json") or {}).get("state") or {}
        if path == "/flow_runs/{id}/set_state" and state.get("type") in ("COMPLETED", "FAILED"):
            send(self, method, path, *args, **kwargs)  # applied by the server, answer lost
            repeated.append(state["type"])
        return send(self, method, path, *args, **kwargs)

    monkeypatch.setattr(SyncPrefectClient, "request", request)


def test_the_summary_survives_a_lost_final_answer(
    prefect_server, tmp_path, monkeypatch, answer_lost
):
    with small_sandbox(tmp_path, monkeypatch, n_local_accounts=2) as sb:
        day = str(sb.data.today)
        repeated.clear()

        state = ends(start=day, end=day, broken=True, return_state=True)
        assert repeated == ["FAILED"]  # the repeat happened, and was rejected:
        assert state.name == "Partial" and state.data is None
        assert isinstance(state.result(raise_on_failure=False), FailedRun)
        summary = summary_of(state)
        assert isinstance(summary, RunSummary) and summary.status is RunStatus.PARTIAL
        assert [a.account_id for a in summary.failed_accounts] == [2]
        assert summary.run_id == str(state.state_details.flow_run_id)

        state = ends(start=day, end=day, return_state=True)
        assert repeated == ["FAILED", "COMPLETED"]
        assert state.is_completed() and state.data is None
        with pytest.raises(MissingResult):
            state.result()
        summary = summary_of(state)
        assert isinstance(summary, RunSummary) and summary.status is RunStatus.SUCCESS
        assert summary.run_id == str(state.state_details.flow_run_id)


def test_a_worker_does_not_log_a_dataless_partial_as_unexpected(monkeypatch) -> None:
    """A worker's engine re-raises the data-less Partial as FailedRun(message): ours, dropped."""
    import logging

    from flows import sync_run

    day = date(2026, 11, 29)
    done = RunSummary(flow="laike-daily", window_start=day, window_end=day, run_id="r1")
    done.accounts.append(AccountResult(account_id=2, ok=False, reason="broken"))
    monkeypatch.setattr(sync_run, "_ENDED", sync_run.OrderedDict())
    sync_run.final_state(done)
    message = done.failure_message()

    def record(exc: BaseException) -> logging.LogRecord:
        rec = logging.LogRecord("prefect.flow_runs", logging.ERROR, "", 0, "%s", (), None)
        rec.msg, rec.exc_info = sync_run._ENGINE_EXIT_MESSAGE, (type(exc), exc, None)
        return rec

    keep = sync_run._ExpectedFailure().filter
    assert keep(record(FailedRun(message))) is False
    assert keep(record(FailedRun("some other run failed"))) is True
    assert keep(record(ValueError(message))) is True
