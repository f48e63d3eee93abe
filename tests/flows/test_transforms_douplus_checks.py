"""DOU+ video aggregate: the cheap validation paths and the Int64 fast paths of the aggregate."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest

from integrations.exact import fen_to_yuan, ratio
from integrations.sources.oceanengine.transforms import douplus as transform

DAY = date(2026, 11, 24)
VIDEO, VIDEO2 = 7_450_123_456_789_012_345, 7_450_123_456_789_012_346
O1, O2, O3 = 2**53 + 1, 2**53 + 2, 2**53 + 3


def stats(*rows: tuple) -> pl.DataFrame:
    """rows of (order_id, stat_date, cost fen, total_play, likes)."""
    return pl.DataFrame(
        [
            {
                "order_id": o,
                "stat_date": d,
                "aweme_sec_uid": "uid",
                "cost": cost,
                "total_play": play,
                "custom_like": like,
                "dy_share": 0,
                "dp_target_convert_cnt": 1,
            }
            for o, d, cost, play, like in rows
        ],
        schema={
            "order_id": pl.Int64,
            "stat_date": pl.Date,
            "aweme_sec_uid": pl.String,
            "cost": pl.Int64,
            "total_play": pl.Int64,
            "custom_like": pl.Int64,
            "dy_share": pl.Int64,
            "dp_target_convert_cnt": pl.Int64,
        },
    )


def vmap(pairs: dict[int, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {"order_id": list(pairs), "item_id": list(pairs.values())},
        schema={"order_id": pl.Int64, "item_id": pl.Int64},
    )


def half_up(n: int, d: int) -> Decimal:
    return (Decimal(n) / Decimal(d)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


@pytest.mark.parametrize("engine", ["streaming", "in-memory"])
def test_repeated_key_of_an_unmapped_order_is_an_error_too(engine: str) -> None:
    s = stats((O1, DAY, 1, 1, 0), (O2, DAY, 1, 1, 0), (O2, DAY, 2, 1, 0))  # O2 has no video
    with pytest.raises(ValueError, match=r"repeat an \(order_id, stat_date\) key.*1 key\(s\)"):
        transform.video_daily(s, vmap({O1: VIDEO}), cost_unit="fen", engine=engine)


def test_repeated_key_error_names_the_first_key() -> None:
    s = stats(
        (O3, date(2026, 11, 2), 1, 1, 0),
        (O3, date(2026, 11, 2), 1, 1, 0),
        (O1, date(2026, 11, 1), 1, 1, 0),
        (O1, date(2026, 11, 1), 1, 1, 0),
        (O2, date(2026, 11, 1), 1, 1, 0),
    )
    with pytest.raises(ValueError, match=f"2 key\\(s\\), e.g. order {O1} on 2026-11-01"):
        transform.video_daily(s, vmap({O1: VIDEO, O2: VIDEO, O3: VIDEO}), cost_unit="fen")


def test_a_hash_collision_falls_back_to_the_exact_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # every key hashes alike: the cheap check fails, the exact check finds no repeat → no error
    monkeypatch.setattr(transform, "_key_hash", lambda: pl.lit(0, dtype=pl.UInt64))
    s = stats((O1, DAY, 100, 10, 1), (O2, DAY, 200, 30, 2), (O1, date(2026, 11, 23), 5, 5, 5))
    df, unmapped = transform.video_daily(s, vmap({O1: VIDEO, O2: VIDEO}), cost_unit="fen")
    assert not unmapped
    assert df.select("stat_date", "order_count", "total_play").rows() == [
        (date(2026, 11, 23), 1, 5),
        (DAY, 2, 40),
    ]
    # and a real repeat is still caught through the exact check
    with pytest.raises(ValueError, match="repeat an"):
        transform.video_daily(s.vstack(s.head(1)), vmap({O1: VIDEO, O2: VIDEO}), cost_unit="fen")


def test_order_count_is_distinct_orders_across_days_and_videos() -> None:
    s = stats(
        (O1, DAY, 1, 1, 0),
        (O2, DAY, 1, 1, 0),
        (O3, DAY, 1, 1, 0),
        (O1, date(2026, 11, 25), 1, 1, 0),
    )
    df, _ = transform.video_daily(s, vmap({O1: VIDEO, O2: VIDEO, O3: VIDEO2}), cost_unit="fen")
    assert df.select("stat_date", "item_id", "order_count").rows() == [
        (DAY, VIDEO, 2),
        (DAY, VIDEO2, 1),
        (date(2026, 11, 25), VIDEO, 1),
    ]


def test_packed_key_round_trips_extreme_ids_and_dates_in_order() -> None:
    lo, hi = -(2**63), 2**63 - 1  # item ids at both ends of Int64
    days = [date(1, 1, 1), date(1969, 12, 31), date(1970, 1, 1), date(9999, 12, 31)]
    rows = [(O1 + i, d, 1, 1, 0) for i, d in enumerate(days)]
    rows += [(O1 + 10 + i, d, 1, 1, 0) for i, d in enumerate(days)]
    m = {O1 + i: hi for i in range(4)} | {O1 + 10 + i: lo for i in range(4)}
    df, _ = transform.video_daily(stats(*rows), vmap(m), cost_unit="fen")
    assert df.select("stat_date", "item_id").rows() == [(d, v) for d in days for v in (lo, hi)]


def test_ratios_with_operands_beyond_int64_are_exact() -> None:
    big_play = 10**15  # play · 10^4 = 1e19 > 2^63: computed in Int128
    s = stats((O1, DAY, 3_000_000_001, big_play, big_play // 3), (O2, DAY, 7, 1, 1))
    df, _ = transform.video_daily(s, vmap({O1: VIDEO, O2: VIDEO2}), cost_unit="fen")
    big, small = df.sort("item_id").rows(named=True)
    assert big["play_per_100_cost"] == half_up(big_play * 10_000, 3_000_000_001)
    assert big["like_rate"] == half_up(big_play // 3, big_play)
    assert big["conversion_cost"] == Decimal("30000000.010000")
    assert small["play_per_100_cost"] == half_up(10_000, 7)
    assert big["total_cost"] == Decimal("30000000.01") and small["total_cost"] == Decimal("0.07")


def test_ratio_equals_exact_ratio() -> None:
    ns = [0, 1, -1, 2, 5, 7, 999_999, 10**12, -(10**12), 4 * 10**12, 3, 1, -5, None, 1]
    ds = [1, 2, 2, 3, 0, -7, 7, 3, 7, 10**18, 6, 2_000_000, 2_000_000, 1, None]
    df = pl.DataFrame({"n": ns, "d": ds}, schema={"n": pl.Int64, "d": pl.Int64})
    fast = df.select(transform._ratio(pl.col("n"), pl.col("d")).alias("r"))
    exact = df.select(ratio(pl.col("n"), pl.col("d")).alias("r"))
    assert fast.schema == exact.schema
    assert fast["r"].to_list() == exact["r"].to_list()
    assert fast["r"].to_list()[:3] == [Decimal(0), Decimal("0.5"), Decimal("-0.5")]


def test_yuan_equals_fen_to_yuan() -> None:
    df = pl.DataFrame({"f": [0, 1, -1, 99, -12345, 10**15, None]}, schema={"f": pl.Int64})
    fast = df.select(transform._yuan(pl.col("f")))
    assert fast.equals(df.select(fen_to_yuan(pl.col("f"))))
    assert fast["f"].to_list()[:3] == [Decimal("0.00"), Decimal("0.01"), Decimal("-0.01")]
