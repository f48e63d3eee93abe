"""An omitted optional field (None) never overwrites a known value; an explicit value still
updates it. Upsert level on SQLite, PostgreSQL and MariaDB, then the flow against the simulator
omitting names (``hostile_missing_optional``)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from flows.summary import RunStatus
from integrations.database import tables
from integrations.database.upsert import upsert
from sandbox.server import Sandbox
from tests.flows.sandboxed import bitable_snapshot
from tests.hostile import harness as H
from tests.hostile.conftest import unique_id

T = tables.local_promotion_daily


def _row(pid: int, **kw) -> dict:
    base = {
        "stat_date": date(2026, 11, 1),
        "local_account_id": 7,
        "promotion_id": pid,
        "promotion_name": "推广A",
        "project_id": 99,
        "project_name": "项目A",
        "cost": Decimal("1.00"),
        "show_cnt": 10,
        "click_cnt": 1,
        "convert_cnt": 0,
        "conversion_cost": None,
        "clue_pay_order_cnt": 0,
    }
    return base | kw


def _stored(engine: Engine, pid: int) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(T).where(T.c.promotion_id == pid)).one()._mapping)


def test_omitted_names_keep_known_values_explicit_values_update(db_engine: Engine) -> None:
    pid = unique_id()
    with db_engine.begin() as conn:
        assert upsert(conn, T, [_row(pid)]).inserted == 1
    omitted = {"promotion_name": None, "project_id": None, "project_name": None}
    with db_engine.begin() as conn:  # names omitted, nothing else new → unchanged
        assert upsert(conn, T, [_row(pid, **omitted)]).as_dict() == {
            "inserted": 0,
            "updated": 0,
            "unchanged": 1,
        }
    with db_engine.begin() as conn:  # names omitted, a metric changed → updated, names kept
        assert upsert(conn, T, [_row(pid, cost=Decimal("2.50"), **omitted)]).updated == 1
    got = _stored(db_engine, pid)
    assert (got["promotion_name"], got["project_id"], got["project_name"]) == ("推广A", 99, "项目A")
    assert got["cost"] == Decimal("2.50")
    with db_engine.begin() as conn:  # a later explicit value still updates ("" included)
        res = upsert(conn, T, [_row(pid, promotion_name="推广B", project_name="", cost=None)])
    assert res.updated == 1
    got = _stored(db_engine, pid)
    assert (got["promotion_name"], got["project_name"], got["project_id"]) == ("推广B", "", 99)
    assert got["cost"] is None  # metrics are not keep-known: "-" (None) is the API's value


def test_keep_known_is_declared_on_descriptive_columns_only() -> None:
    keep = {
        (t.name, c.name)
        for t in tables.metadata.tables.values()
        for c in t.columns
        if c.info.get("keep_known")
    }
    assert ("local_promotion_daily", "promotion_name") in keep
    assert ("douplus_orders", "item_title") in keep
    assert not any(
        t.c[c].primary_key for t_name, c in keep for t in [tables.metadata.tables[t_name]]
    )
    assert ("local_promotion_daily", "cost") not in keep


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mysql"])
def test_flow_rerun_with_omitted_names_keeps_them_in_db_and_bitable(
    backend, request, tmp_path, monkeypatch
) -> None:
    db_url = (
        f"sqlite:///{tmp_path / 'app.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url" if backend == "postgresql" else "mysql_url")
    )
    with Sandbox(state_dir=tmp_path / "sb", profile="fast", n_local_accounts=2) as sb:
        account = H.good_account(sb)
        d = sb.data.today - timedelta(days=1)
        window = H.Window(d - timedelta(days=1), d)
        H.prepare(sb, db_url, tmp_path, monkeypatch)
        try:
            first = H.run_laike(window, [account])
            before = H.db_promotions(db_url)
            _, records_before = bitable_snapshot(sb, H.PROMO_TABLE)
            sb.oe.knobs.hostile_missing_optional = True
            sb.oe.knobs.hostile_fraction = 1.0  # every row omits promotion_name/project_name
            second = H.run_laike(window, [account])
        finally:
            H.done()
        after = H.db_promotions(db_url)
        _, records_after = bitable_snapshot(sb, H.PROMO_TABLE)
    assert first.status is RunStatus.SUCCESS and second.status is RunStatus.SUCCESS
    assert len(before) >= 10
    names = {k: (r["promotion_name"], r["project_name"]) for k, r in before.items()}
    assert all(n and p for n, p in names.values())
    assert {k: (r["promotion_name"], r["project_name"]) for k, r in after.items()} == names

    def fields(records):
        return sorted(sorted((k, str(v)) for k, v in r["fields"].items()) for r in records)

    assert fields(records_after) == fields(records_before)
    assert second.sinks["db:local_promotion_daily"].updated == 0
