"""DOU+ video aggregate: orders of one video summed, ratios from sums, unmapped stats reported."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from integrations.sources.oceanengine.transforms import douplus as transform

DAY = date(2026, 11, 24)
DAY2 = date(2026, 11, 23)
VIDEO = 7_450_123_456_789_012_345  # > 2^53
VIDEO2 = 7_450_123_456_789_012_346
O1, O2, O3 = 2**53 + 1, 2**53 + 2, 2**53 + 3
UID = "MS4wLjABAAAA-author"

STATS_SCHEMA = {
    "order_id": pl.Int64,
    "stat_date": pl.Date,
    "aweme_sec_uid": pl.String,
    "cost": pl.Decimal(18, 2),
    "total_play": pl.Int64,
    "custom_like": pl.Int64,
    "dy_comment": pl.Int64,
    "dy_share": pl.Int64,
    "dy_follow": pl.Int64,
    "dp_target_convert_cnt": pl.Int64,
}


def stat(order: int, cost: str | None, play=0, like=0, share=0, conv=0, day=DAY, uid=UID) -> dict:
    return {
        "order_id": order,
        "stat_date": day,
        "aweme_sec_uid": uid,
        "cost": None if cost is None else Decimal(cost),
        "total_play": play,
        "custom_like": like,
        "dy_comment": 0,
        "dy_share": share,
        "dy_follow": 0,
        "dp_target_convert_cnt": conv,
    }


def stats(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=STATS_SCHEMA)


def vmap(pairs: dict[int, int | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"order_id": list(pairs), "item_id": list(pairs.values())},
        schema={"order_id": pl.Int64, "item_id": pl.Int64},
    )


def run(s: pl.DataFrame | pl.LazyFrame, m: pl.DataFrame | pl.LazyFrame, **kw):
    df, unmapped = transform.video_daily(s, m, **kw)
    return transform.to_rows(df), unmapped


def test_video_daily_has_the_declared_schema() -> None:
    df, _ = transform.video_daily(stats(stat(O1, "1")), vmap({O1: VIDEO}))
    assert df.schema == pl.Schema(transform.VIDEO_DAILY_SCHEMA)


def test_two_orders_of_one_video_are_summed_with_ratios_from_sums() -> None:
    s = stats(
        stat(O1, "100.00", play=1000, like=100, share=10, conv=1),  # like rate 0.1
        stat(O2, "50.50", play=9000, like=90, share=0, conv=4),  # like rate 0.01
    )
    (row,), unmapped = run(s, vmap({O1: VIDEO, O2: VIDEO}))
    assert not unmapped
    assert row["item_id"] == VIDEO and row["stat_date"] == DAY and row["aweme_sec_uid"] == UID
    assert row["order_count"] == 2
    assert row["total_cost"] == Decimal("150.50")
    assert (row["total_play"], row["likes"], row["shares"], row["conversions"]) == (
        10000,
        190,
        10,
        5,
    )
    assert row["like_rate"] == Decimal("0.019000")  # 190/10000; mean of rates = 0.055
    assert row["share_rate"] == Decimal("0.001000")
    assert row["play_per_100_cost"] == Decimal("6644.518272")  # 10000 / 1.505
    assert row["conversion_cost"] == Decimal("30.100000")  # 150.50 / 5; mean = 56.3125
    assert list(row) == list(transform.VIDEO_DAILY_SCHEMA)
    assert row["total_cost"].as_tuple().exponent == -2
    assert row["like_rate"].as_tuple().exponent == -6


def test_videos_and_days_are_separate_groups_sorted() -> None:
    s = stats(
        stat(O1, "1", play=10, day=DAY),
        stat(O1, "2", play=20, day=DAY2),
        stat(O2, "4", play=40, day=DAY),
        stat(O3, "8", play=80, day=DAY),
    )
    rows, _ = run(s, vmap({O1: VIDEO, O2: VIDEO2, O3: VIDEO}))
    got = [(r["stat_date"], r["item_id"], r["order_count"], r["total_cost"]) for r in rows]
    assert got == [
        (DAY2, VIDEO, 1, Decimal("2.00")),
        (DAY, VIDEO, 2, Decimal("9.00")),
        (DAY, VIDEO2, 1, Decimal("4.00")),
    ]


def test_unmapped_stats_are_counted_and_reported() -> None:
    s = stats(
        stat(O1, "10.00", play=100),
        stat(O2, "0.10"),  # order not in the map
        stat(O2, "0.20", day=DAY2),
        stat(O3, "5.00"),  # order in the map without a video
    )
    rows, unmapped = run(s, vmap({O1: VIDEO, O3: None}))
    assert [(r["item_id"], r["total_cost"]) for r in rows] == [(VIDEO, Decimal("10.00"))]
    assert unmapped.count == 3 and unmapped.orders == 2
    assert unmapped.cost == Decimal("5.30")
    assert unmapped.order_ids_sample == (O2, O3)
    assert bool(unmapped)
    assert "3 order stat row(s) of 2 order(s)" in unmapped.describe()
    assert str(O2) in unmapped.describe() and "5.30 yuan" in unmapped.describe()


def test_unmapped_sample_is_bounded() -> None:
    s = stats(*(stat(1000 + i, "1") for i in range(50)))
    _, unmapped = run(s, vmap({}), sample_size=5)
    assert unmapped.count == 50 and unmapped.orders == 50
    assert unmapped.order_ids_sample == (1000, 1001, 1002, 1003, 1004)
    assert unmapped.describe().endswith(", …")


def test_money_exact_and_none_metrics_count_as_zero() -> None:
    s = stats(
        stat(O1, "0.10", play=None, like=None, share=None, conv=None),
        stat(O2, "0.20", play=3, like=1),
        stat(O3, None, play=0),
    )
    (row,), _ = run(s, vmap({O1: VIDEO, O2: VIDEO, O3: VIDEO}))
    assert row["total_cost"] == Decimal("0.30")
    assert row["order_count"] == 3
    assert (row["total_play"], row["likes"], row["shares"], row["conversions"]) == (3, 1, 0, 0)
    assert row["like_rate"] == Decimal("0.333333")
    assert row["conversion_cost"] is None  # no conversions


def test_zero_denominators_give_none() -> None:
    (row,), _ = run(stats(stat(O1, "0", play=0, like=0, conv=0)), vmap({O1: VIDEO}))
    assert row["play_per_100_cost"] is None and row["like_rate"] is None
    assert row["share_rate"] is None and row["conversion_cost"] is None
    assert row["total_cost"] == Decimal("0.00") and row["order_count"] == 1


def test_cost_in_fen_and_lazy_inputs() -> None:
    s = pl.LazyFrame(
        {
            "order_id": [O1, O2],
            "stat_date": [DAY, DAY],
            "aweme_sec_uid": [UID, UID],
            "cost": [10, 20],  # fen
            "total_play": [1, 2],
            "custom_like": [0, 1],
            "dy_share": [0, 0],
            "dp_target_convert_cnt": [1, 0],
        }
    )
    for engine in ("streaming", "in-memory"):
        (row,), _ = run(s, vmap({O1: VIDEO, O2: VIDEO}).lazy(), cost_unit="fen", engine=engine)
        assert row["total_cost"] == Decimal("0.30")
        assert row["play_per_100_cost"] == Decimal("1000.000000")  # 3 plays per 0.30 yuan
        assert row["conversion_cost"] == Decimal("0.300000")


def test_float_money_and_float_ids_are_refused() -> None:
    s = stats(stat(O1, "1")).with_columns(pl.col("cost").cast(pl.Float64))
    with pytest.raises(TypeError, match="float"):
        transform.video_daily(s, vmap({O1: VIDEO}))
    s = stats(stat(O1, "1")).with_columns(pl.col("order_id").cast(pl.Float64))
    with pytest.raises(TypeError, match="order_id"):
        transform.video_daily(s, vmap({O1: VIDEO}))
    with pytest.raises(TypeError, match="fen"):
        transform.video_daily(stats(stat(O1, "1")), vmap({O1: VIDEO}), cost_unit="fen")


def test_duplicate_stat_keys_are_an_error_not_double_counted() -> None:
    s = stats(stat(O1, "1"), stat(O1, "1"))
    with pytest.raises(ValueError, match="repeat an \\(order_id, stat_date\\) key"):
        transform.video_daily(s, vmap({O1: VIDEO}))


def test_order_mapped_to_two_videos_is_an_error() -> None:
    m = pl.DataFrame({"order_id": [O1, O1], "item_id": [VIDEO, VIDEO2]})
    with pytest.raises(ValueError, match="more than one video"):
        transform.video_daily(stats(stat(O1, "1")), m)
    # the same pair twice is fine
    m = pl.DataFrame({"order_id": [O1, O1], "item_id": [VIDEO, VIDEO]})
    (row,), _ = run(stats(stat(O1, "1")), m)
    assert row["order_count"] == 1 and row["total_cost"] == Decimal("1.00")


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="dy_share"):
        transform.video_daily(stats(stat(O1, "1")).drop("dy_share"), vmap({O1: VIDEO}))


def test_aweme_sec_uid_choice_is_deterministic() -> None:
    s = stats(stat(O1, "1", uid="b-account"), stat(O2, "1", uid="a-account"))
    (row,), _ = run(s, vmap({O1: VIDEO, O2: VIDEO}))
    assert row["aweme_sec_uid"] == "a-account"


def test_empty_inputs() -> None:
    df, unmapped = transform.video_daily(stats(), vmap({}))
    assert df.height == 0 and df.schema == pl.Schema(transform.VIDEO_DAILY_SCHEMA)
    assert unmapped == transform.UnmappedStats() and not unmapped
    assert unmapped.describe() == "every order stat has a video"


def test_aweme_sec_uid_as_enum_or_categorical_comes_out_as_string() -> None:
    s = stats(stat(O1, "1", uid="b-account"), stat(O2, "1", uid="a-account"))
    for dtype in (pl.Categorical(), pl.Enum(["a-account", "b-account"])):
        df, _ = transform.video_daily(
            s.with_columns(pl.col("aweme_sec_uid").cast(dtype)), vmap({O1: VIDEO, O2: VIDEO})
        )
        assert df.schema == pl.Schema(transform.VIDEO_DAILY_SCHEMA)
        assert df["aweme_sec_uid"].to_list() == ["a-account"]
    with pytest.raises(TypeError, match="aweme_sec_uid"):
        transform.video_daily(s.with_columns(pl.lit(1).alias("aweme_sec_uid")), vmap({O1: VIDEO}))


def test_play_5s_rate_is_weighted_by_plays_from_sums_not_an_average_of_ratios() -> None:
    rows = [
        stat(O1, "10.00", play=100) | {"play_duration_5s_rank": Decimal("0.500000")},
        stat(O2, "20.00", play=900) | {"play_duration_5s_rank": Decimal("0.100000")},
        # No rank: its plays stay out of the rate's denominator (but count in total_play).
        stat(O3, "5.00", play=1000) | {"play_duration_5s_rank": None},
    ]
    df = pl.DataFrame(rows, schema=STATS_SCHEMA | {"play_duration_5s_rank": pl.Decimal(20, 6)})
    out, _ = transform.video_daily(df, vmap({O1: VIDEO, O2: VIDEO, O3: VIDEO}))
    row = out.row(0, named=True)
    assert row["total_play"] == 2000
    # (0.5 × 100 + 0.1 × 900) / (100 + 900) = 140 / 1000; an average of ratios would say 0.3.
    assert row["play_5s_rate"] == Decimal("0.140000")
    assert out.schema["play_5s_rate"] == transform.VIDEO_DAILY_SCHEMA["play_5s_rate"]


def test_play_5s_rate_without_ranks_is_none_and_floats_are_refused() -> None:
    out, _ = transform.video_daily(stats(stat(O1, "1.00", play=10)), vmap({O1: VIDEO}))
    assert out.row(0, named=True)["play_5s_rate"] is None  # column absent
    bad = pl.DataFrame(
        [stat(O1, "1.00", play=10) | {"play_duration_5s_rank": 0.5}],
        schema=STATS_SCHEMA | {"play_duration_5s_rank": pl.Float64},
    )
    with pytest.raises(TypeError, match="play_duration_5s_rank"):
        transform.video_daily(bad, vmap({O1: VIDEO}))
