"""A SIGKILLed `adsync run` leaves no temporary Prefect server behind.

Without PREFECT_API_URL the CLI starts Prefect's temporary API server (uvicorn, ~230 MB) as a
child. Prefect stops it from atexit, which a SIGKILL skips; flows/ephemeral_server.py makes the
child die with its parent. The test kills the real CLI while its run is under way (the server is
up and answering) and waits, with a generous bound, for the server process to be gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sandbox.server import Sandbox
from tests.flows.sandboxed import point_at, subprocess_env

SERVER_APP = "prefect.server.api.server:create_app"  # in Prefect's own and in our command
START_BOUND_S = 240  # cold start of a fresh Prefect home (migrations) on a busy 2-core machine
GONE_BOUND_S = 60


def _children(ppid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses: split after the last ")"
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == ppid:
            out.append(int(entry.name))
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone: it holds no memory or port)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_adsync_run_leaves_no_prefect_server(tmp_path, monkeypatch) -> None:
    with Sandbox(profile="fast") as sb:
        env = point_at(sb, tmp_path / "data", monkeypatch)
        prefect_env = {
            "PREFECT_HOME": str(tmp_path / "prefect"),  # no PREFECT_API_URL: temporary server
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(START_BOUND_S),
        }
        adsync = str(Path(sys.executable).parent / "adsync")
        proc = subprocess.Popen(
            [adsync, "run", "laike"],
            env=subprocess_env(env, prefect_env),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "adsync.err").open("w"),
        )
        server = None
        try:
            deadline = time.monotonic() + START_BOUND_S
            while time.monotonic() < deadline and proc.poll() is None:
                found = [p for p in _children(proc.pid) if SERVER_APP in _cmdline(p)]
                if found:
                    server = found[0]
                    args = _cmdline(server)
                    port = args[args.index("--port") + 1]
                    try:
                        if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                time.sleep(0.2)
            assert server is not None, "adsync run started no temporary Prefect server"
            assert proc.poll() is None, (
                "adsync run ended before it could be killed mid-run: "
                + (tmp_path / "adsync.err").read_text()[-2000:]
            )
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

            deadline = time.monotonic() + GONE_BOUND_S
            while _alive(server) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert not _alive(server), (
                f"the temporary Prefect server (pid {server}) outlived its killed parent"
            )
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if server is not None and _alive(server):
                os.kill(server, signal.SIGKILL)
