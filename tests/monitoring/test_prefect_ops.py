"""Prefect-mode monitor against a real Prefect server: runs without a deployment count, a
successful rerun clears a killed or crashed run, a deployment created after its last schedule
slot is not "missing", and a pre-ledger failure (Prefect knows it, the ledger does not) shows.

Names carry a per-test suffix (the session server is shared); ADSYNC_MONITOR_FLOWS watches them.
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
from prefect.client.schemas.schedules import CronSchedule
from prefect.states import Crashed, Running, Scheduled

from tests.monitoring.conftest import monitor_env, now_utc, run_monitor

pytestmark = pytest.mark.prefect


def _name(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:6]}"


def _run(name: str, fail: bool):
    @flow(name=name, persist_result=False)
    def sync() -> int:
        if fail:
            raise RuntimeError("ADSYNC_OCEANENGINE_APP_SECRET: required")  # before any ledger row
        return 1

    return sync(return_state=True)


def _check(setup, prefect_server, tmp_path, flows: list[str], **extra: str):
    env = monitor_env(
        setup.url, **prefect_server.env, ADSYNC_MONITOR_FLOWS=json.dumps(flows), **extra
    )
    p = run_monitor("check", env=env, cwd=tmp_path)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def test_failed_run_without_deployment_is_critical_until_rerun(prefect_server, setup, tmp_path):
    setup.healthy()
    name = _name("laike-daily")
    assert _run(name, fail=True).is_failed()  # `adsync run laike` that failed: no deployment

    p = _check(setup, prefect_server, tmp_path, [name])
    assert p.returncode == 2, p.stdout
    (line,) = [ln for ln in p.stdout.splitlines() if name in ln]
    assert line.startswith(f"CRITICAL run       flow {name} (run without deployment): last run")
    assert "ADSYNC_OCEANENGINE_APP_SECRET: required" in line  # no ledger row: Prefect's message
    assert line.endswith("→ see the run's logs, then: adsync run laike")

    assert _run(name, fail=False).is_completed()  # the rerun
    p = _check(setup, prefect_server, tmp_path, [name])
    assert p.returncode == 0, p.stdout


def test_successful_rerun_clears_a_killed_and_a_crashed_run(prefect_server, setup, tmp_path):
    setup.healthy()
    killed, crashed = _name("douplus-daily"), _name("dpa-daily")
    with get_client(sync_client=True) as c:
        # A run whose process was SIGKILLed: RUNNING forever.
        run = c.create_flow_run_from_deployment(
            c.create_deployment(flow_id=c.create_flow_from_name(killed), name=killed),
            state=Scheduled(scheduled_time=now_utc() - timedelta(hours=3)),
        )
        c.set_flow_run_state(run.id, Running(), force=True)
        # A deployment run a worker reported as crashed.
        dep = c.create_deployment(flow_id=c.create_flow_from_name(crashed), name=crashed)
        run2 = c.create_flow_run_from_deployment(
            dep, state=Scheduled(scheduled_time=now_utc() - timedelta(hours=2))
        )
        c.set_flow_run_state(run2.id, Running(), force=True)
        c.set_flow_run_state(run2.id, Crashed(message="worker lost"), force=True)
    time.sleep(2.5)  # Prefect stamps start times itself: a 2 s timeout makes the first "hung"
    timeout = {"ADSYNC_MONITOR_RUN_TIMEOUT_H": str(2 / 3600)}

    p = _check(setup, prefect_server, tmp_path, [killed, crashed], **timeout)
    assert p.returncode == 2, p.stdout
    assert f"CRITICAL running   flow {killed} run " in p.stdout
    assert f"prefect flow-run cancel {run.id}, then: adsync run douplus" in p.stdout
    assert f"CRITICAL run       deployment {crashed}/{crashed}: last run (" in p.stdout

    for name in (killed, crashed):  # reruns from a terminal (no deployment) succeed
        assert _run(name, fail=False).is_completed()
    p = _check(setup, prefect_server, tmp_path, [killed, crashed], **timeout)
    assert p.returncode == 0, p.stdout


def test_no_missing_run_for_slots_before_the_deployment_existed(prefect_server, setup, tmp_path):
    setup.healthy()
    name = _name("accounts-hourly")
    with get_client(sync_client=True) as c:
        c.create_deployment(
            flow_id=c.create_flow_from_name(name),
            name=name,
            # Its last slot (07:00 China today or yesterday) is before the deployment was made.
            schedules=[
                DeploymentScheduleCreate(
                    schedule=CronSchedule(cron="0 7 * * *", timezone="Asia/Shanghai")
                )
            ],
        )
    p = _check(setup, prefect_server, tmp_path, [name], ADSYNC_MONITOR_LATE_GRACE_MIN="0")
    assert "missing" not in p.stdout and p.returncode == 0, p.stdout
