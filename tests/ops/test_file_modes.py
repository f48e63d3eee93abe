"""Data files and directories are created owner-only (0600/0700) under a default umask of 022.

The SQLite file holds encrypted tokens and every synced row; lock, rescue and sandbox state files
sit next to it. Each is created through the real code path and its mode read back with os.stat.
"""

from __future__ import annotations

import os
import stat
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from flows.demo import sandbox_env
from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from integrations.sources.oceanengine.ratelimit import FileLockedSchedule
from sandbox.feishu.state import atomic_write_json


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture(autouse=True)
def default_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644, directories 0755
    try:
        yield
    finally:
        os.umask(old)


def test_sqlite_database_and_its_directory(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "nested" / "adsync.db"
    upgrade(f"sqlite:///{db}")
    eng = make_engine(f"sqlite:///{db}")
    with eng.begin() as c:  # a write, so the -wal and -shm files exist
        c.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
        c.execute(sa.text("INSERT INTO probe VALUES (1)"))
        assert mode(db) == 0o600
        for suffix in ("-wal", "-shm"):
            assert mode(db.with_name(db.name + suffix)) == 0o600, suffix
    eng.dispose()
    assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700


def test_existing_directory_is_not_changed(tmp_path: Path) -> None:
    mine = tmp_path / "shared"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    upgrade(f"sqlite:///{mine / 'adsync.db'}")
    assert mode(mine) == 0o755  # the user's own directory: their choice
    assert mode(mine / "adsync.db") == 0o600


def test_token_lock_files(tmp_path: Path) -> None:
    from keyrings.alt.file import PlaintextKeyring

    from token_store.backends.keyring import KeyringBackend
    from token_store.models import TokenKey

    kr = PlaintextKeyring()
    kr.file_path = str(tmp_path / "kr.cfg")
    locks = tmp_path / "data" / "locks"
    KeyringBackend(locks, impl=kr).probe(TokenKey.oceanengine("1", "p"))
    assert mode(locks) == 0o700 and mode(locks.parent) == 0o700
    files = list(locks.iterdir())
    assert files and all(mode(f) == 0o600 for f in files)


def test_rate_limit_state(tmp_path: Path) -> None:
    path = tmp_path / "data" / "ratelimit" / "app.slot"
    limiter = FileLockedSchedule(path, qps=100)
    limiter.reserve()
    assert mode(path.parent) == 0o700 and mode(path) == 0o600


def test_sandbox_state_and_demo_key(tmp_path: Path) -> None:
    state = tmp_path / "data" / "sandbox" / "feishu.json"
    atomic_write_json(state, {"bases": []})
    assert mode(state.parent) == 0o700 and mode(state) == 0o600

    data = tmp_path / "demo-data"
    sandbox_env(types.SimpleNamespace(env=dict), data)
    assert mode(data) == 0o700 and mode(data / "demo-token-key") == 0o600
