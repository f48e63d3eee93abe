"""PostgreSQL upsert: one statement per chunk, the chunk passed as one array per column.

``INSERT INTO t (...) SELECT * FROM unnest($1::type[], $2::type[], ...)
ON CONFLICT (key) DO UPDATE SET ... WHERE t.c IS DISTINCT FROM excluded.c OR ...
RETURNING (xmax = 0)``

- A handful of array parameters instead of rows x columns placeholders: no 65535-parameter cap,
  no per-row SQL rendering, one round trip per chunk (measured by bench/db_upsert.py).
- A conflicting row whose compared columns are all equal fails the WHERE: it is not rewritten (no
  new tuple version, no WAL) and not returned.
- Returned rows carry ``xmax = 0`` when freshly inserted and a non-zero xmax (the updating
  transaction's lock) when updated, so inserted/updated/unchanged are exact without a pre-read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Executable, bindparam, cast, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from integrations.database.upsert_plan import Row, UpsertPlan, UpsertResult


@dataclass(frozen=True)
class PgStatement:
    stmt: Executable
    params: tuple[str, ...]  # bind name per column, in plan.columns order


def upsert_statement(plan: UpsertPlan) -> PgStatement:
    t = plan.table
    names = tuple(f"a{i}" for i in range(len(plan.columns)))
    arrays = [
        cast(bindparam(n, type_=ARRAY(t.c[c].type)), ARRAY(t.c[c].type))
        for n, c in zip(names, plan.columns, strict=True)
    ]
    source = select(literal_column("*")).select_from(func.unnest(*arrays))
    stmt = pg_insert(t).from_select(list(plan.columns), source)
    if plan.compare_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(plan.key_columns),
            set_={c: stmt.excluded[c] for c in plan.update_columns},
            where=or_(*(t.c[c].is_distinct_from(stmt.excluded[c]) for c in plan.compare_columns)),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(plan.key_columns))
    stmt = stmt.returning(literal_column("(xmax = 0)").label("inserted"))
    return PgStatement(stmt, names)


def write_chunk(
    conn: Connection, plan: UpsertPlan, stmt: PgStatement, rows: Sequence[Row]
) -> UpsertResult:
    if not rows:
        return UpsertResult()
    columns = list(zip(*rows, strict=True))  # transpose: one list per column
    params = {n: list(col) for n, col in zip(stmt.params, columns, strict=True)}
    flags = conn.execute(stmt.stmt, params).scalars().all()
    inserted = sum(1 for f in flags if f)
    return UpsertResult(
        inserted=inserted, updated=len(flags) - inserted, unchanged=len(rows) - len(flags)
    )
