"""本地推 transforms: exact money, ratios from sums, None metrics, int64 ids, table shape."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from integrations.database import tables
from integrations.sources.oceanengine.transforms import laike as transform

DAY = date(2026, 11, 24)
DAY2 = date(2026, 11, 23)
BIG = 2**53 + 1  # not representable as a float64
ACC = 1854347260793866
ACC_BIG = 9_223_372_036_854_775_807  # int64 max


def promo(
    pid: int,
    *,
    day: date = DAY,
    account: int = ACC,
    cost: Decimal | int | str | None = Decimal("0"),
    shows: int | None = 0,
    clicks: int | None = 0,
    converts: int | None = 0,
    clue: int | None = 0,
    **extra: object,
) -> dict:
    return {
        "stat_date": day,
        "local_account_id": account,
        "promotion_id": pid,
        "promotion_name": f"p{pid}",
        "project_id": 7_450_000_000_000_000_001,
        "project_name": "项目A",
        "cost": cost,
        "show_cnt": shows,
        "click_cnt": clicks,
        "convert_cnt": converts,
        "conversion_cost": None,
        "clue_pay_order_cnt": clue,
        **extra,
    }


def table_columns(table) -> list[str]:
    return [c.name for c in table.columns if c.name != "updated_at"]


def daily(rows: list[dict], names: dict | None = None) -> list[dict]:
    return transform.to_rows(
        transform.account_daily(transform.promotion_frame(rows), names or {ACC: "账户A"})
    )


# --- shape ---------------------------------------------------------------------------------


def test_promotion_frame_schema_and_rows_round_trip() -> None:
    rows = [promo(1, cost=Decimal("12.34"), shows=10, clicks=2, converts=1)]
    df = transform.promotion_frame(rows)
    assert df.schema == pl.Schema(transform.PROMOTION_SCHEMA)
    out = transform.to_rows(df)
    assert out == [{**rows[0], "cost": Decimal("12.34")}]
    assert list(out[0]) == table_columns(tables.local_promotion_daily)


def test_account_daily_output_rows_match_table_columns_and_types() -> None:
    out = daily([promo(1, cost=Decimal("1.5"), shows=3, clicks=1, converts=1)])
    assert len(out) == 1
    row = out[0]
    assert list(row) == table_columns(tables.local_account_daily)
    assert row["stat_date"] == DAY and isinstance(row["local_account_id"], int)
    assert row["account_name"] == "账户A"
    # quantized to the table scales: money 2 places, ratios 6 places (exponent checks the scale)
    assert row["cost"] == Decimal("1.50") and row["cost"].as_tuple().exponent == -2
    for r in ("ctr", "cpc", "cpm", "conversion_cost"):
        assert isinstance(row[r], Decimal) and row[r].as_tuple().exponent == -6, r
    assert row["ctr"] == Decimal("0.333333")
    assert row["cpm"] == Decimal("500.000000")


def test_empty_input() -> None:
    df = transform.promotion_frame([])
    assert df.height == 0 and df.schema == pl.Schema(transform.PROMOTION_SCHEMA)
    agg = transform.account_daily(df, {})
    assert agg.height == 0 and agg.schema == pl.Schema(transform.ACCOUNT_DAILY_SCHEMA)
    assert transform.to_rows(agg) == []


# --- arithmetic ----------------------------------------------------------------------------


def test_ratios_from_sums_not_averages_of_ratios() -> None:
    # p1: ctr 10/100 = 0.1, cpc 10/10 = 1; p2: ctr 1/900, cpc 90/1 = 90
    rows = [
        promo(1, cost=Decimal("10"), shows=100, clicks=10, converts=1),
        promo(2, cost=Decimal("90"), shows=900, clicks=1, converts=4),
    ]
    (row,) = daily(rows)
    assert (row["show_cnt"], row["click_cnt"], row["convert_cnt"]) == (1000, 11, 5)
    assert row["cost"] == Decimal("100.00")
    assert row["ctr"] == Decimal("0.011000")  # 11/1000; mean of ratios would be 0.050556
    assert row["cpc"] == Decimal("9.090909")  # 100/11; mean of ratios would be 45.5
    assert row["cpm"] == Decimal("100.000000")  # 100/1000*1000; mean would be 100 too…
    assert row["conversion_cost"] == Decimal("20.000000")  # 100/5; mean would be 16.25


def test_cpm_from_sums_differs_from_mean_of_cpms() -> None:
    rows = [
        promo(1, cost=Decimal("1"), shows=1000),  # cpm 1
        promo(2, cost=Decimal("3"), shows=1000),  # cpm 3
        promo(3, cost=Decimal("0"), shows=2000),  # cpm 0
    ]
    (row,) = daily(rows)
    assert row["cpm"] == Decimal("1.000000")  # 4/4000*1000; the mean of cpms is 1.333333


def test_zero_denominators_give_none() -> None:
    (row,) = daily([promo(1, cost=Decimal("5"), shows=0, clicks=0, converts=0)])
    assert row["ctr"] is None and row["cpc"] is None
    assert row["cpm"] is None and row["conversion_cost"] is None
    assert row["cost"] == Decimal("5.00")
    (row,) = daily([promo(1, cost=Decimal("0"), shows=10, clicks=0, converts=1)])
    assert row["ctr"] == Decimal("0.000000") and row["cpc"] is None
    assert row["cpm"] == Decimal("0.000000") and row["conversion_cost"] == Decimal("0.000000")


def test_none_metrics_count_as_zero() -> None:
    rows = [
        promo(1, cost=None, shows=None, clicks=None, converts=None, clue=None),
        promo(2, cost=Decimal("2"), shows=200, clicks=4, converts=None, clue=3),
    ]
    (row,) = daily(rows)
    assert row["promotion_count"] == 2
    assert row["cost"] == Decimal("2.00")
    assert (row["show_cnt"], row["click_cnt"], row["convert_cnt"]) == (200, 4, 0)
    assert row["clue_pay_order_cnt"] == 3
    assert row["ctr"] == Decimal("0.020000") and row["conversion_cost"] is None
    (only_none,) = daily([promo(1, cost=None, shows=None, clicks=None, converts=None, clue=None)])
    assert only_none["cost"] == Decimal("0.00") and only_none["show_cnt"] == 0


def test_decimal_money_is_exact() -> None:
    rows = [promo(1, cost=Decimal("0.1")), promo(2, cost=Decimal("0.2"))]
    (row,) = daily(rows)
    assert row["cost"] == Decimal("0.30")  # 0.1 + 0.2 as floats is 0.30000000000000004
    many = [promo(i, cost=Decimal("0.01")) for i in range(10_000)]
    assert daily(many)[0]["cost"] == Decimal("100.00")


def test_money_quantized_half_up_and_floats_refused() -> None:
    df = transform.promotion_frame(
        [promo(1, cost=Decimal("1.005")), promo(2, cost="2.344"), promo(3, cost=3)]
    )
    assert df["cost"].to_list() == [Decimal("1.01"), Decimal("2.34"), Decimal("3.00")]
    with pytest.raises(TypeError, match="cost: money must be"):
        transform.promotion_frame([promo(1, cost=0.1)])  # type: ignore[arg-type]


def test_rounding_half_up_at_six_places() -> None:
    # cpc = 0.01 / 2_000_000 clicks... use ctr: 1 click / 2_000_000 shows = 0.0000005 → 0.000001
    (row,) = daily([promo(1, shows=2_000_000, clicks=1)])
    assert row["ctr"] == Decimal("0.000001")
    (row,) = daily([promo(1, shows=3, clicks=2)])
    assert row["ctr"] == Decimal("0.666667")


def test_ids_above_2_53_stay_intact() -> None:
    rows = [
        promo(BIG, account=ACC_BIG, cost=Decimal("1")),
        promo(BIG + 1, account=ACC_BIG, cost=Decimal("2")),
    ]
    df = transform.promotion_frame(rows)
    assert df["promotion_id"].dtype == pl.Int64
    assert df["promotion_id"].to_list() == [BIG, BIG + 1]
    (row,) = transform.to_rows(transform.account_daily(df, {ACC_BIG: "big"}))
    assert row["local_account_id"] == ACC_BIG and row["account_name"] == "big"
    assert row["promotion_count"] == 2  # BIG and BIG+1 are different promotions


def test_float_ids_are_refused() -> None:
    with pytest.raises(TypeError, match="promotion_id"):
        transform.promotion_frame([promo(float(BIG))])  # type: ignore[arg-type]


def test_missing_key_is_an_error() -> None:
    with pytest.raises(ValueError, match="promotion_id is required"):
        transform.promotion_frame([promo(None)])  # type: ignore[arg-type]


def test_groups_per_day_and_account_sorted_and_named() -> None:
    other = 1854528518086986
    rows = [
        promo(1, day=DAY, cost=Decimal("1")),
        promo(1, day=DAY2, cost=Decimal("2")),
        promo(2, day=DAY, account=other, cost=Decimal("4")),
        promo(3, day=DAY, cost=Decimal("8")),
    ]
    out = daily(rows, {ACC: "A"})  # `other` not named → None
    keys = [(r["stat_date"], r["local_account_id"], r["account_name"], r["cost"]) for r in out]
    assert keys == [
        (DAY2, ACC, "A", Decimal("2.00")),
        (DAY, ACC, "A", Decimal("9.00")),
        (DAY, other, None, Decimal("4.00")),
    ]


def test_repeated_promotion_rows_keep_the_last_read() -> None:
    rows = [
        promo(1, cost=Decimal("1"), shows=10),
        promo(2, cost=Decimal("5"), shows=50),
        promo(1, cost=Decimal("2"), shows=20),  # same key re-read on a later page
    ]
    df = transform.promotion_frame(rows)
    assert df.height == 2
    (row,) = transform.to_rows(transform.account_daily(df, {}))
    assert row["cost"] == Decimal("7.00") and row["show_cnt"] == 70
    assert row["promotion_count"] == 2


def test_account_names_with_string_keys() -> None:
    (row,) = daily([promo(1)], {str(ACC): "from settings"})
    assert row["account_name"] == "from settings"


def test_account_daily_refuses_a_foreign_frame() -> None:
    with pytest.raises(ValueError, match="lacks columns"):
        transform.account_daily(pl.DataFrame({"stat_date": [DAY]}), {})
