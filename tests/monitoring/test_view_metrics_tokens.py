"""``view`` / ``freshness`` / ``metrics`` / ``tokens`` from the ledger and the app database."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.cells import cell_len

from integrations.monitoring.checks import Monitor
from integrations.monitoring.config import MonitorSettings, utcnow
from integrations.monitoring.db import open_engine
from integrations.settings import load_settings
from tests.monitoring.conftest import (
    ACC_A,
    ACC_B,
    Setup,
    monitor_env,
    run_monitor,
    yesterday_cn,
)


def test_view_lists_ledger_runs_in_80_columns(setup: Setup, tmp_path):
    setup.healthy()
    setup.add_run(
        "laike-daily",
        status="PARTIAL",
        hours_ago=0.1,
        minutes=65,
        rows=12_345,
        failed=[{"account_id": str(ACC_B), "reason": "x"}],
    )
    p = run_monitor("view", "2", env=monitor_env(setup.url), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "source: sync_runs ledger"
    assert lines[1].split() == ["START", "FLOW", "WINDOW", "STATE", "DUR", "OK/F", "ROWS"]
    # header lines + 2 runs × (run line + Bitable line) + the legend
    assert len(lines) == 7
    assert all(cell_len(ln) <= 80 for ln in lines), lines
    y = yesterday_cn()
    newest = lines[2].split()
    # inserted, updated and unchanged apart, per sink kind (issue 16 item 7)
    assert newest[2:] == [
        "laike-daily",
        f"{y - timedelta(days=3):%m-%d}..{y:%m-%d}",
        "PARTIAL",
        "1h05m",
        "2/1",
        "db",
        "+12k",
        "~0",
        "=0",
    ]
    assert lines[3].split() == ["bt", "+0", "~2", "=12k"]
    assert lines[3].index("bt") == lines[2].index("db +12k")  # under the ROWS column
    assert lines[-1] == "rows: +inserted ~updated =unchanged (db = database, bt = Bitable)"

    p = run_monitor("view", "--json", env=monitor_env(setup.url), cwd=tmp_path)
    body = json.loads(p.stdout)
    assert body["source"] == "ledger" and len(body["runs"]) == 3
    assert body["runs"][0]["failed_accounts"] == [{"account_id": str(ACC_B), "reason": "x"}]
    assert body["runs"][0]["rows"] == {"db": 12_345, "bt": 12_345}
    assert body["runs"][0]["rows_detail"] == {
        "db": {"inserted": 12_345, "updated": 0, "unchanged": 0},
        "bt": {"inserted": 0, "updated": 2, "unchanged": 12_343},
    }


def test_freshness_marks_stale_accounts(setup: Setup, tmp_path):
    y = yesterday_cn()
    setup.add_history(ACC_A)
    setup.add_history(ACC_B, upto=y - timedelta(days=2), days=3)
    p = run_monitor("freshness", env=monitor_env(setup.url), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == f"expected latest date: {y} (yesterday, Asia/Shanghai)"
    a = next(ln for ln in p.stdout.splitlines() if str(ACC_A) in ln)
    b = next(ln for ln in p.stdout.splitlines() if str(ACC_B) in ln)
    assert a.split()[-3:] == [str(y), "0d", "ok"]
    assert b.split()[-3:] == [str(y - timedelta(days=2)), "2d", "STALE"]
    body = json.loads(
        run_monitor("freshness", "--json", env=monitor_env(setup.url), cwd=tmp_path).stdout
    )
    stale = {r["account"]: r["lag_days"] for r in body["rows"] if r["stale"]}
    assert stale == {str(ACC_B): 2}


# One sample line: name{label="v",...} value — what a textfile collector accepts.
SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]\w*="(\\.|[^"\\])*",?)*\})? -?[0-9.e+]+$'
)


def test_metrics_are_valid_prometheus_text(setup: Setup, tmp_path):
    setup.healthy()
    setup.add_run("dpa-daily", status="FAILED", hours_ago=0.5, error='quote " and \\ slash')
    setup.add_token("oceanengine:1700000000:shop2", timedelta(days=3))
    out = tmp_path / "textfile" / "adsync.prom"
    p = run_monitor("metrics", "-o", str(out), env=monitor_env(setup.url), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    for line in text.splitlines():
        assert line.startswith(("# HELP ", "# TYPE ")) or SAMPLE.match(line), line
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in fams.values() for s in f.samples
    }
    assert samples[("adsync_findings", (("severity", "critical"),))] == 1
    assert samples[("adsync_findings", (("severity", "warning"),))] == 1
    assert samples[("adsync_health_status", ())] == 2
    assert ("adsync_last_run_timestamp_seconds", (("flow", "dpa-daily"), ("status", "failed"))) in (
        samples
    )
    lag = (
        "adsync_dataset_lag_days",
        (("account", str(ACC_A)), ("dataset", "local_promotion_daily")),
    )
    assert samples[lag] == 0
    exp = samples[
        ("adsync_refresh_token_expiry_seconds", (("key", "oceanengine:1700000000:shop2"),))
    ]
    assert 3 * 86400 - 120 < exp <= 3 * 86400
    assert samples[("adsync_prefect_api_up", ())] == 0


def test_tokens_show_expiry_and_accounts_never_secrets(setup: Setup, tmp_path):
    setup.add_token("oceanengine:1700000000:default", timedelta(days=2), account_ids=(ACC_A, ACC_B))
    p = run_monitor("tokens", env=monitor_env(setup.url), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    line = p.stdout.splitlines()[1]
    assert line.startswith("oceanengine:1700000000:default")
    assert line.split()[-4:] == ["2.0d", "valid", "2", "accounts"]
    body = json.loads(run_monitor("tokens", "--json", env=monitor_env(setup.url)).stdout)
    assert body["tokens"][0]["account_ids"] == [str(ACC_A), str(ACC_B)]
    assert "SECRET" not in p.stdout and "ciphertext" not in json.dumps(body)


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_ledger_and_freshness_on_server_databases(backend, request):
    """The queries (group-by dates, JSON text columns, naive UTC) behave the same on every
    backend; the session database is shared, so only this test's flow/accounts are asserted."""
    from integrations.database.migrate import upgrade

    url = request.getfixturevalue("postgres_url" if backend == "postgresql" else "mysql_url")
    upgrade(url)
    s = Setup(url, open_engine(url))
    flow = f"monitor-t-{backend}"
    acc = 9_100_000_000_000_000 + (1 if backend == "postgresql" else 2)
    s.add_run(flow, status="PARTIAL", failed=[{"account_id": "1", "reason": "r"}])
    s.add_history(acc, days=8, per_day=4)
    s.add_promotions(acc + 10, yesterday_cn() - timedelta(days=1), 4)  # disappeared
    m = Monitor(
        settings=load_settings(database_url=url),
        mon=MonitorSettings(flows=[flow]),
        engine=s.engine,
        now=utcnow(),
    )
    runs = m.recent_runs(5)
    assert [r.ledger_status for r in runs] == ["PARTIAL"]
    assert runs[0].failed_accounts == [{"account_id": "1", "reason": "r"}]
    fresh = {f.account: f for f in m.freshness() if f.account in (str(acc), str(acc + 10))}
    assert fresh[str(acc)].lag_days == 0 and fresh[str(acc + 10)].lag_days == 1
    from integrations.monitoring.checks import check_freshness, check_runs_ledger

    lines = [f.line() for f in check_runs_ledger(m) + check_freshness(m)]
    assert any(f"flow {flow}: last run" in ln and "Partial" in ln for ln in lines), lines
    assert any(f"account {acc + 10}: account disappeared" in ln for ln in lines), lines
    s.engine.dispose()
