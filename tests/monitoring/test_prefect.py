"""Run history and run checks from a real Prefect server (the session fixture).

Flow and deployment names carry a per-test suffix (watched via ADSYNC_MONITOR_FLOWS) because the
session server is shared with other test modules that deploy the real flow names.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.states import Completed, Failed, Running

from tests.monitoring.conftest import ACC_B, monitor_env, now_utc, run_monitor

pytestmark = pytest.mark.prefect


def _names(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:6]}"


def _failing_flow(name: str):
    @flow(name=name, persist_result=False)
    def sync() -> None:
        raise RuntimeError("account 1854528518086986: 40104 token invalid")

    return sync


def _deployment(client, flow_name: str, cron: str | None) -> tuple:
    flow_id = client.create_flow_from_name(flow_name)
    schedules = (
        [DeploymentScheduleCreate(schedule=CronSchedule(cron=cron, timezone="Asia/Shanghai"))]
        if cron
        else None
    )
    dep_id = client.create_deployment(flow_id=flow_id, name=flow_name, schedules=schedules)
    return flow_id, dep_id


def _finished_run(client, dep_id, final, started_ago: timedelta):
    """A deployment run that went Running → ``final`` (through the real orchestration API)."""
    from prefect.states import Scheduled

    run = client.create_flow_run_from_deployment(
        dep_id, state=Scheduled(scheduled_time=now_utc() - started_ago)
    )
    client.set_flow_run_state(run.id, Running(), force=True)
    if final is not None:
        client.set_flow_run_state(run.id, final, force=True)
    return run


def test_view_lists_prefect_runs_joined_with_ledger(prefect_server, setup, tmp_path):
    name = _names("laike-daily")
    state = _failing_flow(name)(return_state=True)  # a real failed flow run
    assert state.is_failed()
    run_id = str(state.state_details.flow_run_id)
    setup.add_run(
        name,
        status="FAILED",
        run_id=run_id,
        accounts_ok=1,
        failed=[{"account_id": str(ACC_B), "reason": "40104"}],
    )
    env = monitor_env(setup.url, **prefect_server.env, ADSYNC_MONITOR_FLOWS=json.dumps([name]))
    p = run_monitor("view", "5", env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == f"source: Prefect API {prefect_server.api_url} + sync_runs ledger"
    row = lines[2].split()
    assert row[2] == name[:14] + "…" or row[2] == name  # 15-cell column
    assert row[4] == "Failed" and row[6] == "1/1" and row[7:] == ["db", "+40", "~0", "=0"]
    assert lines[3].split() == ["bt", "+0", "~2", "=38"]

    body = json.loads(run_monitor("view", "--json", env=env, cwd=tmp_path).stdout)
    assert body["source"] == "prefect"
    (r,) = body["runs"]
    assert r["run_id"] == run_id and r["state_type"] == "FAILED" and r["ledger_status"] == "FAILED"
    assert "40104 token invalid" in r["error"]

    # Prefect down → the ledger, and the output says so.
    down = dict(env, PREFECT_API_URL="http://127.0.0.1:9/api")
    p = run_monitor("view", env=down, cwd=tmp_path)
    assert p.stdout.splitlines()[0] == (
        "source: sync_runs ledger (Prefect API not reachable at http://127.0.0.1:9/api)"
    )
    assert name[:14] + "…" in p.stdout


def test_check_failed_missing_and_hung_deployments(prefect_server, setup, tmp_path):
    setup.healthy()  # data, tokens: fine — only Prefect is unhealthy here
    failed, missing, hung, ok = (
        _names(n) for n in ("laike-daily", "douplus-daily", "dpa-daily", "accounts-hourly")
    )
    with get_client(sync_client=True) as c:
        _, dep = _deployment(c, failed, cron=None)
        _finished_run(c, dep, Completed(), timedelta(days=1))
        bad = _finished_run(
            c, dep, Failed(message="2 account(s) failed: 1854…"), timedelta(hours=1)
        )
        # Scheduled daily from 2 s after its creation, never ran (a slot before a deployment
        # existed is not "missing": see test_prefect_ops.py).
        c.create_deployment(
            flow_id=c.create_flow_from_name(missing),
            name=missing,
            schedules=[
                DeploymentScheduleCreate(
                    schedule=IntervalSchedule(
                        interval=timedelta(days=1), anchor_date=now_utc() + timedelta(seconds=2)
                    )
                )
            ],
        )
        _, dep = _deployment(c, hung, cron=None)
        _finished_run(c, dep, None, timedelta(hours=3))  # stays Running
        _, dep = _deployment(c, ok, cron=None)
        _finished_run(
            c, dep, Failed(name="Partial", message="1 account(s) failed"), timedelta(hours=2)
        )
        _finished_run(c, dep, Completed(), timedelta(hours=1))  # a later rerun fixed it
    setup.add_run(
        failed,
        status="PARTIAL",
        run_id=str(bad.id),
        failed=[{"account_id": str(ACC_B), "reason": "40104"}],
    )

    flows = json.dumps([failed, missing, hung, ok])
    # Prefect stamps start_time itself (no backdating): a 2 s timeout makes the run "hung".
    env = monitor_env(
        setup.url,
        **prefect_server.env,
        ADSYNC_MONITOR_FLOWS=flows,
        ADSYNC_MONITOR_RUN_TIMEOUT_H=str(2 / 3600),
        ADSYNC_MONITOR_LATE_GRACE_MIN="0",
    )
    time.sleep(2.5)
    p = run_monitor("check", env=env, cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    out = p.stdout
    assert f"CRITICAL run       deployment {failed}/{failed}: last run (" in out
    assert ") Failed: 2 account(s) failed: 1854… → see the run's logs" in out
    # "no run for the scheduled … start", or "has not started" if the scheduler made one
    assert f"CRITICAL run       deployment {missing}/{missing}: missing: " in out
    assert f"CRITICAL running   flow {hung} run " in out and "(timeout 2s), started" in out
    assert ok not in out  # the rerun completed after the Partial one
    assert out.splitlines()[-1] == "CRITICAL: 3 critical, 0 warning (runs from prefect)"
