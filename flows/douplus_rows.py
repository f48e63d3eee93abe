"""DOU+ rows between the API, the DB and Bitable: pure functions (no I/O, no Prefect).

- :func:`latest_by_key`: API rows deduplicated on their table key (the later read wins), so
  one upsert batch never carries a key twice.
- :func:`stats_frame` / :func:`order_video_frame`: DB rows → typed polars frames, the inputs of
  :func:`integrations.sources.oceanengine.transforms.douplus.video_daily` (the video ranking).
- :func:`order_list_rows`: the Bitable order list — each order with its *own* numbers (its stats
  summed over its days, never over other orders) and the latest day they cover. Summing the
  orders of a video happens in the video ranking only (ARCHITECTURE.md, "Datasets and keys":
  never mix them).

Money stays exact: Decimal yuan in, summed as integer fen, Decimal(18, 2) yuan out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl

from integrations.exact import MONEY, fen_to_yuan, quantize_money, to_rows
from integrations.sources.oceanengine.datasets import douplus_order_daily, douplus_orders

__all__ = [
    "ORDER_KEY",
    "ORDER_LIST_SCHEMA",
    "ORDER_SCHEMA",
    "ORDER_STATS_KEY",
    "ORDER_STATS_SCHEMA",
    "STAT_COUNTS",
    "latest_by_key",
    "money_unit_mismatch",
    "order_list_rows",
    "order_video_frame",
    "stats_frame",
]

# A window's spend of one order can reach its budget (renewals aside), never dozens of times
# it: past this factor the budget and the spend cannot be in the same unit (fen vs yuan: 100×).
UNIT_MISMATCH_FACTOR = 20


def money_unit_mismatch(
    orders: Iterable[Mapping[str, Any]], stats: Iterable[Mapping[str, Any]]
) -> str | None:
    """One line naming ADSYNC_DOUPLUS_MONEY_UNIT when an order's summed ``cost`` is ~100× its
    ``budget`` (both already converted with the setting), else None."""
    budgets = {o["order_id"]: o.get("budget") for o in orders}
    spent: dict[int, Decimal] = {}
    for r in stats:
        if r.get("cost") is not None:
            spent[r["order_id"]] = spent.get(r["order_id"], Decimal(0)) + r["cost"]
    for oid in sorted(spent):
        budget = budgets.get(oid)
        if budget and budget > 0 and spent[oid] > budget * UNIT_MISMATCH_FACTOR:
            return (
                f"ADSYNC_DOUPLUS_MONEY_UNIT: DOU+ order {oid} spent {spent[oid]} against a "
                f"budget of {budget} (~{spent[oid] / budget:.0f}×): stat_cost and budget are not "
                "in the same unit (fen vs yuan); check the setting against one real order"
            )
    return None


ORDER_KEY = douplus_orders.key
ORDER_STATS_KEY = douplus_order_daily.key

# The frames' schemas: the declared tables minus updated_at, in table order.
ORDER_SCHEMA: dict[str, pl.DataType] = douplus_orders.polars_schema

STAT_COUNTS = (
    "total_play",
    "custom_like",
    "dy_comment",
    "dy_share",
    "dy_follow",
    "dp_target_convert_cnt",
)

ORDER_STATS_SCHEMA: dict[str, pl.DataType] = douplus_order_daily.polars_schema

# The Bitable order list: the order's columns, then its own totals and their last date.
ORDER_LIST_SCHEMA: dict[str, pl.DataType] = {
    **ORDER_SCHEMA,
    "cost": MONEY,
    **{c: pl.Int64() for c in STAT_COUNTS},
    "last_stat_date": pl.Date(),
}

_ID_COLUMNS = ("order_id", "task_id", "item_id")


def latest_by_key(rows: Iterable[Mapping[str, Any]], key: Sequence[str]) -> list[dict[str, Any]]:
    """Rows unique on ``key``, first-seen order, the last row of a key winning (a row read again
    on a later page or request is the fresher one). A row missing a key column is a ValueError."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for i, row in enumerate(rows):
        k = tuple(row.get(c) for c in key)
        if any(v is None for v in k):
            raise ValueError(f"row {i}: key {dict(zip(key, k, strict=True))} has a null part")
        out[k] = dict(row)
    return list(out.values())


def _check_int(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        # a float id has already lost digits above 2^53
        raise TypeError(f"{name}: expected int, got {type(value).__name__} {value!r}")
    return value


def _frame(
    rows: Iterable[Mapping[str, Any]],
    schema: Mapping[str, pl.DataType],
    money: Sequence[str],
    ints: Sequence[str],
) -> pl.DataFrame:
    columns: dict[str, list[Any]] = {name: [] for name in schema}
    for row in rows:
        for name in schema:
            value = row.get(name)
            if name in money:
                value = quantize_money(value, name)  # polars would truncate extra places
            elif name in ints:
                value = _check_int(value, name)
            columns[name].append(value)
    return pl.DataFrame(columns, schema=dict(schema), strict=True)


def stats_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """``douplus_order_daily`` rows → a frame with exactly :data:`ORDER_STATS_SCHEMA`, unique on
    (order_id, stat_date) (the last row of a key wins)."""
    df = _frame(
        rows, ORDER_STATS_SCHEMA, ("cost", "custom_convert_cost"), ("order_id", *STAT_COUNTS)
    )
    return df.unique(subset=list(ORDER_STATS_KEY), keep="last", maintain_order=True)


def order_video_frame(orders: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """The order → video map (order_id, item_id) of ``douplus_orders`` rows; LIVE orders and
    orders without an item keep a null item_id (their stats are reported as unmapped)."""
    return _frame(
        ({"order_id": o.get("order_id"), "item_id": o.get("item_id")} for o in orders),
        {"order_id": pl.Int64(), "item_id": pl.Int64()},
        (),
        ("order_id", "item_id"),
    )


def _orders_frame(orders: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    def check(o: Mapping[str, Any]) -> Mapping[str, Any]:
        t = o.get("order_create_time")
        if t is not None and (not isinstance(t, datetime) or t.tzinfo is not None):
            raise TypeError(f"order_create_time: expected a naive China datetime, got {t!r}")
        return o

    return _frame((check(o) for o in orders), ORDER_SCHEMA, ("budget",), _ID_COLUMNS)


def order_list_rows(
    orders: Iterable[Mapping[str, Any]],
    stats: pl.DataFrame,
    account_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The Bitable order list: one row per order (:data:`ORDER_LIST_SCHEMA`), sorted by
    account then order id.

    Each order carries its own numbers: its stats rows (``stats``, a :func:`stats_frame`) summed
    over its days — one order's, never several orders' — and ``last_stat_date``, the latest day
    they include. An order without stats has null numbers (nothing known yet, not zero).
    ``author_name`` falls back to the account's name (LIVE orders carry no video author).
    """
    names = dict(account_names or {})
    odf = _orders_frame(orders)
    missing = [c for c in ORDER_STATS_SCHEMA if c not in stats.columns]
    if missing:
        raise ValueError(f"stats frame lacks columns {missing}; build it with stats_frame")
    totals = (
        stats.lazy()
        .group_by("order_id")
        .agg(
            (pl.col("cost").cast(pl.Decimal(38, 2)) * 100)
            .cast(pl.Int64)
            .sum()
            .alias("cost_fen"),  # exact: integer fen
            *(pl.col(c).fill_null(0).sum().cast(pl.Int64) for c in STAT_COUNTS),
            pl.col("stat_date").max().alias("last_stat_date"),
        )
        .with_columns(fen_to_yuan(pl.col("cost_fen")).alias("cost"))
    )
    name_df = pl.DataFrame(
        {"aweme_sec_uid": list(names), "account_name": list(names.values())},
        schema={"aweme_sec_uid": pl.String(), "account_name": pl.String()},
    )
    out = (
        odf.lazy()
        .join(totals, on="order_id", how="left")
        .join(name_df.lazy(), on="aweme_sec_uid", how="left")
        .with_columns(pl.coalesce("author_name", "account_name").alias("author_name"))
        .select(pl.col(n).cast(t) for n, t in ORDER_LIST_SCHEMA.items())
        .sort("aweme_sec_uid", "order_id")
        .collect()
    )
    return to_rows(out)
