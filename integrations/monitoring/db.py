"""Open the app database for reading without creating it as a side effect."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url


def sqlite_missing(url: str) -> bool:
    """A SQLite URL whose file does not exist (connecting would create an empty file)."""
    u = make_url(url)
    db = u.database or ""
    return u.get_backend_name() == "sqlite" and db not in ("", ":memory:") and not Path(db).exists()


def open_engine(url: str) -> Engine:
    try:
        from integrations.database.engine import make_engine
    except ImportError:  # engine factory not available: plain SQLAlchemy
        from sqlalchemy import create_engine as make_engine
    if sqlite_missing(url):
        # Point at an in-memory DB: every "is the schema there?" question answers no.
        return make_engine("sqlite://")
    return make_engine(url)
