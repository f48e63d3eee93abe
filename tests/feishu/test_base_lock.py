"""One writer per base across processes: two processes write one base, 0 overlapping writes."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from integrations.database.tables import bitable_base_lock
from integrations.feishu.base_lock import BaseBusy, BaseLock
from tests.feishu.conftest import Feishu, promotion_rows


def _writer(url: str, app_id: str, secret: str, sim_url: str, app_token: str, name: str) -> None:
    """A second flow in its own process: its own lark client, sink and DB connection."""
    from integrations.database.engine import make_engine
    from integrations.feishu.auth import build_client
    from integrations.feishu.client import BitableApi, Pacing
    from integrations.feishu.sink import BitableSink
    from integrations.feishu.specs import LOCAL_PROMOTION_DAILY
    from integrations.retry import RetryPolicy
    from integrations.settings import BitableTableConfig

    engine = make_engine(url)
    policy = RetryPolicy(max_attempts=6, base_delay_s=0.005, max_delay_s=0.02)
    api = BitableApi(
        build_client(app_id, secret, sim_url), app_token, policy=policy, pacing=Pacing(0, 0)
    )
    spec = LOCAL_PROMOTION_DAILY.configured(BitableTableConfig(name=name))
    sink = BitableSink(api, engine)
    res = sink.upsert(spec, promotion_rows(1500, days=3))
    assert res.created == 1500
    rows = promotion_rows(1500, days=3)
    for r in rows[::3]:
        r["show_cnt"] += 1
    assert sink.upsert(spec, rows).updated == 500
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """SQLite: processes of one host; PostgreSQL: the production app database, which workers
    on several hosts share (issue 20), so the lease is held there."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        from tests.conftest import PG_URL, _server_db

        yield from _server_db(PG_URL, "postgresql")


def test_two_processes_on_one_base_never_overlap_writes(feishu: Feishu, shared_db_url) -> None:
    url = shared_db_url
    from tests.feishu.conftest import _engine

    _engine(url).dispose()  # migrated once
    # Writes take a while, so unserialised writers would overlap (and get 1254291).
    feishu.sim.knobs.endpoint_latency_ms = {
        "records.batch_create": (40.0, 20.0),
        "records.batch_update": (40.0, 20.0),
    }
    feishu.sim.reset_counters()
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(
            target=_writer,
            args=(
                url,
                feishu.sim.app_id,
                feishu.sim.app_secret,
                feishu.url,
                feishu.sim.app_token,
                n,
            ),
        )
        for n in ("甲表", "乙表")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    c = feishu.sim.counters_snapshot()
    assert c["records.batch_create"] == 6 and c["records.batch_update"] == 2
    assert c["write_overlaps"] == 0


def test_lease_excludes_others_until_released_or_expired(tmp_path) -> None:
    from tests.feishu.conftest import _engine

    engine = _engine(f"sqlite:///{tmp_path / 'l.db'}")
    a = BaseLock(engine, "bascnX", holder="a")
    b = BaseLock(engine, "bascnX", holder="b", wait_s=0.05, sleep=lambda s: None)
    with a.held():
        assert not b.try_acquire()
        with pytest.raises(BaseBusy, match="another process held its writer lock"):
            b.acquire()
    assert not b.try_acquire()  # a's turn goes on after the call (until idle, turn end, release)
    a.release()
    assert b.try_acquire()
    b.release()
    short = BaseLock(engine, "bascnX", holder="c", lease_s=-1)  # a crashed holder's lease
    assert short.try_acquire()
    assert a.try_acquire()  # expired: taken over
    with engine.connect() as c:
        assert c.execute(sa.select(bitable_base_lock.c.holder)).scalar_one() == "a"


def test_a_killed_holder_on_this_host_is_taken_over_at_once(tmp_path) -> None:
    import socket
    import subprocess
    import sys

    from tests.feishu.conftest import _engine

    engine = _engine(f"sqlite:///{tmp_path / 'k.db'}")
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    child.wait()  # gone (and reaped): like a flow killed mid-call
    host = socket.gethostname()[:40]
    dead = BaseLock(engine, "bascnK", holder=f"{host}:{child.pid}:x")
    assert dead.try_acquire()  # it held a 120 s lease when it died
    me = BaseLock(engine, "bascnK", holder=f"{host}:{1 << 22}:me")
    assert me.try_acquire()  # taken over at once, not after the lease
    remote = BaseLock(engine, "bascnR", holder="otherhost:1:y")
    assert remote.try_acquire()
    assert not BaseLock(engine, "bascnR", holder=f"{host}:2:z").try_acquire()


def _holder(engine: sa.Engine) -> str | None:
    with engine.connect() as c:
        return c.execute(sa.select(bitable_base_lock.c.holder)).scalar_one()


def test_a_turn_takes_the_lease_once_for_consecutive_calls(tmp_path) -> None:
    from tests.feishu.conftest import _engine

    engine = _engine(f"sqlite:///{tmp_path / 't.db'}")
    a = BaseLock(engine, "bascnT", holder="a", idle_s=3600)
    other = BaseLock(engine, "bascnT", holder="b")
    for _ in range(5):
        with a.held():
            assert _holder(engine) == "a"
        assert not other.try_acquire()  # between a's calls too: nobody slips in
    assert a.acquisitions == 1  # one database round trip for five calls
    a.release()
    assert _holder(engine) is None and other.try_acquire()
    other.release()

    # turn_s=0: every call is a turn of its own (given back at once, as before turns)
    c = BaseLock(engine, "bascnT", holder="c", turn_s=0, sleep=lambda s: None)
    for _ in range(3):
        with c.held():
            assert _holder(engine) == "c"
        assert _holder(engine) is None
    assert c.acquisitions == 3


def test_an_idle_holder_gives_the_lease_back(tmp_path) -> None:
    import time

    from tests.feishu.conftest import _engine

    engine = _engine(f"sqlite:///{tmp_path / 'i.db'}")
    a = BaseLock(engine, "bascnI", holder="a", idle_s=0.0)
    with a.held():
        pass
    deadline = time.monotonic() + 30  # the idle timer's thread; no timing is asserted
    while _holder(engine) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _holder(engine) is None
    with a.held():  # and takes it again on its next call
        assert _holder(engine) == "a"
    a.release()
