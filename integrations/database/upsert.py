"""The one batched upsert for every dataset table on SQLite, PostgreSQL and MariaDB/MySQL.

    with engine.begin() as conn:
        result = upsert(conn, tables.local_promotion_daily, rows)
    result.inserted, result.updated, result.unchanged

- The key is the table's primary key. Rows with a key that is not stored yet are inserted; rows
  whose compared columns differ from the stored ones are updated; the rest are *unchanged* and
  are not rewritten (no write, ``updated_at`` keeps its value).
- Compared columns: the row's columns except the key and ``tables.BOOKKEEPING_COLUMNS``.
  ``updated_at`` is set to UTC now on insert and on update; ``created_at``/``first_seen_at`` are
  written on insert only; other bookkeeping columns take the row's value (UTC now if absent).
- Every row of one call carries the same columns (those of the first row); columns the rows do
  not carry are neither written nor compared. A row missing a primary-key column raises
  ValueError naming the table and the column.
- Within one chunk, rows with the same key collapse to the last one (counted once).
- Counts are exact for a single writer per key; the data written is correct under concurrency.
- The caller owns the transaction: nothing is committed here.

Dialect strategies (see the ``upsert_<dialect>`` modules and bench/db_upsert.py for figures):
PostgreSQL ``ON CONFLICT ... WHERE ... IS DISTINCT FROM`` over unnest()ed column arrays with
``RETURNING (xmax = 0)``; SQLite ``ON CONFLICT ... WHERE`` via executemany plus an
existing-key count; MariaDB/MySQL a pre-read of the chunk's stored rows, then ``ON DUPLICATE KEY
UPDATE`` for new and changed rows only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Table

from integrations.database import upsert_mysql, upsert_postgresql, upsert_sqlite
from integrations.database.upsert_plan import (
    UpsertPlan,
    UpsertResult,
    iter_chunks,
    utc_now,
)

__all__ = ["DEFAULT_CHUNK_SIZE", "UpsertResult", "upsert"]

# Rows per statement: past this size PostgreSQL's throughput per unnest() statement stops growing
# (bench/RESULTS.md, "Database upsert"); SQLite's existing-key count is bounded by its parameter
# limit.
DEFAULT_CHUNK_SIZE = 5000


def upsert(
    conn: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> UpsertResult:
    """Insert new rows, update changed rows, leave unchanged rows untouched; return the counts.

    ``rows`` may be any iterable (a list, or a generator to stream large loads in chunks).
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    chunks = iter(iter_chunks(rows, chunk_size))
    first = next(chunks, None)
    if first is None:
        return UpsertResult()
    dialect = conn.dialect
    now = utc_now(dialect)
    plan = UpsertPlan.build(table, first[0], dialect)
    prepared = (plan.prepare(c, now) for c in itertools.chain([first], chunks))

    name = dialect.name
    if name == "postgresql":
        pg = upsert_postgresql.upsert_statement(conn, plan)
        return upsert_postgresql.write_chunks(conn, pg, prepared)
    if name == "sqlite":
        lite = upsert_sqlite.upsert_statement(conn, plan)
        return _sum(upsert_sqlite.write_chunk(conn, plan, lite, c) for c in prepared)
    if name in ("mysql", "mariadb"):
        my = upsert_mysql.upsert_statement(conn, plan)
        return _sum(upsert_mysql.write_chunk(conn, plan, my, c) for c in prepared)
    raise NotImplementedError(f"upsert: unsupported database dialect {name!r}")


def _sum(results: Iterable[UpsertResult]) -> UpsertResult:
    total = UpsertResult()
    for r in results:
        total += r
    return total
