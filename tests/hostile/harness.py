"""Run the 本地推 flow (`laike-daily`) against the simulators on a given database.

The flow is the one deployments run (``flows.laike.laike_daily``), in this process against the
session's Prefect server (tests/hostile/conftest.py), for an explicit window and accounts.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flows import laike
from flows.runtime import get_runtime, reset_runtime
from flows.summary import RunSummary
from flows.sync_run import summary_of
from flows.window import Window
from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.database.ledger import recent_runs
from integrations.database.migrate import upgrade
from sandbox.server import Sandbox
from tests.flows.sandboxed import bitable_snapshot, point_at

PROMO_TABLE = "本地推单元日报"
# Tables a run writes; server databases are shared by the session, so each test empties them.
_WRITTEN = (
    tables.local_promotion_daily,
    tables.local_account_daily,
    tables.bitable_record_map,
    tables.bitable_view_map,
    tables.sync_runs,
    tables.oauth_tokens,
)


def good_account(sb: Sandbox) -> int:
    return next(a.id for a in sb.data.local_accounts if not a.forbidden)


def yesterday(sb: Sandbox) -> Window:
    d = sb.data.today - timedelta(days=1)
    return Window(d, d)


def expected_keys(sb: Sandbox, account: int, window: Window) -> set[tuple[Any, ...]]:
    """(stat_date, account, promotion_id) of every row the simulator serves for the window."""
    out = set()
    day = window.start
    while day <= window.end:
        for p in sb.data.delivering_promotions(account, day):
            out.add((day, account, p.promotion_id))
        day += timedelta(days=1)
    return out


def prepare(sb: Sandbox, db_url: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty the tables a run writes (and the token store: each test has its own key), then
    point the settings at ``sb`` and authorise it."""
    upgrade(db_url)
    eng = make_engine(db_url)
    try:
        with eng.begin() as conn:
            for t in _WRITTEN:
                conn.execute(sa.delete(t))
    finally:
        eng.dispose()
    point_at(sb, tmp / "data", monkeypatch, db_url)


def run_laike(window: Window, accounts: list[int] | None) -> RunSummary:
    state = laike.laike_daily(
        start=window.start, end=window.end, accounts=accounts, return_state=True
    )
    summary = summary_of(state)
    assert isinstance(summary, RunSummary), f"{state.name}: {state.message}"
    return summary


def db_promotions(db_url: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    t = tables.local_promotion_daily
    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sa.select(t))]
    finally:
        eng.dispose()
    return {(r["stat_date"], r["local_account_id"], r["promotion_id"]): r for r in rows}


def last_ledger(db_url: str):
    eng = make_engine(db_url)
    try:
        return recent_runs(eng, flow=laike.FLOW_NAME, limit=1)[0]
    finally:
        eng.dispose()


def bitable_keys(sb: Sandbox) -> list[str]:
    keys, _ = bitable_snapshot(sb, PROMO_TABLE)
    return list(keys.elements())


def done() -> None:
    reset_runtime()


__all__ = [
    "bitable_keys",
    "db_promotions",
    "done",
    "expected_keys",
    "get_runtime",
    "good_account",
    "last_ledger",
    "prepare",
    "run_laike",
    "yesterday",
]
