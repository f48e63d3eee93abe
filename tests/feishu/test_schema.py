"""ensure_table: create, add fields, and the clear errors (renamed key field, wrong type)."""

from __future__ import annotations

import pytest

from integrations.feishu.errors import SchemaMismatch
from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY as SPEC
from integrations.feishu.specs import SPECS, table_spec
from integrations.settings import load_settings
from tests.feishu.conftest import Feishu, promotion_rows, table_id


def test_creates_table_with_typed_fields_and_key_first(feishu: Feishu, sink: BitableSink) -> None:
    h = sink.ensure_table(SPEC)
    assert h.created
    fields = feishu.sim.fields(feishu.sim.app_token, h.table_id)
    assert (
        fields[0]["field_name"] == "业务键" and fields[0]["is_primary"] and fields[0]["type"] == 1
    )
    by = {f["field_name"]: f for f in fields}
    assert by["消耗(元)"]["type"] == 2 and by["消耗(元)"]["property"]["formatter"] == "0.00"
    assert by["日期"]["type"] == 5 and by["日期"]["property"]["date_formatter"] == "yyyy/MM/dd"
    assert by["单元ID"]["type"] == 1 and by["账户ID"]["type"] == 1
    feishu.sim.reset_counters()
    assert not sink.ensure_table(SPEC).created  # found by name the second time
    assert feishu.writes() == 0


def test_all_specs_create_cleanly(feishu: Feishu, sink: BitableSink) -> None:
    for spec in SPECS.values():
        h = sink.ensure_table(spec)
        assert set(h.fields) == {f.key for f in spec.fields}


def test_missing_fields_are_added_and_user_fields_left_alone(
    feishu: Feishu, sink: BitableSink
) -> None:
    app = feishu.sim.app_token
    tid = feishu.sim.add_table(
        app,
        SPEC.name,
        [{"field_name": "业务键", "type": 1}, {"field_name": "备注", "type": 1}],
    )
    h = sink.ensure_table(SPEC)
    assert h.table_id == tid and "消耗(元)" in h.fields_created
    names = [f["field_name"] for f in feishu.sim.fields(app, tid)]
    assert "备注" in names and len(names) == len(SPEC.fields) + 1


def test_renamed_key_field_is_a_clear_error_and_writes_nothing(
    feishu: Feishu, sink: BitableSink
) -> None:
    rows = promotion_rows(10)
    sink.upsert(SPEC, rows)
    tid = table_id(feishu, SPEC.name)
    feishu.sim.rename_field(feishu.sim.app_token, tid, "业务键", "文本")
    rows[0]["cost"] += 1
    feishu.sim.reset_counters()
    with pytest.raises(SchemaMismatch) as ei:
        sink.upsert(SPEC, rows)
    msg = str(ei.value)
    assert SPEC.name in msg and "'业务键'" in msg and "missing" in msg and "text (1)" in msg
    assert "'文本'" in msg  # points at what the primary field is called now
    assert feishu.writes() == 0


def test_renamed_data_field_is_a_clear_error_not_a_new_empty_column(
    feishu: Feishu, sink: BitableSink
) -> None:
    sink.upsert(SPEC, promotion_rows(5))
    tid = table_id(feishu, SPEC.name)
    feishu.sim.rename_field(feishu.sim.app_token, tid, "消耗(元)", "花费")
    feishu.sim.reset_counters()
    with pytest.raises(SchemaMismatch) as ei:
        sink.upsert(SPEC, promotion_rows(5))
    assert "'消耗(元)'" in str(ei.value) and "花费" in str(ei.value)
    assert feishu.writes() == 0


def test_wrong_type_names_table_field_found_and_expected(feishu: Feishu, sink: BitableSink) -> None:
    sink.upsert(SPEC, promotion_rows(5))
    tid = table_id(feishu, SPEC.name)
    app = feishu.sim.app_token
    feishu.sim.rename_field(app, tid, "单元名称", "单元名称(旧)")
    feishu.sim.rename_field(app, tid, "展示数", "单元名称")  # a number column under a text name
    feishu.sim.reset_counters()
    with pytest.raises(SchemaMismatch) as ei:
        sink.upsert(SPEC, promotion_rows(6))
    e = ei.value
    assert (e.table, e.field, e.found, e.expected) == (
        SPEC.name,
        "单元名称",
        "number (2)",
        "text (1)",
    )
    assert feishu.writes() == 0
    assert len(feishu.sim.records(app, tid)) == 5


def test_names_come_from_settings(monkeypatch) -> None:
    monkeypatch.setenv(
        "ADSYNC_BITABLE_TABLES",
        '{"local_promotion_daily": {"name": "日报", "fields": {"cost": "花费", "日期": "时间"}}}',
    )
    spec = table_spec("local_promotion_daily", load_settings())
    assert spec.name == "日报"
    assert spec.field("cost").name == "花费" and spec.field("stat_date").name == "时间"
    assert spec.field("show_cnt").name == "展示数"
    with pytest.raises(ValueError, match="unknown field"):
        SPEC.configured(
            type(load_settings().bitable_tables["local_promotion_daily"])(fields={"nope": "x"})
        )
