"""Per-backend engine settings, checked on the live connections."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from integrations.database.engine import SQLITE_BUSY_TIMEOUT_MS, make_engine


def test_sqlite_wal_busy_timeout_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        with engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_postgres_pre_ping(postgres_url: str) -> None:
    engine = make_engine(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as c:
            assert c.scalar(sa.text("SELECT 1")) == 1
    finally:
        engine.dispose()


def test_mariadb_utf8mb4_strict_and_emoji_round_trip(mysql_url: str) -> None:
    engine = make_engine(mysql_url.replace("mysql+pymysql://", "mysql://"))
    try:
        with engine.connect() as c:
            assert c.scalar(sa.text("SELECT @@character_set_client")) == "utf8mb4"
            assert "STRICT_ALL_TABLES" in c.scalar(sa.text("SELECT @@SESSION.sql_mode"))
            assert c.scalar(sa.text("SELECT :s"), {"s": "火锅🍲"}) == "火锅🍲"
    finally:
        engine.dispose()
