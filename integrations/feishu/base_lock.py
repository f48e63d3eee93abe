"""One writer per Bitable base across processes and machines: a lease row in the app database.

Feishu serialises a base's writes and answers overlapping ones with 1254291 (contracts/feishu.md
§4: "建议对单一多维表格同时只请求一次 API 写操作"). Within a process ``client.base_gate`` keeps
calls serial; this lock does the same across the processes and workers that may write one base
at once (laike 07:00, DOU+ 07:10, DPA, backfills).

Why the shared app database rather than a Prefect global concurrency limit: the sink is plain
Python and also runs outside Prefect (CLI backfills, `adsync bitable plan --apply`, benches,
tests); the app database is already the one store every worker shares (the token store locks
there too), on SQLite, PostgreSQL and MariaDB alike; and a row lease needs no server-side setup
that a deployment could forget.

Protocol (portable SQL, no dialect-specific locking): one row per base; acquiring is a single
``UPDATE … SET holder = me, expires_at = now + lease WHERE holder IS NULL OR expires_at < now OR
holder = me`` that succeeds when it matched the row; releasing sets ``holder`` back to NULL. The
lease bounds how long a killed process can block the others. It is held for one HTTP attempt at
a time (never across retry back-offs), so two flows on one base interleave call by call.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from integrations.database.tables import bitable_base_lock as T
from integrations.feishu.errors import FeishuError

LEASE_S = 120.0  # > one HTTP attempt (lark-oapi timeout 30 s) with room to spare
POLL_S = 0.02
WAIT_S = 900.0  # give up after 15 min of another writer holding the base

_HOLDER = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class BaseBusy(FeishuError):
    def __init__(self, app_token: str, waited_s: float) -> None:
        super().__init__(
            f"Bitable base {app_token[:8]}…: another process held its writer lock for "
            f"{waited_s:.0f} s; nothing was written by this call"
        )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as every timestamp in the DB


class BaseLock:
    """The cross-process writer lease of one base, held per call via :meth:`held`."""

    def __init__(
        self,
        engine: Engine,
        app_token: str,
        *,
        lease_s: float = LEASE_S,
        wait_s: float = WAIT_S,
        holder: str = _HOLDER,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine, self.app_token = engine, app_token
        self.lease_s, self.wait_s, self.holder = lease_s, wait_s, holder
        self._sleep = sleep
        self._row_ready = False
        self.waits = 0  # times this process found the base held by another (observability)

    def _ensure_row(self) -> None:
        if self._row_ready:
            return
        try:
            with self.engine.begin() as conn:
                exists = conn.execute(
                    sa.select(T.c.app_token).where(T.c.app_token == self.app_token)
                ).first()
                if exists is None:
                    conn.execute(sa.insert(T).values(app_token=self.app_token))
        except IntegrityError:
            pass  # another process inserted it first
        self._row_ready = True

    def _free(self, now: datetime) -> bool:
        """A read first: waiters poll without taking the database's write lock (SQLite)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(T.c.holder, T.c.expires_at).where(T.c.app_token == self.app_token)
            ).first()
        return row is None or row[0] in (None, self.holder) or row[1] is None or row[1] < now

    def try_acquire(self) -> bool:
        self._ensure_row()
        now = _now()
        if not self._free(now):
            return False
        stmt = (
            sa.update(T)
            .where(
                T.c.app_token == self.app_token,
                sa.or_(T.c.holder.is_(None), T.c.expires_at < now, T.c.holder == self.holder),
            )
            .values(holder=self.holder, expires_at=now + timedelta(seconds=self.lease_s))
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def acquire(self) -> None:
        start = time.monotonic()
        waited = False
        while not self.try_acquire():
            if not waited:
                self.waits += 1
                waited = True
            if time.monotonic() - start > self.wait_s:
                raise BaseBusy(self.app_token, time.monotonic() - start)
            self._sleep(POLL_S)

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(T)
                .where(T.c.app_token == self.app_token, T.c.holder == self.holder)
                .values(holder=None, expires_at=None)
            )

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()
