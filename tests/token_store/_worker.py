"""Separate processes using the token store (run by test_processes.py).

``python -m tests.token_store._worker '<json args>'``: settings come from ``ADSYNC_*``. This
process imports everything once and forks ``n`` children (cheap on a loaded CI machine; each child
is a full process with its own database connections, HTTP client and locks). Each child builds its
store, reads the current access token (the "stale" one every worker saw rejected), signals ready,
waits for the start file, then calls ``force_refresh``; it writes a SHA-256 of the token it got
(never the token) to its out file. Mode ``crash`` SIGKILLs the child after Ocean Engine issued the
new pair and before the commit. The parent prints the children's exit codes as JSON.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def child(args: dict[str, Any], i: int) -> None:
    import token_store.api as api
    from integrations.settings import load_settings

    store = api.build_token_store(load_settings())
    stale = store.get().access_token.get_secret_value()
    if args["mode"] == "crash":
        api._AFTER_ISSUE_HOOK = lambda key: os.kill(os.getpid(), signal.SIGKILL)
    Path(args["dir"], f"ready{i}").touch()
    start = Path(args["dir"], "start")
    while not start.exists():
        time.sleep(0.001)
    try:
        result = {"ok": True, "sha": sha(store.force_refresh(stale_access_token=stale))}
    except Exception as e:  # noqa: BLE001 - reported to the test
        result = {"ok": False, "error": type(e).__name__, "message": str(e)}
    Path(args["dir"], f"out{i}.json").write_text(json.dumps(result))


def main() -> None:
    args = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # all logs go to the leak check
    # Import before forking so the children share the work; no engine/client exists yet.
    import token_store.api  # noqa: F401
    import token_store.backends.database  # noqa: F401
    from integrations.database import engine  # noqa: F401

    pids = []
    for i in range(args["n"]):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                child(args, i)
            except BaseException:  # noqa: BLE001 - the child must never return into the loop
                logging.exception("worker %d failed", i)
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    print(json.dumps(codes))


if __name__ == "__main__":
    main()
