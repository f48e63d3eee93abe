"""DOU+ flow end to end: the sandbox over real HTTP, the real client/token store/lark-oapi sink, a
real Prefect server, SQLite and PostgreSQL.

- a clean run matches the simulator's truth; a rerun makes 0 Bitable writes;
- the rule: the order list shows each order's own numbers, only the video ranking sums them;
- chaos (transient faults on both APIs, hostile data, the access token expiring mid-run) ends
  with the same DB and Bitable as a fault-free run on the same data;
- ``adsync run douplus`` SIGKILLed in a subprocess while its first Bitable create is in flight
  (Feishu commits, our record map holds it as pending), then rerun: 0 duplicates, equal to a
  clean run.

The simulator derives an order's status from the wall clock (DELIVERING until its end time), so
comparisons between runs leave out ``task_status`` / 订单状态: it may legitimately move between
two runs a few seconds apart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from flows.douplus import douplus_daily
from flows.summary import RunStatus, RunSummary
from flows.sync_run import summary_of
from flows.window import china_today
from integrations.database import tables
from integrations.database.engine import make_engine
from sandbox.oceanengine.knobs import OceanEngineKnobs
from sandbox.server import Sandbox
from tests.conftest import PG_URL, _server_db
from tests.flows.sandboxed import bitable_snapshot, db_snapshot, point_at, subprocess_env
from tests.flows.test_transforms_douplus_periods import reference

ORDERS_TABLE = "DOU+订单"
VIDEOS_TABLE = "DOU+视频日报"
DB_TABLES = (tables.douplus_orders, tables.douplus_order_daily, tables.douplus_video_daily)
DATA = {"orders_per_aweme": 24}  # 3 抖音号 × 24 orders, ~3 orders per video
REPORT = "v3.0/douplus/order/report"
STATUS_COLUMN, STATUS_FIELD = "task_status", "订单状态"


# --- helpers ---------------------------------------------------------------------------------


def run(**params: Any) -> RunSummary:
    state = douplus_daily(return_state=True, **params)
    summary = summary_of(state)
    assert isinstance(summary, RunSummary), f"{state.name}: {state.message}"
    return summary


def db_state(db_url: str) -> dict[str, set[tuple[Any, ...]]]:
    out = {}
    for t in DB_TABLES:
        rows = db_snapshot(db_url, t)
        if t is tables.douplus_orders:
            cols = [c.name for c in t.c if c.name not in tables.BOOKKEEPING_COLUMNS]
            i = cols.index(STATUS_COLUMN)
            rows = {r[:i] + r[i + 1 :] for r in rows}
        out[t.name] = rows
    return out


def bitable_state(
    sb: Sandbox, table: str, app_token: str | None = None
) -> dict[str, dict[str, Any]]:
    """Primary key → fields (without 订单状态); asserts there is no duplicate key. In base
    ``app_token`` (default: the sandbox's own)."""
    keys, records = bitable_snapshot(sb, table, app_token)
    dupes = {k: n for k, n in keys.items() if n > 1}
    assert not dupes, f"{table}: duplicate keys {dupes}"
    primary = "业务键"
    out = {}
    for r in records:
        fields = {k: v for k, v in r["fields"].items() if k != STATUS_FIELD}
        out[_text(fields[primary])] = fields
    return out


def _text(v: Any) -> str:
    if isinstance(v, list):
        return "".join(seg.get("text", "") for seg in v if isinstance(seg, dict))
    return str(v)


def money(v: Any) -> Decimal:
    """A Bitable number cell holding yuan → Decimal at 2 places."""
    return Decimal(str(v)).quantize(Decimal("0.01"))


def truth_stats(sb: Sandbox, start: date, end: date) -> dict[tuple[int, date], Decimal]:
    """(order_id, day) → cost in yuan, from the simulator's own data (fen)."""
    out = {}
    day = start
    while day <= end:
        for acc in sb.data.aweme_accounts:
            for o in sb.data.douplus_orders(acc.aweme_sec_uid):
                m = sb.data.order_daily(o, day)
                if m is not None:
                    out[(o.order_id, day)] = Decimal(int(m["stat_cost"])) / 100
        day += timedelta(days=1)
    return out


def feishu_writes(sb: Sandbox) -> int:
    return int(sb.counters()["feishu"]["writes"])


def window_with_live_stats(sb: Sandbox) -> dict[str, str]:
    """A 3-day backfill ending on the latest day a LIVE order (no video) spent, so the run has
    stats that the video ranking cannot attribute."""
    live = [
        o
        for a in sb.data.aweme_accounts
        for o in sb.data.douplus_orders(a.aweme_sec_uid)
        if o.scene_type == "LIVE"
    ]
    for back in range(1, 41):
        day = sb.data.today - timedelta(days=back)
        if any(sb.data.order_daily(o, day) is not None for o in live):
            return {"start": (day - timedelta(days=2)).isoformat(), "end": day.isoformat()}
    raise AssertionError("the simulator must have LIVE orders with stats")


@dataclass
class Clean:
    sb: Sandbox
    db: str
    data_dir: Path
    window: dict[str, str]
    summary: RunSummary
    state: tuple[Any, ...]


def states(sb: Sandbox, db: str) -> tuple[Any, ...]:
    return db_state(db), bitable_state(sb, ORDERS_TABLE), bitable_state(sb, VIDEOS_TABLE)


@pytest.fixture(scope="module")
def clean(prefect_server, tmp_path_factory) -> Iterator[Clean]:
    """One fault-free run (fast sandbox, SQLite), shared as the reference of several tests."""
    tmp = tmp_path_factory.mktemp("douplus-clean")
    with (
        pytest.MonkeyPatch.context() as mp,
        Sandbox(profile="fast", state_dir=tmp / "sb", **DATA) as sb,
    ):
        mp.chdir(tmp)
        db = f"sqlite:///{tmp / 'app.db'}"
        point_at(sb, tmp / "data", mp, db)
        window = window_with_live_stats(sb)
        summary = run(**window)
        yield Clean(sb, db, tmp / "data", window, summary, states(sb, db))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (sandbox ids repeat across sandboxes)."""
    yield from _server_db(PG_URL, "postgresql")


# --- clean run, rerun, the order-versus-video rule ---------------------------------------------


def test_clean_run_matches_truth_and_rerun_writes_nothing(clean: Clean, monkeypatch):
    sb, db, first = clean.sb, clean.db, clean.summary
    start, end = (date.fromisoformat(clean.window[k]) for k in ("start", "end"))
    assert first.status is RunStatus.SUCCESS, first.text()
    assert len(first.ok_accounts) == len(sb.data.aweme_accounts)

    # DB: every (order, day) the simulator has, money exact; every such order known.
    truth = truth_stats(sb, start, end)
    assert truth, "the window must contain DOU+ stats"
    cols = [c.name for c in tables.douplus_order_daily.c]
    stats = {
        (r[cols.index("order_id")], r[cols.index("stat_date")]): r[cols.index("cost")]
        for r in db_snapshot(db, tables.douplus_order_daily)
    }
    assert stats == truth
    # Incremental order list: created in the last 7 days, plus every order with stats.
    orders = {r[0] for r in db_snapshot(db, tables.douplus_orders)}
    recent = {
        o.order_id
        for a in sb.data.aweme_accounts
        for o in sb.data.douplus_orders(a.aweme_sec_uid)
        if o.create_time.date() >= sb.data.today - timedelta(days=7)
    }
    assert orders == recent | {oid for oid, _ in truth}
    live = {
        o.order_id
        for a in sb.data.aweme_accounts
        for o in sb.data.douplus_orders(a.aweme_sec_uid)
        if o.scene_type == "LIVE"
    }
    live_stats = [k for k in truth if k[0] in live]
    assert live_stats
    # Stats of orders without a video (LIVE) are counted and reported, never silently lost.
    warned = [w for w in first.warnings if "without a known video" in w]
    assert warned and f"{len(live_stats)} order stat row(s)" in warned[0], first.warnings
    videos = db_snapshot(db, tables.douplus_video_daily)
    assert sum(r[3] for r in videos) == len(truth) - len(live_stats)  # order_count sums

    # Bitable: one record per DB row, no duplicates, a view per 抖音号.
    assert len(clean.state[1]) == len(orders)
    assert len(clean.state[2]) == len(videos)
    fs = sb.fs
    for name in (ORDERS_TABLE, VIDEOS_TABLE):
        table = next(t for t in fs.tables(fs.app_token) if t["name"] == name)
        views = {v["view_name"] for v in fs.views(fs.app_token, table["table_id"])}
        assert {a.account_name for a in sb.data.aweme_accounts} <= views, views

    # Rerun: nothing changed upstream → no Bitable write at all, nothing new in the DB.
    point_at(sb, clean.data_dir, monkeypatch, db)
    sb.reset_counters()
    again = run(**clean.window)
    assert again.status is RunStatus.SUCCESS, again.text()
    assert feishu_writes(sb) == 0, sb.counters()["feishu"]
    for name, s in again.sinks.items():
        assert s.inserted == 0 and s.deleted == 0, (name, s)
    assert states(sb, db) == clean.state


def _rows(db_url: str, table: Any) -> list[dict[str, Any]]:
    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            return [dict(r) for r in conn.execute(select(table)).mappings()]
    finally:
        eng.dispose()


def test_period_rankings_equal_a_recount_of_the_order_day_rows(clean: Clean):
    """The rankings the run stored equal a plain Decimal recount of the DB's order-day rows
    (tests/flows/test_transforms_douplus_periods.py reference), and Bitable holds each once."""
    sb, db = clean.sb, clean.db
    stats = _rows(db, tables.douplus_order_daily)
    pairs = {o["order_id"]: o["item_id"] for o in _rows(db, tables.douplus_orders)}
    videos = _rows(db, tables.douplus_video_periods)
    accounts = _rows(db, tables.douplus_account_periods)
    assert videos and accounts
    (as_of,) = {r["as_of"] for r in videos + accounts}
    assert as_of == china_today("Asia/Shanghai") - timedelta(days=1)  # the last settled day
    want_v, want_a = reference([r for r in stats if r["stat_date"] <= as_of], pairs, as_of)

    def norm(rows: list[dict], key: tuple[str, ...]) -> dict[tuple, dict]:
        return {
            tuple(r[k] for k in key): {k: v for k, v in r.items() if k != "updated_at"}
            for r in rows
        }

    assert norm(videos, ("period", "item_id")) == norm(want_v, ("period", "item_id"))
    assert norm(accounts, ("period", "aweme_sec_uid")) == norm(want_a, ("period", "aweme_sec_uid"))
    # Bitable: one record per DB row, no duplicate key, the cost as stored, a view per 抖音号;
    # records created in ranking order (the view API cannot sort: docs/contracts/feishu.md V3).
    for name, rows in (("DOU+视频排行", videos), ("DOU+账号日报", accounts)):
        keys, records = bitable_snapshot(sb, name)
        assert max(keys.values()) == 1 and len(records) == len(rows)
        costs = sorted(money(r["fields"]["消耗(元)"]) for r in records)
        assert costs == sorted(r["total_cost"] for r in rows)
        fs = sb.fs
        table = next(t for t in fs.tables(fs.app_token) if t["name"] == name)
        views = {v["view_name"] for v in fs.views(fs.app_token, table["table_id"])}
        assert {a.account_name for a in sb.data.aweme_accounts} <= views, views
    _, records = bitable_snapshot(sb, "DOU+账号日报")
    ranks: dict[str, list[int]] = {}
    for r in records:
        ranks.setdefault(_text(r["fields"]["周期"]), []).append(int(r["fields"]["消耗排名"]))
    assert set(ranks) <= {"当日", "近7天", "近30天", "累计"} and "累计" in ranks
    assert all(v == list(range(1, len(v) + 1)) for v in ranks.values()), ranks


def _two_orders_of_one_video(sb: Sandbox) -> tuple[date, str, int, list[int]]:
    """A day (before today) on which one video has two orders that both spent."""
    today = sb.data.today
    for back in range(1, 45):
        day = today - timedelta(days=back)
        for acc in sb.data.aweme_accounts:
            by_video: dict[int, list[int]] = {}
            for o in sb.data.douplus_orders(acc.aweme_sec_uid):
                m = sb.data.order_daily(o, day)
                if o.scene_type == "VIDEO" and m is not None and m["stat_cost"] > 0:
                    by_video.setdefault(o.item_id, []).append(o.order_id)
            for item, oids in sorted(by_video.items()):
                if len(oids) >= 2:
                    return day, acc.aweme_sec_uid, item, sorted(oids)
    raise AssertionError("the simulator must have a video with two orders on one day")


def test_order_list_shows_order_numbers_only_the_video_ranking_sums(
    prefect_server, tmp_path, monkeypatch
):
    with Sandbox(profile="fast", state_dir=tmp_path / "sb", **DATA) as sb:
        db = f"sqlite:///{tmp_path / 'app.db'}"
        point_at(sb, tmp_path / "data", monkeypatch, db)
        day, uid, item, oids = _two_orders_of_one_video(sb)
        summary = run(date=day.isoformat(), full=True, accounts=[uid])
        assert summary.status is RunStatus.SUCCESS, summary.text()
        # One 抖音号 asked for; full: every order it created in the last 90 days.
        assert [a.account_id for a in summary.accounts] == [uid]
        assert {r[0] for r in db_snapshot(db, tables.douplus_orders)} == {
            o.order_id for o in sb.data.douplus_orders(uid)
        }

        truth = truth_stats(sb, day, day)
        own = {oid: truth[(oid, day)] for oid in oids}
        orders = {int(k): f for k, f in bitable_state(sb, ORDERS_TABLE).items()}
        shown = {oid: money(orders[oid]["消耗(元)"]) for oid in oids}
        # Each order row shows that order's own spend, and two orders of the video differ.
        assert shown == own
        assert len(set(shown.values())) == len(shown), shown
        for oid in oids:
            assert _text(orders[oid]["视频ID"]) == str(item)
        # Only the video ranking sums them.
        videos = bitable_state(sb, VIDEOS_TABLE)
        row = videos[f"{day.isoformat()}|{item}"]
        total = sum(own.values(), Decimal(0))
        assert money(row["消耗(元)"]) == total
        assert row["订单数"] == len(oids)
        assert all(v != total for v in shown.values())
        assert not any(money(f.get("消耗(元)") or 0) == total for f in orders.values())
        plays = {oid: orders[oid]["播放数"] for oid in oids}
        assert row["播放数"] == sum(plays.values()) and len(set(plays.values())) == len(plays)


def test_money_unit_mismatch_fails_the_run_in_one_line(prefect_server, tmp_path, monkeypatch):
    with Sandbox(profile="fast", state_dir=tmp_path / "sb", **DATA) as sb:
        sb.oe.knobs.douplus_money_unit = "yuan"  # the API answers in yuan with decimals
        db = f"sqlite:///{tmp_path / 'app.db'}"
        point_at(sb, tmp_path / "data", monkeypatch, db)  # setting: fen (the default)
        window = window_with_live_stats(sb)
        failed = run(**window)
        assert failed.status is RunStatus.FAILED
        line = failed.failure_message()
        assert "\n" not in line and line.count("ADSYNC_DOUPLUS_MONEY_UNIT") >= 1, line
        assert "ADSYNC_DOUPLUS_MONEY_UNIT=yuan" in line and "not a whole number of fen" in line
        assert failed.failed_accounts == []  # the setting's fault, not an account's
        assert db_snapshot(db, tables.douplus_order_daily) == set()  # nothing stored 100× off

        monkeypatch.setenv("ADSYNC_DOUPLUS_MONEY_UNIT", "yuan")
        point_at(sb, tmp_path / "data", monkeypatch, db)
        ok = run(**window)
        assert ok.status is RunStatus.SUCCESS, ok.text()
        cols = [c.name for c in tables.douplus_order_daily.c]
        stats = {
            (r[cols.index("order_id")], r[cols.index("stat_date")]): r[cols.index("cost")]
            for r in db_snapshot(db, tables.douplus_order_daily)
        }
        start, end = (date.fromisoformat(window[k]) for k in ("start", "end"))
        assert stats == truth_stats(sb, start, end)


# --- chaos ----------------------------------------------------------------------------------


def _hostile_only(knobs: OceanEngineKnobs) -> OceanEngineKnobs:
    """The chaos profile's data (hostile numbers, '-', missing fields) without faults or delay."""
    return replace(
        knobs,
        fault_rate={},
        fault_schedule=[],
        latency_ms=0.0,
        jitter_ms=0.0,
        endpoint_latency_ms={},
        qps_limit=None,
    )


def _expire_tokens_when(sb: Sandbox, endpoint: str, nth: int, stop: threading.Event) -> None:
    while not stop.is_set():
        if sb.oe.counters_snapshot()["requests"].get(endpoint, 0) >= nth:
            sb.oe.expire_access_tokens()
            return
        time.sleep(0.01)


def test_chaos_run_equals_a_fault_free_run(prefect_server, tmp_path, monkeypatch, pg_url):
    chaos_knobs = OceanEngineKnobs.for_profile("chaos")
    # Reference: the same data, no faults, on SQLite.
    with Sandbox(profile="fast", state_dir=tmp_path / "ref", **DATA) as ref:
        ref.oe.knobs = _hostile_only(chaos_knobs)
        ref_db = f"sqlite:///{tmp_path / 'ref.db'}"
        point_at(ref, tmp_path / "ref-data", monkeypatch, ref_db)
        window: dict[str, str] = {}  # the daily default: yesterday + lookback
        clean = run(**window)
        assert clean.status is RunStatus.SUCCESS, clean.text()
        expected = (
            db_state(ref_db),
            bitable_state(ref, ORDERS_TABLE),
            bitable_state(ref, VIDEOS_TABLE),
        )

    # Chaos on PostgreSQL: faults on both APIs, and the access token expires mid-run.
    with Sandbox(profile="chaos", state_dir=tmp_path / "chaos", **DATA) as sb:
        # Random faults at the profile's rates, plus one of each kind for certain.
        sb.oe.knobs = replace(
            chaos_knobs,
            timeout_sleep_s=2.5,  # > the client's 1.5 s timeout
            fault_schedule=[
                (REPORT, 2, "code_50000"),
                (REPORT, 3, "html_502"),
                ("v3.0/douplus/order/list", 1, "timeout"),
                ("v3.0/douplus/order/list", 2, "token_revoked"),
            ],
        )
        sb.fs.knobs.timeout_s = 1.0
        sb.fs.knobs.latency_ms, sb.fs.knobs.endpoint_latency_ms = 0.0, {}  # faults, not waits
        sb.fs.knobs.fault_schedule = [
            ("records.batch_create", 1, "code_1254607"),
            ("records.batch_create", 2, "timeout"),  # commits, then 1255040: outcome unknown
            ("records.search", 1, "html_502"),
        ]
        monkeypatch.setenv("ADSYNC_OCEANENGINE_TIMEOUT_S", "1.5")
        point_at(sb, tmp_path / "chaos-data", monkeypatch, pg_url)
        stop = threading.Event()
        watcher = threading.Thread(
            target=_expire_tokens_when, args=(sb, REPORT, 4, stop), daemon=True
        )
        watcher.start()
        try:
            summary = run(**window)
        finally:
            stop.set()
            watcher.join(5)
        assert summary.status is RunStatus.SUCCESS, summary.text()
        oe = sb.oe.counters_snapshot()
        assert sum(oe["faults"].values()) >= 4, oe["faults"]
        assert any("40102" in codes for codes in oe["codes"].values()), "token never expired"
        got = (db_state(pg_url), bitable_state(sb, ORDERS_TABLE), bitable_state(sb, VIDEOS_TABLE))
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert got[2] == expected[2]


# --- kill and rerun -------------------------------------------------------------------------


def _adsync(env: dict[str, str], *args: str) -> subprocess.Popen:
    exe = str(Path(sys.executable).with_name("adsync"))
    return subprocess.Popen(
        [exe, "run", "douplus", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_sigkill_at_first_bitable_create_then_rerun_converges(
    clean: Clean, prefect_server, tmp_path, monkeypatch
):
    with Sandbox(profile="fast", state_dir=tmp_path / "sb", **DATA) as sb:
        # Creates take a moment, so the kill lands while the first one is in flight.
        sb.fs.knobs.endpoint_latency_ms = {"records.batch_create": (600.0, 0.0)}
        db = f"sqlite:///{tmp_path / 'app.db'}"
        env = subprocess_env(point_at(sb, tmp_path / "data", monkeypatch, db), prefect_server.env)
        args = ["--start", clean.window["start"], "--end", clean.window["end"]]
        proc = _adsync(env, *args)
        deadline = time.monotonic() + 60
        while sb.counters()["feishu"].get("records.batch_create", 0) < 1:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"adsync exited ({proc.returncode}) before the kill point:\n{out}")
            assert time.monotonic() < deadline, "no Bitable create within 60 s"
            time.sleep(0.005)
        # The counter ticks when the request arrives; give the server a moment to read the body
        # (well inside the 600 ms it then holds the answer), so the kill lands mid-create.
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        time.sleep(0.8)  # the in-flight create completes on the server side
        # The worst moment: Feishu committed the records, our map only knows them as pending.
        assert bitable_snapshot(sb, ORDERS_TABLE)[1], "the killed create did not land"
        assert _pending(db) > 0

        sb.fs.knobs.endpoint_latency_ms = {}
        rerun = run(**clean.window)  # in this process: same settings, token store and DB
        assert rerun.status is RunStatus.SUCCESS, rerun.text()
        got = states(sb, db)
        assert _pending(db) == 0
        ledger_statuses = _ledger(db)
    assert got[0] == clean.state[0]
    assert got[1] == clean.state[1]
    assert got[2] == clean.state[2]
    # The killed run's ledger row stays RUNNING (no process left to close it); the rerun's is green.
    assert ledger_statuses == ["RUNNING", "SUCCESS"], ledger_statuses


def _pending(db_url: str) -> int:
    import sqlalchemy as sa

    from integrations.database.engine import make_engine
    from integrations.feishu.record_map import PENDING_PREFIX

    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            t = tables.bitable_record_map
            q = sa.select(sa.func.count()).where(t.c.record_id.startswith(PENDING_PREFIX))
            return int(conn.execute(q).scalar_one())
    finally:
        eng.dispose()


def _ledger(db_url: str) -> list[str]:
    import sqlalchemy as sa

    from integrations.database.engine import make_engine

    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            t = tables.sync_runs
            q = sa.select(t.c.status).where(t.c.flow == "douplus-daily").order_by(t.c.id)
            return [r[0] for r in conn.execute(q)]
    finally:
        eng.dispose()
