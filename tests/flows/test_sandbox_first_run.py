"""From the sandbox to your own run: ``adsync sandbox serve`` writes ``.env.sandbox``; the
printed next commands (source it, ``adsync run laike --start … --end …``) work as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import httpx
import sqlalchemy as sa
from dotenv import dotenv_values

from integrations.database import tables
from integrations.database.engine import make_engine
from tests.flows.sandboxed import ROOT


def _read_line(stream, timeout: float) -> str:
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert out and out[0], f"no ready line within {timeout}s"
    return out[0]


def _progress_artifacts(run_id: str) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterType,
    )

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]),
                type=ArtifactFilterType(any_=["progress"]),
            )
        )


def test_serve_writes_a_ready_env_file_and_the_printed_run_works(
    prefect_server, tmp_path: Path
) -> None:
    base = {k: v for k, v in prefect_server.env.items() if not k.startswith("ADSYNC_")}
    serve_env = base | {"ADSYNC_DATA_DIR": str(tmp_path / "data")}
    env_file = tmp_path / ".env.sandbox"
    serve = subprocess.Popen(
        [sys.executable, "-c", "from flows.cli import main; main()", "sandbox", "serve",
         "--profile", "fast", "--env-file", str(env_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=serve_env, cwd=tmp_path,
    )  # fmt: skip
    try:
        ready = json.loads(_read_line(serve.stdout, 90))
        assert ready["env_file"] == str(env_file)
        values = dotenv_values(env_file)
        # Everything the second process must share with this one is pinned in the file.
        for name in (
            "ADSYNC_TOKEN_ENCRYPTION_KEY",
            "ADSYNC_DATABASE_URL",
            "ADSYNC_OCEANENGINE_BASE_URL",
            "ADSYNC_OCEANENGINE_APP_ID",
            "ADSYNC_FEISHU_APP_TOKEN",
        ):
            assert values.get(name), name
        assert values == ready["env"]
        assert env_file.stat().st_mode & 0o077 == 0
        assert httpx.get(ready["page_url"]).status_code == 200

        # The next commands are printed (stderr; stdout stays one JSON line) and include the
        # source line and a laike window; run them exactly as printed, through sh.
        hints = [_read_line(serve.stderr, 10) for _ in range(4)]
        source = next(h.strip() for h in hints if h.strip().startswith("set -a;"))
        run = next(h.strip() for h in hints if " run laike --start " in h)
        run_args = run.split(" run laike ", 1)[1].split()
        start, end = date.fromisoformat(run_args[1]), date.fromisoformat(run_args[3])
        assert (end - start).days == 6
        # Exactly the printed lines, through the `adsync` console script (which also ends the
        # process without the interpreter's teardown: flows/run_cli.py finish()).
        assert Path(run.split()[0]).name == "adsync"
        proc = subprocess.run(
            ["sh", "-c", f"{source} && exec {run}"],
            env=base | {"PATH": base.get("PATH", "")},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        out = proc.stdout + proc.stderr
        # fast profile: one account is deliberately without permission → PARTIAL, exit 1.
        assert "Traceback" not in out, out[-3000:]
        # Quiet by default: no per-task "Finished in state Completed()" lines (item 5).
        assert out.count("Finished in state Completed") == 0, out[-3000:]
        assert "PARTIAL (" in proc.stdout or "SUCCESS (" in proc.stdout, out[-3000:]
        assert proc.returncode == (1 if "PARTIAL (" in proc.stdout else 0)

        eng = make_engine(values["ADSYNC_DATABASE_URL"])
        try:
            with eng.connect() as conn:
                t = tables.local_promotion_daily
                days = conn.execute(
                    sa.select(t.c.stat_date).distinct().where(t.c.stat_date.between(start, end))
                ).scalars()
                assert len(set(days)) == 7
                led = conn.execute(
                    sa.select(tables.sync_runs.c.status, tables.sync_runs.c.run_id)
                ).all()
                assert [r.status for r in led] == ["PARTIAL" if proc.returncode else "SUCCESS"]
        finally:
            eng.dispose()
        # The run's progress artifact exists for this one-week run and ended at 100.
        progress = _progress_artifacts(led[0].run_id)
        assert [a.data for a in progress] == [100], progress
        assert re.search(r"accounts (\d+)/\1,", progress[0].description or ""), progress
    finally:
        serve.terminate()
        try:
            serve.wait(15)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
    assert serve.returncode == 0, serve.stderr.read()[-3000:]
