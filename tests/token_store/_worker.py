"""A separate process using the token store (run by test_processes.py).

``python -m tests.token_store._worker '<json args>'``: settings come from ``ADSYNC_*``. The worker
builds its store, reads the current access token (the "stale" one every worker saw rejected),
signals ready, waits for the start file, then calls ``force_refresh``. It writes a SHA-256 of the
token it got (never the token) to its out file. Mode ``crash`` SIGKILLs itself after Ocean Engine
issued the new pair and before the commit.
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


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def main() -> None:
    args = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # all logs go to the leak check

    import token_store.api as api
    from integrations.settings import load_settings

    store = api.build_token_store(load_settings())
    stale = store.get().access_token.get_secret_value()
    if args["mode"] == "crash":
        api._AFTER_ISSUE_HOOK = lambda key: os.kill(os.getpid(), signal.SIGKILL)
    Path(args["ready"]).touch()
    start = Path(args["start"])
    while not start.exists():
        time.sleep(0.001)
    try:
        result = {"ok": True, "sha": sha(store.force_refresh(stale_access_token=stale))}
    except Exception as e:  # noqa: BLE001 - reported to the test
        result = {"ok": False, "error": type(e).__name__, "message": str(e)}
    Path(args["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
