"""Feishu's record cap (1254103): the fit check, period tables (rotate) and retention."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from integrations.feishu.capacity import TableFull, china_today, period_label, retention_cutoff
from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY
from integrations.feishu.values import business_key
from integrations.settings import BitableTableConfig
from tests.feishu.conftest import Feishu, promotion_rows

ACCOUNTS = 100
PROMOS = 3  # per account and day: 300 rows a day, 9,000 in 30 days
CAP = 5_000


def backfill_rows(days: int, end: date) -> list[dict[str, Any]]:
    rng = random.Random(3)
    out = []
    for n in range(days):
        d = end - timedelta(days=n)
        for a in range(ACCOUNTS):
            for p in range(PROMOS):
                out.append(
                    {
                        "stat_date": d,
                        "local_account_id": 1854347260793866 + a,
                        "promotion_id": 7450000000000000000 + a * 10 + p,
                        "promotion_name": f"单元 {a}-{p}",
                        "project_id": None,
                        "project_name": None,
                        "cost": Decimal(rng.randrange(0, 100_000)) / 100,
                        "show_cnt": rng.randrange(0, 1000),
                        "click_cnt": rng.randrange(0, 50),
                        "convert_cnt": rng.randrange(0, 5),
                        "conversion_cost": Decimal("1.5"),
                        "clue_pay_order_cnt": 0,
                        "account_name": f"账户{a}",
                    }
                )
    return out


def _tables(feishu: Feishu) -> dict[str, str]:
    return {t["name"]: t["table_id"] for t in feishu.sim.tables(feishu.sim.app_token)}


def _content(feishu: Feishu, tid: str) -> dict[str, tuple[str, float]]:
    recs = feishu.sim.records(feishu.sim.app_token, tid)
    keys = [r["fields"]["业务键"] for r in recs]
    assert len(keys) == len(set(keys))
    return {r["fields"]["业务键"]: (r["fields"]["单元名称"], r["fields"]["消耗(元)"]) for r in recs}


def _expected(spec, rows) -> dict[str, tuple[str, float]]:
    return {business_key(spec, r): (r["promotion_name"], float(r["cost"])) for r in rows}


def test_a_write_that_does_not_fit_stops_with_one_named_line(
    feishu: Feishu, engine: sa.Engine
) -> None:
    feishu.sim.knobs.max_records_per_table = 50
    sink = BitableSink(feishu.api(), engine, record_cap=50)
    sink.upsert(LOCAL_PROMOTION_DAILY, promotion_rows(40, days=2))
    feishu.sim.reset_counters()
    more = promotion_rows(70, days=2)  # 30 new keys, 35 rows a day
    with pytest.raises(TableFull) as ei:
        sink.upsert(LOCAL_PROMOTION_DAILY, more)
    msg = str(ei.value)
    assert "\n" not in msg and "'本地推单元日报'" in msg and "35 rows/day" in msg
    assert 'rotate = "day" (≈35 a table)' in msg and "retention_days" not in msg
    assert (
        feishu.writes() == 0
        and len(feishu.sim.records(feishu.sim.app_token, _tables(feishu)["本地推单元日报"])) == 40
    )


def test_a_run_counts_a_table_once_and_still_stops_at_the_cap(
    feishu: Feishu, engine: sa.Engine
) -> None:
    feishu.sim.knobs.max_records_per_table = 100
    sink = BitableSink(feishu.api(), engine, record_cap=100)
    rows = promotion_rows(100, days=1)
    with sink.tables_cached():
        feishu.sim.reset_counters()
        for i in range(0, 80, 20):  # four batches of 20 new records: one count, not four
            sink.upsert(LOCAL_PROMOTION_DAILY, rows[i : i + 20])
        assert feishu.count("records.search") == 1 and feishu.count("records.batch_create") == 4
        # 80 held: 30 more would not fit by the estimate, so it is judged on a fresh count.
        with pytest.raises(TableFull):
            sink.upsert(LOCAL_PROMOTION_DAILY, promotion_rows(110, days=1)[80:])
        assert feishu.count("records.search") == 2 and feishu.count("records.batch_create") == 4


def test_a_count_taken_ahead_is_the_write_s_and_only_in_a_run(
    feishu: Feishu, engine: sa.Engine
) -> None:
    feishu.sim.knobs.max_records_per_table = 100
    sink = BitableSink(feishu.api(), engine, record_cap=100)
    sink.upsert(LOCAL_PROMOTION_DAILY, promotion_rows(30, days=1))
    feishu.sim.reset_counters()
    sink.count_ahead(LOCAL_PROMOTION_DAILY)  # outside a run: nothing to keep it in
    assert feishu.count("records.search") == 0
    rows = promotion_rows(100, days=1)
    with sink.tables_cached():
        sink.count_ahead(LOCAL_PROMOTION_DAILY)
        sink.count_ahead(LOCAL_PROMOTION_DAILY)  # once per table and run
        assert feishu.count("records.search") == 1
        sink.upsert(LOCAL_PROMOTION_DAILY, rows[30:90])  # the write uses it: no second count
        assert feishu.count("records.search") == 1 and feishu.count("records.batch_create") == 1
        with pytest.raises(TableFull):  # 30 + 60 held, 20 more: judged on a fresh count
            sink.upsert(LOCAL_PROMOTION_DAILY, promotion_rows(110, days=1)[90:])
        assert feishu.count("records.search") == 2


def test_records_added_by_someone_else_meet_feishus_own_refusal(
    feishu: Feishu, engine: sa.Engine
) -> None:
    # The estimate does not see records a person adds mid-run; Feishu's cap (1254103) then
    # refuses the create, and the run gets the same named error, nothing written beyond it.
    feishu.sim.knobs.max_records_per_table = 100
    sink = BitableSink(feishu.api(), engine, record_cap=100)
    rows = promotion_rows(100, days=1)
    with sink.tables_cached():
        sink.upsert(LOCAL_PROMOTION_DAILY, rows[:60])
        tid = _tables(feishu)["本地推单元日报"]
        feishu.sim.add_records(feishu.sim.app_token, tid, [{"单元名称": "手工"}] * 30)
        with pytest.raises(TableFull, match="1254103"):
            sink.upsert(LOCAL_PROMOTION_DAILY, rows[60:])  # 60 + 30 + 40 > 100
    assert len(feishu.sim.records(feishu.sim.app_token, tid)) == 90


def test_feishu_cap_below_ours_is_the_same_named_error(feishu: Feishu, engine: sa.Engine) -> None:
    feishu.sim.knobs.max_records_per_table = 10  # the tenant's plan: lower than assumed
    with pytest.raises(TableFull, match="is full.*1254103"):
        BitableSink(feishu.api(), engine).upsert(LOCAL_PROMOTION_DAILY, promotion_rows(20))


@pytest.mark.parametrize(
    "cfg",
    [
        BitableTableConfig(rotate="week"),
        BitableTableConfig(retention_days=14),
        BitableTableConfig(rotate="month", retention_days=14),
    ],
    ids=["rotate-week", "retention-14", "month+retention-14"],
)
def test_30_day_backfill_at_100_accounts_lands_under_the_cap(
    feishu: Feishu, engine: sa.Engine, cfg: BitableTableConfig
) -> None:
    feishu.sim.knobs.max_records_per_table = CAP
    spec = LOCAL_PROMOTION_DAILY.configured(cfg)
    end = china_today() - timedelta(days=1)
    rows = backfill_rows(30, end)
    single = LOCAL_PROMOTION_DAILY
    with pytest.raises(TableFull):  # the default single table cannot take it
        BitableSink(feishu.api(), engine, record_cap=CAP).upsert(single, rows)

    if cfg.retention_days:  # an older load first: retention must delete it from Bitable
        old = [r for r in rows if r["stat_date"] < end - timedelta(days=cfg.retention_days + 3)]
        BitableSink(feishu.api(), engine, record_cap=CAP).upsert(
            LOCAL_PROMOTION_DAILY.configured(BitableTableConfig(rotate=cfg.rotate)), old[:4000]
        )
    res = BitableSink(feishu.api(), engine, record_cap=CAP).upsert(spec, rows)

    cutoff = end - timedelta(days=10_000)
    if cfg.retention_days:
        cutoff = china_today() - timedelta(days=cfg.retention_days)
    kept = [r for r in rows if r["stat_date"] >= cutoff]
    by_table: dict[str, list[dict[str, Any]]] = {}
    for r in kept:
        name = spec.name
        if spec.rotate != "none":
            name = f"{spec.name} {period_label(spec.rotate, r['stat_date'])}"
        by_table.setdefault(name, []).append(r)
    tables = _tables(feishu)
    for name, part in by_table.items():
        got = _content(feishu, tables[name])
        assert len(got) <= CAP
        assert got == _expected(spec, part), name  # Bitable == DB for the kept rows
    for name, tid in tables.items():  # no table over the cap, nothing outside the kept rows
        n = len(feishu.sim.records(feishu.sim.app_token, tid))
        assert n <= CAP and (name in by_table or n == 0), name
    assert res.created == len(kept)
    if cfg.retention_days:
        assert res.deleted_old > 0

    feishu.sim.reset_counters()  # rerun: nothing to write
    again = BitableSink(feishu.api(), engine, record_cap=CAP).upsert(spec, rows)
    assert again.unchanged == len(kept) and feishu.writes() == 0


def test_period_tables_get_their_own_views(feishu: Feishu, engine: sa.Engine) -> None:
    spec = LOCAL_PROMOTION_DAILY.configured(BitableTableConfig(rotate="month"))
    sink = BitableSink(feishu.api(), engine)
    rows = promotion_rows(20, accounts=2, days=4, start=date(2026, 10, 30))
    res = sink.upsert(spec, rows)
    assert res.tables == ["本地推单元日报 2026-10", "本地推单元日报 2026-11"]
    views = sink.ensure_views(spec, {1854347260793866: "甲", 1854347260793867: "乙"})
    assert views.created == 4
    tables = _tables(feishu)
    for name in res.tables:
        names = {v["view_name"] for v in feishu.sim.views(feishu.sim.app_token, tables[name])}
        assert {"甲", "乙"} <= names


@pytest.mark.parametrize(
    ("rotate", "days", "retention"),
    [("day", 12, 5), ("week", 40, 10), ("month", 75, 20)],
)
def test_retention_purges_the_period_tables_a_run_no_longer_writes(
    feishu: Feishu, engine: sa.Engine, rotate: str, days: int, retention: int
) -> None:
    """Old period tables (not written by today's run) lose their rows before the cutoff, in
    Bitable only; the rows from the cutoff on, and a person's own records, stay. A table wholly
    before the cutoff is deleted once empty; one with a person's record is kept."""
    today = china_today()
    rows = promotion_rows(6 * days, accounts=3, days=days, start=today - timedelta(days=days))
    plain = LOCAL_PROMOTION_DAILY.configured(BitableTableConfig(rotate=rotate))  # history
    BitableSink(feishu.api(), engine).upsert(plain, rows)
    tables = _tables(feishu)
    oldest = f"{plain.name} {period_label(rotate, rows[0]['stat_date'])}"
    feishu.sim.add_records(feishu.sim.app_token, tables[oldest], [{"单元名称": "a person's note"}])

    spec = LOCAL_PROMOTION_DAILY.configured(
        BitableTableConfig(rotate=rotate, retention_days=retention)
    )
    yesterday = [r for r in rows if r["stat_date"] == today - timedelta(days=1)]
    sink = BitableSink(feishu.api(), engine)
    with sink.tables_cached():
        res = sink.upsert(spec, yesterday)  # today's run writes yesterday's period only
        again = sink.upsert(spec, yesterday)  # the same run: retention is not redone

    cutoff = retention_cutoff(retention)
    kept = [r for r in rows if r["stat_date"] >= cutoff]
    assert res.deleted_old == len(rows) - len(kept) > 0 and again.deleted_old == 0
    assert res.unchanged == len(yesterday) and res.created == 0
    expected: dict[str, list[dict[str, Any]]] = {}
    for r in kept:
        expected.setdefault(f"{spec.name} {period_label(rotate, r['stat_date'])}", []).append(r)
    left = _tables(feishu)
    # Every period table that holds kept rows, the person's, and nothing else: the others are
    # wholly past retention and were emptied, so deleted.
    assert set(left) == set(expected) | {oldest}
    assert len(tables) > len(left)
    for name, tid in left.items():
        recs = feishu.sim.records(feishu.sim.app_token, tid)
        ours = {k: v for k, v in _content_of(recs).items() if k}
        assert ours == _expected(spec, expected.get(name, [])), name  # Bitable == DB, kept rows
        if name == oldest:
            assert [r["fields"].get("单元名称") for r in recs if not r["fields"].get("业务键")] == [
                "a person's note"
            ]
    # The map forgot the purged records: the DB still has every row, a rerun writes nothing,
    # and a run without retention would recreate exactly the purged ones.
    with engine.connect() as conn:
        mapped = conn.execute(sa.text("select count(*) from bitable_record_map")).scalar_one()
    assert mapped == len(kept)
    feishu.sim.reset_counters()
    assert BitableSink(feishu.api(), engine).upsert(spec, kept).unchanged == len(kept)
    assert feishu.writes() == 0


def _content_of(recs: list[dict[str, Any]]) -> dict[str, tuple[str, float]]:
    return {
        r["fields"].get("业务键", ""): (r["fields"]["单元名称"], r["fields"].get("消耗(元)"))
        for r in recs
    }


def test_the_record_cap_comes_from_the_settings(feishu: Feishu, engine: sa.Engine) -> None:
    from integrations.settings import load_settings

    s = load_settings(
        feishu_base_url=feishu.url,
        feishu_app_id=feishu.sim.app_id,
        feishu_app_secret=feishu.sim.app_secret,
        feishu_app_token=feishu.sim.app_token,
        feishu_max_records_per_table=30,
    )
    sink = BitableSink.from_settings(s, engine)
    assert sink.record_cap == 30
    sink.upsert(LOCAL_PROMOTION_DAILY, promotion_rows(20))
    feishu.sim.reset_counters()
    with pytest.raises(TableFull, match="cap of 30 records"):
        sink.upsert(LOCAL_PROMOTION_DAILY, promotion_rows(40))
    assert feishu.writes() == 0
