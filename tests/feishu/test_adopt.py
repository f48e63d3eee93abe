"""Adopting a table from the old scripts: mapped names, key derived from 时间 + 单元ID."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY
from integrations.settings import BitableTableConfig
from tests.feishu.conftest import Feishu, promotion_rows


def test_adopted_table_with_old_duplicates_is_healed_in_place(
    feishu: Feishu, engine: sa.Engine
) -> None:
    app = feishu.sim.app_token
    # Their table: primary 账户名称, 时间 as a YYYY-MM-DD *text*, ids as text, money as number.
    tid = feishu.sim.add_table(
        app,
        "推广日报",
        [
            {"field_name": "账户名称", "type": 1},
            {"field_name": "时间", "type": 1},
            {"field_name": "单元ID", "type": 1},
            {"field_name": "单元名称", "type": 1},
            {"field_name": "消耗(元)", "type": 2, "property": {"formatter": "0.00"}},
        ],
    )
    rows = promotion_rows(30)
    old = [
        {
            "账户名称": r["account_name"],
            "时间": r["stat_date"].isoformat(),
            "单元ID": str(r["promotion_id"]),
            "单元名称": r["promotion_name"],
            "消耗(元)": 0,
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
    assert (res.created, res.updated) == (10, 20)
    recs = feishu.sim.records(app, tid)
    keys = Counter((r["fields"]["时间"], r["fields"]["单元ID"]) for r in recs)
    assert len(keys) == 30 and set(keys.values()) == {1}
    assert "业务键" not in {f["field_name"] for f in feishu.sim.fields(app, tid)}
    feishu.sim.reset_counters()
    assert sink.upsert(spec, rows).unchanged == 30
    assert feishu.writes() == 0
