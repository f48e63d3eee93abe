"""Advanced-permission bases and records hidden from the app: one clear error, never duplicates."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from integrations.database.tables import bitable_record_map
from integrations.feishu.access import BaseAccessDenied, BaseTimeZoneMismatch
from integrations.feishu.reconcile import EmptyScanDistrusted
from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY as SPEC
from tests.feishu.conftest import Feishu, keys_in, promotion_rows, table_id


def _map_size(engine: sa.Engine, tid: str) -> int:
    with engine.connect() as c:
        q = sa.select(sa.func.count()).where(bitable_record_map.c.table_id == tid)
        return c.execute(q).scalar_one()


def test_advanced_base_without_manage_rights_stops_with_one_error(
    feishu: Feishu, engine: sa.Engine
) -> None:
    rows = promotion_rows(10)
    BitableSink(feishu.api(), engine).upsert(SPEC, rows)
    tid = table_id(feishu, SPEC.name)
    feishu.sim.set_advanced(feishu.sim.app_token)
    feishu.sim.knobs.app_can_manage = False
    feishu.sim.reset_counters()

    sink = BitableSink(feishu.api(), engine)  # the next run
    with pytest.raises(BaseAccessDenied) as ei:
        sink.upsert(SPEC, rows, force_reconcile=True)
    assert "可管理" in str(ei.value) and "1254302" in str(ei.value)
    with pytest.raises(BaseAccessDenied):  # the other tables of the run: same error, no calls
        sink.ensure_views(SPEC, {1854347260793866: "a"})
    assert feishu.writes() == 0
    assert feishu.count("app.get") == 1 and feishu.count("roles.list") == 1
    assert _map_size(engine, tid) == 10 and len(keys_in(feishu, tid)) == 10

    # A fresh DB (no map) on the same base: still nothing created blindly.
    with pytest.raises(BaseAccessDenied):
        BitableSink(feishu.api(), engine).upsert(SPEC, promotion_rows(12))
    assert feishu.writes() == 0 and len(keys_in(feishu, tid)) == 10


def test_advanced_base_with_manage_rights_is_written(feishu: Feishu, engine: sa.Engine) -> None:
    feishu.sim.set_advanced(feishu.sim.app_token)  # app_can_manage stays True
    res = BitableSink(feishu.api(), engine).upsert(SPEC, promotion_rows(10))
    assert res.created == 10 and feishu.count("roles.list") == 1


def test_hidden_records_never_duplicate_over_two_runs(feishu: Feishu, engine: sa.Engine) -> None:
    rows = promotion_rows(10)
    BitableSink(feishu.api(), engine).upsert(SPEC, rows)
    tid = table_id(feishu, SPEC.name)
    feishu.sim.knobs.hide_records_from_app = True  # search succeeds, empty
    for _ in range(2):
        feishu.sim.reset_counters()
        res = BitableSink(feishu.api(), engine).upsert(SPEC, rows)
        assert res.unchanged == 10 and feishu.writes() == 0
    # A full reconcile (or a changed row whose update misses) sees an empty table: it stops
    # and keeps the map instead of dropping it and creating everything again.
    with pytest.raises(EmptyScanDistrusted, match="0 records but the record map holds 10"):
        BitableSink(feishu.api(), engine).upsert(SPEC, rows, force_reconcile=True)
    rows[0]["show_cnt"] += 1
    with pytest.raises(EmptyScanDistrusted):
        BitableSink(feishu.api(), engine).upsert(SPEC, rows)
    assert _map_size(engine, tid) == 10
    keys = keys_in(feishu, tid)
    assert len(keys) == len(set(keys)) == 10

    feishu.sim.knobs.hide_records_from_app = False  # rights fixed: converges
    assert BitableSink(feishu.api(), engine).upsert(SPEC, rows).updated == 1
    assert len(keys_in(feishu, tid)) == 10


def test_base_in_another_time_zone_is_a_clear_error(feishu: Feishu, engine: sa.Engine) -> None:
    feishu.sim.set_advanced(feishu.sim.app_token, False, time_zone="Europe/Berlin")
    with pytest.raises(BaseTimeZoneMismatch, match="Europe/Berlin"):
        BitableSink(feishu.api(), engine).upsert(SPEC, promotion_rows(3))
    assert feishu.writes() == 0
