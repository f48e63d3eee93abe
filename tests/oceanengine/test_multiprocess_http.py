"""Several worker processes, one app QPS: measured at the sandbox's own rolling-second limiter.

The sandbox answers 40100 whenever more than ``qps_limit`` calls arrive in any second, so "zero
40100" at the server is the proof that the processes together never exceeded the limit.
The control (per-process buckets, no shared schedule) shows the test can fail.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import timedelta
from pathlib import Path

import pytest

from integrations.oceanengine.client import OceanEngineClient, RetryPolicy
from integrations.oceanengine.endpoints import EP_LOCAL_REPORT
from integrations.oceanengine.errors import Throttled
from integrations.oceanengine.ratelimit import app_limiter
from integrations.sandbox.server import Sandbox
from tests.oceanengine.token_provider import SandboxTokenProvider

QPS, PROCS, EACH = 15.0, 3, 15


class _FixedToken:
    def __init__(self, token: str) -> None:
        self.token = token

    def get(self) -> str:
        return self.token

    def refresh(self, stale: str) -> str:
        return self.token


def _worker(url: str, token: str, shared: str | None, params: dict, ready, go, out) -> None:
    limiter = app_limiter(QPS, shared_path=shared)
    throttled = 0
    with OceanEngineClient(
        _FixedToken(token),
        base_url=url,
        qps=QPS,
        timeout_s=5,
        limiter=limiter,
        retry=RetryPolicy(max_attempts=1),  # count every 40100 instead of absorbing it
    ) as client:
        ready.put(True)
        go.wait()
        for _ in range(EACH):
            try:
                client.get(EP_LOCAL_REPORT, params)
            except Throttled:
                throttled += 1
    out.put(throttled)


def _run(sb: Sandbox, token: str, shared: str | None) -> tuple[int, float]:
    acct = next(a.id for a in sb.data.local_accounts if not a.forbidden)
    day = (sb.data.today - timedelta(days=1)).isoformat()
    params = {
        "local_account_id": acct,
        "start_date": day,
        "end_date": day,
        "metrics": ["stat_cost"],
        "page": 1,
        "page_size": 10,
    }
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(sb.oceanengine_url, token, shared, params, ready, go, out)
        )
        for _ in range(PROCS)
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every worker has imported and built its client
        ready.get(timeout=60)
    time.sleep(1.05)  # the server's rolling window is empty
    sb.oe.reset_counters()
    t0 = time.monotonic()
    go.set()
    throttled = sum(out.get(timeout=60) for _ in procs)
    elapsed = time.monotonic() - t0
    for p in procs:
        p.join(10)
    return throttled, elapsed


@pytest.fixture(scope="module")
def box():
    with Sandbox(profile="fast", seed=5, n_local_accounts=2, promotions_per_account=3) as sb:
        sb.oe.knobs.qps_limit = QPS
        sb.oe.knobs.latency_ms, sb.oe.knobs.jitter_ms = 20.0, 10.0
        p = SandboxTokenProvider(
            sb.oceanengine_url, sb.oe.app_id, sb.oe.app_secret, sb.oe.issue_auth_code()
        )
        yield sb, p.get()
        p.close()


@pytest.mark.timeout(90)
def test_processes_sharing_the_file_schedule_stay_under_the_app_qps(box, tmp_path: Path) -> None:
    sb, token = box
    throttled, elapsed = _run(sb, token, str(tmp_path / "oe.slot"))
    codes = sb.oe.counters_snapshot()["codes"][EP_LOCAL_REPORT]
    assert throttled == 0 and codes == {"0": PROCS * EACH}
    # And the shared rate is used, not wasted: 45 calls at ~14.5/s ≈ 3 s.
    assert elapsed < (PROCS * EACH) / QPS * 1.5


@pytest.mark.timeout(90)
def test_control_unshared_buckets_get_throttled(box) -> None:
    sb, token = box
    time.sleep(1.1)
    throttled, _ = _run(sb, token, None)
    codes = sb.oe.counters_snapshot()["codes"][EP_LOCAL_REPORT]
    assert throttled > 0 and codes.get("40100", 0) == throttled
