"""DOU+ period totals (today / 7 / 30 days / all time) against a plain-Python Decimal recount."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

import polars as pl
import pytest

from integrations.sources.oceanengine.transforms import douplus_periods as P
from tests.flows.test_transforms_douplus import STATS_SCHEMA, stat, stats, vmap

AS_OF = date(2026, 11, 29)
RANK = "play_duration_5s_rank"
SCHEMA = {**STATS_SCHEMA, RANK: pl.Decimal(20, 6)}
UIDS = ("MS4wLjABAAAA-a", "MS4wLjABAAAA-b", "MS4wLjABAAAA-c")
MICRO = Decimal("0.000001")


def q(n: Decimal | int, d: Decimal | int) -> Decimal | None:
    if d == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(n) / Decimal(d)).quantize(MICRO, rounding=ROUND_HALF_UP)


def totals(sel: list[dict]) -> dict:
    """The period's figures from its order-day rows: sums first, then ratios of the sums."""
    cost = sum((r["cost"] or Decimal(0) for r in sel), Decimal("0.00"))
    plays = sum(r["total_play"] or 0 for r in sel)
    likes = sum(r["custom_like"] or 0 for r in sel)
    shares = sum(r["dy_share"] or 0 for r in sel)
    conv = sum(r["dp_target_convert_cnt"] or 0 for r in sel)
    ranked = [r for r in sel if r.get(RANK) is not None]
    plays_5s = sum((r[RANK] * (r["total_play"] or 0) for r in ranked), Decimal(0))
    return {
        "order_count": len({r["order_id"] for r in sel}),
        "total_cost": cost,
        "total_play": plays,
        "likes": likes,
        "shares": shares,
        "conversions": conv,
        "play_per_100_yuan": q(plays * 100, cost),
        "cost_per_100_play": q(cost * 100, plays),
        "like_rate": q(likes, plays),
        "share_rate": q(shares, plays),
        "conversion_cost": q(cost, conv),
        "play_5s_rate": q(plays_5s, sum(r["total_play"] or 0 for r in ranked)),
    }


def reference(rows: list[dict], pairs: dict[int, int | None], as_of: date):
    videos, accounts = [], []
    for period, days in P.PERIODS.items():
        start = date.min if days is None else as_of - timedelta(days=days - 1)
        sel = [r for r in rows if start <= r["stat_date"] <= as_of]
        by_video, by_acc = defaultdict(list), defaultdict(list)
        for r in sel:
            by_acc[r["aweme_sec_uid"]].append(r)
            if pairs.get(r["order_id"]) is not None:
                by_video[pairs[r["order_id"]]].append(r)
        vrows = [
            {"period": period, "as_of": as_of, "item_id": item,
             "aweme_sec_uid": min(r["aweme_sec_uid"] for r in rs), **totals(rs)}
            for item, rs in by_video.items()
        ]  # fmt: skip
        arows = []
        for uid, rs in by_acc.items():
            vids = {pairs[r["order_id"]] for r in rs if pairs.get(r["order_id"]) is not None}
            arows.append(
                {"period": period, "as_of": as_of, "aweme_sec_uid": uid, **totals(rs),
                 "video_count": len(vids)}
            )  # fmt: skip
        vrows.sort(key=lambda v: (v["aweme_sec_uid"], -v["total_cost"], v["item_id"]))
        for uid in {v["aweme_sec_uid"] for v in vrows}:
            for i, v in enumerate((v for v in vrows if v["aweme_sec_uid"] == uid), 1):
                v["cost_rank"] = i
        arows.sort(key=lambda a: (-a["total_cost"], a["aweme_sec_uid"]))
        for i, a in enumerate(arows, 1):
            a["cost_rank"] = i
        videos += vrows
        accounts += arows
    return videos, accounts


def random_rows(seed: int, n_orders: int = 60) -> tuple[list[dict], dict[int, int | None]]:
    rng = random.Random(seed)
    rows, pairs = [], {}
    for o in range(n_orders):
        order = 2**53 + 1000 + o
        pairs[order] = None if rng.random() < 0.1 else 7_450_000_000_000_000_000 + rng.randrange(15)
        uid = rng.choice(UIDS)
        first = AS_OF - timedelta(days=rng.randrange(-3, 45))  # some days after as_of
        for k in range(rng.randrange(1, 6)):
            play = 0 if rng.random() < 0.1 else rng.randrange(0, 50_000)
            r = stat(
                order,
                None if rng.random() < 0.05 else f"{rng.randrange(0, 90_000) / 100:.2f}",
                play=play,
                like=rng.randrange(0, 500),
                share=rng.randrange(0, 50),
                conv=rng.choice([0, 0, 1, 3]),
                day=first - timedelta(days=k),
                uid=uid,
            )
            r[RANK] = None if rng.random() < 0.2 else Decimal(rng.randrange(0, 1_000_001)) * MICRO
            rows.append(r)
    return rows, pairs


def as_dicts(df: pl.DataFrame) -> list[dict]:
    return df.to_dicts()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_totals_equal_a_plain_decimal_recount(seed: int) -> None:
    rows, pairs = random_rows(seed)
    videos, accounts = P.periods(pl.DataFrame(rows, schema=SCHEMA), vmap(pairs), AS_OF)
    assert videos.schema == pl.Schema(P.VIDEO_PERIOD_SCHEMA)
    assert accounts.schema == pl.Schema(P.ACCOUNT_PERIOD_SCHEMA)
    want_v, want_a = reference(rows, pairs, AS_OF)
    # Same rows in the same order: period (today first), account, cost rank.
    order = {p: i for i, p in enumerate(P.PERIODS)}
    want_v.sort(key=lambda v: (order[v["period"]], v["aweme_sec_uid"], v["cost_rank"]))
    want_a.sort(key=lambda a: (order[a["period"]], a["cost_rank"]))
    assert as_dicts(videos) == [{k: v[k] for k in P.VIDEO_PERIOD_SCHEMA} for v in want_v]
    assert as_dicts(accounts) == [{k: a[k] for k in P.ACCOUNT_PERIOD_SCHEMA} for a in want_a]
    assert set(videos["period"]) == set(P.PERIODS)  # every period has data in these rows


def test_fen_input_gives_the_same_totals() -> None:
    rows, pairs = random_rows(7, n_orders=20)
    df = pl.DataFrame(rows, schema=SCHEMA)
    fen = df.with_columns((pl.col("cost") * 100).cast(pl.Int64))
    got = P.periods(fen, vmap(pairs), AS_OF, cost_unit="fen")
    want = P.periods(df, vmap(pairs), AS_OF)
    assert got[0].equals(want[0]) and got[1].equals(want[1])


V1, V2 = 7_450_123_456_789_012_345, 7_450_123_456_789_012_346
O1, O2, O3 = 2**53 + 1, 2**53 + 2, 2**53 + 3


def _by(df: pl.DataFrame, period: str) -> list[dict]:
    return df.filter(pl.col("period") == period).to_dicts()


def test_zero_plays_and_zero_cost_give_none_ratios_not_errors() -> None:
    s = stats(
        stat(O1, "10.00", play=0, like=0, day=AS_OF),  # cost, no plays
        stat(O2, "0.00", play=500, like=5, day=AS_OF),  # plays, no cost
    )
    videos, accounts = P.periods(s, vmap({O1: V1, O2: V2}), AS_OF)
    v1, v2 = _by(videos, "today")
    assert (v1["item_id"], v1["cost_rank"], v2["item_id"], v2["cost_rank"]) == (V1, 1, V2, 2)
    assert v1["play_per_100_yuan"] == Decimal("0") and v1["cost_per_100_play"] is None
    assert v1["like_rate"] is None and v1["conversion_cost"] is None and v1["play_5s_rate"] is None
    assert v2["play_per_100_yuan"] is None and v2["cost_per_100_play"] == Decimal("0")
    assert v2["like_rate"] == Decimal("0.01")
    (acc,) = _by(accounts, "today")
    assert (acc["order_count"], acc["video_count"], acc["total_cost"]) == (2, 2, Decimal("10.00"))
    assert acc["cost_per_100_play"] == Decimal("2")  # ¥10 for 500 plays: ¥2 per 100


def test_windows_empty_period_days_outside_and_distinct_orders() -> None:
    s = stats(
        stat(O1, "1.00", play=100, day=AS_OF - timedelta(days=1)),  # 7 days, not today
        stat(O1, "2.00", play=100, day=AS_OF - timedelta(days=6)),  # last day of 7
        stat(O1, "4.00", play=100, day=AS_OF - timedelta(days=7)),  # 30 days only
        stat(O1, "8.00", play=100, day=AS_OF - timedelta(days=29)),  # last day of 30
        stat(O1, "16.00", play=100, day=AS_OF - timedelta(days=30)),  # all time only
        stat(O2, "32.00", play=100, day=AS_OF + timedelta(days=1)),  # after as_of: nowhere
    )
    videos, accounts = P.periods(s, vmap({O1: V1, O2: V1}), AS_OF)
    assert _by(videos, "today") == [] and _by(accounts, "today") == []  # no zero rows
    cost = {r["period"]: (r["total_cost"], r["order_count"]) for r in videos.to_dicts()}
    assert cost == {
        "last_7_days": (Decimal("3.00"), 1),  # one order over two days counts once
        "last_30_days": (Decimal("15.00"), 1),
        "all_time": (Decimal("31.00"), 1),
    }
    assert P.period_start("last_7_days", AS_OF) == AS_OF - timedelta(days=6)
    assert P.period_start("all_time", AS_OF) is None
    with pytest.raises(ValueError, match="unknown period 'week'"):
        P.period_start("week", AS_OF)


def test_unmapped_orders_count_for_the_account_not_the_videos() -> None:
    s = stats(stat(O1, "5.00", play=10, day=AS_OF), stat(O3, "7.00", play=10, day=AS_OF))
    videos, accounts = P.periods(s, vmap({O1: V1, O3: None}), AS_OF)
    assert [(v["item_id"], v["total_cost"]) for v in _by(videos, "today")] == [
        (V1, Decimal("5.00"))
    ]
    (acc,) = _by(accounts, "today")
    assert (acc["total_cost"], acc["order_count"], acc["video_count"]) == (Decimal("12.00"), 2, 1)


def test_empty_input_gives_empty_frames_with_the_schema() -> None:
    videos, accounts = P.periods(stats(), vmap({}), AS_OF)
    assert videos.height == 0 and videos.schema == pl.Schema(P.VIDEO_PERIOD_SCHEMA)
    assert accounts.height == 0 and accounts.schema == pl.Schema(P.ACCOUNT_PERIOD_SCHEMA)


def test_bad_input_is_named() -> None:
    dup = stats(stat(O1, "1.00", day=AS_OF), stat(O1, "2.00", day=AS_OF))
    with pytest.raises(ValueError, match="repeat an \\(order_id, stat_date\\) key"):
        P.periods(dup, vmap({O1: V1}), AS_OF)
    with pytest.raises(ValueError, match="map to more than one video"):
        P.periods(
            stats(stat(O1, "1.00")),
            pl.DataFrame({"order_id": [O1, O1], "item_id": [V1, V2]}),
            AS_OF,
        )
    floaty = stats(stat(O1, "1.00")).with_columns(pl.col("cost").cast(pl.Float64))
    with pytest.raises(TypeError, match="cost: money must not be a float"):
        P.periods(floaty, vmap({O1: V1}), AS_OF)
