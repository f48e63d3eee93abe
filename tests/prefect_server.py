"""One real local Prefect server per test session (started only if a test asks for it).

The flow end-to-end tests and the deployment test share it, so its startup (seconds) is paid once.
Runs go into a throw-away PREFECT_HOME (and its SQLite database; the scale-out test starts one on
PostgreSQL with :func:`running_prefect_server`); ``env`` is what a subprocess (worker, CLI) needs to talk
to the same server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT_S = 120


@dataclass
class PrefectServer:
    api_url: str
    home: Path
    env: dict[str, str]
    log_path: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_prefect_server(home: Path, database_url: str | None = None) -> Iterator[PrefectServer]:
    """A local ``prefect server start`` with its home in ``home``; its database is SQLite in
    ``home`` unless ``database_url`` (``PREFECT_API_DATABASE_CONNECTION_URL``, e.g.
    ``postgresql+asyncpg://...``) is given. This process's Prefect client points at it inside."""
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    server_env = dict(env)
    if database_url:
        server_env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    log_path = home / "server.log"
    prefect_bin = str(Path(sys.executable).with_name("prefect"))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [prefect_bin, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prefect server did not start; log:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)

        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield PrefectServer(api_url=api_url, home=home, env=env, log_path=log_path)
            # Send queued run logs/events while the server is up; otherwise interpreter exit
            # waits on retries against a server that is gone.
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=10)
            EventsWorker.drain_all(timeout=10)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    with running_prefect_server(tmp_path_factory.mktemp("prefect-home")) as server:
        yield server
