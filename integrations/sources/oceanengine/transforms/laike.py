"""本地推 (local promotions): promotion rows → frame; per-account daily aggregate.

Input rows are the validated report rows (``LocalPromotionReportRow.to_row``): the columns of
``tables.local_promotion_daily`` with money already in yuan.

Aggregate rules (``account_daily``), per (stat_date, local_account_id):

- sums of cost, show_cnt, click_cnt, convert_cnt, clue_pay_order_cnt; a metric that is None in
  the input (the API sent "-" or nothing) counts as 0 in the sums;
- promotion_count = distinct promotions with a row that day;
- ratios from the sums, never averages of per-promotion ratios: ctr = clicks / shows,
  cpc = cost / clicks, cpm = cost / shows * 1000, conversion_cost = cost / conversions (yuan);
  rounded half-up to 6 places; None when the denominator is 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import polars as pl

from integrations.exact import fen_to_yuan, quantize_money, ratio, to_rows
from integrations.sources.oceanengine.datasets import local_account_daily, local_promotion_daily

__all__ = [
    "ACCOUNT_DAILY_SCHEMA",
    "PROMOTION_KEY",
    "PROMOTION_SCHEMA",
    "account_daily",
    "promotion_frame",
    "to_rows",
]

# The frames' schemas: the declared tables minus updated_at, in table order.
PROMOTION_SCHEMA: dict[str, pl.DataType] = local_promotion_daily.polars_schema
PROMOTION_KEY = local_promotion_daily.key

ACCOUNT_DAILY_SCHEMA: dict[str, pl.DataType] = local_account_daily.polars_schema

_MONEY_COLUMNS = ("cost", "conversion_cost")
_INT_COLUMNS = ("local_account_id", "promotion_id", "project_id") + (
    "show_cnt",
    "click_cnt",
    "convert_cnt",
    "clue_pay_order_cnt",
)
_COUNTS = ("show_cnt", "click_cnt", "convert_cnt", "clue_pay_order_cnt")


def _int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        # a float id has already lost digits; a str should have been parsed at the boundary
        raise TypeError(f"{field}: expected int, got {type(value).__name__} {value!r}")
    return value


def _day(value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"stat_date: expected datetime.date, got {type(value).__name__}")
    return value


def promotion_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Report rows → a frame with exactly :data:`PROMOTION_SCHEMA` (one row per key).

    Money is quantized to 2 places half-up in Python first (polars would truncate). Ids must be
    ints (never floats). Rows repeated under the same (stat_date, local_account_id, promotion_id)
    — a promotion re-appearing on a later page while the report was paged — keep the last one:
    the later read is the fresher one, and summing both would double count.
    """
    columns: dict[str, list[Any]] = {name: [] for name in PROMOTION_SCHEMA}
    for i, row in enumerate(rows):
        for key in PROMOTION_KEY:
            if row.get(key) is None:
                raise ValueError(f"row {i}: {key} is required, got {row.get(key)!r}")
        for name in PROMOTION_SCHEMA:
            value = row.get(name)
            if name in _MONEY_COLUMNS:
                value = quantize_money(value, name)
            elif name in _INT_COLUMNS:
                value = _int(value, name)
            elif name == "stat_date":
                value = _day(value)
            columns[name].append(value)
    df = pl.DataFrame(columns, schema=PROMOTION_SCHEMA, strict=True)
    return df.unique(subset=list(PROMOTION_KEY), keep="last", maintain_order=True)


def account_daily(promotions: pl.DataFrame, account_names: Mapping[int, str]) -> pl.DataFrame:
    """Per (stat_date, local_account_id) totals and ratios, columns :data:`ACCOUNT_DAILY_SCHEMA`
    (``tables.local_account_daily`` minus ``updated_at``), sorted by date then account.

    ``account_name`` comes from ``account_names`` (None when the account is not named there).
    Use :func:`to_rows` for the DB upsert.
    """
    missing = [c for c in PROMOTION_SCHEMA if c not in promotions.columns]
    if missing:
        raise ValueError(f"promotions frame lacks columns {missing}; build it with promotion_frame")
    ids = [_int(int(k) if isinstance(k, str) else k, "account id") for k in account_names]
    names = pl.DataFrame(
        {"local_account_id": ids, "account_name": list(account_names.values())},
        schema={"local_account_id": pl.Int64(), "account_name": pl.String()},
    )
    sums = (
        promotions.lazy()
        .group_by("stat_date", "local_account_id")
        .agg(
            pl.col("promotion_id").n_unique().cast(pl.Int64).alias("promotion_count"),
            # exact: Decimal(·,2) yuan → fen, summed as Int128 integers (an Int64 sum wraps
            # silently on overflow; a total beyond its column becomes null below instead, and
            # the row rules reject that account-day by name)
            (pl.col("cost").cast(pl.Decimal(38, 2)) * 100)
            .cast(pl.Int128)
            .fill_null(0)
            .sum()
            .alias("cost_fen"),
            *(pl.col(c).cast(pl.Int128).fill_null(0).sum().alias(c) for c in _COUNTS),
        )
    )
    cost = pl.col("cost_fen")
    return (
        sums.join(names.lazy(), on="local_account_id", how="left")
        .with_columns(
            fen_to_yuan(cost, strict=False).alias("cost"),
            ratio(pl.col("click_cnt"), pl.col("show_cnt"), strict=False).alias("ctr"),
            ratio(cost, pl.col("click_cnt") * 100, strict=False).alias("cpc"),
            ratio(cost * 10, pl.col("show_cnt"), strict=False).alias("cpm"),  # fen·1000/100/show
            ratio(cost, pl.col("convert_cnt") * 100, strict=False).alias("conversion_cost"),
        )
        .select(
            pl.col(name).cast(dtype, strict=False) for name, dtype in ACCOUNT_DAILY_SCHEMA.items()
        )
        .sort("stat_date", "local_account_id")
        .collect()
    )
