"""The DB map (app_token, table_id, business_key) → record_id + row hash (``bitable_record_map``).

A map row is also the "synced" mark of a DB row: it is written in the same transaction that
stores the record_id a create returned (one transaction per chunk).

Before a create, the chunk's keys are written as *pending* (record_id ``pending:<client_token>``)
and committed. If the process dies between Feishu committing the create and our commit of the
record_ids, the next run finds pending entries and reconciles those keys instead of creating
them a second time. Plain portable SQL (DELETE + INSERT / executemany UPDATE in one transaction)
so it runs the same on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from integrations.database.tables import bitable_record_map

PENDING_PREFIX = "pending:"
_IN_CHUNK = 500  # bound IN-lists (SQLite's variable limit, server packet sizes)


@dataclass(frozen=True)
class MapEntry:
    record_id: str
    row_hash: str

    @property
    def pending(self) -> bool:
        return self.record_id.startswith(PENDING_PREFIX)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as every timestamp in the DB


def _where(app_token: str, table_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        bitable_record_map.c.app_token == app_token, bitable_record_map.c.table_id == table_id
    )


def load(
    conn: Connection, app_token: str, table_id: str, keys: Collection[str] | None = None
) -> dict[str, MapEntry]:
    """The table's map, or only the entries of ``keys`` (a run writing a table batch by batch
    reads what each batch needs, not the whole map each time)."""
    q = sa.select(
        bitable_record_map.c.business_key,
        bitable_record_map.c.record_id,
        bitable_record_map.c.row_hash,
    ).where(_where(app_token, table_id))
    if keys is None:
        return {k: MapEntry(r, h) for k, r, h in conn.execute(q)}
    ks = list(keys)
    out: dict[str, MapEntry] = {}
    for i in range(0, len(ks), _IN_CHUNK):
        rows = conn.execute(q.where(bitable_record_map.c.business_key.in_(ks[i : i + _IN_CHUNK])))
        out.update((k, MapEntry(r, h)) for k, r, h in rows)
    return out


def pending_keys(conn: Connection, app_token: str, table_id: str) -> set[str]:
    """Keys whose create was never settled (a crash between Feishu's commit and ours)."""
    q = sa.select(bitable_record_map.c.business_key).where(
        _where(app_token, table_id), bitable_record_map.c.record_id.startswith(PENDING_PREFIX)
    )
    return set(conn.execute(q).scalars())


def has_entries(conn: Connection, app_token: str, table_id: str) -> bool:
    q = sa.select(bitable_record_map.c.business_key).where(_where(app_token, table_id)).limit(1)
    return conn.execute(q).first() is not None


def delete_keys(conn: Connection, app_token: str, table_id: str, keys: Iterable[str]) -> None:
    ks = list(keys)
    for i in range(0, len(ks), _IN_CHUNK):
        conn.execute(
            sa.delete(bitable_record_map).where(
                _where(app_token, table_id),
                bitable_record_map.c.business_key.in_(ks[i : i + _IN_CHUNK]),
            )
        )


def put(
    conn: Connection, app_token: str, table_id: str, entries: Sequence[tuple[str, str, str]]
) -> None:
    """Insert or replace ``(business_key, record_id, row_hash)`` entries."""
    if not entries:
        return
    delete_keys(conn, app_token, table_id, (k for k, _, _ in entries))
    now = _now()
    conn.execute(
        sa.insert(bitable_record_map),
        [
            {
                "app_token": app_token,
                "table_id": table_id,
                "business_key": k,
                "record_id": r,
                "row_hash": h,
                "synced_at": now,
            }
            for k, r, h in entries
        ],
    )


def set_hashes(
    conn: Connection, app_token: str, table_id: str, entries: Sequence[tuple[str, str]]
) -> None:
    """Record new row hashes ``(business_key, row_hash)`` after an update."""
    if not entries:
        return
    stmt = (
        sa.update(bitable_record_map)
        .where(
            bitable_record_map.c.app_token == app_token,
            bitable_record_map.c.table_id == table_id,
            bitable_record_map.c.business_key == sa.bindparam("b_key"),
        )
        .values(row_hash=sa.bindparam("b_hash"), synced_at=sa.bindparam("b_at"))
    )
    now = _now()
    conn.execute(stmt, [{"b_key": k, "b_hash": h, "b_at": now} for k, h in entries])


def forget_table(conn: Connection, app_token: str, table_id: str) -> None:
    """Every entry of a table that no longer exists (deleted by retention)."""
    conn.execute(sa.delete(bitable_record_map).where(_where(app_token, table_id)))
