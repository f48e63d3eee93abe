"""Shared fixtures: real databases (SQLite always; PostgreSQL and MariaDB from the local services).

Each pytest session creates its own throw-away database on PostgreSQL and MariaDB (so parallel
sessions never share tables) and drops it at the end. Locally an unreachable server is a skip
with the reason; with ``CI=true`` it is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.prefect_server import prefect_server  # noqa: F401 - shared session fixture

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

PG_URL = os.environ.get(
    "ADSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("ADSYNC_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")

BACKENDS = ("sqlite", "postgresql", "mysql")


def _unreachable(backend: str, err: Exception) -> None:
    msg = f"{backend} unreachable: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
    if IN_CI:
        pytest.fail(f"{msg} (CI=true: a database that cannot be reached is a failure)")
    pytest.skip(msg)


def _server_db(base_url: str, backend: str) -> Iterator[str]:
    """Create a uniquely named database on the server; yield its URL; drop it afterwards."""
    name = f"adsync_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE {name}"))
    except Exception as e:  # noqa: BLE001 - any connect/auth error means "unreachable"
        admin.dispose()
        _unreachable(backend, e)
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as c:
            if backend == "postgresql":
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for this session."""
    yield from _server_db(PG_URL, "postgresql")


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """URL of a fresh, empty MariaDB/MySQL database for this session."""
    yield from _server_db(MYSQL_URL, "mysql")


@pytest.fixture
def fresh_server_db() -> Iterator[Callable[[str], str]]:
    """A fresh, empty server database for one test: ``fresh_server_db("postgresql" | "mysql")``
    (for tests that store tokens or dataset rows another test's keys could collide with)."""
    stack: list[Iterator[str]] = []

    def make(backend: str) -> str:
        gen = _server_db(PG_URL if backend == "postgresql" else MYSQL_URL, backend)
        stack.append(gen)
        return next(gen)

    yield make
    for gen in stack:
        next(gen, None)


@pytest.fixture(params=BACKENDS)
def any_db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A database URL on each backend in turn (SQLite file per test; server DBs per session).

    Server databases are shared within the session: tests must clean up or use unique keys.
    """
    backend = request.param
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'adsync.db'}"
    return request.getfixturevalue("postgres_url" if backend == "postgresql" else "mysql_url")


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:
    """No test reads the developer's real .env/adsync.toml or writes into ./data."""
    from integrations.settings import get_settings

    for k in list(os.environ):
        if k.startswith("ADSYNC_") and not k.startswith("ADSYNC_TEST_"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ADSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
