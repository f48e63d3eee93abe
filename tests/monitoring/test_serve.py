"""``monitor.py serve``: GET /health and GET /metrics over real HTTP on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from integrations.database import ledger
from integrations.monitoring.checks import Monitor
from integrations.monitoring.config import MonitorSettings, utcnow
from integrations.monitoring.serve import OpsServer, make_server
from integrations.settings import load_settings
from tests.monitoring.conftest import ACC_A, REPO, Setup, monitor_env, run_monitor, yesterday_cn


@pytest.fixture
def served(setup: Setup) -> Iterator[OpsServer]:
    settings = load_settings(database_url=setup.url)

    def new() -> Monitor:
        return Monitor(settings=settings, mon=MonitorSettings(), engine=setup.engine, now=utcnow())

    server = make_server(new, "127.0.0.1", 0, quiet=True)  # ephemeral port
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        t.join(10)


def _run(setup: Setup, flow: str, status: str, counts=None, calls=None, error=None) -> int:
    y = yesterday_cn()
    pk = ledger.start_run(setup.engine, flow, y - timedelta(days=2), y, run_id=None)
    if status != "RUNNING":
        ledger.finish_run(
            setup.engine,
            pk,
            status=status,
            accounts_ok=2 if status != "FAILED" else 0,
            accounts_failed=1 if status != "SUCCESS" else 0,
            failed_accounts=[]
            if status == "SUCCESS"
            else [{"account_id": str(ACC_A), "reason": "x"}],
            counts=counts or {},
            api_calls=calls,
            error=error,
        )
    return pk


def _critical(body: dict) -> list[dict]:
    return [f for f in body["findings"] if f["severity"] == "critical"]


def test_health_flips_to_503_on_a_failed_run_and_back(served: OpsServer, setup: Setup, tmp_path):
    _run(setup, "laike-daily", "SUCCESS", calls=10)
    r = httpx.get(f"{served.url}/health", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert _critical(r.json()) == []

    _run(setup, "laike-daily", "FAILED", error="ApiError: code 40002 boom")
    r = httpx.get(f"{served.url}/health", timeout=30)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "critical" and body["exit_code"] == 2
    crit = _critical(body)
    assert [(f["check"], f["where"]) for f in crit] == [("run", "flow laike-daily")]
    assert "40002 boom" in crit[0]["message"]
    # The same findings as `monitor.py check --json` (the operator's command).
    p = run_monitor("check", "--json", env=monitor_env(setup.url), cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert json.loads(p.stdout)["findings"] == body["findings"]

    _run(setup, "laike-daily", "SUCCESS", calls=10)
    r = httpx.get(f"{served.url}/health", timeout=30)
    assert r.status_code == 200, r.text
    assert _critical(r.json()) == []

    assert httpx.get(f"{served.url}/nope", timeout=30).status_code == 404


def _db(n: int, upd: int = 0, same: int = 0) -> dict:
    return {"inserted": n, "updated": upd, "unchanged": same}


def test_metrics_parse_and_counters_equal_the_ledger(served: OpsServer, setup: Setup):
    _run(setup, "laike-daily", "SUCCESS", calls=12, counts={
        "db:local_promotion_daily": _db(40, 2, 1), "bitable:local_promotion_daily": _db(3, 4, 36),
        "db:local_account_daily": _db(2), "api": {"calls": 12, "throttled": 3},
    })  # fmt: skip
    _run(setup, "laike-daily", "PARTIAL", calls=7, counts={
        "db:local_promotion_daily": _db(5, 1),
        "db:row_rules": {"rejected": 2, "normalised": 1, "rejected_rows": ["k: r"]},
    })  # fmt: skip
    _run(setup, "laike-daily", "FAILED", calls=3, error="boom", counts={
        "api": {"calls": 3, "throttled": 1}})  # fmt: skip
    _run(setup, "douplus-daily", "SUCCESS", calls=30, counts={
        "db:douplus_orders": _db(9), "bitable:douplus_orders": {**_db(0, 9), "error": "1254043"},
        "bitable:views:douplus_orders": _db(1),
    })  # fmt: skip
    _run(setup, "douplus-daily", "RUNNING")
    setup.add_token("oceanengine:1700000000:default", timedelta(days=10))

    r = httpx.get(f"{served.url}/metrics", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in text_string_to_metric_families(r.text)}
    got: dict[str, Counter] = {}
    names = ("adsync_runs", "adsync_api_calls", "adsync_api_throttled", "adsync_rows")
    for name in (*names, "adsync_rows_rejected"):
        assert fams[name].type == "counter", name
        got[name] = Counter(
            {
                tuple(sorted(s.labels.items())): s.value
                for s in fams[name].samples
                if s.name.endswith("_total")
            }
        )

    # Recompute from the ledger's own reader.
    runs = ledger.recent_runs(setup.engine, limit=1000)
    want_runs, want_calls, want_rows, want_rej = Counter(), Counter(), Counter(), Counter()
    want_thr: Counter = Counter()
    for run in runs:
        if run.status.value in ("RUNNING", "PENDING"):
            continue
        want_runs[
            (("flow", run.flow), ("status", run.status.value.lower()), ("tenant", "default"))
        ] += 1
        want_calls[(("flow", run.flow), ("tenant", "default"))] += run.api_calls or 0
        for sink, c in run.counts.items():
            if sink == "api":
                want_thr[(("flow", run.flow), ("tenant", "default"))] += c["throttled"]
                continue
            if sink == "db:row_rules":
                want_rej[(("flow", run.flow), ("tenant", "default"))] += c["rejected"]
                continue
            kind, dataset = sink.split(":", 1)
            for action in ("inserted", "updated", "unchanged"):
                key = (("action", action), ("dataset", dataset), ("flow", run.flow),
                       ("sink", kind), ("tenant", "default"))  # fmt: skip
                want_rows[key] += c[action]
    assert got["adsync_runs"] == want_runs
    assert sum(want_runs.values()) == 4  # the RUNNING row is not a finished run
    assert got["adsync_api_calls"] == want_calls
    assert got["adsync_rows"] == want_rows
    assert got["adsync_rows_rejected"] == want_rej
    assert got["adsync_api_throttled"] == want_thr
    assert sum(want_thr.values()) == 4
    running = {
        tuple(sorted(s.labels.items())): s.value for s in fams["adsync_runs_in_progress"].samples
    }
    assert running == {(("flow", "douplus-daily"), ("tenant", "default")): 1}
    errors = [s for s in fams["adsync_sink_errors"].samples if s.name.endswith("_total")]
    assert [(s.labels["dataset"], s.labels["sink"], s.value) for s in errors] == [
        ("douplus_orders", "bitable", 1)
    ]
    tok = fams["adsync_refresh_token_expiry_seconds"].samples[0]
    assert tok.labels == {"key": "oceanengine:1700000000:default"}
    assert 10 * 86400 - 300 < tok.value <= 10 * 86400
    assert "adsync_access_token_expiry_seconds" in fams
    health = {s.name: s.value for s in fams["adsync_health_status"].samples}
    assert health == {"adsync_health_status": 2}  # laike-daily's newest finished run failed


def test_call_latency_histogram_sums_the_runs(served: OpsServer, setup: Setup):
    """adsync_api_call_duration_seconds: the runs' histograms (ledger counts["api"]["latency"])
    summed per flow, cumulative buckets; rows without one (older runs) add nothing."""
    le = [0.1, 1.0]

    def api(bins: list[int], seconds: float) -> dict:
        return {"api": {"calls": sum(bins), "throttled": 0,
                        "latency": {"le": le, "bins": bins, "seconds": seconds}}}  # fmt: skip

    _run(setup, "laike-daily", "SUCCESS", calls=12, counts=api([5, 6, 1], 4.5))
    _run(setup, "laike-daily", "PARTIAL", calls=3, counts=api([1, 2, 0], 1.25))
    _run(setup, "laike-daily", "SUCCESS", calls=9, counts={"api": {"calls": 9, "throttled": 0}})
    _run(setup, "dpa-daily", "FAILED", calls=1, error="x", counts=api([0, 0, 1], 31.0))
    r = httpx.get(f"{served.url}/metrics", timeout=30)
    fam = next(
        f
        for f in text_string_to_metric_families(r.text)
        if f.name == "adsync_api_call_duration_seconds"
    )
    assert fam.type == "histogram"
    got = {(s.labels["flow"], s.name, s.labels.get("le")): s.value for s in fam.samples}
    name = "adsync_api_call_duration_seconds"
    assert got == {
        ("dpa-daily", f"{name}_bucket", "0.1"): 0, ("dpa-daily", f"{name}_bucket", "1.0"): 0,
        ("dpa-daily", f"{name}_bucket", "+Inf"): 1, ("dpa-daily", f"{name}_count", None): 1,
        ("dpa-daily", f"{name}_sum", None): 31.0,
        ("laike-daily", f"{name}_bucket", "0.1"): 6, ("laike-daily", f"{name}_bucket", "1.0"): 14,
        ("laike-daily", f"{name}_bucket", "+Inf"): 15, ("laike-daily", f"{name}_count", None): 15,
        ("laike-daily", f"{name}_sum", None): 5.75,
    }  # fmt: skip


def test_dataset_lag_per_dataset(served: OpsServer, setup: Setup):
    setup.add_history(ACC_A, days=3, per_day=2, upto=yesterday_cn() - timedelta(days=2))
    fams = {
        f.name: f
        for f in text_string_to_metric_families(httpx.get(f"{served.url}/metrics", timeout=30).text)
    }
    lag = {s.labels["dataset"]: s.value for s in fams["adsync_dataset_freshness_lag_days"].samples}
    assert lag == {"local_promotion_daily": 2}


@pytest.mark.parametrize("command", ["monitor.py serve", "adsync serve-ops"])
def test_serve_command_binds_loopback_and_answers(setup: Setup, tmp_path, command):
    """The operator's command: `monitor.py serve --port 0` prints where it listens."""
    _run(setup, "laike-daily", "FAILED", error="boom")
    argv = (
        [sys.executable, str(REPO / "monitor.py"), "serve"]
        if command.startswith("monitor")
        else [str(Path(sys.executable).parent / "adsync"), "serve-ops"]
    )
    proc = subprocess.Popen(
        [*argv, "--port", "0", "--quiet"],
        env=monitor_env(setup.url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("monitor: serving /health and /metrics on http://127.0.0.1:"), (
            line + proc.stderr.read() if proc.poll() is not None else line
        )
        url = line.split(" on ", 1)[1].strip()
        r = httpx.get(f"{url}/health", timeout=30)
        assert r.status_code == 503
        assert _critical(r.json())[0]["where"] == "flow laike-daily"
        m = httpx.get(f"{url}/metrics", timeout=30)
        assert (
            'adsync_runs_total{flow="laike-daily",status="failed",tenant="default"} 1.0' in m.text
        )
    finally:
        proc.terminate()
        proc.wait(30)


def test_unreadable_database_is_a_503_naming_it_without_the_url():
    from integrations.monitoring.db import open_engine

    url = "postgresql+psycopg://adsync:hunter2-secret@127.0.0.1:5432/adsync_no_such_db_21"
    settings = load_settings(database_url=url)
    engine = open_engine(url)

    def new() -> Monitor:
        return Monitor(settings=settings, mon=MonitorSettings(), engine=engine, now=utcnow())

    server = make_server(new, "127.0.0.1", 0, quiet=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        r = httpx.get(f"{server.url}/health", timeout=30)
        assert r.status_code == 503
        (f,) = r.json()["findings"]
        assert (f["severity"], f["check"]) == ("critical", "database")
        assert "does not exist" in f["message"]  # the driver's first line: role or database
        m = httpx.get(f"{server.url}/metrics", timeout=30)
        assert m.status_code == 503 and m.text.startswith("database error: ")
        for body in (r.text, m.text):
            assert "hunter2" not in body
    finally:
        server.shutdown()
        server.server_close()
        t.join(10)
        engine.dispose()
