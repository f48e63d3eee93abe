"""Several processes and a killed process against the simulator, on every database backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from integrations.database.migrate import upgrade
from integrations.settings import load_settings
from tests.token_store._worker import sha
from tests.token_store.conftest import LeakGuard, api_accepts, refresh_calls
from token_store.api import TokenStore, build_token_store
from token_store.errors import ReauthorizeRequired

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 8


@pytest.fixture
def env(sandbox, any_db_url: str, fernet_key: str) -> dict[str, str]:
    upgrade(any_db_url)
    return {
        **sandbox.env(),
        "ADSYNC_DATABASE_URL": any_db_url,
        "ADSYNC_TOKEN_ENCRYPTION_KEY": fernet_key,
        # Server databases are shared by the session: a unique principal per test.
        "ADSYNC_OCEANENGINE_PRINCIPAL": f"race-{uuid.uuid4().hex[:8]}",
    }


def _store(env: dict[str, str]) -> TokenStore:
    return build_token_store(
        load_settings(
            database_url=env["ADSYNC_DATABASE_URL"],
            token_encryption_key=env["ADSYNC_TOKEN_ENCRYPTION_KEY"],
            oceanengine_base_url=env["ADSYNC_OCEANENGINE_BASE_URL"],
            oceanengine_app_id=env["ADSYNC_OCEANENGINE_APP_ID"],
            oceanengine_app_secret=env["ADSYNC_OCEANENGINE_APP_SECRET"],
            oceanengine_principal=env["ADSYNC_OCEANENGINE_PRINCIPAL"],
        )
    )


def _run_workers(
    tmp: Path, env: dict[str, str], n: int, mode: str, guard: LeakGuard
) -> list[tuple[int, dict | None]]:
    """Start ``n`` worker processes, release them at once, return (exit code, result) each."""
    args = {"mode": mode, "n": n, "dir": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.token_store._worker", json.dumps(args)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not all((tmp / f"ready{i}").exists() for i in range(n)):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "workers did not get ready"
        time.sleep(0.01)
    (tmp / "start").touch()  # the barrier: every worker calls force_refresh now
    out, err = proc.communicate(timeout=120)
    guard.text(out, err)
    assert proc.returncode == 0, err[-3000:]
    codes = json.loads(out.strip().splitlines()[-1])
    results = []
    for i, code in enumerate(codes):
        path = tmp / f"out{i}.json"
        results.append((code, json.loads(path.read_text()) if path.exists() else None))
    return results


def test_eight_processes_refresh_once(sandbox, env, tmp_path, leak_guard: LeakGuard) -> None:
    store = _store(env)
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    first = store.get()
    assert refresh_calls(sandbox) == 0

    results = _run_workers(tmp_path, env, WORKERS, "race", leak_guard)

    assert [rc for rc, _ in results] == [0] * WORKERS, results
    assert all(r and r["ok"] for _, r in results), results
    assert refresh_calls(sandbox) == 1  # exactly one refresh reached Ocean Engine
    stored = store.get()
    assert {r["sha"] for _, r in results} == {sha(stored.access_token.get_secret_value())}
    assert stored.access_token != first.access_token
    assert api_accepts(sandbox, stored.access_token.get_secret_value())
    # The stored refresh token is the newest one: spending it works.
    assert api_accepts(sandbox, store.force_refresh())
    assert refresh_calls(sandbox) == 2


def test_killed_between_issue_and_commit_is_a_clear_reauthorise(
    sandbox, env, tmp_path, leak_guard: LeakGuard
) -> None:
    store = _store(env)
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    before = store.get()

    ((rc, out),) = _run_workers(tmp_path, env, 1, "crash", leak_guard)

    assert rc == -signal.SIGKILL and out is None
    assert refresh_calls(sandbox) == 1  # Ocean Engine issued a pair (and spent the old token)
    # Documented outcome: the transaction died with the process (nothing half-written, the lock
    # is free), so the old, now spent, pair is still stored ...
    assert store.get() == before
    # ... and the next refresh says clearly who must re-authorise, instead of losing silently.
    with pytest.raises(ReauthorizeRequired) as e:
        store.force_refresh(stale_access_token=before.access_token.get_secret_value())
    leak_guard.text(e.value)
    assert str(e.value).startswith(f"re-authorise key {env_key(env)}: ")
    assert refresh_calls(sandbox) == 2


def env_key(env: dict[str, str]) -> str:
    return f"oceanengine:{env['ADSYNC_OCEANENGINE_APP_ID']}:{env['ADSYNC_OCEANENGINE_PRINCIPAL']}"
