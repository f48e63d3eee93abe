"""SQLite upsert: ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <a compared column changed>``.

Counting: the driver's summed rowcount over the executemany is the number of rows inserted or
updated (a conflict whose WHERE is false changes nothing and counts 0); a count of the chunk's
keys that already exist, read first in the same transaction, splits that into inserted/updated.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from integrations.database.driver_sql import DriverStatement
from integrations.database.upsert_plan import Row, UpsertPlan, UpsertResult, changed, set_values

# SQLite >= 3.32 allows 32766 host parameters per statement.
MAX_PARAMS = 32_000


def upsert_statement(conn: Connection, plan: UpsertPlan) -> DriverStatement:
    t = plan.table
    stmt = sqlite_insert(t).values({c: bindparam(c) for c in plan.columns})
    if plan.compare_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(plan.key_columns),
            set_=set_values(plan, stmt.excluded),
            where=changed(plan, stmt.excluded),
        )
    else:  # key-only rows: an existing key is simply unchanged
        stmt = stmt.on_conflict_do_nothing(index_elements=list(plan.key_columns))
    return DriverStatement.compile(conn, stmt, t, plan.columns)


def count_existing(conn: Connection, plan: UpsertPlan, rows: Sequence[Row]) -> int:
    """How many of the keys of ``rows`` are stored (a VALUES list joined on the primary key)."""
    t = plan.table
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    nk = plan.n_key
    procs = [t.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in plan.key_columns]
    key_sql = ", ".join(quote(c) for c in plan.key_columns)
    group = "(" + ", ".join("?" * nk) + ")"
    on = " AND ".join(f"t.{quote(c)} = v.{quote(c)}" for c in plan.key_columns)
    step = max(1, MAX_PARAMS // nk)
    found = 0
    for i in range(0, len(rows), step):
        part = rows[i : i + step]
        keys = list(zip(*(r[:nk] for r in part), strict=True))
        flat_cols = [
            col if p is None else [None if v is None else p(v) for v in col]
            for col, p in zip(keys, procs, strict=True)
        ]
        params = tuple(v for values in zip(*flat_cols, strict=True) for v in values)
        # A join, not "(k1, k2) IN (VALUES ...)": SQLite plans the IN form as a scan of the
        # whole table per chunk (quadratic over a large load); the join probes the PK index.
        sql = (
            f"WITH v({key_sql}) AS (VALUES {', '.join([group] * len(part))}) "
            f"SELECT count(*) FROM v JOIN {quote(t.name)} AS t ON {on}"
        )
        found += conn.exec_driver_sql(sql, params).scalar_one()
    return found


def write_chunk(
    conn: Connection, plan: UpsertPlan, stmt: DriverStatement, rows: Sequence[Row]
) -> UpsertResult:
    existing = count_existing(conn, plan, rows)
    written = stmt.executemany(conn, rows)
    inserted = len(rows) - existing
    return UpsertResult(
        inserted=inserted, updated=written - inserted, unchanged=len(rows) - written
    )
