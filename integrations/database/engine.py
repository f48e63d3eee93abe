"""Engine factory for the app database (SQLite, PostgreSQL, MariaDB/MySQL) and URL masking.

Per-backend connection settings live here so every caller (flows, token store, monitor, CLI)
gets the same behaviour:

- SQLite: WAL journal (readers never block the writer), a busy timeout (a second process waits
  instead of failing with "database is locked"), foreign keys on (off by default in SQLite).
- Server databases: ``pool_pre_ping`` so a connection dropped by the server or a proxy overnight
  is replaced instead of failing the 07:00 run.
- MariaDB/MySQL: ``charset=utf8mb4`` (the legacy ``utf8`` is 3-byte and loses emoji in account
  and video names) and a strict SQL mode (errors instead of silently truncated values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from integrations.private_files import private_file
from integrations.settings import normalize_db_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
# TRADITIONAL = STRICT_TRANS_TABLES + STRICT_ALL_TABLES + NO_ZERO_DATE + ... (errors, not warnings).
MYSQL_SQL_MODE = "TRADITIONAL,NO_ENGINE_SUBSTITUTION"

# Query parameters that may carry credentials (e.g. ``?password=...`` for libpq-style URLs).
_SECRET_QUERY_KEYS = ("password", "passwd", "secret", "token", "sslpassword", "key")


def make_engine(url: str, **kw: Any) -> Engine:
    """Create an Engine for ``url`` with this project's per-backend settings.

    Bare ``postgresql://`` / ``mysql://`` URLs get the drivers the project ships (psycopg 3,
    PyMySQL). Extra keyword arguments go to :func:`sqlalchemy.create_engine` and win over the
    defaults chosen here.
    """
    u = make_url(normalize_db_url(url))
    backend = u.get_backend_name()
    if backend == "sqlite":
        _create_private(u)
        engine = create_engine(u, **kw)
        event.listen(engine, "connect", _sqlite_on_connect)
        return engine

    kw.setdefault("pool_pre_ping", True)
    if backend in ("mysql", "mariadb"):
        if "charset" not in u.query:
            u = u.update_query_dict({"charset": "utf8mb4"})
        connect_args = dict(kw.pop("connect_args", {}) or {})
        connect_args.setdefault("init_command", f"SET SESSION sql_mode='{MYSQL_SQL_MODE}'")
        kw["connect_args"] = connect_args
    return create_engine(u, **kw)


def _create_private(u: URL) -> None:
    """Create a new SQLite file 0600 before SQLite does (it would use 0644 under umask 022);
    its -wal/-shm files copy the database file's mode. The directory is not created here."""
    db = u.database or ""
    if not db or db == ":memory:" or db.startswith("file:") or u.query.get("uri"):
        return
    path = Path(db).expanduser()
    if path.parent.is_dir() and not path.exists():
        private_file(path)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        # WAL is persistent per file; in-memory databases answer "memory" and that is fine.
        cur.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL is crash-safe (a power loss may drop the last commits, never corrupt).
        cur.execute("PRAGMA synchronous = NORMAL")
    finally:
        cur.close()


def mask_url(url: str | URL) -> str:
    """``url`` for printing: password (and credential-like query values) replaced by ``***``."""
    try:
        u = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparseable database URL>"
    if u.query:
        masked = {
            k: "***" if any(s in k.lower() for s in _SECRET_QUERY_KEYS) else v
            for k, v in u.query.items()
        }
        u = u.set(query=masked)
    # The query renderer percent-encodes "*"; show the mask as written.
    return u.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
