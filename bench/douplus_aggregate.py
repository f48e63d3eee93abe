"""Benchmark the DOU+ video aggregate: polars (lazy, the production function) against pandas.

    .venv/bin/python bench/douplus_aggregate.py [--rows 10000000] [--days 30] [--repeat 1]

Generates ``--rows`` synthetic order daily stats (deterministic seed; ids above 2^53; cost as
integer fen so it stays exact; ~1% of orders without a known video) and an order → video map,
then runs in one process:

1. polars: ``integrations.sources.oceanengine.transforms.douplus.video_daily`` (lazy plan, streaming engine), exactly what
   the flow runs;
2. pandas: the same computation and algorithm, written as idiomatic pandas — map de-duplicated and
   checked, the (order_id, stat_date) key checked unique over all rows (``duplicated``), item ids
   looked up with ``Series.map`` (nullable Int64, so ids above 2^53 stay exact), one groupby on
   (item_id, stat_date) with the uid min, ``size`` as the distinct order count (the key is unique)
   and the sums, the same integer half-up ratios, the unmapped report.

Both results are compared column by column (money as fen, ratios as integer millionths) and must be
equal. polars runs first: ``ru_maxrss`` is the process peak, so the peak after each phase is
printed (the pandas figure includes everything before it). Target (issue 9): polars >= 5x faster.
It also times the DOU+ period totals (``douplus_periods.periods``: videos and accounts over
today / 7 / 30 days / all time as of the last day) on the same stat rows, checked against the
daily aggregate (all-time sums equal). ``--to-rows`` also times turning each result into the DB row dicts (Decimal, date objects),
reported apart from the compute: it is Python object creation, the same work for both. The last
line is machine-readable: ``RESULT rows=... polars_s=... pandas_s=... speedup=...
peak_rss_mb=... periods_s=...``.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integrations.sources.oceanengine.transforms.douplus import UnmappedStats, to_rows, video_daily  # noqa: E402
from integrations.sources.oceanengine.transforms.douplus_periods import periods  # noqa: E402

SEED = 20261125
ORDER_ID_BASE = 7_450_000_000_000_000_000  # > 2^53, like real DOU+ order ids
ITEM_ID_BASE = 7_300_000_000_000_000_000
FIRST_DAY = np.datetime64("2026-10-01")
ACCOUNTS = 2_000
ORDERS_PER_VIDEO = 3
UNMAPPED_SHARE = 0.01
SAMPLE = 20
UNIT = 1_000_000  # ratio scale 6
RATIOS = ("play_per_100_cost", "like_rate", "share_rate", "conversion_cost")


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


# --- data --------------------------------------------------------------------------------------


def generate(rows: int, days: int) -> dict[str, np.ndarray]:
    """Columns of ``rows`` order-day stats, unique on (order_id, stat_date), shuffled."""
    rng = np.random.default_rng(SEED)
    orders = -(-rows // days)
    i = rng.permutation(orders * days)[:rows]
    order_idx = i // days
    day_idx = (i % days).astype("timedelta64[D]")
    play = rng.integers(0, 200_000, rows, dtype=np.int64)
    return {
        "order_idx": order_idx,
        "order_id": ORDER_ID_BASE + order_idx * 7,
        "stat_date": FIRST_DAY + day_idx,
        "account_idx": (order_idx % ACCOUNTS).astype(np.int32),
        "cost": rng.integers(0, 500_000, rows, dtype=np.int64),  # fen (≤ 5,000 yuan)
        "total_play": play,
        "custom_like": play // rng.integers(20, 200, rows, dtype=np.int64),
        "dy_share": play // rng.integers(200, 5_000, rows, dtype=np.int64),
        "dp_target_convert_cnt": rng.integers(0, 50, rows, dtype=np.int64),
        "orders": np.array([orders]),
    }


def order_map(orders: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED + 1)
    idx = np.arange(orders, dtype=np.int64)
    keep = rng.random(orders) >= UNMAPPED_SHARE  # ~1% of orders have no known video
    videos = max(1, orders // ORDERS_PER_VIDEO)
    item = ITEM_ID_BASE + rng.integers(0, videos, orders, dtype=np.int64) * 11
    return {"order_id": (ORDER_ID_BASE + idx * 7)[keep], "item_id": item[keep]}


def sec_uids() -> list[str]:
    return [f"MS4wLjABAAAA{n:028d}" for n in range(ACCOUNTS)]


def polars_frames(cols: dict[str, np.ndarray], m: dict[str, np.ndarray]):
    # An Enum of the sorted account ids: the same representation pandas gets (ordered
    # categorical), so neither side pays for string comparisons in the min.
    uids = pl.Series("aweme_sec_uid", sec_uids(), dtype=pl.Enum(sorted(sec_uids())))
    stats = pl.DataFrame(
        {
            "order_id": cols["order_id"],
            "stat_date": pl.Series(cols["stat_date"]).cast(pl.Date),
            "aweme_sec_uid": uids.gather(cols["account_idx"]),
            "cost": cols["cost"],
            "total_play": cols["total_play"],
            "custom_like": cols["custom_like"],
            "dy_share": cols["dy_share"],
            "dp_target_convert_cnt": cols["dp_target_convert_cnt"],
        }
    )
    return stats, pl.DataFrame(m)


def pandas_frames(cols: dict[str, np.ndarray], m: dict[str, np.ndarray]):
    # An ordered categorical, not str/object: pandas' groupby min on strings falls back to a
    # Python loop per group (~60 µs a group), which would make the baseline a straw man.
    uid_codes = pd.CategoricalDtype(sorted(sec_uids()), ordered=True)
    uids = np.array(sec_uids(), dtype=object)
    stats = pd.DataFrame(
        {
            "order_id": cols["order_id"],
            "stat_date": cols["stat_date"].astype("datetime64[s]"),
            "aweme_sec_uid": pd.Categorical(uids[cols["account_idx"]], dtype=uid_codes),
            "cost": cols["cost"],
            "total_play": cols["total_play"],
            "custom_like": cols["custom_like"],
            "dy_share": cols["dy_share"],
            "dp_target_convert_cnt": cols["dp_target_convert_cnt"],
        }
    )
    vmap = pd.DataFrame(
        {"order_id": m["order_id"], "item_id": pd.array(m["item_id"], dtype="Int64")}
    )
    return stats, vmap


# --- pandas baseline: the same computation -----------------------------------------------------


def _ratio(n: pd.Series, d: pd.Series) -> pd.Series:
    """round_half_up(n / d, 6) as integer millionths, <NA> when d == 0 (n, d >= 0 here; int64
    is wide enough for this data: 2·n·10^6 < 2^63)."""
    d = d.astype("Int64").where(d != 0)
    return (n.astype("Int64") * (2 * UNIT) + d) // (d * 2)


def pandas_video_daily(stats: pd.DataFrame, vmap: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The same algorithm as ``video_daily``: the (order_id, stat_date) key is checked unique over
    all stat rows once, so a video-day's distinct orders are its rows (``size``); one groupby on
    (item_id, stat_date) for the uid min and the sums; integer ratios; the unmapped report."""
    per_order = vmap.dropna().drop_duplicates()
    if per_order["order_id"].duplicated().any():
        raise ValueError("order mapped to more than one video")
    if stats.duplicated(["order_id", "stat_date"]).any():
        raise ValueError("repeated (order_id, stat_date)")
    item_id = stats["order_id"].map(per_order.set_index("order_id")["item_id"])
    mapped = item_id.notna().to_numpy()
    joined = stats[mapped].assign(item_id=item_id[mapped])

    out = (
        joined.groupby(["item_id", "stat_date"], sort=False, observed=True)
        .agg(
            aweme_sec_uid=("aweme_sec_uid", "min"),
            order_count=("order_id", "size"),  # = distinct orders: the key is unique
            cost_fen=("cost", "sum"),
            total_play=("total_play", "sum"),
            likes=("custom_like", "sum"),
            shares=("dy_share", "sum"),
            conversions=("dp_target_convert_cnt", "sum"),
        )
        .reset_index()
    )
    if out["aweme_sec_uid"].isna().any():
        raise ValueError("order stats have rows without aweme_sec_uid")
    out["play_per_100_cost"] = _ratio(out["total_play"] * 10_000, out["cost_fen"])
    out["like_rate"] = _ratio(out["likes"], out["total_play"])
    out["share_rate"] = _ratio(out["shares"], out["total_play"])
    out["conversion_cost"] = _ratio(out["cost_fen"], out["conversions"] * 100)
    out = out.sort_values(["stat_date", "item_id"], ignore_index=True)

    un = stats.loc[~mapped, ["order_id", "cost"]]
    orders = un["order_id"].unique()
    unmapped = {
        "count": len(un),
        "orders": len(orders),
        "cost_fen": int(un["cost"].sum()),
        "sample": tuple(int(x) for x in np.sort(orders)[:SAMPLE]),
    }
    return out, unmapped


def pandas_to_rows(out: pd.DataFrame) -> list[dict[str, Any]]:
    """pandas result → the same row dicts ``to_rows`` gives the DB upsert (Decimal money at
    scale 2, Decimal ratios at scale 6 or None, ``datetime.date``, int, str)."""

    def decimals(col: pd.Series, places: int) -> list[Decimal | None]:
        q = Decimal(1).scaleb(-places)
        return [
            None if v is None else Decimal(v).scaleb(-places).quantize(q)
            for v in col.astype(object).where(col.notna(), None).tolist()
        ]

    columns = {
        "item_id": out["item_id"].astype("int64").tolist(),
        "stat_date": out["stat_date"].dt.date.tolist(),
        "aweme_sec_uid": out["aweme_sec_uid"].astype(str).tolist(),
        "order_count": out["order_count"].tolist(),
        "total_cost": decimals(out["cost_fen"], 2),
        "total_play": out["total_play"].tolist(),
        "likes": out["likes"].tolist(),
        "shares": out["shares"].tolist(),
        "conversions": out["conversions"].tolist(),
        **{c: decimals(out[c], 6) for c in RATIOS},
    }
    names = list(columns)
    return [dict(zip(names, r, strict=True)) for r in zip(*columns.values(), strict=True)]


# --- comparison ---------------------------------------------------------------------------------


def compare(pl_out: pl.DataFrame, pl_un: UnmappedStats, pd_out: pd.DataFrame, pd_un: dict) -> None:
    """Every aggregate equal: keys, counts, money (fen) and ratios (integer millionths)."""
    if pl_out.height != len(pd_out):
        raise AssertionError(f"row counts differ: polars {pl_out.height}, pandas {len(pd_out)}")
    as_ints = pl_out.select(
        "item_id",
        pl.col("stat_date").cast(pl.Int32).alias("day"),
        "aweme_sec_uid",
        "order_count",
        (pl.col("total_cost") * 100).cast(pl.Int64).alias("cost_fen"),
        "total_play",
        "likes",
        "shares",
        "conversions",
        *(
            (pl.col(c) * UNIT).cast(pl.Int64).alias(c)
            for c in ("play_per_100_cost", "like_rate", "share_rate", "conversion_cost")
        ),
    )
    epoch = np.datetime64("1970-01-01", "D")
    expected: dict[str, Any] = {
        "item_id": pd_out["item_id"].to_numpy(dtype=np.int64),
        "day": (pd_out["stat_date"].to_numpy().astype("datetime64[D]") - epoch).astype(np.int32),
        "aweme_sec_uid": pd_out["aweme_sec_uid"].astype(object).to_numpy(),
    }
    for c in ("order_count", "cost_fen", "total_play", "likes", "shares", "conversions"):
        expected[c] = pd_out[c].to_numpy(dtype=np.int64)
    for c in ("play_per_100_cost", "like_rate", "share_rate", "conversion_cost"):
        expected[c] = pd_out[c].astype("Int64")
    for name, want in expected.items():
        got = as_ints[name]
        if isinstance(want, pd.Series):  # nullable: compare null masks, then values
            mask = want.isna().to_numpy()
            if not np.array_equal(got.is_null().to_numpy(), mask):
                raise AssertionError(f"{name}: null positions differ")
            want_v = want[~mask].to_numpy(dtype=np.int64)
            got_v = got.filter(~pl.Series(mask)).to_numpy()
            ok = np.array_equal(got_v, want_v)
        else:
            ok = np.array_equal(got.to_numpy(), want)
        if not ok:
            raise AssertionError(f"column {name} differs between polars and pandas")
    pl_un_dict = {
        "count": pl_un.count,
        "orders": pl_un.orders,
        "cost_fen": int(pl_un.cost * 100),
        "sample": pl_un.order_ids_sample,
    }
    if pl_un_dict != pd_un:
        raise AssertionError(f"unmapped differ: polars {pl_un_dict}, pandas {pd_un}")


# --- main ---------------------------------------------------------------------------------------


CPU_S: dict[str, float] = {}


def best_of(repeat: int, fn, label: str):
    """Best wall time of ``repeat`` runs; the CPU seconds (all threads) of that run go to CPU_S:
    on a shared machine wall time includes waiting for a core, CPU time does not."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, CPU_S[label] = wall, time.process_time() - c0
    return best, result


def run_polars(cols: dict[str, np.ndarray], m: dict[str, np.ndarray], repeat: int, engine: str):
    stats, vmap = polars_frames(cols, m)
    return best_of(
        repeat, lambda: video_daily(stats, vmap, cost_unit="fen", engine=engine), "polars"
    )


def run_periods(cols: dict[str, np.ndarray], m: dict[str, np.ndarray], repeat: int, engine: str):
    """Video and account totals over today / 7 / 30 days / all time, as of the last stat date."""
    stats, vmap = polars_frames(cols, m)
    as_of = cols["stat_date"].max().astype(object)  # numpy datetime64[D] → datetime.date
    return best_of(
        repeat,
        lambda: periods(stats, vmap, as_of, cost_unit="fen", engine=engine),
        "periods",
    )


def check_periods(videos: pl.DataFrame, video_days: pl.DataFrame) -> None:
    """All-time video totals must equal the daily video aggregate summed (same rows, no window
    before the first day)."""
    all_time = videos.filter(pl.col("period") == "all_time")
    for col in ("total_cost", "total_play", "likes", "shares", "conversions"):
        if all_time[col].sum() != video_days[col].sum():
            raise AssertionError(f"periods: all-time {col} differs from the daily aggregate")
    if all_time.height != video_days["item_id"].n_unique():
        raise AssertionError("periods: all-time videos differ from the daily aggregate's")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30, help="distinct stat dates")
    ap.add_argument("--repeat", type=int, default=1, help="runs per engine; the best is kept")
    ap.add_argument("--engine", default="streaming", choices=["streaming", "in-memory", "auto"])
    ap.add_argument(
        "--to-rows",
        action="store_true",
        help="also time the conversion of each result to DB row dicts (Decimal, date), apart",
    )
    args = ap.parse_args()

    print(
        f"polars {pl.__version__} ({pl.thread_pool_size()} threads, engine {args.engine}), "
        f"pandas {pd.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs; "
        f"load avg (1/5 min) {load()}"
    )
    t0 = time.perf_counter()
    cols = generate(args.rows, args.days)
    m = order_map(int(cols["orders"][0]))
    print(
        f"generated {args.rows:,} stat rows, {int(cols['orders'][0]):,} orders, "
        f"{len(m['order_id']):,} mapped, {args.days} days in {time.perf_counter() - t0:.1f}s; "
        f"peak RSS {peak_rss_mb():.0f} MB"
    )

    # polars first: ru_maxrss only grows, so its peak is not inflated by pandas
    rss_before_polars = peak_rss_mb()
    polars_s, (pl_out, pl_un) = run_polars(cols, m, args.repeat, args.engine)
    rss_polars = peak_rss_mb()
    print(
        f"polars: {polars_s:.2f}s wall, {CPU_S['polars']:.2f}s CPU (load {load()}) → "
        f"{pl_out.height:,} video-days; unmapped {pl_un.count:,} rows of {pl_un.orders:,} orders "
        f"({pl_un.cost} yuan); peak RSS {rss_polars:.0f} MB "
        f"(+{rss_polars - rss_before_polars:.0f} MB over inputs)"
    )
    periods_s, (per_videos, per_accounts) = run_periods(cols, m, args.repeat, args.engine)
    check_periods(per_videos, pl_out)
    print(
        f"periods (today/7/30 days/all): {periods_s:.2f}s wall, {CPU_S['periods']:.2f}s CPU "
        f"(load {load()}) → {per_videos.height:,} video and {per_accounts.height:,} account "
        f"period rows; all-time totals equal the daily aggregate's; peak RSS {peak_rss_mb():.0f} MB"
    )
    del per_videos, per_accounts
    pd_stats, pd_map = pandas_frames(cols, m)
    del cols, m
    gc.collect()
    pandas_s, (pd_out, pd_un) = best_of(
        args.repeat, lambda: pandas_video_daily(pd_stats, pd_map), "pandas"
    )
    rss_all = peak_rss_mb()
    print(
        f"pandas: {pandas_s:.2f}s wall, {CPU_S['pandas']:.2f}s CPU (load {load()}) → "
        f"{len(pd_out):,} video-days; peak RSS {rss_all:.0f} MB"
    )

    compare(pl_out, pl_un, pd_out, pd_un)
    print("results equal: keys, counts, money (fen), ratios (1e-6), unmapped report")
    speedup = pandas_s / polars_s
    cpu_ratio = CPU_S["pandas"] / CPU_S["polars"]
    verdict = "meets" if speedup >= 5 else "MISSES"
    print(f"compute speedup {speedup:.1f}x wall ({verdict} the >= 5x target), {cpu_ratio:.1f}x CPU")

    if args.to_rows:  # Python objects per value: the same work whichever library computed them
        del pd_stats, pd_map
        gc.collect()
        pl_rows_s, pl_rows = best_of(1, lambda: to_rows(pl_out), "polars_rows")
        pd_rows_s, pd_rows = best_of(1, lambda: pandas_to_rows(pd_out), "pandas_rows")
        if pl_rows != pd_rows:
            raise AssertionError("row dicts differ between polars and pandas")
        del pl_rows, pd_rows
        print(
            f"to rows ({pl_out.height:,} dicts, equal): polars to_rows {pl_rows_s:.2f}s wall, "
            f"{CPU_S['polars_rows']:.2f}s CPU; pandas {pd_rows_s:.2f}s wall, "
            f"{CPU_S['pandas_rows']:.2f}s CPU (load {load()})"
        )
        total_pl, total_pd = polars_s + pl_rows_s, pandas_s + pd_rows_s
        print(
            f"compute + rows: polars {total_pl:.2f}s, pandas {total_pd:.2f}s, "
            f"{total_pd / total_pl:.1f}x"
        )

    print(f"load average (1/5 min) at the end: {load()} on {os.cpu_count()} CPUs")
    print(
        f"RESULT rows={args.rows} polars_s={polars_s:.3f} pandas_s={pandas_s:.3f} "
        f"speedup={speedup:.2f} peak_rss_mb={rss_all:.0f} polars_peak_rss_mb={rss_polars:.0f} "
        f"polars_cpu_s={CPU_S['polars']:.3f} pandas_cpu_s={CPU_S['pandas']:.3f} "
        f"periods_s={periods_s:.3f} periods_cpu_s={CPU_S['periods']:.3f} "
        f"load1={os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
