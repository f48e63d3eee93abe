"""prefect.yaml on a real local Prefect server: deploy, a process worker, a 3-day backfill.

The one test that runs the product the way operators do: `prefect deploy --all` from the repo,
`prefect worker start`, `prefect deployment run ... --param start/end`, then the DB and the
sandbox Bitable are checked, and the schedule is 07:00 Asia/Shanghai.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from flows.window import china_today
from integrations.database import tables
from integrations.database.engine import make_engine
from sandbox.server import Sandbox
from tests.flows.sandboxed import ROOT, bitable_snapshot, point_at, subprocess_env

pytestmark = pytest.mark.deployment
BIN = Path(sys.executable).parent
POOL = "adsync"


def _prefect(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.run(
        [str(BIN / "prefect"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _wait_final(api_url: str, run_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{api_url}/flow_runs/{run_id}", timeout=10).json()
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(1)
    pytest.fail(f"flow run {run_id} did not finish in {timeout}s (last state {run['state']})")


def _error_logs(api_url: str, run_id: str, timeout: float = 60) -> list[str]:
    """ERROR-or-worse log messages of a flow run (and its task runs), once the run's last
    line ("Finished in state") has arrived: logs are shipped in batches after the state."""
    body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200, "sort": "TIMESTAMP_ASC"}
    deadline = time.monotonic() + timeout
    logs: list[dict] = []
    while time.monotonic() < deadline:
        logs = httpx.post(f"{api_url}/logs/filter", json=body, timeout=10).json()
        if any(
            log["task_run_id"] is None and log["message"].startswith("Finished in state")
            for log in logs
        ):
            break
        time.sleep(1)
    else:
        pytest.fail(f"no final log line for flow run {run_id}: {[x['message'] for x in logs]}")
    return [log["message"] for log in logs if log["level"] >= 40]


def _automation_run(api_url: str, account_id: int, timeout: float = 120) -> dict:
    """Emit accounts-hourly's event for a new 本地推 account; return the laike-daily run the
    deployment's trigger creates for it (the server's triggers service acts asynchronously)."""
    from prefect.events import emit_event

    dep = next(
        d
        for d in httpx.post(f"{api_url}/deployments/filter", json={}, timeout=10).json()
        if d["name"] == "laike-daily"
    )
    emit_event(
        event="adsync.account.added",
        resource={
            "prefect.resource.id": f"adsync.account.LOCAL.{account_id}",
            "adsync.account.type": "LOCAL",
            "adsync.account.id": str(account_id),
        },
        payload={"account_type": "LOCAL", "account_id": str(account_id)},
    )
    body = {"deployments": {"id": {"any_": [dep["id"]]}}, "sort": "EXPECTED_START_TIME_DESC"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = httpx.post(f"{api_url}/flow_runs/filter", json=body, timeout=10).json()
        mine = [
            r for r in runs if r["parameters"].get("accounts") in ([account_id], [str(account_id)])
        ]
        if mine:
            return mine[0]
        time.sleep(1)
    pytest.fail(f"no laike-daily run for account {account_id} within {timeout}s of the event")


@pytest.mark.timeout(900)  # three runs through a worker on a busy 2-core machine
def test_deploy_worker_backfill_and_schedule(prefect_server, tmp_path, monkeypatch):
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    names = {d["name"] for d in deployments}
    assert "laike-daily" in names

    with Sandbox(state_dir=tmp_path / "sandbox", profile="fast") as sb:
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        env = subprocess_env(
            point_at(sb, tmp_path / "data", monkeypatch, db_url), prefect_server.env
        )

        _prefect(["work-pool", "create", POOL, "--type", "process", "--overwrite"], env)
        _prefect(["--no-prompt", "deploy", "--all"], env, timeout=300)

        worker_log = tmp_path / "worker.log"
        with open(worker_log, "wb") as log:
            worker = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--limit", "2"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            end = china_today() - timedelta(days=1)
            start = end - timedelta(days=2)
            # The forbidden account would (rightly) make the run non-green: back-fill the others.
            permitted = [a.id for a in sb.data.local_accounts if not a.forbidden]
            params = {"start": str(start), "end": str(end), "accounts": permitted}
            out = _prefect(
                ["deployment", "run", "laike-daily/laike-daily", "--params", json.dumps(params)],
                env,
            )
            m = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
            assert m, out
            run = _wait_final(prefect_server.api_url, m.group(1))
            assert run["state"]["type"] == "COMPLETED", (
                run["state"],
                worker_log.read_text()[-4000:],
            )
            assert run["parameters"] == params
            assert run["name"] == f"laike {start}..{end}"

            # A partial run (the forbidden account included) through the same worker: Failed,
            # named Partial, and no ERROR in its logs beyond that account's failure.
            forbidden = [str(a.id) for a in sb.data.local_accounts if a.forbidden]
            out = _prefect(
                ["deployment", "run", "laike-daily/laike-daily", "--param", f"date={end}"], env
            )
            m = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
            assert m, out
            partial = _wait_final(prefect_server.api_url, m.group(1))
            assert partial["state"]["type"] == "FAILED"
            assert partial["state"]["name"] == "Partial"
            assert forbidden[0] in partial["state"]["message"]
            assert partial["name"] == f"laike {end}"
            errors = _error_logs(prefect_server.api_url, partial["id"])
            assert errors, "the failed account should be logged"
            for line in errors:
                assert any(acc in line for acc in forbidden), line
                assert "Engine execution exited" not in line and "resolved into" not in line

            # The automation in prefect.yaml (laike-daily's trigger): an account-added event
            # creates a laike-daily run for that account alone, which the worker completes.
            added = _automation_run(prefect_server.api_url, permitted[0])
            assert added["parameters"] == {"accounts": [permitted[0]]}  # exact, > 2^53
            done = _wait_final(prefect_server.api_url, added["id"])
            assert done["state"]["type"] == "COMPLETED", done["state"]
        finally:
            worker.terminate()
            worker.wait(30)

        # DB: three days of every permitted account; the forbidden one named in the ledger.
        eng = make_engine(db_url)
        with eng.connect() as conn:
            t = tables.local_promotion_daily
            # (The automation's run for permitted[0] synced yesterday + lookback: left out.)
            days = conn.execute(
                sa.select(sa.distinct(t.c.stat_date)).where(t.c.local_account_id != permitted[0])
            ).scalars()
            assert sorted(days) == [start, start + timedelta(days=1), end]
            ledgers = conn.execute(
                sa.select(tables.sync_runs).order_by(tables.sync_runs.c.started_at)
            ).mappings()
            ledger, partial_row, automated = ledgers.all()
        eng.dispose()
        assert ledger["flow"] == "laike-daily"
        assert ledger["status"] == "SUCCESS"
        assert ledger["window_start"] == start and ledger["window_end"] == end
        assert ledger["accounts_ok"] == len(permitted)
        assert partial_row["status"] == "PARTIAL" and partial_row["window_start"] == end
        assert partial_row["accounts_failed"] == 1
        assert automated["window_end"] == end and automated["accounts_ok"] == 1
        keys, _ = bitable_snapshot(sb, "本地推单元日报")
        assert keys and max(keys.values()) == 1  # no duplicates
        assert all(
            str(start) <= k.split("|")[0] <= str(end)
            for k in keys
            if k.split("|")[1] != str(permitted[0])
        )

    # The schedule as deployed: 07:00 Asia/Shanghai.
    deps = httpx.post(f"{prefect_server.api_url}/deployments/filter", json={}, timeout=10).json()
    laike = next(d for d in deps if d["name"] == "laike-daily")
    sched = laike["schedules"][0]["schedule"]
    assert sched["cron"] == "0 7 * * *"
    assert sched["timezone"] == "Asia/Shanghai"
    props = laike["parameter_openapi_schema"]["properties"]
    for name in ("date", "start", "end"):  # date pickers with help in the UI
        assert {"type": "string", "format": "date"} in props[name]["anyOf"], props[name]
        assert props[name]["description"], name
    assert "Engine execution exited" not in worker_log.read_text()


def test_every_deployment_has_a_flow_timeout_below_the_monitors_hung_threshold(tmp_path):
    """The worker loads each entrypoint; the flow it gets carries the timeout Prefect enforces.
    `adsync serve` registers the same entrypoints (so its runs have the timeout too)."""
    from prefect.flows import load_flow_from_entrypoint

    from flows.serve import build_runner_deployments
    from integrations.monitoring.config import MonitorSettings

    hung_s = MonitorSettings().run_timeout_h * 3600
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    served = {d.name: d for d in build_runner_deployments(ROOT / "prefect.yaml")}
    assert len(deployments) == 8
    for d in deployments:
        flow = load_flow_from_entrypoint(str(ROOT / d["entrypoint"]))
        assert flow.name == d["name"]
        assert flow.timeout_seconds is not None, d["name"]
        assert 0 < flow.timeout_seconds < hung_s, (d["name"], flow.timeout_seconds)
        if d["name"].endswith(("-hourly", "-intraday")) or d["name"] == "supplier-prices":
            assert flow.timeout_seconds < 3600  # over before the next hour's run
        if d["name"] == "supplier-stock":
            assert flow.timeout_seconds < 1800  # over before the next half hour's run
        runner_flow = load_flow_from_entrypoint(str(Path.cwd() / served[d["name"]].entrypoint))
        assert runner_flow.timeout_seconds == flow.timeout_seconds, d["name"]


def test_supplier_schedules() -> None:
    """supplier-daily 02:00, supplier-prices hourly, supplier-stock every 30 minutes (China time)."""
    deployments = {
        d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    }
    want = {
        "supplier-daily": "0 2 * * *",
        "supplier-prices": "0 * * * *",
        "supplier-stock": "*/30 * * * *",
    }
    for name, cron in want.items():
        (schedule,) = deployments[name]["schedules"]
        assert schedule["cron"] == cron and schedule["timezone"] == "Asia/Shanghai", name
