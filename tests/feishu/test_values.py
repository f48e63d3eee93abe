"""Pure conversions: keys, canonical values, hashes of DB rows vs records read back."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from integrations.feishu.specs import DOUPLUS_ORDERS
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY as SPEC
from integrations.feishu.values import (
    business_key,
    date_ms,
    record_hash,
    record_key,
    row_fields,
    row_hash,
)
from tests.feishu.conftest import promotion_rows


def test_dates_are_china_midnight_whatever_the_machine_timezone(monkeypatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert date_ms(date(2026, 11, 22)) == 1795276800000  # 2026-11-21T16:00:00Z
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_key_is_date_then_ids_as_text() -> None:
    row = promotion_rows(1)[0]
    assert business_key(SPEC, row) == "2026-11-22|1854347260793866|7450000000000000000"
    assert business_key(DOUPLUS_ORDERS, {"order_id": 2**62 + 1}) == str(2**62 + 1)


def test_read_back_record_hashes_like_its_db_row() -> None:
    row = promotion_rows(1)[0]
    row["cost"] = Decimal("1234.50")
    cells = row_fields(SPEC, row)
    assert cells["消耗(元)"] == 1234.5 and cells["单元ID"] == "7450000000000000000"
    assert cells["项目ID"] == ""  # an empty id/text cell is cleared with "" (null: unconfirmed)
    # Read shape: text as segments, numbers as numbers, dates as ms.
    read = {
        k: [{"text": v, "type": "text"}] if isinstance(v, str) and v else v
        for k, v in cells.items()
        if v != ""
    }
    assert record_key(SPEC, read) == business_key(SPEC, row)
    assert record_hash(SPEC, read) == row_hash(SPEC, row)
    row["cost"] = Decimal("1234.51")
    assert record_hash(SPEC, read) != row_hash(SPEC, row)


def test_money_hash_uses_decimal_not_float() -> None:
    a, b = promotion_rows(1)[0], promotion_rows(1)[0]
    a["cost"], b["cost"] = Decimal("0.30"), Decimal("0.1") + Decimal("0.2")
    assert row_hash(SPEC, a) == row_hash(SPEC, b)
    b["cost"] = Decimal("0.30000000000000004")  # what float(0.1 + 0.2) would have given
    assert row_hash(SPEC, a) != row_hash(SPEC, b)


def test_datetime_cells_are_china_local() -> None:
    row = {"order_id": 1, "order_create_time": datetime(2026, 11, 22, 8, 30)}
    assert row_fields(DOUPLUS_ORDERS, row)["下单时间"] == 1795307400000  # 00:30Z
