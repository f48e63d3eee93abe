"""Ledger-mode monitor (issue 17 items 11/12, issue 16 item 7): pre-ledger failures, completeness,
future dates, never-synced accounts, a command on every finding, inserted/updated/unchanged.

Each situation is built in a real database the way the flows leave it, and `monitor.py` runs as a
subprocess (how cron calls it).
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import sqlalchemy as sa

from flows.runtime import reset_runtime
from integrations.database import tables as t
from integrations.settings import get_settings
from tests.monitoring.conftest import (
    ACC_A,
    ACC_B,
    CN,
    monitor_env,
    naive,
    now_utc,
    run_monitor,
    yesterday_cn,
)

ACC_C = 1854999999999999123 // 1000  # another id above 2^53


def check(setup, tmp_path, *extra: str, **env: str):
    p = run_monitor("check", *extra, env=monitor_env(setup.url, **env), cwd=tmp_path)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def findings(p) -> list[str]:
    return [ln for ln in p.stdout.splitlines() if ln.startswith(("CRITICAL ", "WARNING  "))]


def _set_counts(setup, run_pk: int, counts: dict) -> None:
    with setup.engine.begin() as c:
        c.execute(
            sa.update(t.sync_runs)
            .where(t.sync_runs.c.id == run_pk)
            .values(counts=json.dumps(counts))
        )


def _add_account(setup, account_id: int, name: str, account_type: str = "LOCAL") -> None:
    now = naive(now_utc())
    with setup.engine.begin() as c:
        c.execute(
            sa.insert(t.ad_accounts).values(
                account_type=account_type,
                account_id=account_id,
                account_name=name,
                is_valid=True,
                is_enabled=True,
                removed=False,
                first_seen_at=now,
                last_seen_at=now,
                updated_at=now,
            )
        )


def test_failure_before_the_ledger_row_is_critical(setup, tmp_path, monkeypatch):
    """A run whose parameters fail before its regular ledger row (a deployment run started
    from the UI with an impossible date) leaves a FAILED row the ledger-only monitor sees."""
    from flows.laike import laike_daily

    setup.healthy(run_hours_ago=3)
    monkeypatch.setenv("ADSYNC_DATABASE_URL", setup.url)
    get_settings.cache_clear()
    reset_runtime()
    state = laike_daily.fn(date="2026-02-30")
    assert state.is_failed() and "2026-02-30" in (state.message or "")
    reset_runtime()

    p = check(setup, tmp_path)
    assert p.returncode == 2, p.stdout
    (line,) = [ln for ln in findings(p) if "flow laike-daily" in ln]
    assert line.startswith("CRITICAL run       flow laike-daily: last run (")
    assert "Failed: " in line and "2026-02-30" in line
    assert line.endswith("→ see the run's logs, then: adsync run laike")


def test_incomplete_account_and_rejected_rows_are_named(setup, tmp_path):
    setup.healthy(run_hours_ago=3)
    reason = "incomplete listing: received 200 rows, page_info says 370"
    pk = setup.add_run(
        "laike-daily",
        status="PARTIAL",
        hours_ago=0.5,
        failed=[{"account_id": str(ACC_B), "reason": reason}],
    )
    _set_counts(
        setup,
        pk,
        {
            "db:local_promotion_daily": {"inserted": 170, "updated": 0, "unchanged": 0},
            "db:row_rules": {  # the key flows/summary.py writes
                "rejected": 2,
                "normalised": 0,
                "rejected_rows": [f"2026-11-27|{ACC_A}|7450: stat_cost 1e16 out of range"],
                "normalised_rows": [],
            },
        },
    )
    p = check(setup, tmp_path)
    assert p.returncode == 2, p.stdout
    y = yesterday_cn()
    window = f"--start {y - timedelta(days=3)} --end {y}"
    assert (
        f"CRITICAL complete  laike-daily account {ACC_B}: {reason} → "
        f"adsync run laike {window} --accounts {ACC_B}"
    ) in p.stdout
    assert (
        "WARNING  complete  flow laike-daily: 2 row(s) rejected by the row rules: "
        f"2026-11-27|{ACC_A}|7450: stat_cost 1e16 out of range → fix the source data or the "
        f"rule, then: adsync run laike {window}"
    ) in p.stdout

    # A complete rerun clears both.
    setup.add_run("laike-daily", status="SUCCESS", hours_ago=0.1)
    p = check(setup, tmp_path)
    assert p.returncode == 0, p.stdout


def test_future_dates_are_named_and_do_not_hide_staleness(setup, tmp_path):
    y = yesterday_cn()
    setup.healthy(run_hours_ago=1)
    with setup.engine.begin() as c:  # the real history stops 3 days ago …
        c.execute(
            sa.delete(t.local_promotion_daily).where(
                t.local_promotion_daily.c.stat_date > y - timedelta(days=3)
            )
        )
    setup.add_promotions(ACC_A, date(2099, 1, 1), 3)  # … and a bad payload stored 2099-01-01

    p = check(setup, tmp_path)
    assert p.returncode == 2, p.stdout
    today = now_utc().astimezone(CN).date()
    assert (
        f"CRITICAL future    dataset local_promotion_daily: 3 row(s) dated after today "
        f"({today}), up to 2099-01-01 → DELETE FROM local_promotion_daily WHERE stat_date > "
        f"'{today}'"
    ) in p.stdout
    latest = y - timedelta(days=3)
    assert (
        f"CRITICAL freshness dataset local_promotion_daily: stale: latest date {latest}, "
        f"expected {y} (3 day(s) behind) → adsync run laike --start "
        f"{latest + timedelta(days=1)} --end {y}"
    ) in p.stdout

    p = run_monitor("freshness", env=monitor_env(setup.url), cwd=tmp_path)
    assert "2099" not in p.stdout and "STALE" in p.stdout


def test_accounts_that_never_synced_are_listed(setup, tmp_path):
    setup.healthy()
    for acc, name in ((ACC_A, "北京店"), (ACC_B, "上海店"), (ACC_C, "西安店")):
        _add_account(setup, acc, name)
    _add_account(setup, 42, "a DOU+ account", account_type="AWEME")  # other dataset: not listed

    p = check(setup, tmp_path)
    assert p.returncode == 1, p.stdout
    y = yesterday_cn()
    assert (
        f"WARNING  freshness dataset local_promotion_daily: 1 account(s) never synced: "
        f"{ACC_C} 西安店 → adsync run laike --start {y - timedelta(days=3)} --end {y} "
        f"--accounts {ACC_C}"
    ) in p.stdout

    p = run_monitor("freshness", env=monitor_env(setup.url), cwd=tmp_path)
    row = next(ln for ln in p.stdout.splitlines() if str(ACC_C) in ln)
    assert row.split()[-2:] == ["NEVER", "SYNCED"] and "never" in row
    assert p.stdout.splitlines()[-1] == "0 stale of 2, 1 never synced"
    body = json.loads(
        run_monitor("freshness", "--json", env=monitor_env(setup.url), cwd=tmp_path).stdout
    )
    assert body["never_synced"] == [
        {"dataset": "local_promotion_daily", "account": str(ACC_C), "account_name": "西安店"}
    ]


def test_every_finding_prints_a_command(setup, tmp_path):
    """Many findings at once; each ends with the command that fixes or reruns it."""
    y = yesterday_cn()
    setup.add_history(ACC_A, upto=y - timedelta(days=2))  # stale
    setup.add_run(
        "laike-daily",
        status="PARTIAL",
        hours_ago=1,
        failed=[{"account_id": str(ACC_B), "reason": "40104"}],
    )
    setup.add_run("dpa-daily", status="FAILED", hours_ago=2, error="boom")
    setup.add_run("douplus-daily", status="RUNNING", hours_ago=5)
    setup.add_token("oceanengine:1:default", timedelta(days=-1))
    setup.add_token("oceanengine:1:other", timedelta(days=2))
    _add_account(setup, ACC_C, "西安店")
    setup.add_promotions(ACC_A, date(2099, 1, 1), 1)

    p = check(setup, tmp_path)
    lines = findings(p)
    assert len(lines) >= 7, p.stdout
    command = re.compile(r"→ .*(adsync (run|tokens|db|bitable)|prefect |DELETE FROM )")
    missing = [ln for ln in lines if not command.search(ln)]
    assert not missing, missing


def test_a_newer_successful_run_supersedes_a_killed_one(setup, tmp_path):
    setup.healthy(run_hours_ago=10)
    setup.add_run("laike-daily", status="RUNNING", hours_ago=5)  # killed: never closed
    assert check(setup, tmp_path).returncode == 2
    setup.add_run("laike-daily", status="SUCCESS", hours_ago=1)  # the rerun
    p = check(setup, tmp_path)
    assert p.returncode == 0, p.stdout
