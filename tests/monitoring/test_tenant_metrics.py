"""Ledger metrics carry the run's tenant (issue 20): keyed by (flow, tenant), so one tenant's
failed runs and volume are their own series, never summed into another tenant's."""

from __future__ import annotations

from integrations.database import ledger
from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from integrations.monitoring.metrics import _ledger_counters
from integrations.monitoring.runs import ledger_totals


def _samples(families) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def test_ledger_metrics_are_per_flow_and_tenant(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(url)
    eng = make_engine(url)
    try:
        counts = {"db:local_promotion_daily": {"inserted": 5}, "api": {"throttled": 2}}
        for tenant, status, calls in (("acme", "SUCCESS", 10), ("brand-b", "FAILED", 3)):
            pk = ledger.start_run(eng, "laike-daily", None, None, tenant=tenant)
            ledger.finish_run(eng, pk, status=status, counts=counts, api_calls=calls)
        ledger.start_run(eng, "laike-daily", None, None, tenant="brand-b")  # still running
        got = _samples(_ledger_counters(ledger_totals(eng)))
    finally:
        eng.dispose()

    def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted({"flow": "laike-daily", **labels}.items()))

    assert got[key("adsync_runs_total", tenant="acme", status="success")] == 1
    assert got[key("adsync_runs_total", tenant="brand-b", status="failed")] == 1
    assert key("adsync_runs_total", tenant="acme", status="failed") not in got
    assert got[key("adsync_api_calls_total", tenant="acme")] == 10
    assert got[key("adsync_api_calls_total", tenant="brand-b")] == 3
    assert got[key("adsync_api_throttled_total", tenant="brand-b")] == 2
    assert got[key("adsync_runs_in_progress", tenant="brand-b")] == 1
    assert key("adsync_runs_in_progress", tenant="acme") not in got
    rows = key(
        "adsync_rows_total",
        tenant="acme",
        dataset="local_promotion_daily",
        sink="db",
        action="inserted",
    )
    assert got[rows] == 5
