"""Fixtures for the hostile-data tests: a migrated database per backend (tests/database) and a
served Feishu simulator with a sink (tests/feishu)."""

from tests.database.conftest import db_engine, unique_id  # noqa: F401 - re-exported fixtures
from tests.feishu.conftest import engine, feishu, sink  # noqa: F401 - re-exported fixtures
