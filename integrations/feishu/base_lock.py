"""One writer per Bitable base across processes and machines: a lease row in the app database.

Feishu serialises a base's writes and answers overlapping ones with 1254291
(docs/contracts/feishu.md §4: "建议对单一多维表格同时只请求一次 API 写操作"). Within a process
``client.base_gate`` keeps calls serial; this lock does the same across the processes and workers
that may write one base at once (laike-daily 07:00, douplus-daily 07:10, dpa-daily, backfills).

Why the shared app database rather than a Prefect global concurrency limit: the sink is plain
Python and also runs outside Prefect (CLI backfills, `adsync bitable plan --apply`, benches,
tests); the app database is already the one store every worker shares (the token store locks
there too), on SQLite, PostgreSQL and MariaDB alike; and a row lease needs no server-side setup
that a deployment could forget.

Protocol (portable SQL, no dialect-specific locking): one row per base; acquiring is a single
``UPDATE … SET holder = me, expires_at = now + lease WHERE holder IS NULL OR expires_at < now OR
holder = me`` that succeeds when it matched the row; releasing sets ``holder`` back to NULL. The
lease bounds how long a killed process can block the others; on the same host a holder whose
process is gone is taken over at once (its pid is in the holder id).

Turns, not single calls: the lease is taken for an HTTP attempt and then kept across the
attempts that follow at once (a load's creates come back to back), for at most ``turn_s``; it is
given back when a turn ends, when no call came for ``idle_s``, or when the sink finishes a table
(``release``). Taking and giving back a row lease per attempt cost two database commits per
call, and on SQLite those waited behind the record-map commits the sink makes while a create
is in flight (bench/RESULTS.md). Two flows on one base still interleave, turn by turn: after a
turn the holder waits ``YIELD_S`` before it takes the lease again, longer than a waiter's poll.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from integrations.database.tables import bitable_base_lock
from integrations.feishu.errors import FeishuError

LEASE_S = 120.0  # > one HTTP attempt (lark-oapi timeout 30 s) with room to spare
POLL_S = 0.02
WAIT_S = 900.0  # give up after 15 min of another writer holding the base
TURN_S = 5.0  # the longest a holder keeps the lease across consecutive calls
IDLE_S = 0.25  # a held lease is given back once no call came for this long
YIELD_S = 3 * POLL_S  # after a turn, a waiting process's next poll comes first


def _new_holder() -> str:
    """host:pid:random, one per lock object (two sinks in one process are two holders)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class BaseBusy(FeishuError):
    def __init__(self, app_token: str, waited_s: float) -> None:
        super().__init__(
            f"Bitable base {app_token[:8]}…: another process held its writer lock for "
            f"{waited_s:.0f} s; nothing was written by this call"
        )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as every timestamp in the DB


def _dead_here(holder: str) -> bool:
    """A holder on this host whose process is gone (killed mid-call): its lease is void now,
    not after LEASE_S. Holders on other hosts are only ever released by their lease."""
    host, _, rest = holder.partition(":")
    pid_s = rest.partition(":")[0]
    if host != socket.gethostname()[:40] or not pid_s.isdigit() or int(pid_s) == os.getpid():
        return False
    try:
        os.kill(int(pid_s), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


class BaseLock:
    """The cross-process writer lease of one base, held per call via :meth:`held`."""

    def __init__(
        self,
        engine: Engine,
        app_token: str,
        *,
        lease_s: float = LEASE_S,
        wait_s: float = WAIT_S,
        holder: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        turn_s: float = TURN_S,
        idle_s: float = IDLE_S,
    ) -> None:
        self.engine, self.app_token = engine, app_token
        self.lease_s, self.wait_s = lease_s, wait_s
        self.holder = holder or _new_holder()
        self.turn_s, self.idle_s = turn_s, idle_s
        self._sleep = sleep
        self._row_ready = False
        self.waits = 0  # times this process found the base held by another (observability)
        self.acquisitions = 0  # leases taken or renewed in the database (observability)
        # The turn: guarded by _mu (the idle timer gives the lease back from its own thread).
        self._mu = threading.Lock()
        self._turn_start: float | None = None  # monotonic; None = not held by us
        self._valid_until = 0.0  # monotonic: renew before (half the lease, a safe margin)
        self._yield_until = 0.0
        self._timer: threading.Timer | None = None

    def _ensure_row(self) -> None:
        if self._row_ready:
            return
        try:
            with self.engine.begin() as conn:
                exists = conn.execute(
                    sa.select(bitable_base_lock.c.app_token).where(
                        bitable_base_lock.c.app_token == self.app_token
                    )
                ).first()
                if exists is None:
                    conn.execute(sa.insert(bitable_base_lock).values(app_token=self.app_token))
        except IntegrityError:
            pass  # another process inserted it first
        self._row_ready = True

    def _free(self, now: datetime) -> tuple[bool, str | None]:
        """A read first: waiters poll without taking the database's write lock (SQLite).
        Returns (free?, a dead holder on this host to take over)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(bitable_base_lock.c.holder, bitable_base_lock.c.expires_at).where(
                    bitable_base_lock.c.app_token == self.app_token
                )
            ).first()
        if row is None or row[0] in (None, self.holder) or row[1] is None or row[1] < now:
            return True, None
        if _dead_here(str(row[0])):
            return True, str(row[0])
        return False, None

    def try_acquire(self) -> bool:
        self._ensure_row()
        now = _now()
        free, dead = self._free(now)
        if not free:
            return False
        takeover = [bitable_base_lock.c.holder == dead] if dead else []
        stmt = (
            sa.update(bitable_base_lock)
            .where(
                bitable_base_lock.c.app_token == self.app_token,
                sa.or_(
                    bitable_base_lock.c.holder.is_(None),
                    bitable_base_lock.c.expires_at < now,
                    bitable_base_lock.c.holder == self.holder,
                    *takeover,
                ),
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
        """Give the lease back now (whatever the turn), e.g. when a table is written."""
        with self._mu:
            self._release_locked()

    def _release_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._turn_start = None
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(bitable_base_lock)
                .where(
                    bitable_base_lock.c.app_token == self.app_token,
                    bitable_base_lock.c.holder == self.holder,
                )
                .values(holder=None, expires_at=None)
            )

    def _idle_release(self, timer: threading.Timer) -> None:
        with self._mu:
            if self._timer is timer and self._turn_start is not None:
                self._timer = None
                self._release_locked()

    @contextmanager
    def held(self) -> Iterator[None]:
        """The lease for one call: taken (or renewed) only when this lock does not hold it
        already; kept afterwards for the rest of the turn (module doc)."""
        with self._mu:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            now = time.monotonic()
            if self._turn_start is None or now >= self._valid_until:
                if self._turn_start is None and now < self._yield_until:
                    self._sleep(self._yield_until - now)
                self.acquire()
                self.acquisitions += 1
                now = time.monotonic()
                if self._turn_start is None:
                    self._turn_start = now
                self._valid_until = now + self.lease_s / 2
        try:
            yield
        finally:
            with self._mu:
                if self._turn_start is not None:
                    if time.monotonic() - self._turn_start >= self.turn_s:
                        self._release_locked()
                        self._yield_until = time.monotonic() + YIELD_S
                    else:
                        timer = threading.Timer(self.idle_s, lambda: self._idle_release(timer))
                        timer.name = f"bitable-lease-{self.app_token[:8]}"
                        self._timer = timer
                        timer.start()
