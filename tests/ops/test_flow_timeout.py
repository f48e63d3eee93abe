"""A deployment's flow timeout (flows/deployed.py) stops a slow run: Prefect state TimedOut, and
the ledger row is not SUCCESS (the monitor's ledger mode must see it)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flows import deployed
from integrations.database import ledger
from integrations.database.engine import make_engine
from integrations.settings import get_settings
from sandbox.server import Sandbox
from tests.flows.sandboxed import point_at


@pytest.mark.timeout(180)
def test_a_run_past_its_timeout_ends_timed_out_and_not_success_in_the_ledger(
    prefect_server, tmp_path, monkeypatch
):
    assert deployed.accounts_hourly.timeout_seconds == deployed.HOURLY_TIMEOUT_S
    with Sandbox(profile="fast") as sb:
        point_at(sb, tmp_path / "data", monkeypatch)
        # Every Ocean Engine call takes 1.5 s: the listing cannot finish within 2 s.
        sb.oe.knobs = replace(sb.oe.knobs, latency_ms=1500.0)
        flow = deployed.accounts_hourly.with_options(timeout_seconds=2)
        state = flow(return_state=True)
        assert state.is_failed() and state.name == "TimedOut", (state.name, state.message)
        assert "exceeded timeout of 2" in (state.message or "")
        engine = make_engine(get_settings().db_url)
        try:
            (run,) = ledger.recent_runs(engine, limit=5, flow="accounts-hourly")
        finally:
            engine.dispose()
        assert run.status is not ledger.RunStatus.SUCCESS, run
        assert run.finished_at is not None
        assert run.error and "interrupted" in run.error, run.error
        # The run's API cost is in the ledger for monitor.py metrics (40100s: none here).
        api = run.counts["api"]
        assert (api["calls"], api["throttled"]) == (run.api_calls, 0)
        assert sum(api["latency"]["bins"]) == run.api_calls  # every call timed, even when cut
        assert run.api_calls and run.api_calls >= 1
