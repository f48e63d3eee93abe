"""The same row rules in the DOU+ flow (session Prefect server): an order whose daily
``total_play`` is 2^63 has those stat rows rejected by name; every other row of the batch is
written (here: unchanged from the clean run before it) and the run/ledger say so."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flows.douplus import douplus_daily
from flows.summary import RunStatus, RunSummary
from flows.sync_run import summary_of
from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.database.ledger import recent_runs
from integrations.settings import get_settings
from sandbox.server import Sandbox
from tests.flows.sandboxed import point_at


def _run() -> RunSummary:
    state = douplus_daily(return_state=True)
    summary = summary_of(state)
    assert isinstance(summary, RunSummary), f"{state.name}: {state.message}"
    return summary


@pytest.mark.timeout(240)
def test_douplus_count_beyond_int64_rejects_that_orders_rows(prefect_server, tmp_path, monkeypatch):
    with Sandbox(profile="fast") as sb:
        point_at(sb, tmp_path / "data", monkeypatch)
        db_url = get_settings().db_url
        clean = _run()
        eng = make_engine(db_url)
        t = tables.douplus_order_daily
        with eng.connect() as conn:
            stats = [(r.order_id, r.stat_date) for r in conn.execute(sa.select(t))]
        bad = stats[0][0]
        n_bad = sum(1 for oid, _ in stats if oid == bad)
        sb.oe.knobs.hostile_values = [(bad, "total_play", 2**63)]
        hostile = _run()
        ledger = recent_runs(eng, flow=hostile.flow, limit=1)[0]
        eng.dispose()
    assert clean.status is RunStatus.SUCCESS, clean.failure_message()
    assert hostile.status is RunStatus.PARTIAL
    assert hostile.rejected_count == n_bad
    assert all(f"order_id={bad}" in n and "64-bit" in n for n in hostile.rejected_named())
    s = hostile.sinks["db:douplus_order_daily"]
    assert (s.inserted, s.updated, s.unchanged) == (0, 0, len(stats) - n_bad)
    assert ledger.status.value == "PARTIAL" and f"order_id={bad}" in (ledger.error or "")
