"""Prefect's temporary server, started so that it never outlives the process that started it.

Without ``PREFECT_API_URL`` Prefect starts a temporary API server (uvicorn, ~230 MB) as a child
process and stops it from an ``atexit`` hook. A SIGKILL (OOM killer, ``kill -9``, a CI timeout)
skips atexit, and the server lived on, reparented to PID 1. Two independent guards fix that:

1. the child asks the kernel for SIGTERM when its parent dies (``PR_SET_PDEATHSIG``, Linux);
2. a watchdog thread in the child polls its parent pid and stops the server when it changes
   (any POSIX system; also covers the case where the kernel guard cannot be set).

PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process, so the
server is started here, eagerly, from the main thread (which lives as long as the process), rather
than lazily from whichever Prefect background thread first needs an API client. Prefect looks the
server up through ``SubprocessASGIServer()``, a per-port singleton; registering our subclass as
the instance for "no port" (as Prefect's own test harness does) makes every caller share it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

log = logging.getLogger("adsync.flows")

CHILD_MODULE = "flows.ephemeral_server_child"
STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
# A cold start (migrations) on a small busy machine takes tens of seconds.
DEFAULT_STARTUP_TIMEOUT_S = 120


def ensure_guarded_server() -> str | None:
    """Start the guarded temporary server if Prefect would need one; return its API URL.

    No-op (returns None) when ``PREFECT_API_URL`` points at a real server or ephemeral mode is
    disabled. Idempotent: later calls reuse the running server.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return None
    if threading.current_thread() is not threading.main_thread():
        return None  # see the module docstring: the kernel guard needs the main thread
    server = _guarded_instance()
    # Prefect reads its startup timeout once, at import; the CLI's longer default (set in the
    # environment after that) reaches it only as this argument.
    server.start(timeout=int(os.environ.get(STARTUP_TIMEOUT_ENV, DEFAULT_STARTUP_TIMEOUT_S)))
    return server.api_url


def _guarded_instance() -> Any:
    from prefect.server.api.server import SubprocessASGIServer

    class GuardedServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> Any:  # noqa: ANN401 - subprocess.Popen
            return _spawn(self.port)

    instances = SubprocessASGIServer._instances
    current = instances.get(None)
    if current is not None and getattr(current, "_adsync_guarded", False):
        return current
    if current is not None and current.running:
        return current  # started before us (not from the CLI): leave Prefect's own in place
    instances.pop(None, None)
    server = GuardedServer()  # registers itself under the None key (SubprocessASGIServer.__new__)
    server._adsync_guarded = True
    return server


def _spawn(port: int | None) -> Any:  # noqa: ANN401 - subprocess.Popen
    """Run uvicorn with Prefect's server app, wrapped by the child guard module."""
    import subprocess
    from pathlib import Path

    import prefect
    from prefect.settings import get_current_settings

    env = {
        **os.environ,
        # What Prefect's temporary server sets: no UI, marked ephemeral.
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }
    args = [
        sys.executable,
        "-m",
        CHILD_MODULE,
        str(os.getpid()),
        "--app-dir",
        str(Path(prefect.__module_path__).parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    log.debug("starting the guarded temporary Prefect server on port %s", port)
    return subprocess.Popen(args, env=env)
