"""DOU+ period totals: videos and accounts over today / last 7 days / last 30 days / all time.

What DOU+ operators read as rankings: per video (and per 抖音号) the sums over a period of the
order-day stats (``douplus_order_daily``; videos through ``douplus_orders``' order → item map),
ranked by cost, highest first. Pure polars; the DB/Bitable projection is elsewhere.

Periods end at ``as_of`` (a China date, normally today), inclusive: ``today`` = [as_of],
``last_7_days`` = [as_of − 6, as_of], ``last_30_days`` = [as_of − 29, as_of], ``all_time`` =
every row up to as_of. Rows dated after ``as_of`` are in no period. An entity appears in a period
only when it has order-day rows in it (no zero rows for videos without delivery that day).

Per period and video / account:

- order_count = distinct orders with rows in the period (an order spanning days counts once);
  accounts also get video_count (distinct videos of their mapped orders);
- total_cost (yuan, exact), total_play, likes, shares, conversions = sums (None counts as 0);
- ratios from the sums only, half-up to 6 places, None when the denominator is 0:
  play_per_100_yuan = plays per ¥100 of cost (百播放 as "plays you get for ¥100"),
  cost_per_100_play = yuan per 100 plays (百播放 as "what 100 plays cost"),
  like_rate = likes / plays, share_rate = shares / plays, conversion_cost = cost / conversions,
  play_5s_rate = Σ(5-second completion rate × plays) / Σ plays over the order-days that have a
  rate — weighted by plays, never an average of ratios;
- cost_rank: 1 = highest cost; videos ranked within (period, account), accounts within the
  period; ties broken by the smaller id, so the order is deterministic.

Video totals leave out order stats whose order has no video in the map (the daily video
aggregate reports them); account totals include every order of the account.

How it stays cheap: the periods nest, so each row gets its most recent period ("bucket": 0 today,
1 the rest of 7 days, 2 the rest of 30, 3 older) and the big frame is grouped once per (order,
bucket); a period's total is then the sum over buckets ≤ period on the small grouped frame. An
order's distinct count comes from the most recent bucket it has rows in. Sums are Int64 fen /
counts; Decimal appears only in the final select (see ``bench/douplus_aggregate.py``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import polars as pl

from integrations.exact import MONEY, RATIO, RATIO_SCALE, money_to_fen
from integrations.sources.oceanengine.transforms.douplus import (
    _METRICS,
    ORDER_STATS_COLUMNS,
    _check_columns,
    _key_hash,
    _rank_weights,
    _ratio,
    _repeated_keys,
    _require_integer,
    _yuan,
)

__all__ = [
    "ACCOUNT_PERIOD_SCHEMA",
    "PERIODS",
    "VIDEO_PERIOD_SCHEMA",
    "period_start",
    "periods",
]

# Period name → days back from as_of it covers (None: all time). Order = bucket index.
PERIODS: dict[str, int | None] = {
    "today": 1,
    "last_7_days": 7,
    "last_30_days": 30,
    "all_time": None,
}
_NAMES = list(PERIODS)

_SUMS = ("total_play", "likes", "shares", "conversions")
_RATIOS: dict[str, pl.DataType] = {
    "play_per_100_yuan": RATIO,
    "cost_per_100_play": RATIO,
    "like_rate": RATIO,
    "share_rate": RATIO,
    "conversion_cost": RATIO,
    "play_5s_rate": RATIO,
}
_TOTALS: dict[str, pl.DataType] = {
    "total_cost": MONEY,
    **{c: pl.Int64() for c in _SUMS},
    **_RATIOS,
}

VIDEO_PERIOD_SCHEMA: dict[str, pl.DataType] = {
    "period": pl.String(),
    "as_of": pl.Date(),
    "item_id": pl.Int64(),
    "aweme_sec_uid": pl.String(),
    "cost_rank": pl.Int64(),
    "order_count": pl.Int64(),
    **_TOTALS,
}
ACCOUNT_PERIOD_SCHEMA: dict[str, pl.DataType] = {
    "period": pl.String(),
    "as_of": pl.Date(),
    "aweme_sec_uid": pl.String(),
    "cost_rank": pl.Int64(),
    "order_count": pl.Int64(),
    "video_count": pl.Int64(),
    **_TOTALS,
}

Frame = pl.DataFrame | pl.LazyFrame
Engine = Literal["auto", "in-memory", "streaming"]
_PARTS = ("cost_fen", *_SUMS, "plays_5s_micro", "plays_ranked")


def period_start(period: str, as_of: date) -> date | None:
    """First day of ``period`` ending at ``as_of`` (None: all time)."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}: one of {', '.join(PERIODS)}")
    days = PERIODS[period]
    return None if days is None else as_of - timedelta(days=days - 1)


def _bucket(as_of: date) -> pl.Expr:
    """Index of the most recent period holding the row's day; null after ``as_of``."""
    d = pl.col("stat_date")
    expr = pl.when(d > as_of).then(None)
    for i, name in enumerate(_NAMES[:-1]):
        expr = expr.when(d >= period_start(name, as_of)).then(pl.lit(i, pl.Int8))
    return expr.otherwise(pl.lit(len(_NAMES) - 1, pl.Int8))


def _cumulate(
    lf: pl.LazyFrame, keys: list[str], cols: list[str], mins: tuple[str, ...] = ()
) -> pl.LazyFrame:
    """Per-bucket sums (and minima) → per period: period p holds buckets 0..p (they nest)."""
    grid = pl.LazyFrame({"p": list(range(len(_NAMES)))}, schema={"p": pl.Int8})
    return (
        lf.join(grid, how="cross")
        .filter(pl.col("bucket") <= pl.col("p"))
        .group_by(*keys, "p")
        .agg(*(pl.col(c).sum() for c in cols), *(pl.col(c).min() for c in mins))
    )


def _totals() -> list[pl.Expr]:
    cost, plays = pl.col("cost_fen"), pl.col("total_play")
    return [
        _yuan(cost).alias("total_cost"),
        *(pl.col(c) for c in _SUMS),
        # plays per ¥100 = plays / (fen / 10_000); yuan per 100 plays = fen / plays
        _ratio(plays.cast(pl.Int128) * 10_000, cost).alias("play_per_100_yuan"),
        _ratio(cost, plays).alias("cost_per_100_play"),
        _ratio(pl.col("likes"), plays).alias("like_rate"),
        _ratio(pl.col("shares"), plays).alias("share_rate"),
        _ratio(cost, pl.col("conversions").cast(pl.Int128) * 100).alias("conversion_cost"),
        _ratio(
            pl.col("plays_5s_micro"), pl.col("plays_ranked").cast(pl.Int128) * 10**RATIO_SCALE
        ).alias("play_5s_rate"),
    ]


def _finish(df: pl.DataFrame, as_of: date, group: list[str], tie: str) -> pl.DataFrame:
    """Name the period, rank by cost within (period, *group), sort, Decimal at the end."""
    df = df.with_columns(pl.col("aweme_sec_uid").cast(pl.String))  # sorts as text from here
    ranked = df.sort(
        "p", *group, "cost_fen", tie, descending=[False] * (1 + len(group)) + [True, False]
    )
    ranked = ranked.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("p", *group).alias("cost_rank")
    )
    return ranked.with_columns(
        pl.lit(pl.Series(_NAMES)).gather(pl.col("p")).alias("period"),
        pl.lit(as_of).alias("as_of"),
    )


def periods(
    order_stats: Frame,
    order_video: Frame,
    as_of: date,
    *,
    cost_unit: Literal["yuan", "fen"] = "yuan",
    engine: Engine = "streaming",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(video totals, account totals) per period ending at ``as_of``: columns
    :data:`VIDEO_PERIOD_SCHEMA` / :data:`ACCOUNT_PERIOD_SCHEMA`, sorted by period (today first),
    account, then rank. Inputs as for ``douplus.video_daily``: order stats unique on (order_id,
    stat_date) (a repeated key is a ValueError), ``cost`` Decimal yuan or integer fen; the map
    order_id → item_id (one video per order)."""
    stats = order_stats.lazy()
    schema = stats.collect_schema()
    _check_columns(schema, ORDER_STATS_COLUMNS, "order stats")
    _require_integer(schema, "order_id", "order stats")
    for col in _METRICS.values():
        _require_integer(schema, col, "order stats")
    if schema["stat_date"] != pl.Date:
        raise TypeError(f"order stats column 'stat_date' must be Date, got {schema['stat_date']}")
    if not isinstance(schema["aweme_sec_uid"], pl.String | pl.Categorical | pl.Enum):
        raise TypeError(
            f"order stats column 'aweme_sec_uid' must be text, got {schema['aweme_sec_uid']}"
        )
    vmap = order_video.lazy()
    vschema = vmap.collect_schema()
    _check_columns(vschema, ("order_id", "item_id"), "order → video map")
    for c in ("order_id", "item_id"):
        _require_integer(vschema, c, "order → video map")

    rank_cols = _rank_weights(schema)

    rows = stats.select(
        pl.col("order_id").cast(pl.Int64),
        pl.col("stat_date"),
        pl.col("aweme_sec_uid"),  # String, Categorical or Enum; String in the output
        money_to_fen(schema, "cost", cost_unit).fill_null(0).alias("cost_fen"),
        *(pl.col(src).cast(pl.Int64).fill_null(0).alias(out) for out, src in _METRICS.items()),
        *rank_cols,
    )
    # The one pass over the big frame: (order, bucket) sums, and the key check.
    by_order = (
        rows.with_columns(_bucket(as_of).alias("bucket"))
        .filter(pl.col("bucket").is_not_null())
        .group_by("order_id", "bucket")
        .agg(pl.col("aweme_sec_uid").min(), *(pl.col(c).sum() for c in _PARTS))
    )
    keys = rows.select(pl.len().alias("rows"), _key_hash().n_unique().alias("distinct_hashes"))
    order_df, keys_df = pl.collect_all([by_order, keys], engine=engine)
    n, distinct = keys_df.row(0)
    if distinct != n:
        repeated = _repeated_keys(rows)
        if repeated.height:
            first = repeated.row(0, named=True)
            raise ValueError(
                "order stats repeat an (order_id, stat_date) key, which would double count: "
                f"{repeated.height} key(s), e.g. order {first['order_id']} on {first['stat_date']}"
            )
    if order_df["aweme_sec_uid"].null_count():
        raise ValueError("order stats have rows without aweme_sec_uid")

    pairs = vmap.select(pl.col("order_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
    pairs = pairs.drop_nulls().unique().collect()
    conflicts = pairs.filter(pl.col("order_id").is_duplicated())
    if conflicts.height:
        ids = conflicts["order_id"].unique().sort()
        raise ValueError(
            f"{ids.len()} order(s) map to more than one video, cannot attribute their "
            f"cost: {ids.head(10).to_list()}"
        )

    small = order_df.lazy()
    # An order (an account's purchase) belongs to one 抖音号: the smallest if the rows disagree.
    order_acc = small.group_by("order_id").agg(
        pl.col("aweme_sec_uid").min(), pl.col("bucket").min()
    )
    mapped = small.join(pairs.lazy(), on="order_id", how="inner")

    # The video's account, as in the daily video aggregate: the smallest account among its
    # orders in the period (normally there is one).
    v_sums = _cumulate(
        mapped.group_by("item_id", "bucket").agg(
            pl.col("aweme_sec_uid").min(), *(pl.col(c).sum() for c in _PARTS)
        ),
        ["item_id"],
        list(_PARTS),
        mins=("aweme_sec_uid",),
    )
    v_orders = _cumulate(
        order_acc.join(pairs.lazy(), on="order_id")
        .group_by("item_id", "bucket")
        .agg(pl.len().cast(pl.Int64).alias("order_count")),
        ["item_id"],
        ["order_count"],
    )
    a_sums = _cumulate(
        small.group_by("aweme_sec_uid", "bucket").agg(pl.col(c).sum() for c in _PARTS),
        ["aweme_sec_uid"],
        list(_PARTS),
    )
    a_orders = _cumulate(
        order_acc.group_by("aweme_sec_uid", "bucket").agg(
            pl.len().cast(pl.Int64).alias("order_count")
        ),
        ["aweme_sec_uid"],
        ["order_count"],
    )
    # A video counts for an account in a period when one of its orders has rows in it.
    a_videos = _cumulate(
        mapped.group_by("aweme_sec_uid", "item_id")
        .agg(pl.col("bucket").min())
        .group_by("aweme_sec_uid", "bucket")
        .agg(pl.len().cast(pl.Int64).alias("video_count")),
        ["aweme_sec_uid"],
        ["video_count"],
    )
    videos = v_sums.join(v_orders, on=["item_id", "p"])
    accounts = a_sums.join(a_orders, on=["aweme_sec_uid", "p"]).join(
        a_videos, on=["aweme_sec_uid", "p"], how="left"
    )
    video_df, account_df = pl.collect_all([videos, accounts], engine="in-memory")

    video_out = _finish(video_df, as_of, ["aweme_sec_uid"], "item_id").select(
        "period",
        "as_of",
        "item_id",
        "aweme_sec_uid",
        "cost_rank",
        "order_count",
        *_totals(),
    )
    account_out = _finish(account_df, as_of, [], "aweme_sec_uid").select(
        "period",
        "as_of",
        "aweme_sec_uid",
        "cost_rank",
        "order_count",
        pl.col("video_count").fill_null(0),
        *_totals(),
    )
    return (
        video_out.cast(VIDEO_PERIOD_SCHEMA),  # type: ignore[arg-type]
        account_out.cast(ACCOUNT_PERIOD_SCHEMA),  # type: ignore[arg-type]
    )
