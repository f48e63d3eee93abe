"""Adopting a table from the old scripts: every column text (cost included), names mapped, the
key derived from 时间 + 单元ID, their delete-then-write duplicates healed in place."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import sqlalchemy as sa

from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY
from integrations.settings import BitableTableConfig
from tests.feishu.conftest import Feishu, promotion_rows

# Their columns (docs/contracts/existing-setup.md), all type 1; 转化成本(元) was always "0".
THEIR_FIELDS = [
    "账户名称",
    "时间",
    "单元ID",
    "单元名称",
    "消耗(元)",
    "转化数",
    "转化成本(元)",
    "团购线索数",
]


def test_all_text_adopted_table_with_duplicates_is_healed_and_rerun_writes_nothing(
    feishu: Feishu, engine: sa.Engine
) -> None:
    app = feishu.sim.app_token
    tid = feishu.sim.add_table(
        app, "推广日报", [{"field_name": n, "type": 1} for n in THEIR_FIELDS]
    )
    rows = promotion_rows(30)
    old = [
        {
            "账户名称": r["account_name"],
            "时间": r["stat_date"].isoformat(),
            "单元ID": str(r["promotion_id"]),
            "单元名称": r["promotion_name"],
            "消耗(元)": str(r["cost"]),  # their money: a string, trailing zeros and all
            "转化数": str(r["convert_cnt"]),
            "转化成本(元)": "0",
            "团购线索数": str(r["clue_pay_order_cnt"]),
        }
        for r in rows[:20]
    ]
    feishu.sim.add_records(app, tid, old + old[:8])  # delete-then-write leftovers
    spec = LOCAL_PROMOTION_DAILY.configured(
        BitableTableConfig(
            name="推广日报", fields={"stat_date": "时间"}, key_from=["时间", "单元ID"]
        )
    )
    sink = BitableSink(feishu.api(), engine, add_missing_fields=True)
    res = sink.upsert(spec, rows)
    assert res.reconciled and res.deleted_duplicates == 8
    # 20 adopted records updated (their columns 展示数, 账户ID, … were missing, now filled).
    assert (res.created, res.updated) == (10, 20)

    recs = feishu.sim.records(app, tid)
    keys = Counter((r["fields"]["时间"], r["fields"]["单元ID"]) for r in recs)
    assert len(keys) == 30 and set(keys.values()) == {1}
    by_id = {r["fields"]["单元ID"]: r["fields"] for r in recs}
    for r in rows:  # numbers land in their text columns as canonical decimal strings
        got = by_id[str(r["promotion_id"])]
        assert got["消耗(元)"] == format(Decimal(r["cost"]).normalize(), "f")
        assert got["转化成本(元)"] == "12.5" and got["转化数"] == str(r["convert_cnt"])
    fields = {f["field_name"]: f["type"] for f in feishu.sim.fields(app, tid)}
    assert "业务键" not in fields
    assert all(fields[n] == 1 for n in THEIR_FIELDS)  # never a type changed

    feishu.sim.reset_counters()
    again = BitableSink(feishu.api(), engine, add_missing_fields=True).upsert(spec, rows)
    assert again.unchanged == 30 and feishu.writes() == 0
    # A fresh map (restored DB) over the healed table: reconcile adopts, still nothing written.
    with engine.begin() as c:
        c.execute(sa.text("DELETE FROM bitable_record_map"))
    feishu.sim.reset_counters()
    fresh = BitableSink(feishu.api(), engine, add_missing_fields=True).upsert(spec, rows)
    assert fresh.reconciled and fresh.unchanged == 30 and feishu.writes() == 0
