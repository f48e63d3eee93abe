"""MariaDB/MySQL upsert: ``INSERT ... ON DUPLICATE KEY UPDATE`` for new and changed rows only.

ON DUPLICATE KEY UPDATE takes no WHERE, and SQLAlchemy always connects with CLIENT_FOUND_ROWS
(an unchanged duplicate then reports 1 affected row, like an insert), so the affected-row count
cannot separate inserted from unchanged. Instead each chunk first reads the stored values of its
keys (compared columns only), decides new / changed / unchanged in Python on normalised values,
and writes only new and changed rows. Unchanged rows are never sent, so never rewritten. The
write is still ON DUPLICATE KEY UPDATE, so a row inserted concurrently by another writer is
updated rather than failing the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, select, tuple_
from sqlalchemy.dialects.mysql import insert as mysql_insert

from integrations.database.driver_sql import DriverStatement
from integrations.database.upsert_plan import Row, UpsertPlan, UpsertResult, set_values

# Keys per pre-read SELECT (a row-constructor IN list the optimizer turns into PK range reads).
READ_BATCH = 1000


def upsert_statement(conn: Connection, plan: UpsertPlan) -> DriverStatement:
    stmt = mysql_insert(plan.table).values({c: bindparam(c) for c in plan.columns})
    update = set_values(plan, stmt.inserted)
    if not update:  # key-only rows: a no-op assignment keeps the duplicate untouched
        k = plan.key_columns[0]
        update = {k: plan.table.c[k]}
    stmt = stmt.on_duplicate_key_update(update)
    return DriverStatement.compile(conn, stmt, plan.table, plan.columns)


def read_existing(conn: Connection, plan: UpsertPlan, rows: Sequence[Row]) -> dict[Row, Row]:
    """Stored compared-column values by key, for the keys of ``rows`` that exist."""
    t = plan.table
    nk = plan.n_key
    key = tuple_(*(t.c[c] for c in plan.key_columns))
    cols = [t.c[c] for c in (*plan.key_columns, *plan.compare_columns)]
    found: dict[Row, Row] = {}
    for i in range(0, len(rows), READ_BATCH):
        keys = [r[:nk] for r in rows[i : i + READ_BATCH]]
        for rec in conn.execute(select(*cols).where(key.in_(keys))):
            found[tuple(rec[:nk])] = tuple(rec[nk:])
    return found


def write_chunk(
    conn: Connection, plan: UpsertPlan, stmt: DriverStatement, rows: Sequence[Row]
) -> UpsertResult:
    existing = read_existing(conn, plan, rows)
    nk = plan.n_key
    stop = nk + len(plan.compare_columns)  # compared columns follow the key in a row tuple
    # Keep-known columns: a NULL proposes nothing, so it compares equal to what is stored.
    keep = [i for i, c in enumerate(plan.compare_columns) if c in set(plan.keep_known)]
    to_write: list[Row] = []
    inserted = updated = 0
    for r in rows:
        stored = existing.get(r[:nk])
        new = r[nk:stop]
        if keep and stored is not None:
            new = tuple(stored[i] if i in keep and v is None else v for i, v in enumerate(new))
        if stored is None:
            inserted += 1
            to_write.append(r)
        elif stored != new:
            updated += 1
            to_write.append(r)
    stmt.executemany(conn, to_write)
    return UpsertResult(inserted=inserted, updated=updated, unchanged=len(rows) - len(to_write))
