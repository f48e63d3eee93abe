"""Entry point of the guarded temporary Prefect server: ``python -m flows.ephemeral_server_child
PARENT_PID <uvicorn args>``. Dies with its parent (see flows/ephemeral_server.py), then runs
uvicorn in this same process, so the parent's ``terminate()`` reaches uvicorn directly.
"""

from __future__ import annotations

import ctypes
import os
import runpy
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_INTERVAL_S = 1.0
# After asking uvicorn to stop, how long it may take before the process is ended hard.
GRACE_S = 10.0


def _kernel_guard() -> bool:
    """SIGTERM from the kernel when the parent (thread) dies. Linux only; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _stop() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down cleanly on SIGTERM
    time.sleep(GRACE_S)
    os._exit(1)


def _watchdog(parent: int) -> None:
    while True:
        time.sleep(WATCH_INTERVAL_S)
        if os.getppid() != parent:  # reparented: the parent is gone
            _stop()
            return


def main(argv: list[str]) -> None:
    parent = int(argv[0])
    _kernel_guard()
    if os.getppid() != parent:  # the parent died before the guard was in place
        sys.exit(1)
    threading.Thread(target=_watchdog, args=(parent,), name="parent-watchdog", daemon=True).start()
    sys.argv = ["uvicorn", *argv[1:]]
    runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
