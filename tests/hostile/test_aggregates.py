"""An account-day total beyond its column (each row in range, their sum not) is rejected by
name by the row rules instead of wrapping around (polars' Int64 sum wraps silently) or failing
the whole batch."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from integrations.database import tables
from integrations.database.row_rules import screen
from integrations.exact import to_rows
from integrations.sources.oceanengine.transforms import laike as transform

DAY = date(2026, 11, 1)


def _promo(account: int, pid: int, **kw) -> dict:
    return {
        "stat_date": DAY,
        "local_account_id": account,
        "promotion_id": pid,
        "promotion_name": "p",
        "project_id": None,
        "project_name": None,
        "cost": Decimal("1.00"),
        "show_cnt": 100,
        "click_cnt": 1,
        "convert_cnt": 0,
        "conversion_cost": None,
        "clue_pay_order_cnt": 0,
    } | kw


def test_an_overflowing_total_is_rejected_by_name_the_other_accounts_stay() -> None:
    big = 2**62
    rows = [
        _promo(1, 10, show_cnt=big),
        _promo(1, 11, show_cnt=big),  # 2^63: one past int64
        _promo(2, 20, cost=Decimal("9999999999999999.99")),
        _promo(2, 21, cost=Decimal("0.01")),  # 1e16 yuan: past DECIMAL(18, 2)
        _promo(3, 30),
        _promo(3, 31),
    ]
    assert not screen(tables.local_promotion_daily, rows).issues  # each row is in range
    daily = to_rows(
        transform.account_daily(transform.promotion_frame(rows), {1: "a", 2: "b", 3: "c"})
    )
    out = screen(tables.local_account_daily, daily)
    assert [r["local_account_id"] for r in out.rows] == [3]
    assert out.rows[0]["show_cnt"] == 200 and out.rows[0]["cost"] == Decimal("2.00")
    assert sorted((i.key, i.column) for i in out.rejected) == [
        ("local_account_daily|stat_date=2026-11-01|local_account_id=1", "show_cnt"),
        ("local_account_daily|stat_date=2026-11-01|local_account_id=2", "cost"),
    ]
