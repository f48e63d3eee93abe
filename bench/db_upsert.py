"""Benchmark the batched upsert: N rows into local_promotion_daily, then the same N with 1% changed.

    .venv/bin/python bench/db_upsert.py [--rows 1000000] [--sample 5000] [--chunk-size 5000]

Runs on SQLite (a temp file) and PostgreSQL (a throw-away database created on
ADSYNC_TEST_POSTGRES_URL's server, default 127.0.0.1:5432, and dropped afterwards). Rows are
generated lazily and streamed through ``upsert`` chunk by chunk, so memory stays flat. The naive
baseline (one INSERT ... ON CONFLICT statement per row, same table, same transaction handling) is
measured on ``--sample`` rows in the same run. Targets (issue 2): >= 50,000 rows/s on PostgreSQL,
peak RSS <= 500 MB. The last line is machine-readable: ``RESULT name=value ...``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integrations.database.engine import make_engine, mask_url  # noqa: E402
from integrations.database.migrate import upgrade  # noqa: E402
from integrations.database.tables import local_promotion_daily  # noqa: E402
from integrations.database.upsert import DEFAULT_CHUNK_SIZE, UpsertResult, upsert  # noqa: E402

PG_BASE = os.environ.get(
    "ADSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# 1,000 promotions per account per day, as many accounts and days as needed.
PROMOTIONS = 1000
ACCOUNTS = 50
BASE_ACCOUNT = 1_854_347_260_793_866  # realistic 16-digit ids
BASE_PROMOTION = 7_450_000_000_000_000_000  # > 2^53
COSTS = [Decimal(i * 37 % 100_000) / 100 for i in range(997)]  # shared immutable values
NAMES = [f"推广计划 {i} · 到店团购 🍲" for i in range(PROMOTIONS)]


def gen_rows(n: int, *, changed_every: int = 0, day0: date = date(2026, 1, 1)) -> Iterator[dict]:
    """Deterministic rows; with ``changed_every=k`` every k-th row's cost is 0.01 higher."""
    one_cent = Decimal("0.01")
    for i in range(n):
        p = i % PROMOTIONS
        a = (i // PROMOTIONS) % ACCOUNTS
        d = i // (PROMOTIONS * ACCOUNTS)
        cost = COSTS[i % 997]
        if changed_every and i % changed_every == 0:
            cost = cost + one_cent
        yield {
            "stat_date": day0 + timedelta(days=d),
            "local_account_id": BASE_ACCOUNT + a,
            "promotion_id": BASE_PROMOTION + a * PROMOTIONS + p,
            "promotion_name": NAMES[p],
            "project_id": BASE_PROMOTION + a,
            "project_name": "本地推项目",
            "cost": cost,
            "show_cnt": i * 7 % 100_000,
            "click_cnt": i * 3 % 5_000,
            "convert_cnt": i % 50,
            "conversion_cost": COSTS[(i * 11) % 997],
            "clue_pay_order_cnt": i % 9,
        }


def timed_upsert(engine: sa.Engine, rows: Iterator[dict], chunk: int) -> tuple[UpsertResult, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        result = upsert(conn, local_promotion_daily, rows, chunk_size=chunk)
    secs = time.perf_counter() - t0
    # Client CPU (row generation included): shows how much is ours vs the server's or the
    # machine's load, since wall-clock figures move with whatever else runs on the host.
    print(f"    client CPU {time.process_time() - c0:6.2f}s, load average {os.getloadavg()[0]:.1f}")
    return result, secs


def naive_rows_per_s(engine: sa.Engine, sample: int) -> float:
    """One INSERT ... ON CONFLICT DO UPDATE statement per row: the loop the batch replaces."""
    stmt = pg_insert(local_promotion_daily)
    cols = [c.name for c in local_promotion_daily.columns if not c.primary_key]
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.name for c in local_promotion_daily.primary_key.columns],
        set_={c: stmt.excluded[c] for c in cols},
        where=sa.or_(
            *(
                local_promotion_daily.c[c].is_distinct_from(stmt.excluded[c])
                for c in cols
                if c != "updated_at"
            )
        ),
    )
    now = sa.func.now()
    rows = gen_rows(sample, day0=date(2030, 1, 1))  # keys not used by the bulk phases
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for r in rows:
            conn.execute(stmt.values(updated_at=now), r)
    return sample / (time.perf_counter() - t0)


def check(result: UpsertResult, expected: UpsertResult, label: str) -> None:
    if result != expected:
        raise SystemExit(f"{label}: counts {result} != expected {expected}")


def run_backend(label: str, url: str, n: int, chunk: int) -> dict[str, float]:
    upgrade(url)
    engine = make_engine(url)
    try:
        res, secs = timed_upsert(engine, gen_rows(n), chunk)
        check(res, UpsertResult(inserted=n), f"{label} insert")
        ins = n / secs
        print(f"{label:10s} insert   {n:>9,} rows in {secs:7.2f}s = {ins:>10,.0f} rows/s  {res}")
        res, secs = timed_upsert(engine, gen_rows(n, changed_every=100), chunk)
        n_changed = (n + 99) // 100
        check(res, UpsertResult(updated=n_changed, unchanged=n - n_changed), f"{label} rerun")
        rerun = n / secs
        print(f"{label:10s} rerun 1% {n:>9,} rows in {secs:7.2f}s = {rerun:>10,.0f} rows/s  {res}")
    finally:
        engine.dispose()
    return {"insert": ins, "rerun": rerun}


def peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=5000, help="rows for the naive baseline")
    ap.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
    args = ap.parse_args(argv)
    n, chunk = args.rows, args.chunk_size
    print(f"rows={n:,} chunk_size={chunk:,} sample={args.sample:,} python={sys.version.split()[0]}")

    with tempfile.TemporaryDirectory(prefix="adsync-bench-") as tmp:
        lite = run_backend("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", n, chunk)

    name = f"adsync_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    pg_url = make_url(PG_BASE).set(database=name).render_as_string(hide_password=False)
    print(f"postgresql database: {mask_url(pg_url)}")
    try:
        pg = run_backend("postgresql", pg_url, n, chunk)
        engine = make_engine(pg_url)
        try:
            naive = naive_rows_per_s(engine, args.sample)
        finally:
            engine.dispose()
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    speedup = pg["insert"] / naive
    print(
        f"postgresql naive    {args.sample:>9,} rows, one statement each = {naive:>10,.0f} rows/s"
    )
    print(f"speedup vs naive (insert phase): {speedup:.1f}x")
    rss = peak_rss_mb()
    print(f"peak RSS: {rss:.0f} MB")
    figures: dict[str, Any] = {
        "sqlite_insert_rows_per_s": round(lite["insert"]),
        "sqlite_rerun_rows_per_s": round(lite["rerun"]),
        "pg_insert_rows_per_s": round(pg["insert"]),
        "pg_rerun_rows_per_s": round(pg["rerun"]),
        "pg_naive_rows_per_s": round(naive),
        "pg_speedup_vs_naive": round(speedup, 1),
        "peak_rss_mb": round(rss),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }
    print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
