"""The app QPS shared through the app database (issue 20, item 3).

First the share arithmetic on each backend (holders counted, shares moved as they come and go,
a silent holder counted out after its TTL, apps independent). Then two real OS processes pacing
one app against the sandbox's rolling-second limiter, their shares leased in PostgreSQL: every
call succeeds, every 40100 was retried, and all attempts together stay at the app QPS on average
(load only stretches the wall time, so a busy machine cannot break it). The control, the same
processes under two different app ids (so not sharing), gets throttled: the limit is real.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from integrations.database.tables import oceanengine_rate_share
from integrations.sources.oceanengine.client import OceanEngineClient, RetryPolicy
from integrations.sources.oceanengine.endpoints import EP_LOCAL_REPORT
from integrations.sources.oceanengine.errors import Throttled
from integrations.sources.oceanengine.shared_ratelimit import SharedAppLimiter
from sandbox.server import Sandbox
from tests.conftest import PG_URL, _server_db
from tests.oceanengine.token_provider import SandboxTokenProvider

QPS, EACH = 10.0, 25


@pytest.fixture
def engine(any_db_url: str) -> Iterator[Engine]:
    upgrade(any_db_url)
    eng = make_engine(any_db_url)
    yield eng
    eng.dispose()


def _limiter(engine: Engine, app: str, **kw) -> SharedAppLimiter:
    kw.setdefault("heartbeat_s", 1e-6)  # beat on every acquire: counts, not timing
    return SharedAppLimiter(engine, app, 1000.0, headroom=0.0, join_wait_s=0.0, **kw)


def test_shares_follow_the_live_holders(engine: Engine) -> None:
    app = f"app-{time.monotonic_ns()}"
    a, b = _limiter(engine, app), _limiter(engine, app)
    a.acquire()
    assert (a.holders, a._bucket.qps) == (1, 1000.0)
    b.acquire()
    a.acquire()
    assert (a.holders, b.holders) == (2, 2) and a._bucket.qps == b._bucket.qps == 500.0
    other = _limiter(engine, f"{app}-other")  # another app: its own QPS, not counted here
    other.acquire()
    a.acquire()
    assert (a.holders, other.holders) == (2, 1)
    b.close()
    a.acquire()
    assert (a.holders, a._bucket.qps) == (1, 1000.0)
    assert a.max_holders == 2
    a.close()
    other.close()
    with engine.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(oceanengine_rate_share)
            .where(oceanengine_rate_share.c.app_id.in_([app, f"{app}-other"]))
        ).scalar_one()
    assert left == 0


def test_a_silent_holder_is_counted_out_after_its_ttl_and_rejoins(engine: Engine) -> None:
    app = f"app-{time.monotonic_ns()}"
    busy, silent = _limiter(engine, app), _limiter(engine, app, ttl_s=60.0)
    silent.acquire()
    busy.acquire()
    assert busy.holders == 2
    # The silent process's lease runs out (as if killed, or idle past its TTL).
    with engine.begin() as conn:
        conn.execute(
            sa.update(oceanengine_rate_share)
            .where(oceanengine_rate_share.c.holder == silent.holder)
            .values(expires_at=sa.literal(silent_expired()))
        )
    busy.acquire()
    assert busy.holders == 1
    # Back at work: it registers again (a join) and both halve.
    silent.acquire()
    busy.acquire()
    assert (busy.holders, silent.holders) == (2, 2)
    for lim in (busy, silent):
        lim.close()


def silent_expired():
    from integrations.sources.oceanengine.shared_ratelimit import _now

    return _now() - timedelta(seconds=1)


def test_a_joining_process_waits_before_its_first_request(engine: Engine) -> None:
    app = f"app-{time.monotonic_ns()}"
    slept: list[float] = []
    first = SharedAppLimiter(engine, app, 1000.0, heartbeat_s=5.0, sleep=slept.append)
    first.acquire()
    assert slept == []  # alone when it registered: no one had to slow down first
    second = SharedAppLimiter(engine, app, 1000.0, heartbeat_s=5.0, sleep=slept.append)
    second.acquire()
    second.acquire()  # registered already: no second wait
    assert len(slept) == 1 and slept[0] > 5.0  # join_wait_s = 2 heartbeats by default
    assert second.holders == 2
    for lim in (first, second):
        lim.close()


# --- two OS processes against the sandbox -----------------------------------------------------


class _FixedToken:
    def __init__(self, token: str) -> None:
        self.token = token

    def get(self) -> str:
        return self.token

    def refresh(self, stale: str) -> str:
        return self.token


def _worker(db_url: str, app: str, url: str, token: str, retry: bool, params, ready, go, out):
    engine = make_engine(db_url)
    limiter = SharedAppLimiter(engine, app, QPS, heartbeat_s=0.2)
    policy = RetryPolicy(max_attempts=8, base_delay_s=0.2) if retry else RetryPolicy(1)
    ok = throttled = 0
    with OceanEngineClient(
        _FixedToken(token), base_url=url, qps=QPS, timeout_s=5, limiter=limiter, retry=policy
    ) as client:
        limiter.join()
        ready.put(True)
        go.wait()
        first = time.time()
        for _ in range(EACH):
            try:
                client.get(EP_LOCAL_REPORT, params)
                ok += 1
            except Throttled:
                throttled += 1
        last = time.time()
        retried = client.stats.snapshot()["retries"].get("Throttled", 0)
    limiter.close()
    engine.dispose()
    out.put((ok, throttled, retried, first, last, limiter.max_holders))


def _run(sb: Sandbox, db_url: str, token: str, apps: list[str], retry: bool) -> dict:
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
            target=_worker,
            args=(db_url, app, sb.oceanengine_url, token, retry, params, ready, go, out),
        )
        for app in apps
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every worker registered its share and waited out its join delay
        ready.get(timeout=60)
    time.sleep(1.05)  # the server's rolling window is empty
    sb.oe.reset_counters()
    go.set()
    results = [out.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(10)
    return {
        "ok": sum(r[0] for r in results),
        "throttled": sum(r[1] for r in results),
        "retried": sum(r[2] for r in results),
        "seconds": max(r[4] for r in results) - min(r[3] for r in results),
        "max_holders": [r[5] for r in results],
    }


@pytest.fixture(scope="module")
def box():
    with Sandbox(profile="fast", seed=7, n_local_accounts=2, promotions_per_account=3) as sb:
        sb.oe.knobs.qps_limit = QPS
        sb.oe.knobs.latency_ms, sb.oe.knobs.jitter_ms = 20.0, 10.0
        p = SandboxTokenProvider(
            sb.oceanengine_url, sb.oe.app_id, sb.oe.app_secret, sb.oe.issue_auth_code()
        )
        yield sb, p.get()
        p.close()


@pytest.fixture(scope="module")
def pg_db() -> Iterator[str]:
    yield from _server_db(PG_URL, "postgresql")


@pytest.mark.timeout(120)
def test_two_processes_share_the_app_qps_through_postgresql(box, pg_db: str) -> None:
    sb, token = box
    upgrade(pg_db)
    r = _run(sb, pg_db, token, ["app-1", "app-1"], retry=True)
    codes = sb.oe.counters_snapshot()["codes"][EP_LOCAL_REPORT]
    assert r["max_holders"] == [2, 2]  # each saw the other and paced at half the app's QPS
    # Every call succeeded in the end; every 40100 the server sent was retried, none lost.
    assert r["ok"] == 2 * EACH and r["throttled"] == 0
    assert codes.get("0") == 2 * EACH and set(codes) <= {"0", "40100"}
    assert r["retried"] == codes.get("40100", 0)
    # All attempts (40100s included) at most the app QPS on average (10 % for window edges).
    attempts = sum(codes.values())
    assert attempts / r["seconds"] <= QPS * 1.1, (attempts, r["seconds"])


@pytest.mark.timeout(120)
def test_control_processes_not_sharing_get_throttled(box, pg_db: str) -> None:
    sb, token = box
    upgrade(pg_db)
    time.sleep(1.1)
    r = _run(sb, pg_db, token, ["app-a", "app-b"], retry=False)  # each believes it is alone
    codes = sb.oe.counters_snapshot()["codes"][EP_LOCAL_REPORT]
    assert r["max_holders"] == [1, 1]
    assert r["throttled"] > 0 and codes.get("40100", 0) == r["throttled"]
