"""monitor.py watches the supplier datasets from their declarations: a stale price or stock
table is a critical freshness finding with the command that reruns its flow."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from integrations.database import tables as t
from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from tests.monitoring.conftest import monitor_env, run_monitor, yesterday_cn


def test_stale_supplier_prices_and_stock_are_critical(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'adsync.db'}"
    upgrade(url)
    engine = make_engine(url)
    old = yesterday_cn() - timedelta(days=3)
    now = datetime(2026, 1, 1)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(t.DATASET_TABLES["supplier_prices"]),
            [
                {
                    "product_code": "BC1",
                    "price_type": "PT",
                    "price_kind": "supply_price",
                    "price_date": old,
                    "brand": "海尔",
                    "amount": Decimal("1299.00"),
                    "updated_at": now,
                }
            ],
        )
        conn.execute(
            sa.insert(t.DATASET_TABLES["supplier_stock"]),
            [
                {
                    "product_code": "BC1",
                    "county_code": "110101",
                    "observed_bucket": datetime.combine(old, datetime.min.time()),
                    "observed_date": old,
                    "brand": "海尔",
                    "available_stock": 5,
                    "updated_at": now,
                }
            ],
        )
    engine.dispose()
    p = run_monitor("check", env=monitor_env(url), cwd=tmp_path)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 2, p.stdout
    for dataset, flow in (
        ("supplier_prices", "supplier-prices"),
        ("supplier_stock", "supplier-stock"),
    ):
        line = next(ln for ln in p.stdout.splitlines() if f"dataset {dataset}:" in ln)
        assert line.startswith("CRITICAL freshness") and f"latest date {old}" in line, line
        assert f"adsync run {flow}" in line, line
