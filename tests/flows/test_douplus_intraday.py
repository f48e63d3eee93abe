"""douplus-intraday then the next morning's douplus-daily equals the morning run alone.

Two sandboxes with the same seed and day D (today, China). A: the intraday run on D (delivering
orders' partial numbers for D), then the calendar moves to D+1 and the "morning" run syncs D.
B: only the morning run. The DB tables and the Bitable tables (by business key) must be equal:
the intraday rows were replaced, nothing duplicated, nothing left over.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from flows.douplus import douplus_daily
from flows.douplus_intraday import douplus_intraday
from flows.summary import RunStatus, RunSummary
from flows.sync_run import summary_of
from flows.window import china_today
from integrations.database import ledger, tables
from integrations.database.engine import make_engine
from sandbox.server import Sandbox
from tests.flows.sandboxed import db_snapshot, point_at, subprocess_env
from tests.flows.test_douplus import DATA, _text, bitable_snapshot

DB_TABLES = (
    tables.douplus_orders,
    tables.douplus_order_daily,
    tables.douplus_video_daily,
    tables.douplus_video_periods,
    tables.douplus_account_periods,
)
BITABLES = ("DOU+订单", "DOU+视频日报", "DOU+视频排行", "DOU+账号日报")


def _summary(state: Any) -> RunSummary:
    s = summary_of(state)
    assert isinstance(s, RunSummary), state
    return s


def _bitable(sb: Sandbox) -> dict[str, dict[str, dict]]:
    out = {}
    for name in BITABLES:
        keys, records = bitable_snapshot(sb, name)
        assert not keys or max(keys.values()) == 1, f"{name}: duplicate keys"
        out[name] = {_text(r["fields"]["业务键"]): r["fields"] for r in records}
    return out


def _state(sb: Sandbox, db: str) -> tuple[dict, dict]:
    return {t.name: db_snapshot(db, t) for t in DB_TABLES}, _bitable(sb)


def _sandbox(tmp: Path, name: str) -> Sandbox:
    sb = Sandbox(profile="fast", state_dir=tmp / name, **DATA)
    for a in sb.data.aweme_accounts:  # orders are generated from `today`: fix them on D
        sb.data.douplus_orders(a.aweme_sec_uid)
    return sb


def _morning(sb: Sandbox, tmp: Path, db: str, mp: pytest.MonkeyPatch, day: Any) -> RunSummary:
    sb.data.today = day + timedelta(days=1)  # the next morning: D's numbers have grown
    point_at(sb, tmp / "data", mp, db)
    s = _summary(douplus_daily(return_state=True, date=day))
    assert s.status is RunStatus.SUCCESS, s.text()
    return s


@pytest.mark.timeout(300)
def test_intraday_then_morning_equals_morning_only(prefect_server, tmp_path, caplog):
    day = china_today()
    with pytest.MonkeyPatch.context() as mp, _sandbox(tmp_path / "a", "sb") as a:
        mp.chdir(tmp_path)
        db_a = f"sqlite:///{tmp_path / 'a.db'}"
        point_at(a, tmp_path / "a" / "data", mp, db_a)
        s = _summary(douplus_intraday(return_state=True))
        assert s.status is RunStatus.SUCCESS, s.text()
        delivering = {
            o.order_id
            for acc in a.data.aweme_accounts
            for o in a.data.douplus_orders(acc.aweme_sec_uid)
            if a.data.order_status(o) == "DELIVERING"
        }
        assert delivering, "the simulator must have orders delivering today"
        eng = make_engine(db_a)
        with eng.connect() as conn:
            d = tables.douplus_order_daily
            rows = conn.execute(select(d.c.order_id, d.c.stat_date)).all()
            (as_of,) = set(conn.execute(select(tables.douplus_video_periods.c.as_of)).scalars())
        eng.dispose()
        assert {oid for oid, _ in rows} == delivering and {d for _, d in rows} == {day}
        assert as_of == day  # the intraday ranking is as of today
        # Its cost: the account listing, one order listing per 抖音号, one report request per
        # 抖音号 that has delivering orders (100 or fewer each).
        busy = {
            acc.aweme_sec_uid
            for acc in a.data.aweme_accounts
            for o in a.data.douplus_orders(acc.aweme_sec_uid)
            if o.order_id in delivering
        }
        assert s.api_calls == 1 + len(a.data.aweme_accounts) + len(busy)
        assert f"{s.api_calls} Ocean Engine API call(s) this run" in caplog.text  # log_prints
        # Every call was timed into the run's latency histogram (ledger counts, for /metrics).
        (counts,) = [r.counts for r in ledger.recent_runs(make_engine(db_a), limit=5)]
        assert sum(counts["api"]["latency"]["bins"]) == s.api_calls
        assert counts["api"]["latency"]["seconds"] > 0
        intraday = _state(a, db_a)

        _morning(a, tmp_path / "a", db_a, mp, day)
        after = _state(a, db_a)

        with _sandbox(tmp_path / "b", "sb") as b:
            db_b = f"sqlite:///{tmp_path / 'b.db'}"
            _morning(b, tmp_path / "b", db_b, mp, day)
            alone = _state(b, db_b)

    assert after == alone
    # The morning really replaced the intraday numbers (D grew), it did not just add rows.
    assert intraday[0]["douplus_order_daily"] != after[0]["douplus_order_daily"]
    assert len(intraday[0]["douplus_order_daily"]) <= len(after[0]["douplus_order_daily"])


def test_adsync_run_douplus_intraday(prefect_server, tmp_path, monkeypatch):
    """The intraday refresh from a terminal (``adsync run douplus-intraday``), as the other flows."""
    with _sandbox(tmp_path, "sb") as sb:
        db = f"sqlite:///{tmp_path / 'app.db'}"
        env = subprocess_env(point_at(sb, tmp_path / "data", monkeypatch, db), prefect_server.env)
        exe = str(Path(sys.executable).with_name("adsync"))
        p = subprocess.run(
            [exe, "run", "douplus-intraday", "--accounts", sb.data.aweme_accounts[0].aweme_sec_uid],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert p.returncode == 0, p.stdout + p.stderr
        assert "douplus-intraday" in p.stdout and "SUCCESS (1 ok, 0 failed" in p.stdout, p.stdout
        (row,) = ledger.recent_runs(make_engine(db), limit=5)
        assert (row.flow, row.status, row.accounts_ok) == ("douplus-intraday", "SUCCESS", 1)
