"""Enum labels in Bitable: DOU+ order statuses shown in Chinese, raw values kept in the DB."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from integrations.feishu.labels import DOUPLUS_TASK_STATUS_LABELS
from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import DOUPLUS_ORDERS as SPEC
from integrations.feishu.specs import FieldSpec, ValueKind
from integrations.feishu.values import canonical, record_hash, row_fields, row_hash
from sandbox.oceanengine.douplus import STATUSES
from tests.feishu.conftest import Feishu, table_id

STATUS = SPEC.field("task_status")


def _order(i: int, status: str) -> dict:
    return {
        "order_id": 7_400_000_000_000_000_000 + i,
        "task_id": 7_410_000_000_000_000_000 + i,
        "item_id": 7_420_000_000_000_000_000 + i,
        "aweme_sec_uid": "MS4wLjABAAAA-sec",
        "author_name": "小店",
        "item_title": f"视频{i}",
        "scene_type": "VIDEO",
        "task_status": status,
        "budget": Decimal("100.00"),
        "order_create_time": datetime(2026, 11, 20, 10, 0),
        "cost": Decimal("12.34"),
        "total_play": 1000 + i,
    }


def test_every_simulated_status_has_a_label_and_no_label_is_invented() -> None:
    labels = dict(DOUPLUS_TASK_STATUS_LABELS)
    assert set(labels) == set(STATUSES)
    assert labels["DELIVERING"] == "投放中"
    assert len(set(labels.values())) == len(labels)  # two statuses never read the same


def test_cell_shows_the_label_and_unknown_values_stay_raw() -> None:
    assert row_fields(SPEC, _order(1, "DELIVERING"))["订单状态"] == "投放中"
    assert row_fields(SPEC, _order(1, "DELIVERIED"))["订单状态"] == "投放完成"
    # A status the map does not know yet is shown as the API sent it, never dropped.
    assert row_fields(SPEC, _order(1, "SOMETHING_NEW"))["订单状态"] == "SOMETHING_NEW"
    assert canonical(STATUS, None) == ""
    # Unlabelled text fields are untouched.
    assert row_fields(SPEC, _order(1, "DELIVERING"))["投放场景"] == "VIDEO"


def test_hash_of_the_read_back_label_equals_the_row_hash() -> None:
    row = _order(2, "AUDITING")
    cells = row_fields(SPEC, row)
    read_back = {
        k: [{"text": v, "type": "text"}] if isinstance(v, str) else v for k, v in cells.items()
    }
    assert record_hash(SPEC, read_back) == row_hash(SPEC, row)
    assert row_hash(SPEC, _order(2, "DELIVERING")) != row_hash(SPEC, row)


def test_labels_only_on_text_fields() -> None:
    with pytest.raises(ValueError, match="cost: labels need a text field"):
        FieldSpec("cost", "消耗(元)", ValueKind.MONEY, labels=(("1", "一"),))
    # A configured rename keeps the labels.
    assert replace(STATUS, name="状态").labels == STATUS.labels


def test_upsert_writes_labels_and_a_rerun_or_reconcile_writes_nothing(
    feishu: Feishu, engine: sa.Engine, tmp_path
) -> None:
    rows = [_order(i, s) for i, s in enumerate([*STATUSES, "SOMETHING_NEW"])]
    sink = BitableSink(feishu.api(), engine)
    first = sink.upsert(SPEC, rows)
    assert first.created == len(rows)
    records = feishu.sim.records(feishu.sim.app_token, table_id(feishu, SPEC.name))
    shown = {r["fields"]["订单ID"]: r["fields"]["订单状态"] for r in records}
    labels = dict(DOUPLUS_TASK_STATUS_LABELS)
    assert shown == {
        str(r["order_id"]): labels.get(r["task_status"], r["task_status"]) for r in rows
    }
    assert rows[0]["task_status"] == STATUSES[0]  # the row (what the DB holds) stays raw

    feishu.sim.reset_counters()
    assert sink.upsert(SPEC, rows).unchanged == len(rows)
    assert feishu.writes() == 0
    # A lost map: reconcile reads the labels back and finds every record unchanged.
    from tests.feishu.conftest import _engine

    fresh = BitableSink(feishu.api(), _engine(f"sqlite:///{tmp_path / 'restored.db'}"))
    res = fresh.upsert(SPEC, rows)
    assert res.reconciled and res.unchanged == len(rows) and res.created == 0
    assert feishu.writes() == 0

    rows[0]["task_status"] = "DELIVERING"
    assert sink.upsert(SPEC, rows).updated == 1
