"""Bench: pull yesterday's 本地推 promotion report for N accounts at the app's QPS limit.

    .venv/bin/python bench/fetch_reports.py --accounts 1000 --qps 20

Runs the sandbox at its *realistic* latency (report calls 250 ± 80 ms) with its QPS limit set to
``--qps`` (over it: code 40100), then:

1. concurrent: one shared ``OceanEngineClient`` (rate limiter at QPS, thread pool of
   ``--workers``), every account's report; prints wall time, calls, the floor (calls ÷ QPS) and
   wall ÷ floor, and checks every expected row arrived;
2. serial: one account after another, as the older cron scripts do. Measured on a sample of
   ``--serial-sample`` accounts and extrapolated linearly to N (stated in the output);
3. the speed-up, and the ceiling any concurrency can reach against serial: serial pays one
   latency per call, concurrent pays 1/QPS, so speed-up ≤ QPS × mean latency.

With ``--processes P`` the concurrent pull is split over P worker processes that share one
``FileLockedSchedule`` (the multi-process limiter) instead of one process with threads.

Last line: ``RESULT accounts=... qps=... calls=... wall_s=... floor_s=... wall_over_floor=...
serial_s=... speedup=...``
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integrations.sources.oceanengine.client import OceanEngineClient  # noqa: E402
from integrations.sources.oceanengine.endpoints import fetch_local_promotion_report  # noqa: E402
from integrations.sources.oceanengine.errors import OceanEngineError, PermissionDenied  # noqa: E402
from integrations.sources.oceanengine.ratelimit import app_limiter  # noqa: E402
from sandbox.oceanengine.data import SandboxData  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402
from tests.oceanengine.token_provider import SandboxTokenProvider  # noqa: E402

REPORT = "v3.0/local/report/promotion/get"


class _FixedToken:
    """Worker processes get the parent's token; a refresh is not expected within a bench."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get(self) -> str:
        return self.token

    def refresh(self, stale: str) -> str:
        return self.token


def _pull_all(
    client: OceanEngineClient, accounts: list[int], day: date, workers: int
) -> tuple[int, int, int]:
    """(rows, failed accounts other than permission, permission-denied accounts)."""

    def one(acct: int) -> tuple[int, int, int]:
        try:
            rows, _ = fetch_local_promotion_report(client, acct, day, day)
            return len(rows), 0, 0
        except PermissionDenied:
            return 0, 0, 1
        except OceanEngineError as e:
            print(f"  account {acct} failed: {e}", file=sys.stderr)
            return 0, 1, 0

    if workers <= 1:
        results = [one(a) for a in accounts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(one, accounts))
    return tuple(sum(col) for col in zip(*results, strict=True))  # type: ignore[return-value]


def _process_worker(
    url: str,
    token: str,
    qps: float,
    path: str,
    accounts: list[int],
    day: date,
    workers: int,
    ready,
    go,
    out,
) -> None:
    logging.basicConfig(level=logging.ERROR)
    limiter = app_limiter(qps, shared_path=path)
    with OceanEngineClient(
        _FixedToken(token), base_url=url, qps=qps, timeout_s=10, limiter=limiter
    ) as client:
        ready.put(True)
        go.wait()
        rows, failed, denied = _pull_all(client, accounts, day, workers)
        out.put((rows, failed, denied, client.stats.total))


def _concurrent_processes(
    sb: _RemoteSandbox, token: str, args: argparse.Namespace, accounts: list[int], day: date
) -> tuple[float, int, int, int, int]:
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    path = str(Path(tempfile.mkdtemp()) / "oe.slot")
    shares = [accounts[i :: args.processes] for i in range(args.processes)]
    per_proc_workers = max(1, args.workers // args.processes)
    procs = [
        ctx.Process(
            target=_process_worker,
            args=(sb.url, token, args.qps, path, share, day, per_proc_workers, ready, go, out),
        )
        for share in shares
    ]
    for p in procs:
        p.start()
    for _ in procs:  # imports done before the clock starts
        ready.get(timeout=120)
    t0 = time.monotonic()
    go.set()
    parts = [out.get(timeout=3600) for _ in procs]
    wall = time.monotonic() - t0
    for p in procs:
        p.join(10)
    rows, failed, denied, calls = (sum(col) for col in zip(*parts, strict=True))
    return wall, rows, failed, denied, calls


def _serve_sandbox(args: argparse.Namespace, info, stop) -> None:
    """The sandbox in its own process: like the real API it must not share our GIL."""
    with Sandbox(
        profile="realistic",
        seed=args.seed,
        n_local_accounts=args.accounts,
        promotions_per_account=20,
    ) as sb:
        sb.oe.knobs.qps_limit = args.qps
        if args.report_latency_ms is not None:  # sensitivity run: the real latency is unknown
            sb.oe.knobs.endpoint_latency_ms[REPORT] = (
                args.report_latency_ms,
                args.report_latency_ms * 0.3,
            )
        lat, jit = sb.oe.knobs.latency_for(REPORT)
        info.put((sb.oceanengine_url, sb.oe.app_id, sb.oe.app_secret, sb.data.today, lat, jit))
        stop.wait()


class _RemoteSandbox:
    """Handle on the sandbox process: URL, app, counters over its /_sandbox endpoints."""

    def __init__(self, args: argparse.Namespace) -> None:
        ctx = mp.get_context("spawn")
        self._info, self._stop = ctx.Queue(), ctx.Event()
        self._proc = ctx.Process(target=_serve_sandbox, args=(args, self._info, self._stop))
        self._proc.start()
        self.url, self.app_id, self.app_secret, today, self.lat, self.jit = self._info.get(
            timeout=120
        )
        # Same seed and day → the same data the server serves: our expected values.
        self.data = SandboxData.generate(
            seed=args.seed, n_local_accounts=args.accounts, promotions_per_account=20, today=today
        )

    def auth_code(self) -> str:
        return httpx.post(f"{self.url}/_sandbox/auth_code").json()["auth_code"]

    def counters(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sandbox/counters").json()

    def reset_counters(self) -> None:
        httpx.post(f"{self.url}/_sandbox/counters/reset")

    def close(self) -> None:
        self._stop.set()
        self._proc.join(15)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--qps", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=32, help="threads (total over processes)")
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--serial-sample", type=int, default=100, help="accounts timed serially")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--report-latency-ms",
        type=float,
        help="override the realistic report latency (mean, ±30%% jitter): the speed-up over "
        "serial is bounded by QPS × latency, and Ocean Engine's real latency is unconfirmed",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)

    sb = _RemoteSandbox(args)
    try:
        day = sb.data.today - timedelta(days=1)
        accounts = [a.id for a in sb.data.local_accounts]
        expected_rows = sum(
            len(sb.data.delivering_promotions(a.id, day))
            for a in sb.data.local_accounts
            if not a.forbidden
        )
        provider = SandboxTokenProvider(sb.url, sb.app_id, sb.app_secret, sb.auth_code())
        print(
            f"sandbox (own process): realistic profile, report latency {sb.lat:.0f}±{sb.jit:.0f}"
            f" ms{' (--report-latency-ms override)' if args.report_latency_ms else ''}, QPS limit {args.qps:g}; {args.accounts} accounts × 20 promotions, day {day}"
        )
        time.sleep(1.1)  # the server's rolling QPS window forgets the token exchange
        sb.reset_counters()

        # 1. concurrent
        if args.processes > 1:
            wall, rows, failed, denied, calls = _concurrent_processes(
                sb, provider.get(), args, accounts, day
            )
            threads = max(1, args.workers // args.processes)
            mode = f"{args.processes} processes × {threads} threads, shared file-locked schedule"
        else:
            with OceanEngineClient(provider, base_url=sb.url, qps=args.qps, timeout_s=10) as client:
                t0 = time.monotonic()
                rows, failed, denied = _pull_all(client, accounts, day, args.workers)
                wall = time.monotonic() - t0
                calls = client.stats.total
            mode = f"1 process × {args.workers} threads"
        server = sb.counters()
        throttled = sum(c.get("40100", 0) for c in server["codes"].values())
        floor = calls / args.qps
        print(f"concurrent ({mode}):")
        print(
            f"  wall {wall:.2f} s, calls {calls} (server saw {server['total']}, 40100: {throttled})"
        )
        print(f"  floor = calls / QPS = {floor:.2f} s, wall / floor = {wall / floor:.3f}")
        ideal = len(accounts) / args.qps  # one call per account, no retry at all
        print(f"  (vs. one call per account, no 40100 retries: {ideal:.2f} s, {wall / ideal:.3f})")
        print(
            f"  rows {rows} / expected {expected_rows}; accounts denied (40002) {denied}, "
            f"failed {failed}"
        )
        complete = rows == expected_rows and failed == 0

        # 2. serial, on a sample
        sample = accounts[: min(args.serial_sample, len(accounts))]
        time.sleep(1.1)
        with OceanEngineClient(
            provider, base_url=sb.url, qps=args.qps, timeout_s=10
        ) as serial_client:
            t0 = time.monotonic()
            _pull_all(serial_client, sample, day, workers=1)
            sample_s = time.monotonic() - t0
            sample_calls = serial_client.stats.total
        serial_s = sample_s * len(accounts) / len(sample)
        per_call = sample_s / sample_calls
        print(
            f"serial (one account after another): {len(sample)} accounts in {sample_s:.2f} s "
            f"({per_call * 1000:.0f} ms per call), extrapolated to {len(accounts)}: "
            f"{serial_s:.1f} s"
        )
        speedup = serial_s / wall
        ceiling = args.qps * per_call
        print(
            f"speed-up {speedup:.1f}x; ceiling for any concurrency at this latency: "
            f"QPS × per-call latency = {ceiling:.1f}x"
        )
        provider.close()
    finally:
        sb.close()

    print(
        f"RESULT accounts={args.accounts} qps={args.qps:g} calls={calls} wall_s={wall:.2f} "
        f"floor_s={floor:.2f} wall_over_floor={wall / floor:.3f} serial_s={serial_s:.1f} "
        f"speedup={speedup:.1f} report_latency_ms={sb.lat:.0f} ceiling={ceiling:.1f} "
        f"speedup_over_ceiling={speedup / ceiling:.3f}"
    )
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
