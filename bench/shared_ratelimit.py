"""Bench: what sharing an app's QPS across processes costs per call, by mechanism.

    .venv/bin/python bench/shared_ratelimit.py [--calls 20000] [--pg-url URL]

Each limiter's ``acquire()`` is called ``--calls`` times at a rate so high that it never waits
(1e9 QPS), so the time is the mechanism's own cost per call:

- ``bucket``: the in-process TokenBucket (the floor every other figure is compared with);
- ``file``: FileLockedSchedule (processes of one host, flock per call);
- ``share_sqlite`` / ``share_pg``: SharedAppLimiter (the database on the path once per
  heartbeat, 1 s); its per-call cost is the bucket plus a clock read, and one heartbeat's cost
  (two statements) is measured apart (``beat_*``), forcing a heartbeat on every call;
- ``rowbucket_pg``: the alternative, a token-bucket row in PostgreSQL updated on every call
  (one write transaction per request; what a "DB token bucket" costs).

A Prefect global concurrency limit (``rate_limit``) is not measured here: it needs a Prefect
server and is one API round trip plus client polling per call; docs/contracts/prefect.md §3 has
its observed start times (far below nominal).

Last line: ``RESULT calls=... bucket_us=... file_us=... share_sqlite_us=... share_pg_us=...
beat_sqlite_ms=... beat_pg_ms=... rowbucket_pg_us=... share_pg_overhead_us=...``
(``share_pg_overhead_us``: share_pg minus bucket, per call, heartbeat amortised over the calls
of one heartbeat at 20 QPS added: ``beat_pg_ms / 20``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integrations.database.engine import make_engine  # noqa: E402
from integrations.database.migrate import upgrade  # noqa: E402
from integrations.sources.oceanengine.ratelimit import (  # noqa: E402
    FileLockedSchedule,
    TokenBucket,
)
from integrations.sources.oceanengine.shared_ratelimit import SharedAppLimiter  # noqa: E402

FAST = 1e9  # QPS: never waits, so the time measured is the mechanism's own
PG_DEFAULT = os.environ.get(
    "ADSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    fn()  # warm: connections, files, first heartbeat
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls * 1e6


def pg_database(base: str) -> tuple[str, Callable[[], None]]:
    """A fresh database on the server (dropped afterwards), migrated to head."""
    name = f"adsync_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    upgrade(url)

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return url, drop


def beat_ms(lim: SharedAppLimiter, beats: int) -> float:
    t0 = time.perf_counter()
    for _ in range(beats):
        lim._next_beat = 0.0  # force the heartbeat (renew + count), as once per heartbeat_s
        lim._beat()
    return (time.perf_counter() - t0) / beats * 1e3


def rowbucket(engine: sa.Engine) -> Callable[[], None]:
    """A per-call token-bucket row: one UPDATE transaction per request."""
    with engine.begin() as c:
        c.execute(
            sa.text("CREATE TABLE IF NOT EXISTS bench_rowbucket (k int primary key, t float)")
        )
        c.execute(sa.text("INSERT INTO bench_rowbucket VALUES (1, 0) ON CONFLICT DO NOTHING"))
    stmt = sa.text(
        "UPDATE bench_rowbucket SET t = greatest(t, extract(epoch from clock_timestamp())) "
        "+ :i WHERE k = 1 RETURNING t"
    )

    def call() -> None:
        with engine.begin() as c:
            c.execute(stmt, {"i": 1 / FAST}).scalar_one()

    return call


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--pg-url", default=PG_DEFAULT)
    ap.add_argument("--beats", type=int, default=200)
    args = ap.parse_args()
    n = args.calls

    res: dict[str, float] = {}
    res["bucket_us"] = per_call_us(TokenBucket(FAST).acquire, n)
    with tempfile.TemporaryDirectory() as tmp:
        f = FileLockedSchedule(Path(tmp) / "oe.slot", FAST)
        res["file_us"] = per_call_us(f.acquire, n)
        f.close()
        lite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(lite_url)
        lite = make_engine(lite_url)
        s = SharedAppLimiter(lite, "bench", FAST, heartbeat_s=1.0, join_wait_s=0.0)
        res["share_sqlite_us"] = per_call_us(s.acquire, n)
        res["beat_sqlite_ms"] = beat_ms(s, args.beats)
        s.close()
        lite.dispose()

    url, drop = pg_database(args.pg_url)
    try:
        pg = make_engine(url)
        s = SharedAppLimiter(pg, "bench", FAST, heartbeat_s=1.0, join_wait_s=0.0)
        res["share_pg_us"] = per_call_us(s.acquire, n)
        res["beat_pg_ms"] = beat_ms(s, args.beats)
        s.close()
        res["rowbucket_pg_us"] = per_call_us(rowbucket(pg), min(n, 2000))
        pg.dispose()
    finally:
        drop()
    # At 20 QPS (the sandbox's realistic per-app limit) one heartbeat covers 20 calls.
    res["share_pg_overhead_us"] = res["share_pg_us"] - res["bucket_us"] + res["beat_pg_ms"] * 50

    print(f"calls per mechanism: {n} (rowbucket_pg: {min(n, 2000)}), never waiting (1e9 QPS)")
    for k, v in res.items():
        print(f"  {k:22} {v:10.2f}")
    print("RESULT calls=" + str(n) + " " + " ".join(f"{k}={v:.2f}" for k, v in res.items()))


if __name__ == "__main__":
    main()
