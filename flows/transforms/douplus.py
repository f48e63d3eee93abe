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
  conversion_cost = total_cost / conversions (yuan);
- aweme_sec_uid = the smallest of the day's orders' accounts (normally there is one: the
  account that bought the orders; the minimum makes the choice deterministic otherwise) —
  lexical for String/Categorical input, category order for an Enum (pass sorted categories).

Money is summed as Int64 fen, exactly. Stats whose order has no video in the map are not
dropped silently: they are returned as :class:`UnmappedStats` for the run summary.

The work is one lazy polars plan (map and stats joined, grouped, both outputs collected together),
so it runs on the streaming engine for inputs larger than memory comfortably holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import polars as pl

from flows.transforms.exact import MONEY, RATIO, fen_to_yuan, money_to_fen, ratio, to_rows

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

# tables.douplus_video_daily minus updated_at, in table order.
VIDEO_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.Int64(),
    "stat_date": pl.Date(),
    "aweme_sec_uid": pl.String(),
    "order_count": pl.Int64(),
    "total_cost": MONEY,
    "total_play": pl.Int64(),
    "likes": pl.Int64(),
    "shares": pl.Int64(),
    "conversions": pl.Int64(),
    "play_per_100_cost": RATIO,
    "like_rate": RATIO,
    "share_rate": RATIO,
    "conversion_cost": RATIO,
}


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


def _order_map(order_video: Frame) -> pl.LazyFrame:
    """The map as (order_id, item_id), unique per order; orders without a video are left out
    (their stats become "unmapped"). An order mapped to two different videos is an error."""
    lf = order_video.lazy()
    schema = lf.collect_schema()
    _check_columns(schema, ("order_id", "item_id"), "order → video map")
    for c in ("order_id", "item_id"):
        _require_integer(schema, c, "order → video map")
    per_order = (
        lf.select(pl.col("order_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
        .drop_nulls()
        .group_by("order_id")
        .agg(pl.col("item_id").first(), pl.col("item_id").n_unique().alias("videos"))
        .collect()
    )
    conflicts = per_order.filter(pl.col("videos") > 1)
    if conflicts.height:
        ids = conflicts["order_id"].sort().head(10).to_list()
        raise ValueError(
            f"{conflicts.height} order(s) map to more than one video, cannot attribute their "
            f"cost: {ids}"
        )
    return per_order.lazy().select("order_id", "item_id")


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
    a repeated key would double count and is a ValueError. ``cost`` is Decimal yuan (the DB's
    Money) by default, or integer fen with ``cost_unit="fen"``; floats are refused.
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

    joined = stats.select(
        pl.col("order_id").cast(pl.Int64),
        pl.col("stat_date"),
        pl.col("aweme_sec_uid"),  # String, Categorical or Enum; String in the output
        money_to_fen(schema, "cost", cost_unit).fill_null(0).alias("cost_fen"),
        *(pl.col(src).cast(pl.Int64).fill_null(0).alias(out) for out, src in _METRICS.items()),
    ).join(_order_map(order_video), on="order_id", how="left")

    mapped = pl.col("item_id").is_not_null()
    videos = (
        joined.filter(mapped)
        .group_by("item_id", "stat_date")
        .agg(
            pl.col("aweme_sec_uid").min(),
            pl.col("order_id").n_unique().cast(pl.Int64).alias("order_count"),
            pl.len().cast(pl.Int64).alias("stat_rows"),
            pl.col("cost_fen").sum(),
            *(pl.col(c).sum() for c in _METRICS),
        )
        .with_columns(
            fen_to_yuan(pl.col("cost_fen")).alias("total_cost"),
            # plays per 100 yuan = plays / (fen / 100 / 100)
            ratio(pl.col("total_play") * 10_000, pl.col("cost_fen")).alias("play_per_100_cost"),
            ratio(pl.col("likes"), pl.col("total_play")).alias("like_rate"),
            ratio(pl.col("shares"), pl.col("total_play")).alias("share_rate"),
            ratio(pl.col("cost_fen"), pl.col("conversions") * 100).alias("conversion_cost"),
        )
    )
    unmapped = joined.filter(~mapped).select(
        pl.len().alias("count"),
        pl.col("order_id").n_unique().alias("orders"),
        pl.col("cost_fen").sum().alias("cost_fen"),
        pl.col("order_id").unique().sort().head(sample_size).implode().alias("sample"),
    )
    video_df, unmapped_df = pl.collect_all([videos, unmapped], engine=engine)

    repeated = video_df.filter(pl.col("stat_rows") != pl.col("order_count"))
    if repeated.height:
        first = repeated.sort("stat_date", "item_id").row(0, named=True)
        raise ValueError(
            "order stats repeat an (order_id, stat_date) key, which would double count: "
            f"{repeated.height} video-day(s), e.g. item {first['item_id']} on {first['stat_date']}"
        )
    if video_df["aweme_sec_uid"].null_count():
        raise ValueError("order stats have rows without aweme_sec_uid")

    out = video_df.select(
        pl.col(name).cast(dtype) for name, dtype in VIDEO_DAILY_SCHEMA.items()
    ).sort("stat_date", "item_id")
    u = unmapped_df.row(0, named=True)
    report = UnmappedStats(
        count=int(u["count"]),
        orders=int(u["orders"]),
        cost=(Decimal(int(u["cost_fen"] or 0)) / 100).quantize(Decimal("0.01")),
        order_ids_sample=tuple(int(i) for i in (u["sample"] or [])),
    )
    return out, report
