"""The batched upsert on SQLite, PostgreSQL and MariaDB (real databases, no mocks)."""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from integrations.database import tables
from integrations.database.upsert import UpsertResult, upsert
from tests.database.conftest import unique_id

T = tables.local_promotion_daily
OLD = datetime(2000, 1, 1)


def promotion_rows(account_id: int, n: int, *, day: date = date(2026, 11, 22)) -> list[dict]:
    rnd = random.Random(account_id)
    return [
        {
            "stat_date": day,
            "local_account_id": account_id,
            "promotion_id": 7_450_000_000_000_000_000 + i,  # > 2^53, like real ids
            "promotion_name": f"推广计划 {i} 🚀",
            "project_id": 7_400_000_000_000_000_000 + i % 7,
            "project_name": "到店团购",
            "cost": Decimal(rnd.randint(0, 10_000_000)) / 100,
            "show_cnt": rnd.randint(0, 10**6),
            "click_cnt": rnd.randint(0, 10**4),
            "convert_cnt": rnd.randint(0, 100),
            "conversion_cost": Decimal("12.34"),
            "clue_pay_order_cnt": rnd.randint(0, 50),
        }
        for i in range(n)
    ]


def stored(engine: Engine, account_id: int) -> dict[tuple, dict[str, Any]]:
    with engine.connect() as c:
        rs = c.execute(sa.select(T).where(T.c.local_account_id == account_id)).mappings()
        return {(r["stat_date"], r["local_account_id"], r["promotion_id"]): dict(r) for r in rs}


def backdate(engine: Engine, account_id: int) -> None:
    """Age every stored row's updated_at, so any rewrite shows (MariaDB keeps whole seconds)."""
    with engine.begin() as c:
        c.execute(sa.update(T).where(T.c.local_account_id == account_id).values(updated_at=OLD))


def run(engine: Engine, rows: list[dict], **kw: Any) -> UpsertResult:
    with engine.begin() as c:
        return upsert(c, T, rows, **kw)


def test_insert_then_same_batch_is_unchanged_and_not_rewritten(db_engine: Engine) -> None:
    acct = unique_id()
    rows = promotion_rows(acct, 250)

    first = run(db_engine, rows, chunk_size=100)
    assert first == UpsertResult(inserted=250, updated=0, unchanged=0)
    backdate(db_engine, acct)
    before = stored(db_engine, acct)
    assert len(before) == 250

    second = run(db_engine, rows, chunk_size=100)
    assert second == UpsertResult(inserted=0, updated=0, unchanged=250)
    after = stored(db_engine, acct)
    # Not rewritten: updated_at (set on every write) still holds the aged value.
    assert after == before
    assert {r["updated_at"] for r in after.values()} == {OLD}


def test_one_percent_changed_counts_exactly_and_rewrites_only_those(db_engine: Engine) -> None:
    acct = unique_id()
    rows = promotion_rows(acct, 400)
    run(db_engine, rows)
    backdate(db_engine, acct)
    before = stored(db_engine, acct)

    changed = random.Random(7).sample(range(400), 4)
    for i in changed:
        rows[i] = {**rows[i], "cost": rows[i]["cost"] + Decimal("0.01")}
    new = promotion_rows(acct, 2, day=date(2026, 11, 23))
    result = run(db_engine, rows + new, chunk_size=64)

    assert result == UpsertResult(inserted=2, updated=4, unchanged=400 - 4)
    after = stored(db_engine, acct)
    touched = {k for k in before if after[k]["updated_at"] != before[k]["updated_at"]}
    assert touched == {
        (r["stat_date"], acct, r["promotion_id"]) for r in (rows[i] for i in changed)
    }
    for i in changed:
        r = rows[i]
        assert after[(r["stat_date"], acct, r["promotion_id"])]["cost"] == r["cost"]


def test_int64_money_and_text_round_trip_exactly(db_engine: Engine) -> None:
    acct = 2**63 - 1 - unique_id() % 1000  # near the int64 ceiling, still unique per test
    row = {
        "stat_date": date(2026, 1, 1),
        "local_account_id": acct,
        "promotion_id": 2**63 - 1,
        "promotion_name": "北京朝阳·火锅🍲店 😀 ’引号’",
        "project_id": 2**53 + 1,  # the first integer a float cannot hold
        "cost": Decimal("0.01"),
        "conversion_cost": Decimal("12345678901.23"),
        "show_cnt": 2**63 - 1,
    }
    assert run(db_engine, [row]) == UpsertResult(inserted=1)
    got = stored(db_engine, acct)[(date(2026, 1, 1), acct, 2**63 - 1)]
    for k, v in row.items():
        assert got[k] == v, k
        assert type(got[k]) is type(v), k
    assert str(got["cost"]) == "0.01"
    # A value equal after quantising to the column scale is unchanged, not a rewrite.
    same = {**row, "cost": Decimal("0.0100"), "conversion_cost": Decimal("12345678901.230")}
    assert run(db_engine, [same]) == UpsertResult(unchanged=1)


def test_null_transitions_and_partial_columns(db_engine: Engine) -> None:
    acct = unique_id()
    key = {"stat_date": date(2026, 2, 1), "local_account_id": acct, "promotion_id": 1}
    assert run(db_engine, [{**key, "cost": None, "promotion_name": "a"}]).inserted == 1
    assert run(db_engine, [{**key, "cost": None, "promotion_name": "a"}]).unchanged == 1
    assert run(db_engine, [{**key, "cost": Decimal("1.5"), "promotion_name": "a"}]).updated == 1
    assert run(db_engine, [{**key, "cost": Decimal("1.50"), "promotion_name": "a"}]).unchanged == 1
    assert run(db_engine, [{**key, "cost": None, "promotion_name": "a"}]).updated == 1
    # Columns a call does not carry are neither compared nor overwritten.
    assert run(db_engine, [{**key, "promotion_name": "a"}]).unchanged == 1
    assert run(db_engine, [{**key, "show_cnt": 5}]).updated == 1
    got = stored(db_engine, acct)[(key["stat_date"], acct, 1)]
    assert (got["promotion_name"], got["show_cnt"], got["cost"]) == ("a", 5, None)
    # Key-only rows: present keys are unchanged, new keys inserted.
    key2 = {**key, "promotion_id": 2}
    assert run(db_engine, [key, key2]) == UpsertResult(inserted=1, unchanged=1)


def test_duplicate_keys_in_a_batch_last_wins(db_engine: Engine) -> None:
    acct = unique_id()
    r = promotion_rows(acct, 1)[0]
    result = run(db_engine, [r, {**r, "cost": Decimal("9.99")}])
    assert result == UpsertResult(inserted=1)
    assert next(iter(stored(db_engine, acct).values()))["cost"] == Decimal("9.99")


def test_streams_from_a_generator(db_engine: Engine) -> None:
    acct = unique_id()
    rows = promotion_rows(acct, 30)
    assert run(db_engine, (r for r in rows), chunk_size=7) == UpsertResult(inserted=30)
    assert run(db_engine, iter(rows), chunk_size=7) == UpsertResult(unchanged=30)


def test_bookkeeping_insert_only_columns(db_engine: Engine) -> None:
    t = tables.ad_accounts
    acct = unique_id()
    row = {
        "account_type": "LOCAL",
        "account_id": acct,
        "account_name": "店铺",
        "is_valid": True,
        "removed": False,
    }
    with db_engine.begin() as c:
        assert upsert(c, t, [row]) == UpsertResult(inserted=1)
        first = c.execute(sa.select(t).where(t.c.account_id == acct)).mappings().one()
    with db_engine.begin() as c:
        assert upsert(c, t, [{**row, "account_name": "新店铺"}]) == UpsertResult(updated=1)
        again = c.execute(sa.select(t).where(t.c.account_id == acct)).mappings().one()
    assert again["first_seen_at"] == first["first_seen_at"]  # insert-only
    assert again["updated_at"] >= first["updated_at"]
    assert again["is_valid"] is True and again["account_name"] == "新店铺"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"stat_date": date(2026, 1, 1), "local_account_id": 1}, "'promotion_id'"),
        (
            {"stat_date": date(2026, 1, 1), "local_account_id": 1, "promotion_id": None},
            "'promotion_id' is NULL",
        ),
        (
            {"stat_date": date(2026, 1, 1), "local_account_id": 1, "promotion_id": 1, "bogus": 1},
            "unknown column 'bogus'",
        ),
        (
            {"stat_date": date(2026, 1, 1), "local_account_id": 1, "promotion_id": 1, "cost": "x"},
            "local_promotion_daily.cost: invalid value",
        ),
    ],
)
def test_invalid_rows_raise_value_error_naming_table_and_column(
    db_engine: Engine, row: dict, message: str
) -> None:
    with pytest.raises(ValueError, match="local_promotion_daily") as err, db_engine.begin() as c:
        upsert(c, T, [row])
    assert message in str(err.value)


def test_later_row_missing_a_key_column_is_rejected(db_engine: Engine) -> None:
    good = {"stat_date": date(2026, 1, 1), "local_account_id": unique_id(), "promotion_id": 1}
    bad = {"stat_date": date(2026, 1, 1), "promotion_id": 2}
    with pytest.raises(ValueError, match="missing primary-key column 'local_account_id'"):
        run(db_engine, [good, bad])


def test_results_add_up() -> None:
    a = UpsertResult(1, 2, 3) + UpsertResult(10, 20, 30)
    assert a == UpsertResult(11, 22, 33)
    assert (a.total, a.written, a.as_dict()["updated"]) == (66, 33, 22)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "NULL",
        "a,b",
        "{x}",
        'quote " and \\ backslash',
        "it's",
        "  spaced  ",
        "\\x41",
        "换行\n🙂",
    ],
)
def test_awkward_text_round_trips(db_engine: Engine, text: str) -> None:
    acct = unique_id()
    row = {"stat_date": date(2026, 3, 1), "local_account_id": acct, "promotion_id": 1}
    rows = [{**row, "promotion_name": text}, {**row, "promotion_id": 2, "promotion_name": None}]
    assert run(db_engine, rows) == UpsertResult(inserted=2)
    got = {k[2]: v["promotion_name"] for k, v in stored(db_engine, acct).items()}
    assert got == {1: text, 2: None}
    assert run(db_engine, rows) == UpsertResult(unchanged=2)


def test_boolean_and_timestamp_columns(db_engine: Engine) -> None:
    t = tables.douplus_orders
    oid = unique_id()
    row = {
        "order_id": oid,
        "aweme_sec_uid": "MS4wLjABAAAA-x_Y",
        "budget": Decimal("100.00"),
        "order_create_time": datetime(2026, 11, 22, 9, 30, 15),
    }
    with db_engine.begin() as c:
        assert upsert(c, t, [row]) == UpsertResult(inserted=1)
        assert upsert(c, t, [row]) == UpsertResult(unchanged=1)
        got = c.execute(sa.select(t).where(t.c.order_id == oid)).mappings().one()
    assert got["order_create_time"] == row["order_create_time"]
    assert got["budget"] == Decimal("100.00")
    acc = tables.ad_accounts
    with db_engine.begin() as c:
        rows = [
            {
                "account_type": "AWEME",
                "account_id": oid,
                "is_valid": False,
                "is_enabled": None,
                "removed": True,
            },
        ]
        assert upsert(c, acc, rows) == UpsertResult(inserted=1)
        assert upsert(c, acc, rows) == UpsertResult(unchanged=1)
        got = c.execute(sa.select(acc).where(acc.c.account_id == oid)).mappings().one()
    assert (got["is_valid"], got["is_enabled"], got["removed"]) == (False, None, True)
