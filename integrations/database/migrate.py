"""Run the app database's Alembic migrations from code (``adsync db upgrade``).

Alembic is configured programmatically: the scripts ship inside this package
(``integrations/database/migrations``), so upgrades work from an installed wheel and from any
working directory, without an ``alembic.ini``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from integrations.database.engine import make_engine, mask_url
from integrations.private_files import private_dir
from integrations.settings import normalize_db_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at the packaged scripts (and at ``connection``, if given)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this version of adsync."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts found"
    return head


def _ensure_sqlite_dir(url: str) -> None:
    u = make_url(url)
    db = u.database or ""
    if u.get_backend_name() == "sqlite" and db and db != ":memory:" and not db.startswith("file:"):
        private_dir(Path(db).expanduser().parent)  # owner-only: it holds tokens and all rows


def upgrade(url: str, revision: str = "head") -> str:
    """Create or upgrade the database at ``url`` to ``revision``; return the URL, masked.

    Idempotent: upgrading a database that is already at ``revision`` does nothing.
    """
    url = normalize_db_url(url)
    _ensure_sqlite_dir(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()
    return mask_url(url)


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at (None for an empty database)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
