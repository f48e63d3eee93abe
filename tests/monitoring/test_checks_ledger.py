"""``check`` without Prefect: every unhealthy situation built in a real database, asserted by the
finding's text and the process exit code."""

from __future__ import annotations

from datetime import timedelta

from tests.monitoring.conftest import ACC_A, ACC_B, monitor_env, run_monitor, yesterday_cn


def check(setup, tmp_path, *extra: str, **env: str):
    p = run_monitor("check", *extra, env=monitor_env(setup.url, **env), cwd=tmp_path)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def test_healthy_setup_exits_0(setup, tmp_path):
    setup.healthy()
    p = check(setup, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == "OK: no findings (runs from ledger)"


def test_no_successful_run_in_26h_is_critical(setup, tmp_path):
    setup.healthy()
    setup.add_run("dpa-daily", status="SUCCESS", hours_ago=30)
    setup.add_run("dpa-daily", status="FAILED", hours_ago=2, error="DPA catalogue 40002 denied")
    p = check(setup, tmp_path)
    assert p.returncode == 2
    line = next(ln for ln in p.stdout.splitlines() if "flow dpa-daily" in ln)
    assert line.startswith("CRITICAL run")
    assert "no successful run in the last 26 h (last: FAILED" in line
    assert "DPA catalogue 40002 denied" in line


def test_partial_run_is_a_warning_naming_the_account(setup, tmp_path):
    setup.healthy()
    setup.add_run(
        "laike-daily",
        status="PARTIAL",
        hours_ago=0.5,
        failed=[{"account_id": str(ACC_B), "reason": "40104 token invalid"}],
    )
    p = check(setup, tmp_path)
    assert p.returncode == 1, p.stdout
    assert "WARNING  run       flow laike-daily: last run (" in p.stdout
    assert f"Partial: failed accounts: {ACC_B}" in p.stdout


def test_run_running_past_timeout(setup, tmp_path):
    setup.healthy(run_hours_ago=20)
    setup.add_run("douplus-daily", status="RUNNING", hours_ago=3)
    p = check(setup, tmp_path)
    assert p.returncode == 2
    assert "CRITICAL running   flow douplus-daily: RUNNING for 3h00m (timeout 2h00m)" in p.stdout
    # The setting moves the threshold: 4 h timeout → healthy again.
    assert check(setup, tmp_path, ADSYNC_MONITOR_RUN_TIMEOUT_H="4").returncode == 0


def test_stale_dataset_is_critical(setup, tmp_path):
    setup.add_run("laike-daily")
    y = yesterday_cn()
    for acc in (ACC_A, ACC_B):
        setup.add_history(acc, upto=y - timedelta(days=2))
    p = check(setup, tmp_path)
    assert p.returncode == 2
    assert (
        f"CRITICAL freshness dataset local_promotion_daily: stale: latest date "
        f"{y - timedelta(days=2)}, expected {y} (2 day(s) behind)"
    ) in p.stdout


def test_account_disappearing_and_row_drop_are_warnings(setup, tmp_path):
    setup.healthy()
    y = yesterday_cn()
    gone, dropped = 7_000_000_000_000_001, 7_000_000_000_000_002
    setup.add_history(gone, upto=y - timedelta(days=1), days=7)  # nothing yesterday
    for i in range(1, 8):
        setup.add_promotions(dropped, y - timedelta(days=i), 20)
    setup.add_promotions(dropped, y, 9)  # 9 < 0.5 × 20
    p = check(setup, tmp_path)
    assert p.returncode == 1, p.stdout
    assert (
        f"WARNING  volume    local_promotion_daily account {gone}: account disappeared: "
        f"no rows for {y} (present on {y - timedelta(days=1)})"
    ) in p.stdout
    assert (
        f"local_promotion_daily account {dropped}: 9 rows on {y}, below 0.5 × the trailing "
        f"7-day median (20)"
    ) in p.stdout
    # Exactly half the median is not an anomaly ("below half").
    assert f"account {ACC_A}" not in p.stdout


def test_refresh_token_expiring_and_expired(setup, tmp_path):
    setup.healthy()
    setup.add_token("oceanengine:1700000000:shop2", timedelta(days=3, hours=1))
    p = check(setup, tmp_path)
    assert p.returncode == 1
    assert (
        "WARNING  token     token oceanengine:1700000000:shop2: refresh token expires in 3.0 days"
        in p.stdout
    )
    setup.add_token("oceanengine:1700000000:shop3", timedelta(hours=-1))
    p = check(setup, tmp_path)
    assert p.returncode == 2
    assert "CRITICAL token     token oceanengine:1700000000:shop3: refresh token expired at" in (
        p.stdout
    )
    assert "SECRET" not in p.stdout + p.stderr


def test_json_output_and_uninitialised_database(setup, tmp_path):
    import json

    setup.healthy()
    setup.add_run("laike-daily", status="FAILED", hours_ago=0.2, error="boom")
    p = check(setup, tmp_path, "--json")
    body = json.loads(p.stdout)
    assert p.returncode == 2 and body["exit_code"] == 2 and body["status"] == "critical"
    assert body["findings"][0]["where"] == "flow laike-daily"
    assert body["findings"][0]["severity"] == "critical"

    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    p = run_monitor("check", env=monitor_env(missing), cwd=tmp_path)
    assert p.returncode == 2
    assert "not initialised (no sync_runs table) → adsync db upgrade" in p.stdout
    assert not (tmp_path / "nope.db").exists()  # the monitor never creates the database


def test_invalid_setting_is_one_line_exit_2(setup, tmp_path):
    p = run_monitor(
        "check", env=monitor_env(setup.url, ADSYNC_MONITOR_RUN_TIMEOUT_H="soon"), cwd=tmp_path
    )
    assert p.returncode == 2
    assert p.stderr.strip().startswith("monitor: ADSYNC_MONITOR_RUN_TIMEOUT_H:")
    assert len(p.stderr.strip().splitlines()) == 1


def test_one_tenants_failure_is_not_hidden_by_another_tenants_success(setup, tmp_path):
    """Issue 20: runs are checked per flow and tenant, and `view` groups them by tenant."""
    setup.healthy()
    setup.add_run("laike-daily", status="SUCCESS", hours_ago=0.5, tenant="brand-b")
    setup.add_run("laike-daily", status="FAILED", hours_ago=30, tenant="acme", error="revoked")
    setup.add_run("laike-daily", status="FAILED", hours_ago=1, tenant="acme", error="40104 revoked")
    p = check(setup, tmp_path)
    assert p.returncode == 2, p.stdout
    lines = [ln for ln in p.stdout.splitlines() if "flow laike-daily" in ln]
    assert len(lines) == 1, lines
    assert lines[0].startswith("CRITICAL run       flow laike-daily tenant acme: no successful")
    assert "40104 revoked" in lines[0]

    v = run_monitor("view", "50", env=monitor_env(setup.url), cwd=tmp_path)
    assert v.returncode == 0, v.stdout + v.stderr
    out = v.stdout.splitlines()
    heads = [ln for ln in out if ln.startswith("tenant ")]
    # Ordered by each tenant's newest run: brand-b's (30 min ago) is the newest of all.
    assert heads[0] == "tenant brand-b" and sorted(heads[1:]) == ["tenant acme", "tenant default"]
    # Each tenant's runs sit under its heading: acme's two failures, and only they.
    start = out.index("tenant acme")
    end = next((i for i in range(start + 1, len(out)) if out[i].startswith("tenant ")), len(out))
    assert sum("FAILED" in ln for ln in out[start:end]) == 2
    assert sum("FAILED" in ln for ln in out) == 2
