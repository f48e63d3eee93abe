"""Helpers for end-to-end flow tests: a sandbox, settings pointing at it, and state snapshots."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet

from flows.runtime import reset_runtime
from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from integrations.private_files import private_dir
from integrations.settings import get_settings
from sandbox.server import Sandbox
from token_store.api import build_token_store

ROOT = Path(__file__).resolve().parents[2]


def point_at(sb: Sandbox, data_dir: Path, monkeypatch, db_url: str | None = None) -> dict[str, str]:
    """Set ADSYNC_* for ``sb`` (plus DB URL) in this process; seed the token store; return env.

    The token pair comes from a real auth-code exchange against the simulator, stored encrypted
    with a fresh key, as ``adsync tokens exchange`` would do.
    """
    private_dir(data_dir)
    env = dict(sb.env())
    env.setdefault("ADSYNC_TOKEN_ENCRYPTION_KEY", _token_key(data_dir))
    env["ADSYNC_DATA_DIR"] = str(data_dir)
    if db_url:
        env["ADSYNC_DATABASE_URL"] = db_url
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    reset_runtime()
    settings = get_settings()
    upgrade(settings.db_url)
    build_token_store(settings).exchange_auth_code(sb.oe.issue_auth_code())
    return env


def _token_key(data_dir: Path) -> str:
    """One encryption key per data directory, so a second ``point_at`` on the same directory (a
    rerun in the same test) can still read the tokens the first one stored."""
    path = data_dir / "test-token-encryption.key"
    if not path.exists():
        path.write_text(Fernet.generate_key().decode())
    return path.read_text().strip()


def subprocess_env(env: dict[str, str], prefect_env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ADSYNC_", "PREFECT_"))}
    return base | prefect_env | env


def db_snapshot(db_url: str, table: sa.Table) -> set[tuple[Any, ...]]:
    """All rows of a dataset table minus bookkeeping columns, as comparable tuples."""
    cols = [c for c in table.c if c.name not in tables.BOOKKEEPING_COLUMNS]
    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            return {tuple(r) for r in conn.execute(sa.select(*cols))}
    finally:
        eng.dispose()


def bitable_snapshot(
    sb: Sandbox, table_name: str, app_token: str | None = None
) -> tuple[Counter, list[dict[str, Any]]]:
    """(count of records per primary-field value, records) of one sandbox Bitable table, in
    base ``app_token`` (default: the sandbox's own base)."""
    fs = sb.fs
    base = app_token or fs.app_token
    table = next(t for t in fs.tables(base) if t["name"] == table_name)
    records = fs.records(base, table["table_id"])
    primary = next(f for f in fs.fields(base, table["table_id"]) if f.get("is_primary"))
    keys = Counter(_text(r["fields"].get(primary["field_name"])) for r in records)
    return keys, records


def _text(v: Any) -> str:
    if isinstance(v, list):
        return "".join(seg.get("text", "") for seg in v if isinstance(seg, dict))
    return "" if v is None else str(v)


@contextmanager
def small_sandbox(tmp_path: Path, monkeypatch, **data: Any) -> Iterator[Sandbox]:
    """A fast-profile sandbox with settings and a fresh SQLite DB (migrated) pointing at it, for
    flows written in a test; the runtime is reset afterwards."""
    with Sandbox(state_dir=tmp_path / "sb", profile="fast", **data) as sb:
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        upgrade(db_url)
        point_at(sb, tmp_path / "data", monkeypatch, db_url)
        try:
            yield sb
        finally:
            reset_runtime()


def promo_accounts(sb: Sandbox, base: str) -> set[int]:
    """The account ids in base ``base``'s 本地推单元日报 table (empty when it has none)."""
    found = [t for t in sb.fs.tables(base) if t["name"] == "本地推单元日报"]
    if not found:
        return set()
    out: set[int] = set()
    for r in sb.fs.records(base, found[0]["table_id"]):
        v = r["fields"]["账户ID"]
        if isinstance(v, list):  # rich text segments
            v = "".join(seg.get("text", "") for seg in v)
        out.add(int(v))
    return out
