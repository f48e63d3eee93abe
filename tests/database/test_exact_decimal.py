"""Money and ratios are exact in storage on every backend (tables.ExactDecimal).

PostgreSQL and MariaDB store NUMERIC/DECIMAL; SQLite (whose NUMERIC stores a binary float) stores
the canonical decimal text. Real databases, no mocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from integrations.database.upsert import UpsertResult, upsert
from tests.database.conftest import unique_id

T = tables.local_promotion_daily
A = tables.local_account_daily
DAY = date(2026, 3, 1)

# Values a float (or SQLite's REAL) would corrupt: 17-18 significant digits.
BIG = Decimal("9999999999999999.99")  # DECIMAL(18, 2) maximum
BIG_RATIO = Decimal("99999999999999.999999")  # DECIMAL(20, 6) maximum
EXACT = [Decimal("0.10"), Decimal("12345678901234.56"), BIG, -BIG, Decimal("0.01")]


def promo(account_id: int, i: int, cost: Decimal | None, **extra: Any) -> dict[str, Any]:
    return {
        "stat_date": DAY,
        "local_account_id": account_id,
        "promotion_id": 7_450_000_000_000_000_000 + i,
        "cost": cost,
        **extra,
    }


def account_row(account_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "stat_date": DAY,
        "local_account_id": account_id,
        "promotion_count": 1,
        "cost": BIG,
        "show_cnt": 3,
        "click_cnt": 1,
        "convert_cnt": 0,
        "clue_pay_order_cnt": 0,
        "ctr": Decimal("0.333333"),
        "cpc": BIG_RATIO,
        "cpm": Decimal("-0.000001"),
        "conversion_cost": None,
        **extra,
    }


def run(engine: Engine, table: sa.Table, rows: list[dict[str, Any]]) -> UpsertResult:
    with engine.begin() as c:
        return upsert(c, table, rows)


def costs(engine: Engine, account_id: int) -> list[Decimal | None]:
    with engine.connect() as c:
        q = sa.select(T.c.cost).where(T.c.local_account_id == account_id)
        return list(c.execute(q.order_by(T.c.promotion_id)).scalars())


def test_money_round_trips_exactly_and_reruns_are_unchanged(db_engine: Engine) -> None:
    acct = unique_id()
    rows = [promo(acct, i, v) for i, v in enumerate(EXACT)]
    assert run(db_engine, T, rows) == UpsertResult(inserted=len(EXACT))
    got = costs(db_engine, acct)
    assert got == EXACT
    assert all(type(v) is Decimal for v in got)
    assert [str(v) for v in got] == [str(v) for v in EXACT]
    assert run(db_engine, T, rows) == UpsertResult(unchanged=len(EXACT))

    # One cent on a 16-digit amount: a float cannot tell these apart (ulp there is 2.0).
    assert float(BIG) == float(BIG - Decimal("0.01"))
    rows[2] = {**rows[2], "cost": BIG - Decimal("0.01")}
    assert run(db_engine, T, rows) == UpsertResult(updated=1, unchanged=len(EXACT) - 1)
    assert costs(db_engine, acct)[2] == Decimal("9999999999999999.98")


def test_equal_values_in_other_spellings_are_unchanged(db_engine: Engine) -> None:
    acct = unique_id()
    assert run(db_engine, T, [promo(acct, 0, Decimal("0")), promo(acct, 1, Decimal("1.5"))]) == (
        UpsertResult(inserted=2)
    )
    same = [promo(acct, 0, Decimal("-0.00")), promo(acct, 1, Decimal("1.500"))]
    assert run(db_engine, T, same) == UpsertResult(unchanged=2)
    assert [str(v) for v in costs(db_engine, acct)] == ["0.00", "1.50"]


def test_ratios_round_trip_exactly(db_engine: Engine) -> None:
    acct = unique_id()
    row = account_row(acct)
    assert run(db_engine, A, [row]) == UpsertResult(inserted=1)
    with db_engine.connect() as c:
        got = c.execute(sa.select(A).where(A.c.local_account_id == acct)).mappings().one()
    for k in ("cost", "ctr", "cpc", "cpm", "conversion_cost"):
        assert got[k] == row[k], k
    assert str(got["cpc"]) == "99999999999999.999999"
    assert str(got["cpm"]) == "-0.000001"
    assert run(db_engine, A, [row]) == UpsertResult(unchanged=1)


def test_core_insert_and_equality_filter_use_the_exact_type(db_engine: Engine) -> None:
    """Plain Core statements (not the upsert's fast path) go through the same type."""
    acct = unique_id()
    with db_engine.begin() as c:
        c.execute(
            sa.insert(T),
            [
                {**promo(acct, i, v), "updated_at": datetime(2026, 1, 1)}
                for i, v in enumerate([Decimal("0.1"), BIG])
            ],
        )
    with db_engine.connect() as c:
        q = sa.select(T.c.promotion_id).where(T.c.local_account_id == acct)
        assert len(c.execute(q.where(T.c.cost == BIG)).all()) == 1
        assert len(c.execute(q.where(T.c.cost == Decimal("0.10"))).all()) == 1
        assert len(c.execute(q.where(T.c.cost == BIG - Decimal("0.01"))).all()) == 0
    assert costs(db_engine, acct) == [Decimal("0.10"), BIG]


def test_migrated_column_types(db_engine: Engine) -> None:
    with db_engine.connect() as c:
        cols = {col["name"]: col["type"] for col in sa.inspect(c).get_columns(T.name)}
    if db_engine.dialect.name == "sqlite":
        assert isinstance(cols["cost"], sa.Text)
    else:
        assert isinstance(cols["cost"], sa.Numeric) and not isinstance(cols["cost"], sa.Float)
        assert (cols["cost"].precision, cols["cost"].scale) == (18, 2)


# --- SQLite storage details ------------------------------------------------------------------


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    """A migrated SQLite database only: these tests are about SQLite's storage format."""
    url = f"sqlite:///{tmp_path / 'exact.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_sqlite_stores_canonical_decimal_text(sqlite_engine: Engine) -> None:
    acct = unique_id()
    values = [Decimal("0.1"), Decimal("12345678901234.56"), BIG, Decimal("-0"), Decimal("1E+3")]
    run(
        sqlite_engine, T, [promo(acct, i, v) for i, v in enumerate(values)] + [promo(acct, 9, None)]
    )
    run(sqlite_engine, A, [account_row(acct)])
    with sqlite_engine.connect() as c:
        raw = c.exec_driver_sql(
            "SELECT typeof(cost), cost FROM local_promotion_daily WHERE local_account_id = ? "
            "ORDER BY promotion_id",
            (acct,),
        ).all()
        ratio = c.exec_driver_sql(
            "SELECT typeof(cpc), cpc, ctr, cpm FROM local_account_daily WHERE local_account_id = ?",
            (acct,),
        ).one()
    assert raw == [
        ("text", "0.10"),
        ("text", "12345678901234.56"),
        ("text", "9999999999999999.99"),
        ("text", "0.00"),
        ("text", "1000.00"),
        ("null", None),
    ]
    assert tuple(ratio) == ("text", "99999999999999.999999", "0.333333", "-0.000001")


def test_sqlite_rejects_what_a_server_would(sqlite_engine: Engine) -> None:
    acct = unique_id()
    for bad in (Decimal("10000000000000000.00"), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(ValueError, match=r"overflow|not a finite|invalid value"):
            run(sqlite_engine, T, [promo(acct, 0, bad)])
    assert costs(sqlite_engine, acct) == []


def test_sqlite_legacy_real_cells_read_as_decimal(sqlite_engine: Engine) -> None:
    """A file created before ExactDecimal (NUMERIC affinity, REAL cells) still reads Decimal."""
    with sqlite_engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE legacy_money (v NUMERIC)")
        c.exec_driver_sql("INSERT INTO legacy_money VALUES (12.3), (7), (NULL)")
    legacy = sa.Table("legacy_money", sa.MetaData(), sa.Column("v", tables.Money()))
    with sqlite_engine.connect() as c:
        got = list(c.execute(sa.select(legacy.c.v)).scalars())
    assert got == [Decimal("12.30"), Decimal("7.00"), None]
    assert [str(v) for v in got[:2]] == ["12.30", "7.00"]
