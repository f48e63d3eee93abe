"""The shared app QPS wired into the runtime: which limiter `Runtime.client("oceanengine")` gets
(ADSYNC_OCEANENGINE_SHARED_QPS × the app database's backend), and the heartbeat row a run holds
given back when the run ends.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from flows.runtime import get_runtime, reset_runtime
from integrations.database.engine import make_engine
from integrations.database.tables import oceanengine_rate_share
from integrations.settings import ConfigError, Settings, get_settings
from integrations.sources.oceanengine.endpoints import EP_LOCAL_REPORT
from integrations.sources.oceanengine.ratelimit import TokenBucket
from integrations.sources.oceanengine.shared_ratelimit import SharedAppLimiter
from integrations.sources.oceanengine.source import shared_qps
from sandbox.server import Sandbox
from tests.flows.sandboxed import point_at

SQLITE = "sqlite:///x.db"
PG = "postgresql+psycopg://u@h/d"
MARIA = "mysql+pymysql://u@h/d"


@pytest.mark.parametrize(
    ("mode", "url", "shared"),
    [
        ("auto", SQLITE, False),
        ("auto", PG, True),
        ("auto", MARIA, True),
        ("on", SQLITE, True),
        ("off", PG, False),
        ("off", SQLITE, False),
    ],
)
def test_shared_when_the_setting_or_the_database_says_so(mode: str, url: str, shared: bool):
    s = Settings(oceanengine_shared_qps=mode, database_url=url)
    assert shared_qps(s) is shared


def test_the_default_is_auto(monkeypatch) -> None:
    assert get_settings().oceanengine_shared_qps == "auto"
    assert shared_qps(get_settings()) is False  # the tests' default database is SQLite


def test_a_bad_value_is_refused_naming_the_key(monkeypatch) -> None:
    monkeypatch.setenv("ADSYNC_OCEANENGINE_SHARED_QPS", "yes")
    get_settings.cache_clear()
    with pytest.raises((ConfigError, ValueError)) as err:
        get_settings()
    assert "oceanengine_shared_qps" in str(err.value).lower()


def _report_params(sb: Sandbox) -> dict:
    acct = next(a.id for a in sb.data.local_accounts if not a.forbidden)
    day = (sb.data.today - timedelta(days=1)).isoformat()
    return {
        "local_account_id": acct,
        "start_date": day,
        "end_date": day,
        "metrics": ["stat_cost"],
        "page": 1,
        "page_size": 10,
    }


def _rows(db_url: str, app_id: str) -> int:
    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(oceanengine_rate_share)
                .where(oceanengine_rate_share.c.app_id == app_id)
            ).scalar_one()
    finally:
        eng.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_a_run_on_a_server_database_paces_shared_and_gives_its_share_back(
    backend: str, request, tmp_path, monkeypatch
) -> None:
    db_url = request.getfixturevalue("fresh_server_db")(backend)
    with Sandbox(state_dir=tmp_path / "sb", profile="fast", n_local_accounts=2) as sb:
        point_at(sb, tmp_path / "data", monkeypatch, db_url)
        try:
            rt = get_runtime()
            app_id = str(rt.settings.oceanengine_app_id)
            client = rt.client("oceanengine")
            assert isinstance(client.limiter, SharedAppLimiter)
            assert client.limiter.app_id == app_id
            for _ in range(2):  # two runs of one process: it joins again after giving back
                with rt.run_scope():
                    client.get(EP_LOCAL_REPORT, _report_params(sb))
                    assert _rows(db_url, app_id) == 1  # this process's heartbeat row
                    assert client.limiter.holders == 1
                assert _rows(db_url, app_id) == 0
            assert client.stats.total == 2
            assert rt.qps_processes() == 1  # what the run's ledger row records
        finally:
            reset_runtime()


def test_sqlite_keeps_the_in_process_bucket_unless_on(tmp_path, monkeypatch) -> None:
    with Sandbox(state_dir=tmp_path / "sb", profile="fast", n_local_accounts=2) as sb:
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        point_at(sb, tmp_path / "data", monkeypatch, db_url)
        try:
            client = get_runtime().client("oceanengine")
            assert type(client.limiter) is TokenBucket
            assert get_runtime().qps_processes() is None  # nothing shared: not in the ledger
            reset_runtime()
            monkeypatch.setenv("ADSYNC_OCEANENGINE_SHARED_QPS", "on")
            get_settings.cache_clear()
            rt = get_runtime()
            client = rt.client("oceanengine")
            assert isinstance(client.limiter, SharedAppLimiter)
            app_id = str(rt.settings.oceanengine_app_id)
            with rt.run_scope():
                client.get(EP_LOCAL_REPORT, _report_params(sb))
                assert _rows(db_url, app_id) == 1
            assert _rows(db_url, app_id) == 0
        finally:
            reset_runtime()
