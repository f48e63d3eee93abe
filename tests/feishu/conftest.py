"""Fixtures: a served Feishu simulator per test, the real lark-oapi client, a real database."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from integrations.feishu.auth import build_client
from integrations.feishu.client import BitableApi, Pacing
from integrations.feishu.sink import BitableSink
from integrations.retry import RetryPolicy
from sandbox.feishu.app import FeishuSim
from sandbox.feishu.knobs import FeishuKnobs
from sandbox.runner import ServedApp, serve_in_thread

FAST_RETRY = RetryPolicy(max_attempts=6, base_delay_s=0.005, max_delay_s=0.02)
NO_PACING = Pacing(write_qps=0, read_qps=0)


@dataclass
class Feishu:
    sim: FeishuSim
    served: ServedApp

    @property
    def url(self) -> str:
        return self.served.url

    def api(self, timeout_s: float = 10.0) -> BitableApi:
        client = build_client(self.sim.app_id, self.sim.app_secret, self.url, timeout_s)
        return BitableApi(client, self.sim.app_token, policy=FAST_RETRY, pacing=NO_PACING)

    def writes(self) -> int:
        return self.sim.counters_snapshot()["writes"]

    def count(self, endpoint: str) -> int:
        return self.sim.counters_snapshot()[endpoint]


@pytest.fixture
def feishu() -> Iterator[Feishu]:
    # lark-oapi caches tenant tokens process-wide by app_id: a fresh app_id per simulator.
    # A fresh seed gives a fresh app_token, so a shared server DB never mixes tests' maps.
    sim = FeishuSim(
        state_dir=None,
        knobs=FeishuKnobs.for_profile("fast"),
        app_id=f"cli_t{uuid.uuid4().hex[:16]}",
        seed=random.randrange(1 << 30),
    )
    served = serve_in_thread(sim.app)
    try:
        yield Feishu(sim, served)
    finally:
        served.stop()


def _engine(url: str) -> sa.Engine:
    # The migrations, not create_all: session server DBs are shared with tests that migrate.
    upgrade(url)
    return make_engine(url)


@pytest.fixture
def engine(tmp_path) -> Iterator[sa.Engine]:
    e = _engine(f"sqlite:///{tmp_path / 'adsync.db'}")
    yield e
    e.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def map_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[sa.Engine]:
    """The record map on SQLite and on PostgreSQL (per-session database)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'adsync.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    e = _engine(url)
    yield e
    e.dispose()


@pytest.fixture
def sink(feishu: Feishu, engine: sa.Engine) -> BitableSink:
    return BitableSink(feishu.api(), engine)


DAY = date(2026, 11, 22)


def promotion_rows(
    n: int, accounts: int = 5, days: int = 1, start: date = DAY, seed: int = 1
) -> list[dict[str, Any]]:
    """``n`` local_promotion_daily rows as read from the DB (ids above 2^53, Decimal money)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        acct = 1854347260793866 + (i % accounts)
        out.append(
            {
                "stat_date": start + timedelta(days=i % days),
                "local_account_id": acct,
                "promotion_id": 7450000000000000000 + i,
                "promotion_name": f"单元 {i}",
                "project_id": None,
                "project_name": None,
                "cost": Decimal(rng.randrange(0, 10_000_00)) / 100,
                "show_cnt": rng.randrange(0, 100_000),
                "click_cnt": rng.randrange(0, 5_000),
                "convert_cnt": rng.randrange(0, 100),
                "conversion_cost": Decimal("12.50"),
                "clue_pay_order_cnt": rng.randrange(0, 10),
                "account_name": f"账户{acct % 1000}",
            }
        )
    return out


def table_id(feishu: Feishu, name: str) -> str:
    return next(t["table_id"] for t in feishu.sim.tables(feishu.sim.app_token) if t["name"] == name)


def keys_in(feishu: Feishu, tid: str, key_field: str = "业务键") -> list[str]:
    return [str(r["fields"].get(key_field)) for r in feishu.sim.records(feishu.sim.app_token, tid)]
