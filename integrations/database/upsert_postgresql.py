"""PostgreSQL upsert: one statement per chunk, the chunk passed as one binary array per column,
chunks streamed through a psycopg pipeline.

``INSERT INTO t (...) SELECT * FROM unnest(CAST($1 AS type[]), ...)
ON CONFLICT (key) DO UPDATE SET ... WHERE t.c IS DISTINCT FROM excluded.c OR ...
RETURNING (xmax = 0)``

- A handful of array parameters instead of rows x columns placeholders: no 65535-parameter cap,
  no per-row SQL rendering. Each array is sent as one text literal built by
  ``pg_array_literal`` (psycopg's per-element list dumpers were the bottleneck).
- Pipeline mode: chunk k+1 is prepared and sent while the server still executes chunk k (the
  two overlap on separate cores); results are collected with a bounded window of statements in
  flight. Faster than send-and-wait (bench/db_upsert.py; figures in bench/RESULTS.md).
- A conflicting row whose compared columns are all equal fails the WHERE: it is not rewritten (no
  new tuple version, no WAL) and not returned.
- Returned rows carry ``xmax = 0`` when freshly inserted and a non-zero xmax (the updating
  transaction's lock) when updated, so inserted/updated/unchanged are exact without a pre-read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from integrations.database.pg_array_literal import ArrayEncoder, encoder_for
from integrations.database.upsert_plan import Row, UpsertPlan, UpsertResult, changed, set_values

# Statements sent but not yet read back. Two keeps the server busy while we prepare the next.
MAX_IN_FLIGHT = 3


@dataclass(frozen=True)
class PgStatement:
    sql: str  # psycopg SQL with one %(aN)s array-literal placeholder per column
    params: tuple[str, ...]  # placeholder name per column, in plan.columns order
    encoders: tuple[ArrayEncoder, ...]  # per column


def upsert_statement(conn: Connection, plan: UpsertPlan) -> PgStatement:
    t = plan.table
    names = tuple(f"a{i}" for i in range(len(plan.columns)))
    arrays = [
        cast(bindparam(n, type_=Text()), ARRAY(t.c[c].type))
        for n, c in zip(names, plan.columns, strict=True)
    ]
    source = select(literal_column("*")).select_from(func.unnest(*arrays))
    stmt = pg_insert(t).from_select(list(plan.columns), source)
    if plan.compare_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(plan.key_columns),
            set_=set_values(plan, stmt.excluded),
            where=changed(plan, stmt.excluded),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(plan.key_columns))
    stmt = stmt.returning(literal_column("(xmax = 0)"))
    sql = str(stmt.compile(dialect=conn.dialect))
    return PgStatement(sql, names, tuple(encoder_for(t.c[c].type) for c in plan.columns))


def write_chunks(
    conn: Connection, stmt: PgStatement, chunks: Iterable[Sequence[Row]]
) -> UpsertResult:
    driver = conn.connection.driver_connection  # psycopg.Connection, in SQLAlchemy's transaction
    assert driver is not None
    total = UpsertResult()
    in_flight: deque[tuple[Any, int]] = deque()

    def collect() -> UpsertResult:
        cur, n = in_flight.popleft()
        flags = [f for (f,) in cur.fetchall()]
        cur.close()
        inserted = sum(flags)
        return UpsertResult(inserted, len(flags) - inserted, n - len(flags))

    with driver.pipeline():
        for rows in chunks:
            if not rows:
                continue
            columns = zip(*rows, strict=True)  # transpose: one tuple per column
            params = {
                n: encode(col)
                for n, encode, col in zip(stmt.params, stmt.encoders, columns, strict=True)
            }
            cur = driver.cursor()
            cur.execute(stmt.sql, params)
            in_flight.append((cur, len(rows)))
            if len(in_flight) > MAX_IN_FLIGHT:
                total += collect()
        while in_flight:
            total += collect()
    return total
