"""DOU+: the per-video daily aggregate (the video ranking) from order daily stats.

Order-level screens use the order stats themselves; only the video ranking sums orders, here.

``video_daily`` joins order daily stats (grain: order_id, stat_date — ``douplus_order_daily``)
to the order → video map (order_id → item_id, from ``douplus_orders``) and, per
(item_id, stat_date), computes:

- order_count = distinct orders; total_cost (yuan), total_play, likes (custom_like),
  shares (dy_share), conversions (dp_target_convert_cnt) = sums, a None metric counting as 0;
- ratios from those sums, rounded half-up to 6 places, None when the denominator is 0:
  play_per_100_cost = total_play / (total_cost / 100) (plays per 100 yuan),
  like_rate = likes / total_play, share_rate = shares / total_play,
  conversion_cost = total_cost / conversions (yuan),
  play_5s_rate = Σ(play_duration_5s_rank × total_play) / Σ total_play over the orders that have
  a rank (the 5-second completions summed, then divided: weighted by plays, never an average of
  the orders' ratios); the rank column is optional (absent → None);
- aweme_sec_uid = the smallest of the day's orders' accounts (normally there is one: the
  account that bought the orders; the minimum makes the choice deterministic otherwise) —
  lexical for String/Categorical input, category order for an Enum (pass sorted categories).

Money is summed as Int64 fen, exactly. Stats whose order has no video in the map are not
dropped silently: they are returned as :class:`UnmappedStats` for the run summary.

The work is one lazy polars plan (stats joined to the small, eagerly checked map; the video
groups, the unmapped report and the key check collected together), so it runs on the streaming
engine for inputs larger than memory comfortably holds. Everything in it is integer (Int64 sums
on one packed Int64 group key, Int128 ratio arithmetic); Decimal appears only in the last select
over the grouped rows. See ``bench/douplus_aggregate.py`` for the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import polars as pl

from integrations.exact import (
    CENT,
    MONEY,
    MONEY_SCALE,
    RATIO,
    RATIO_SCALE,
    money_to_fen,
    to_rows,
)
from integrations.sources.oceanengine.datasets import douplus_video_daily

__all__ = [
    "ORDER_STATS_COLUMNS",
    "VIDEO_DAILY_SCHEMA",
    "UnmappedStats",
    "to_rows",
    "video_daily",
]

Frame = pl.DataFrame | pl.LazyFrame
Engine = Literal["auto", "in-memory", "streaming"]

# The order-stats columns the aggregate reads (others, e.g. dy_comment, are ignored).
ORDER_STATS_COLUMNS = (
    "order_id",
    "stat_date",
    "aweme_sec_uid",
    "cost",
    "total_play",
    "custom_like",
    "dy_share",
    "dp_target_convert_cnt",
)
_METRICS = {  # output name ← order-stats column
    "total_play": "total_play",
    "likes": "custom_like",
    "shares": "dy_share",
    "conversions": "dp_target_convert_cnt",
}

# The aggregate's schema: the declared table minus updated_at, in table order.
VIDEO_DAILY_SCHEMA: dict[str, pl.DataType] = douplus_video_daily.polars_schema

RANK = "play_duration_5s_rank"  # optional order-stats column, Decimal 0..1 at scale 6


@dataclass(frozen=True, slots=True)
class UnmappedStats:
    """Order stats left out of the video aggregate because their order has no known video."""

    count: int = 0  # stat rows
    orders: int = 0  # distinct orders
    cost: Decimal = Decimal("0.00")  # yuan, exact
    order_ids_sample: tuple[int, ...] = ()  # the smallest few order ids, for a log line

    def __bool__(self) -> bool:
        return self.count > 0

    def describe(self) -> str:
        if not self:
            return "every order stat has a video"
        more = ", …" if self.orders > len(self.order_ids_sample) else ""
        ids = ", ".join(str(i) for i in self.order_ids_sample)
        return (
            f"{self.count} order stat row(s) of {self.orders} order(s) without a known video "
            f"(cost {self.cost} yuan) left out of the video ranking: orders {ids}{more}"
        )


def _require_integer(schema: pl.Schema, column: str, what: str) -> None:
    dtype = schema[column]
    if not (dtype.is_integer() or dtype == pl.Null):
        # a float id has already lost digits above 2^53; a float count is a parsing bug
        raise TypeError(f"{what} column {column!r} must be an integer type, got {dtype}")


def _check_columns(schema: pl.Schema, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in schema]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}")


def _order_map(order_video: Frame) -> tuple[pl.DataFrame, pl.Series]:
    """The map as (order_id, video): one row per order with a video, ``video`` the dense index
    of its item_id in ``items`` (the sorted distinct item ids, returned too). Orders without a
    video are left out (their stats become "unmapped"). An order mapped to two different videos
    is an error. The map is small (one row per order), so this is cheap and done eagerly."""
    lf = order_video.lazy()
    schema = lf.collect_schema()
    _check_columns(schema, ("order_id", "item_id"), "order → video map")
    for c in ("order_id", "item_id"):
        _require_integer(schema, c, "order → video map")
    pairs = (
        lf.select(pl.col("order_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
        .drop_nulls()
        .unique()
        .collect()
    )
    conflicts = pairs.filter(pl.col("order_id").is_duplicated())
    if conflicts.height:
        ids = conflicts["order_id"].unique().sort()
        raise ValueError(
            f"{ids.len()} order(s) map to more than one video, cannot attribute their "
            f"cost: {ids.head(10).to_list()}"
        )
    items = pairs["item_id"].unique().sort()
    if items.len() > _VIDEO_MASK:
        raise ValueError(f"{items.len()} videos in the order → video map: more than 2^31")
    order_map = pairs.select(
        "order_id", (pl.col("item_id").rank("dense").cast(pl.Int64) - 1).alias("video")
    )
    return order_map, items


# The group key packs (stat_date, video index) into one Int64 — grouping on one integer is much
# cheaper than on two columns with ~3M groups — and sorts as (stat_date, item_id), because the
# video index is the rank of item_id. Exact: the day (Int32, offset by 2^31) takes bits 31..62,
# the index (< 2^31, checked) bits 0..30.
_DAY_OFFSET = 2**31
_VIDEO_BITS = 31
_VIDEO_MASK = 2**_VIDEO_BITS - 1

_MILLIONTH = Decimal(1).scaleb(-RATIO_SCALE)


def _rank_weights(schema: pl.Schema) -> list[pl.Expr]:
    """The 5-second completion rate's weights per order-day: ``plays_5s_micro`` (the rate in
    integer millionths — exact, the DB keeps 6 places — times the day's plays) and
    ``plays_ranked`` (the plays of days that have a rate); both 0 without the column."""
    if RANK not in schema:
        return [pl.lit(0, pl.Int64).alias(c) for c in ("plays_5s_micro", "plays_ranked")]
    if not isinstance(schema[RANK], pl.Decimal | pl.Null):
        raise TypeError(f"order stats column {RANK!r} must be Decimal, got {schema[RANK]}")
    micro = (pl.col(RANK).cast(pl.Decimal(38, RATIO_SCALE)) * 10**RATIO_SCALE).cast(pl.Int64)
    plays = pl.col("total_play").cast(pl.Int64)
    return [
        (micro * plays).fill_null(0).alias("plays_5s_micro"),
        pl.when(micro.is_not_null()).then(plays).fill_null(0).alias("plays_ranked"),
    ]


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """The values of ``exact.ratio`` (half-up to 6 places on Int128 integers, None for a 0
    denominator, Decimal(20, 6)), with the integer result turned into a Decimal by one exact
    multiplication by 10^-6 instead of a Decimal division, which costs about twice as much."""
    n = numerator.cast(pl.Int128)
    d = denominator.cast(pl.Int128)
    d = pl.when(d != 0).then(d)
    q = (n.abs() * (2 * 10**RATIO_SCALE) + d.abs()) // (d.abs() * 2) * (n.sign() * d.sign())
    millionth = pl.lit(_MILLIONTH, dtype=pl.Decimal(38, RATIO_SCALE))
    return (q.cast(pl.Decimal(38, 0)) * millionth).cast(RATIO)


def _yuan(fen: pl.Expr) -> pl.Expr:
    """Int64 fen → Decimal(18, 2) yuan, exactly (same values as ``exact.fen_to_yuan``)."""
    return (fen.cast(pl.Decimal(38, 0)) * pl.lit(CENT, dtype=pl.Decimal(38, MONEY_SCALE))).cast(
        MONEY
    )


def _key_hash() -> pl.Expr:
    """A 64-bit hash of the (order_id, stat_date) key: distinct hashes prove distinct keys."""
    return pl.struct("order_id", "stat_date").hash()


def _repeated_keys(stats: pl.LazyFrame) -> pl.DataFrame:
    """The (order_id, stat_date) keys occurring more than once — the exact check, run only when
    the cheap hash check in :func:`video_daily` says there may be one."""
    return (
        stats.group_by("order_id", "stat_date")
        .agg(pl.len())
        .filter(pl.col("len") > 1)
        .sort("stat_date", "order_id")
        .collect()
    )


def video_daily(
    order_stats: Frame,
    order_video: Frame,
    *,
    cost_unit: Literal["yuan", "fen"] = "yuan",
    sample_size: int = 20,
    engine: Engine = "streaming",
) -> tuple[pl.DataFrame, UnmappedStats]:
    """Per (item_id, stat_date) video aggregate, columns :data:`VIDEO_DAILY_SCHEMA`
    (``tables.douplus_video_daily`` minus ``updated_at``), sorted by date then item; plus what
    could not be attributed to a video.

    ``order_stats`` must be unique on (order_id, stat_date) — the ``douplus_order_daily`` key;
    a repeated key (mapped to a video or not) would double count and is a ValueError. ``cost``
    is Decimal yuan (the DB's Money) by default, or integer fen with ``cost_unit="fen"``; floats
    are refused.

    How it stays cheap (10M stat rows → ~3M video-days): the key is checked unique once, by the
    number of distinct hashes of (order_id, stat_date) (a hash collision only triggers the exact
    check); given a unique key and one video per order, a video-day's distinct orders are its
    rows, so ``order_count`` is a row count, not a distinct count. Grouping is on one packed
    Int64 key, which also gives the output order. All sums are Int64; Decimal only at the end.
    """
    stats = order_stats.lazy()
    schema = stats.collect_schema()
    _check_columns(schema, ORDER_STATS_COLUMNS, "order stats")
    _require_integer(schema, "order_id", "order stats")
    for col in _METRICS.values():
        _require_integer(schema, col, "order stats")
    if not isinstance(schema["aweme_sec_uid"], pl.String | pl.Categorical | pl.Enum):
        raise TypeError(
            f"order stats column 'aweme_sec_uid' must be text, got {schema['aweme_sec_uid']}"
        )
    if schema["stat_date"] != pl.Date:
        raise TypeError(f"order stats column 'stat_date' must be Date, got {schema['stat_date']}")

    rank_cols = _rank_weights(schema)

    order_map, items = _order_map(order_video)
    stats = stats.select(
        pl.col("order_id").cast(pl.Int64),
        pl.col("stat_date"),
        pl.col("aweme_sec_uid"),  # String, Categorical or Enum; String in the output
        money_to_fen(schema, "cost", cost_unit).fill_null(0).alias("cost_fen"),
        *(pl.col(src).cast(pl.Int64).fill_null(0).alias(out) for out, src in _METRICS.items()),
        *rank_cols,
    )
    joined = stats.join(order_map.lazy(), on="order_id", how="left")

    mapped = pl.col("video").is_not_null()
    key = (
        pl.col("stat_date").to_physical().cast(pl.Int64) + _DAY_OFFSET
    ) * 2**_VIDEO_BITS + pl.col("video")
    videos = (
        joined.filter(mapped)
        .group_by(key.alias("key"))
        .agg(
            pl.col("aweme_sec_uid").min(),
            pl.len().cast(pl.Int64).alias("order_count"),  # = distinct orders, the key is unique
            pl.col("cost_fen").sum(),
            *(pl.col(c).sum() for c in _METRICS),
            pl.col("plays_5s_micro").sum(),
            pl.col("plays_ranked").sum(),
        )
    )
    unmapped = joined.filter(~mapped).select(
        pl.len().alias("count"),
        pl.col("order_id").n_unique().alias("orders"),
        pl.col("cost_fen").sum().alias("cost_fen"),
        pl.col("order_id").unique().sort().head(sample_size).implode().alias("sample"),
    )
    keys = stats.select(
        pl.len().alias("rows"),
        _key_hash().n_unique().alias("distinct_hashes"),
    )
    video_df, unmapped_df, keys_df = pl.collect_all([videos, unmapped, keys], engine=engine)

    rows, distinct_hashes = keys_df.row(0)
    if distinct_hashes != rows:  # a repeated key, or (rarely) two keys with one hash
        repeated = _repeated_keys(stats)
        if repeated.height:
            first = repeated.row(0, named=True)
            raise ValueError(
                "order stats repeat an (order_id, stat_date) key, which would double count: "
                f"{repeated.height} key(s), e.g. order {first['order_id']} on {first['stat_date']}"
            )
    if video_df["aweme_sec_uid"].null_count():
        raise ValueError("order stats have rows without aweme_sec_uid")

    video_df = video_df.sort("key")  # = (stat_date, item_id)
    out = video_df.select(
        pl.lit(items).gather(pl.col("key") & _VIDEO_MASK).alias("item_id"),
        ((pl.col("key") // 2**_VIDEO_BITS) - _DAY_OFFSET)
        .cast(pl.Int32)
        .cast(pl.Date)
        .alias("stat_date"),
        pl.col("aweme_sec_uid").cast(pl.String),
        "order_count",
        _yuan(pl.col("cost_fen")).alias("total_cost"),
        *_METRICS,
        # plays per 100 yuan = plays / (fen / 100 / 100)
        _ratio(pl.col("total_play").cast(pl.Int128) * 10_000, pl.col("cost_fen")).alias(
            "play_per_100_cost"
        ),
        _ratio(pl.col("likes"), pl.col("total_play")).alias("like_rate"),
        _ratio(pl.col("shares"), pl.col("total_play")).alias("share_rate"),
        _ratio(pl.col("cost_fen"), pl.col("conversions").cast(pl.Int128) * 100).alias(
            "conversion_cost"
        ),
        _ratio(
            pl.col("plays_5s_micro"), pl.col("plays_ranked").cast(pl.Int128) * 10**RATIO_SCALE
        ).alias("play_5s_rate"),
    )
    u = unmapped_df.row(0, named=True)
    report = UnmappedStats(
        count=int(u["count"]),
        orders=int(u["orders"]),
        cost=(Decimal(int(u["cost_fen"] or 0)) / 100).quantize(CENT),
        order_ids_sample=tuple(int(i) for i in (u["sample"] or [])),
    )
    return out, report
