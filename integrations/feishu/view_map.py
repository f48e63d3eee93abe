"""The DB cache (app_token, table_id, view_id) → account id, view name, verified_at
(``bitable_view_map``), used by :func:`integrations.feishu.views.ensure_views`.

A row says: when ``verified_at`` (naive UTC) we read this view with views.get (or wrote it
ourselves) and it was named ``view_name`` and filtered on ``account_id`` ("" = a filter that is
not one of ours). It is an optimisation only; ``ensure_views`` re-verifies rows in rotation and
before acting on them. Plain portable SQL (DELETE + INSERT in one transaction), like
``record_map``, so it runs the same on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from integrations.database.tables import bitable_view_map

_IN_CHUNK = 500  # bound IN-lists (SQLite's variable limit, server packet sizes)


@dataclass(frozen=True)
class ViewEntry:
    account_id: str  # "" = the view's filter is not ``account-id is [id]``
    view_name: str
    verified_at: datetime


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as every timestamp in the DB


def _where(app_token: str, table_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        bitable_view_map.c.app_token == app_token, bitable_view_map.c.table_id == table_id
    )


def load(conn: Connection, app_token: str, table_id: str) -> dict[str, ViewEntry]:
    """view_id → entry for one table."""
    rows = conn.execute(
        sa.select(
            bitable_view_map.c.view_id,
            bitable_view_map.c.account_id,
            bitable_view_map.c.view_name,
            bitable_view_map.c.verified_at,
        ).where(_where(app_token, table_id))
    )
    return {vid: ViewEntry(aid, name, at) for vid, aid, name, at in rows}


def delete(conn: Connection, app_token: str, table_id: str, view_ids: Iterable[str]) -> None:
    ids = list(view_ids)
    for i in range(0, len(ids), _IN_CHUNK):
        conn.execute(
            sa.delete(bitable_view_map).where(
                _where(app_token, table_id), bitable_view_map.c.view_id.in_(ids[i : i + _IN_CHUNK])
            )
        )


def put(
    conn: Connection,
    app_token: str,
    table_id: str,
    entries: Sequence[tuple[str, str, str]],
    verified_at: datetime,
) -> None:
    """Insert or replace ``(view_id, account_id, view_name)`` entries, all verified at once."""
    if not entries:
        return
    delete(conn, app_token, table_id, (vid for vid, _, _ in entries))
    conn.execute(
        sa.insert(bitable_view_map),
        [
            {
                "app_token": app_token,
                "table_id": table_id,
                "view_id": vid,
                "account_id": aid,
                "view_name": name,
                "verified_at": verified_at,
            }
            for vid, aid, name in entries
        ],
    )


def forget_table(conn: Connection, app_token: str, table_id: str) -> None:
    """Every view entry of a table that no longer exists (deleted by retention)."""
    conn.execute(sa.delete(bitable_view_map).where(_where(app_token, table_id)))
