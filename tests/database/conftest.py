"""Fixtures for the database-layer tests: a migrated database on each backend."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade

_upgraded: set[str] = set()
# Keys unique within this process, so tests sharing a session's server database never collide.
_ids = itertools.count(1_000_000_000_000 + os.getpid() * 10_000_000)


def unique_id() -> int:
    return next(_ids)


@pytest.fixture
def db_engine(any_db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head (SQLite: fresh file; servers: per session)."""
    if any_db_url not in _upgraded:
        upgrade(any_db_url)
        if not any_db_url.startswith("sqlite"):
            _upgraded.add(any_db_url)
    engine = make_engine(any_db_url)
    yield engine
    engine.dispose()
