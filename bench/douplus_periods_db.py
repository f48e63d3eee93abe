"""Benchmark the douplus-daily period step end to end on a database: read, transform, upsert.

    .venv/bin/python bench/douplus_periods_db.py [--rows 300000] [--days 365] [--db URL]

What ``flows/douplus.py`` ``write_periods`` does each run: read every order-day row up to as_of
(all time is a period) and the order → video map from the DB, build the frames
(``flows/douplus_rows.stats_frame``), compute the periods
(``transforms/douplus_periods.periods``), upsert both period tables and delete other as_of rows.
Generates ``--rows`` order-day rows over ``--days`` days (deterministic; ids above 2^53; ~1/6 of
orders LIVE without a video) into a fresh SQLite file (default) or ``--db``. Prints each phase's
wall and CPU seconds; the second run (a rerun: nothing changes) shows the steady-state cost.
Last line: ``RESULT rows=... read_s=... frame_s=... periods_s=... upsert_s=... total_s=...
rerun_total_s=...``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert  # noqa: E402

from flows.douplus import PERIOD_TABLES, _period_inputs  # noqa: E402
from flows.douplus_rows import order_video_frame, stats_frame  # noqa: E402
from integrations.database import tables  # noqa: E402
from integrations.database.engine import make_engine  # noqa: E402
from integrations.database.migrate import upgrade  # noqa: E402
from integrations.database.upsert import upsert  # noqa: E402
from integrations.exact import to_rows  # noqa: E402
from integrations.sources.oceanengine.transforms.douplus_periods import periods  # noqa: E402

BASE = 7_400_000_000_000_000_000


def populate(engine, rows: int, days: int, as_of: date) -> None:
    r = random.Random(21)
    per_day = max(1, rows // days)
    orders, stats = [], []
    now = datetime(2026, 1, 1)
    oid = 0
    while len(stats) < rows:
        start = as_of - timedelta(days=r.randrange(days))
        span = r.randint(1, 5)
        oid += 1
        order_id = BASE + oid * 10
        uid = f"MS4wLjABAAAA{oid % 50:04d}"
        live = oid % 6 == 0
        orders.append({
            "order_id": order_id, "aweme_sec_uid": uid, "task_status": "DELIVERIED",
            "item_id": None if live else 7_300_000_000_000_000_000 + (oid // 3),
            "updated_at": now,
        })  # fmt: skip
        for d in range(span):
            day = start + timedelta(days=d)
            if day > as_of or len(stats) >= rows:
                break
            cost = r.randint(100, 500_000)
            plays = r.randint(0, 50_000)
            stats.append({
                "order_id": order_id, "stat_date": day, "aweme_sec_uid": uid,
                "cost": Decimal(cost) / 100, "total_play": plays,
                "custom_like": plays // 30, "dy_comment": plays // 500, "dy_share": plays // 400,
                "dy_follow": plays // 200, "dp_target_convert_cnt": plays // 90,
                "custom_convert_cost": None,
                "play_duration_5s_rank": Decimal(r.randint(200_000, 600_000)) / 10**6,
                "updated_at": now,
            })  # fmt: skip
    del per_day
    with engine.begin() as conn:
        for i in range(0, len(orders), 5000):
            conn.execute(insert(tables.douplus_orders), orders[i : i + 5000])
        for i in range(0, len(stats), 5000):
            conn.execute(insert(tables.douplus_order_daily), stats[i : i + 5000])


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def step(rt, as_of: date) -> dict[str, float]:
    (stats, vmap), read_s, read_c = timed(lambda: _period_inputs(rt, as_of))
    (sf, vf), frame_s, frame_c = timed(lambda: (stats_frame(stats), order_video_frame(vmap)))
    (videos, accounts), per_s, per_c = timed(lambda: periods(sf, vf, as_of))

    def write() -> None:
        for table, df in zip(PERIOD_TABLES, (videos, accounts), strict=True):
            with rt.engine.begin() as conn:
                upsert(conn, table, to_rows(df))
                conn.execute(table.delete().where(table.c.as_of != as_of))

    _, up_s, up_c = timed(write)
    print(
        f"  read {len(stats):,} rows {read_s:.2f}s (cpu {read_c:.2f}) | frames {frame_s:.2f}s "
        f"| periods {per_s:.2f}s (cpu {per_c:.2f}) -> {videos.height:,} video / "
        f"{accounts.height:,} account rows | upsert {up_s:.2f}s (cpu {up_c:.2f})"
    )
    return {"read": read_s, "frame": frame_s, "periods": per_s, "upsert": up_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--db", default=None)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="periods-bench-")
    url = a.db or f"sqlite:///{os.path.join(tmp, 'bench.db')}"
    upgrade(url)
    engine = make_engine(url)
    as_of = date(2026, 11, 28)
    _, pop_s, _ = timed(lambda: populate(engine, a.rows, a.days, as_of))
    print(
        f"populated {a.rows:,} order-day rows over {a.days} days in {pop_s:.1f}s ({url.split(':')[0]})"
    )
    rt = SimpleNamespace(engine=engine)
    first = step(rt, as_of)
    again = step(rt, as_of)
    print(
        f"RESULT rows={a.rows} read_s={first['read']:.3f} frame_s={first['frame']:.3f} "
        f"periods_s={first['periods']:.3f} upsert_s={first['upsert']:.3f} "
        f"total_s={sum(first.values()):.3f} rerun_total_s={sum(again.values()):.3f} "
        f"load1={os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
