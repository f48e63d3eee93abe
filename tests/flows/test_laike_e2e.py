"""本地推 flow (laike-daily) end to end against the sandbox on a real Prefect server.

- chaos (every transient fault kind, throttling, hostile payloads, a token revoked mid-run, one
  account without permission) ends with the same DB and Bitable as a fault-free run, the
  forbidden account named in the run state, artifact and ledger; a second run writes nothing;
- the flow process SIGKILLed at several points, then rerun: same final state, 0 duplicates.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flows.laike import laike_daily
from flows.run_cli import execute
from flows.runtime import reset_runtime
from flows.summary import RunStatus
from integrations.database import tables
from integrations.database.engine import make_engine
from sandbox.oceanengine.knobs import FaultRule
from sandbox.server import Sandbox
from tests.flows.sandboxed import ROOT, bitable_snapshot, db_snapshot, point_at, subprocess_env

DATASET_TABLES = (tables.local_promotion_daily, tables.local_account_daily)
BITABLE_TABLES = ("本地推单元日报", "本地推账户日报")
REPORT = "v3.0/local/report/promotion/get"


def _bitable_state(
    sb: Sandbox, app_token: str | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """table → business key → fields (record ids differ between sandboxes; values must not),
    in base ``app_token`` (default: the sandbox's own)."""
    out = {}
    for name in BITABLE_TABLES:
        keys, records = bitable_snapshot(sb, name, app_token)
        assert keys, f"{name}: no records"
        dupes = {k: n for k, n in keys.items() if n > 1}
        assert not dupes, f"{name}: duplicate keys {list(dupes)[:5]}"
        out[name] = {
            json.dumps(r["fields"].get("业务键"), ensure_ascii=False): r["fields"] for r in records
        }
    return out


def _forbidden(sb: Sandbox) -> list[int]:
    return [a.id for a in sb.data.local_accounts if a.forbidden]


@pytest.fixture(scope="module")
def clean_run(prefect_server, tmp_path_factory) -> dict[str, Any]:
    """A fault-free run of the default window: the reference every other test converges to."""
    tmp = tmp_path_factory.mktemp("clean")
    mp = pytest.MonkeyPatch()
    try:
        with Sandbox(state_dir=tmp / "sandbox", profile="fast") as sb:
            db_url = f"sqlite:///{tmp / 'app.db'}"
            point_at(sb, tmp / "data", mp, db_url)
            summary = execute(laike_daily)
            assert summary is not None
            assert summary.status is RunStatus.PARTIAL  # the sandbox's no-permission account
            return {
                "db": {t.name: db_snapshot(db_url, t) for t in DATASET_TABLES},
                "bitable": _bitable_state(sb),
                "forbidden": _forbidden(sb),
                "window": (summary.window_start, summary.window_end),
            }
    finally:
        mp.undo()
        reset_runtime()


def test_chaos_run_equals_clean_run_and_rerun_writes_nothing(
    clean_run, prefect_server, tmp_path, monkeypatch
):
    with Sandbox(state_dir=tmp_path / "sandbox", profile="chaos") as sb:
        # Keep chaos' fault mix but make its hangs short, so the test takes seconds.
        sb.oe.knobs.latency_ms, sb.oe.knobs.jitter_ms = 5, 5
        sb.oe.knobs.endpoint_latency_ms = {}
        sb.oe.knobs.timeout_sleep_s = 4
        sb.oe.knobs.fault_rate = {k: v * 3 for k, v in sb.oe.knobs.fault_rate.items()}
        # Payloads stay hostile in form (numbers as strings) but not in content: an omitted
        # field or "-" for a metric is a different fact (→ NULL), not a fault to recover from.
        sb.oe.knobs.hostile_missing_optional = False
        sb.oe.knobs.hostile_dash_for_empty = False
        # A token revoked mid-run (40105 on the 3rd report call → refresh, retry), and two
        # scheduled server faults, so at least three faults happen whatever the random draws
        # (the RNG is shared by threads whose order load decides).
        sb.oe.knobs.fault_schedule = [
            FaultRule(REPORT, 3, "token_revoked"),
            FaultRule(REPORT, 6, "html_502"),
            FaultRule(REPORT, 9, "code_50000"),
        ]
        sb.fs.knobs.latency_ms, sb.fs.knobs.jitter_ms = 2, 2
        sb.fs.knobs.endpoint_latency_ms = {}
        sb.fs.knobs.timeout_s = 1.5
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        monkeypatch.setenv("ADSYNC_OCEANENGINE_TIMEOUT_S", "2")
        point_at(sb, tmp_path / "data", monkeypatch, db_url)

        summary = execute(laike_daily)
        assert summary is not None
        faults = sb.oe.counters_snapshot()["faults"]
        assert faults.get("token_revoked", 0) >= 1, faults
        assert sum(faults.values()) >= 3, faults

        # Only the forbidden account failed; it is named in state message, ledger and artifact.
        assert [int(a.account_id) for a in summary.failed_accounts] == clean_run["forbidden"]
        forbidden = str(clean_run["forbidden"][0])
        assert forbidden in summary.failure_message()
        eng = make_engine(db_url)
        with eng.connect() as conn:
            led = conn.execute(sa.select(tables.sync_runs)).mappings().one()
        eng.dispose()
        assert led["status"] == "PARTIAL" and forbidden in led["failed_accounts"]
        assert led["accounts_failed"] == 1
        _assert_artifact_names(summary.run_id, forbidden)

        for t in DATASET_TABLES:
            assert db_snapshot(db_url, t) == clean_run["db"][t.name], t.name
        assert _bitable_state(sb) == clean_run["bitable"]

        # Second run: nothing changed upstream → 0 Bitable writes.
        sb.fs.knobs.fault_rate = {}
        before = sb.fs.counters_snapshot().get("writes", 0)
        reset_runtime()
        again = execute(laike_daily)
        assert again is not None
        assert sb.fs.counters_snapshot().get("writes", 0) - before == 0
        assert all(
            c.inserted == 0 and c.updated == 0
            for n, c in again.sinks.items()
            if n.startswith("db:")
        )


def _assert_artifact_names(run_id: str | None, account_id: str) -> None:
    from prefect import get_client

    assert run_id
    with get_client(sync_client=True) as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    tables_ = [a for a in arts if a.type == "table"]
    assert tables_, [a.key for a in arts]
    rows = json.loads(tables_[0].data) if isinstance(tables_[0].data, str) else tables_[0].data
    # Failed accounts first, with their full reason (Chinese headers: the readers' language).
    assert rows[0]["账户ID"] == account_id and rows[0]["状态"] == "失败", rows[0]
    assert "40002" in rows[0]["失败原因"], rows[0]
    assert all(r["状态"] == "成功" for r in rows[1:])


def _kill_when(
    cmd: list[str], env: dict[str, str], reached: Callable[[], bool], log: Path, delay: float = 0
) -> int | None:
    """Run ``cmd``; SIGKILL it ``delay`` s after ``reached()``; return its exit code (None if
    killed)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if reached():
                time.sleep(delay)
                proc.kill()
                proc.wait(10)
                return None
            time.sleep(0.002)
        if proc.poll() is None:
            proc.kill()
            pytest.fail(f"{cmd} hung; log:\n{log.read_text()[-3000:]}")
        return proc.returncode


@pytest.mark.timeout(900)  # minutes alone; a loaded 2-core CI box needs several times that
def test_sigkill_at_several_points_then_rerun_converges(
    clean_run, prefect_server, tmp_path, monkeypatch
):
    with Sandbox(state_dir=tmp_path / "sandbox", profile="fast") as sb:
        # Give writes a little latency so a kill lands while a create is in flight.
        sb.fs.knobs.endpoint_latency_ms = {
            "records.batch_create": (600.0, 0.0),
            "records.batch_update": (600.0, 0.0),
        }
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        env = subprocess_env(
            point_at(sb, tmp_path / "data", monkeypatch, db_url), prefect_server.env
        )
        cmd = [str(Path(sys.executable).parent / "adsync"), "run", "laike"]
        log = tmp_path / "runs.log"

        def oe(endpoint: str) -> int:
            return sb.oe.counters_snapshot()["requests"].get(endpoint, 0)

        def fs(endpoint: str) -> int:
            return sb.fs.counters_snapshot().get(endpoint, 0)

        # Counters restart with each run; each point is reached in that run, in this order.
        # A create's counter ticks on arrival; 0.2 s later the server has its body and holds the
        # answer (600 ms): the kill lands after Feishu committed, before our map did.
        points: list[tuple[str, Callable[[], bool], float]] = [
            ("mid-fetch, before any DB write", lambda: oe(REPORT) >= 3, 0),
            ("promotion table's create in flight", lambda: fs("records.batch_create") >= 1, 0.2),
            ("account table's create in flight", lambda: fs("records.batch_create") >= 1, 0.2),
            ("creating per-account views", lambda: fs("views.create") >= 1, 0),
        ]
        for name, reached, delay in points:
            sb.reset_counters()
            code = _kill_when(cmd, env, reached, log, delay)
            assert code is None, f"not killed at {name}: exit {code}\n{log.read_text()[-3000:]}"

        code = _kill_when(cmd, env, lambda: False, log)
        assert code == 1, log.read_text()[-3000:]  # PARTIAL: the forbidden account, nothing else

        for t in DATASET_TABLES:
            assert db_snapshot(db_url, t) == clean_run["db"][t.name], t.name
        assert _bitable_state(sb) == clean_run["bitable"]

        # Five runs' worth of terminal output (logs, summaries, errors) holds no secret.
        out = log.read_text()
        secrets = {
            k: env[k]
            for k in (
                "ADSYNC_OCEANENGINE_APP_SECRET",
                "ADSYNC_FEISHU_APP_SECRET",
                "ADSYNC_TOKEN_ENCRYPTION_KEY",
                "ADSYNC_FEISHU_WEBHOOK_SECRET",
            )
            if env.get(k)
        }
        secrets["webhook token"] = env["ADSYNC_FEISHU_WEBHOOK_URL"].rsplit("/", 1)[-1]
        # Every Ocean Engine token the simulator issued, and any token in a logged query string.
        for i, token in enumerate(sb.oe.auth.issued_tokens()):
            secrets[f"oceanengine token {i}"] = token
        assert len(out) > 1000
        assert [k for k, v in secrets.items() if v in out] == []
        assert re.findall(r"(?:access|refresh)_token=(?!\*\*\*)[^&\s]+", out) == []
