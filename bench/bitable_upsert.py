"""Benchmark the Bitable sink: N rows into the Feishu simulator (realistic profile), then reruns.

    .venv/bin/python bench/bitable_upsert.py [--rows 100000] [--days 7] [--rotate day]
                                             [--sim process|thread]

The realistic profile caps a table at 20,000 records (1254103, as Feishu documents), so 100,000
rows go through rotation: ``--rotate day`` over 7 days gives 7 period tables of ~14,300 rows.
One serial writer per base is the design (Feishu serialises a base's writes), so the floor for a
load is ``write calls × max(mean write latency, 1 / write limit)``; the sink should sit close to
it (goal: wall_over_floor ≤ 1.2). Three passes with the real lark-oapi client over HTTP, the
record map and the base's writer lock on SQLite (temp file): first load, rerun unchanged (goal:
0 writes), rerun with 1% of rows changed (expect ceil(changed / 500) update calls per table).
The simulator runs in its own process by default (``--sim process``), as Feishu does: in the
bench's process (``--sim thread``) its request handling competes with the sink for the GIL.
Everything the bench reads back goes over HTTP (counters, and table sizes through the product's
own client), so both modes measure the same product code.
The last line is machine-readable: ``RESULT name=value ...``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp
import random
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.request import urlopen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integrations.database.engine import make_engine  # noqa: E402
from integrations.database.migrate import upgrade  # noqa: E402
from integrations.feishu.auth import build_client  # noqa: E402
from integrations.feishu.client import BitableApi, Pacing  # noqa: E402
from integrations.feishu.sink import BitableSink, SinkResult  # noqa: E402
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY  # noqa: E402
from integrations.settings import BitableTableConfig  # noqa: E402
from sandbox.feishu.app import FeishuSim  # noqa: E402
from sandbox.feishu.knobs import FeishuKnobs  # noqa: E402
from sandbox.runner import serve_in_thread  # noqa: E402


def make_rows(n: int, accounts: int = 50, days: int = 7) -> list[dict[str, Any]]:
    # Dates in the past week or so: retention is not used here, rotation spreads them.
    rng = random.Random(7)
    start = date(2026, 11, 16)
    return [
        {
            "stat_date": start + timedelta(days=i % days),
            "local_account_id": 1854347260793866 + i % accounts,
            "promotion_id": 7450000000000000000 + i,
            "promotion_name": f"单元 {i}",
            "project_id": 7440000000000000000 + i // 20,
            "project_name": f"项目 {i // 20}",
            "cost": Decimal(rng.randrange(0, 1_000_000)) / 100,
            "show_cnt": rng.randrange(0, 100_000),
            "click_cnt": rng.randrange(0, 5_000),
            "convert_cnt": rng.randrange(0, 100),
            "conversion_cost": Decimal(rng.randrange(0, 10_000)) / 100,
            "clue_pay_order_cnt": rng.randrange(0, 10),
            "account_name": f"账户{i % accounts}",
        }
        for i in range(n)
    ]


class SimHandle:
    """The Feishu simulator, in a child process or in a thread here; read over HTTP only."""

    def __init__(self, profile: str, in_process: bool) -> None:
        app_id = f"cli_bench{uuid.uuid4().hex[:12]}"
        self._proc: Any = None
        if in_process:
            sim = FeishuSim(None, knobs=FeishuKnobs.for_profile(profile), app_id=app_id)
            self._served = serve_in_thread(sim.app)
            info = _info(sim, self._served.url)
        else:
            ctx = mp.get_context("spawn")
            self._conn, child = ctx.Pipe()
            self._proc = ctx.Process(target=_serve_child, args=(profile, app_id, child))
            self._proc.start()
            info = self._conn.recv()
        self.url: str = info["url"]
        self.app_id, self.app_secret, self.app_token = (
            info["app_id"],
            info["app_secret"],
            info["app_token"],
        )

    def counters(self) -> dict[str, int]:
        with urlopen(f"{self.url}/_sandbox/counters", timeout=10) as r:  # noqa: S310 - loopback
            return json.loads(r.read())

    def stop(self) -> None:
        if self._proc is None:
            self._served.stop()
            return
        self._conn.send("stop")
        self._proc.join(15)


def _info(sim: FeishuSim, url: str) -> dict[str, str]:
    return {
        "url": url,
        "app_id": sim.app_id,
        "app_secret": sim.app_secret,
        "app_token": sim.app_token,
    }


def _serve_child(profile: str, app_id: str, conn: Any) -> None:
    sim = FeishuSim(None, knobs=FeishuKnobs.for_profile(profile), app_id=app_id)
    served = serve_in_thread(sim.app)
    conn.send(_info(sim, served.url))
    conn.recv()  # until the bench says stop
    served.stop()


def delta(after: dict[str, int], before: dict[str, int], name: str) -> int:
    return after.get(name, 0) - before.get(name, 0)


def mean_latency_s(knobs: FeishuKnobs, endpoint: str) -> float:
    base, jitter = knobs.endpoint_latency_ms.get(endpoint, (knobs.latency_ms, knobs.jitter_ms))
    return (base + jitter / 2) / 1000  # latency = base + uniform(0, jitter)


def write_limit(knobs: FeishuKnobs, endpoint: str) -> float | None:
    return knobs.endpoint_qps.get(endpoint, knobs.write_qps)


def run(
    sink: BitableSink, spec: Any, rows: list[dict[str, Any]], label: str
) -> tuple[SinkResult, float]:
    t0 = time.perf_counter()
    res = sink.upsert(spec, rows)
    wall = time.perf_counter() - t0
    print(
        f"{label:<14} created={res.created} updated={res.updated} unchanged={res.unchanged} "
        f"calls={res.calls} write_calls={res.write_calls} retries={res.retries or {}} "
        f"wall={wall:.1f}s",
        flush=True,
    )
    return res, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--rotate", default="day", choices=["none", "month", "week", "day"])
    ap.add_argument("--profile", default="realistic", choices=["fast", "realistic", "chaos"])
    ap.add_argument("--sim", default="process", choices=["process", "thread"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    knobs = FeishuKnobs.for_profile(args.profile)  # the child builds the same from the profile
    sim = SimHandle(args.profile, in_process=args.sim == "thread")
    tmp = tempfile.TemporaryDirectory(prefix="adsync-bitable-bench-")
    url = f"sqlite:///{Path(tmp.name) / 'adsync.db'}"
    upgrade(url)
    engine = make_engine(url)
    qps = write_limit(knobs, "records.batch_create")
    client = build_client(sim.app_id, sim.app_secret, sim.url, timeout_s=30)
    # Pace at the simulator's write limit (its latency dominates anyway at these settings).
    api = BitableApi(client, sim.app_token, pacing=Pacing(write_qps=qps or 0, read_qps=0))
    cap = knobs.max_records_per_table or 20_000
    sink = BitableSink(api, engine, record_cap=cap)
    spec = LOCAL_PROMOTION_DAILY.configured(BitableTableConfig(rotate=args.rotate))
    try:
        rows = make_rows(args.rows, days=args.days)
        print(
            f"profile={args.profile} rows={len(rows)} days={args.days} rotate={args.rotate} "
            f"cap={cap} sim={sim.url} ({args.sim})",
            flush=True,
        )
        # Table creation is setup, not the load: every period table the rows need.
        if spec.rotate == "none":
            sink.ensure_table(spec)
        else:
            from integrations.feishu.capacity import period_label

            for label in sorted({period_label(spec.rotate, r["stat_date"]) for r in rows}):
                sink.ensure_table(sink.period_spec(spec, label))

        c0 = sim.counters()
        first, wall = run(sink, spec, rows, "first load")
        c1 = sim.counters()
        create_calls = delta(c1, c0, "records.batch_create")
        lat = mean_latency_s(knobs, "records.batch_create")
        per_call = max(lat, 1 / qps if qps else 0.0)
        floor = create_calls * per_call or float("nan")  # nan: the fast profile has none
        print(
            f"floor: {create_calls} creates x max(mean latency {lat:.3f}s, 1/{qps}/s) "
            f"= {floor:.1f}s; wall/floor = {wall / floor:.2f}",
            flush=True,
        )
        print(
            f"calls: {first.calls} ({first.calls - create_calls} besides the creates); "
            f"simulator: {delta(c1, c0, 'writes')} writes, "
            f"{delta(c1, c0, 'write_overlaps')} overlapping",
            flush=True,
        )
        sizes = {str(t.name): api.count_records(str(t.table_id)) for t in api.list_tables()}
        print(f"tables: {len(first.tables)}, largest {max(sizes.values())} records (cap {cap})")

        c0 = sim.counters()
        run(sink, spec, rows, "rerun")
        rerun_writes = delta(sim.counters(), c0, "writes")

        rng = random.Random(11)
        changed = rng.sample(range(len(rows)), k=max(1, len(rows) // 100))
        for i in changed:
            rows[i]["show_cnt"] += 1
        c0 = sim.counters()
        _, changed_wall = run(sink, spec, rows, "1% changed")
        update_calls = delta(sim.counters(), c0, "records.batch_update")
        print(
            f"update calls: {update_calls} (≥ ceil({len(changed)}/500) = "
            f"{math.ceil(len(changed) / 500)}, one chunk per period table at least)"
        )
        print(
            f"RESULT rows={len(rows)} tables={len(first.tables)} "
            f"max_table_records={max(sizes.values())} create_calls={create_calls} "
            f"wall_s={wall:.1f} floor_s={floor:.1f} wall_over_floor={wall / floor:.2f} "
            f"rerun_writes={rerun_writes} changed_update_calls={update_calls} "
            f"changed_wall_s={changed_wall:.1f}"
        )
        assert first.created == len(rows) and max(sizes.values()) <= cap
    finally:
        sim.stop()
        engine.dispose()
        tmp.cleanup()


if __name__ == "__main__":
    main()
