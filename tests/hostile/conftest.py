"""Fixtures for the hostile-data tests: a migrated database per backend (tests/database), a
served Feishu simulator with a sink (tests/feishu), and the session's Prefect server for the
flows they run (tests/hostile/harness.py)."""

import pytest

from tests.database.conftest import db_engine, unique_id  # noqa: F401 - re-exported fixtures
from tests.feishu.conftest import engine, feishu, sink  # noqa: F401 - re-exported fixtures


@pytest.fixture(autouse=True)
def _flows_on_prefect(prefect_server) -> None:  # noqa: ANN001 - tests/prefect_server.py
    """Flow runs go to the session's Prefect server (started once, on first use)."""
