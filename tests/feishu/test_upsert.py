"""Upsert by business key against the simulator with the real lark-oapi client."""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal

import pytest
import sqlalchemy as sa

from integrations.database.tables import bitable_record_map
from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY as SPEC
from integrations.feishu.values import date_ms
from tests.feishu.conftest import DAY, Feishu, keys_in, promotion_rows, table_id


def test_first_load_rerun_and_one_percent_changed(feishu: Feishu, map_engine: sa.Engine) -> None:
    sink = BitableSink(feishu.api(), map_engine)
    rows = promotion_rows(1500)

    first = sink.upsert(SPEC, rows)
    assert (first.created, first.updated, first.unchanged) == (1500, 0, 0)
    assert feishu.count("records.batch_create") == 3  # chunks of 500
    tid = table_id(feishu, SPEC.name)
    records = feishu.sim.records(feishu.sim.app_token, tid)
    assert len(records) == 1500
    r0 = next(r["fields"] for r in records if r["fields"]["单元ID"] == "7450000000000000000")
    # ids stay text (> 2^53), money is a JSON number, dates are ms at 00:00 China time.
    assert r0["业务键"] == "2026-11-22|1854347260793866|7450000000000000000"
    assert r0["账户ID"] == "1854347260793866"
    assert r0["消耗(元)"] == float(rows[0]["cost"])
    assert r0["日期"] == date_ms(DAY) == 1795276800000
    with map_engine.connect() as c:
        n = c.execute(
            sa.select(sa.func.count()).where(bitable_record_map.c.table_id == tid)
        ).scalar_one()
    assert n == 1500

    feishu.sim.reset_counters()
    again = sink.upsert(SPEC, rows)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1500)
    assert feishu.writes() == 0 and again.write_calls == 0

    changed = rows[::100]  # 1%
    for r in changed:
        r["cost"] = r["cost"] + Decimal("0.01")
    feishu.sim.reset_counters()
    third = sink.upsert(SPEC, rows)
    assert third.updated == len(changed) == 15
    assert feishu.count("records.batch_update") == math.ceil(len(changed) / 500)
    assert feishu.writes() == math.ceil(len(changed) / 500)
    updated = {
        r["fields"]["业务键"]: r["fields"]["消耗(元)"]
        for r in feishu.sim.records(feishu.sim.app_token, tid)
    }
    assert updated["2026-11-22|1854347260793866|7450000000000000000"] == float(changed[0]["cost"])


def test_decimal_scale_does_not_count_as_a_change(feishu: Feishu, sink: BitableSink) -> None:
    rows = promotion_rows(3)
    sink.upsert(SPEC, rows)
    for r in rows:  # 12.50 from one driver, 12.5 from another: the same money
        r["conversion_cost"] = Decimal("12.5")
    assert sink.upsert(SPEC, rows).unchanged == 3


class Crash(RuntimeError):
    pass


def test_crash_between_create_and_map_commit_makes_no_duplicates(
    feishu: Feishu, map_engine: sa.Engine
) -> None:
    rows = promotion_rows(1200)
    calls = {"n": 0}

    def crash_on_second_chunk(spec, ids) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash("killed after Feishu committed, before our commit")

    crashing = BitableSink(feishu.api(), map_engine, after_create=crash_on_second_chunk)
    with pytest.raises(Crash):
        crashing.upsert(SPEC, rows)
    tid = table_id(feishu, SPEC.name)
    assert len(feishu.sim.records(feishu.sim.app_token, tid)) == 1000  # two chunks landed

    feishu.sim.reset_counters()
    rerun = BitableSink(feishu.api(), map_engine).upsert(SPEC, rows)
    keys = keys_in(feishu, tid)
    assert len(keys) == len(set(keys)) == 1200  # 0 duplicates
    assert rerun.reconciled
    assert feishu.count("records.batch_create") == 1  # only the chunk that never ran
    assert rerun.created == 200 and rerun.deleted_duplicates == 0
    # The reconciled chunk already matched the DB: no updates for it.
    assert feishu.count("records.batch_update") == 0

    feishu.sim.reset_counters()
    assert BitableSink(feishu.api(), map_engine).upsert(SPEC, rows).unchanged == 1200
    assert feishu.writes() == 0


def test_empty_map_on_a_table_with_records_reconciles_instead_of_creating(
    feishu: Feishu, sink: BitableSink, tmp_path
) -> None:
    rows = promotion_rows(600)
    sink.upsert(SPEC, rows)
    # A restored / lost DB: same table, empty map.
    from tests.feishu.conftest import _engine

    fresh = BitableSink(feishu.api(), _engine(f"sqlite:///{tmp_path / 'restored.db'}"))
    feishu.sim.reset_counters()
    res = fresh.upsert(SPEC, rows)
    assert res.reconciled and res.unchanged == 600 and res.created == 0
    assert feishu.writes() == 0
    assert len(keys_in(feishu, table_id(feishu, SPEC.name))) == 600


def test_seeded_duplicate_keys_are_healed_by_reconcile(feishu: Feishu, sink: BitableSink) -> None:
    rows = promotion_rows(700)
    sink.upsert(SPEC, rows)
    tid = table_id(feishu, SPEC.name)
    originals = feishu.sim.records(feishu.sim.app_token, tid)
    # What the old delete-then-write scripts left behind: the same key two or three times.
    dupes = [r["fields"] for r in originals[:40]] + [r["fields"] for r in originals[:10]]
    feishu.sim.add_records(feishu.sim.app_token, tid, dupes)
    assert len(feishu.sim.records(feishu.sim.app_token, tid)) == 750

    feishu.sim.reset_counters()
    res = sink.reconcile(SPEC)
    assert res.duplicates_deleted == 50
    assert feishu.count("records.batch_delete") == 1
    keys = Counter(keys_in(feishu, tid))
    assert len(keys) == 700 and set(keys.values()) == {1}
    # The mapped originals survive: nothing left to write.
    survivors = {r["record_id"] for r in feishu.sim.records(feishu.sim.app_token, tid)}
    assert {r["record_id"] for r in originals} == survivors
    feishu.sim.reset_counters()
    assert sink.upsert(SPEC, rows).unchanged == 700
    assert feishu.writes() == 0


def test_record_deleted_in_bitable_is_recreated(feishu: Feishu, sink: BitableSink) -> None:
    rows = promotion_rows(20)
    sink.upsert(SPEC, rows)
    tid = table_id(feishu, SPEC.name)
    gone = feishu.sim.records(feishu.sim.app_token, tid)[0]
    feishu.api().batch_delete(tid, [gone["record_id"]])
    rows[0]["cost"] += 1  # forces an update of a record that no longer exists
    res = sink.upsert(SPEC, rows)
    keys = keys_in(feishu, tid)
    assert len(keys) == len(set(keys)) == 20
    assert res.created == 1
