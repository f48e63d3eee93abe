"""One Ocean Engine app's QPS shared by every process on every host, through the app database.

Ocean Engine throttles per app (40100). With several Prefect workers (several processes, maybe
several hosts) the app's rate must be split among them. :class:`SharedAppLimiter` does it by
*leasing shares*: each process pacing the app keeps a heartbeat row ``(app_id, holder,
expires_at)`` in ``oceanengine_rate_share``; the live rows are the processes currently using the
app, and each paces itself locally (an in-process :class:`TokenBucket`) at ``qps / live``.

Why this and not the alternatives (figures: bench/RESULTS.md, "Shared rate limit"):

- A Prefect global concurrency limit with slot decay (``rate_limit``) is one API round trip per
  call and polls with back-off when no slot is free: observed far below its nominal rate
  (docs/contracts/prefect.md §3), and it does nothing when the limit was not provisioned. It
  also needs a Prefect server, while the client runs in CLI backfills and benches too.
- A token bucket row in the database (``UPDATE … next_free``) is exact but puts a write
  transaction on every call's path, all processes serialised on one row (on SQLite, on the
  whole database) and the slot times compared across hosts' clocks.
- A lease share puts the database on the path once per heartbeat (``heartbeat_s``), not per
  call; the per-call path is the local bucket. Hosts' clocks only decide when a silent row
  has expired (``ttl_s``, seconds), not when a request may go.

Guarantee: a process reserves slots at a share computed at most ``heartbeat_s`` earlier (the
heartbeat runs inside :meth:`acquire` when due, so an idle process neither writes nor holds a
share for long: its row expires after ``ttl_s`` and the others grow). A process that joins waits
``join_wait_s`` (> ``heartbeat_s``) before its first request, so every busy process has re-read
the count and slowed down first; unless it counted itself alone after registering, as a lone
daily run does: then no one is at a larger share. Two processes registering at once cannot both
count themselves alone (each counts after its own insert committed, so the one counting second
sees both rows): that one waits while the first, at full rate for at most one more heartbeat,
beats and halves. What it does not guarantee: slots already reserved at the old
rate still go out at it (at most one per waiting thread), and an idle process's unused share is
not lent to the others until its row expires; both are bounded and the client retries a 40100.

Used by the runtime's client (``source.connect``) per ``ADSYNC_OCEANENGINE_SHARED_QPS`` (default
``auto``: on with a PostgreSQL/MariaDB app database); each run ends with :meth:`close` (its row
deleted, ``OceanEngineClient.end_run``), and its ledger row records ``max_holders`` as
``counts["api"]["qps_processes"]``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Engine

from integrations.database.tables import oceanengine_rate_share as share
from integrations.sources.oceanengine.ratelimit import DEFAULT_HEADROOM, TokenBucket

HEARTBEAT_S = 1.0


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as every timestamp in the DB


def new_holder() -> str:
    """host:pid:random (≤ 64 chars): unique per limiter, readable for an operator."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SharedAppLimiter:
    """Paces one process at its share of an app's QPS; thread-safe; see the module doc."""

    def __init__(
        self,
        engine: Engine,
        app_id: str | int,
        qps: float,
        *,
        headroom: float = DEFAULT_HEADROOM,
        heartbeat_s: float = HEARTBEAT_S,
        ttl_s: float | None = None,
        join_wait_s: float | None = None,
        holder: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0:
            raise ValueError("qps must be > 0")
        if not 0 <= headroom < 1:
            raise ValueError("headroom must be in [0, 1)")
        if heartbeat_s <= 0:
            raise ValueError("heartbeat_s must be > 0")
        self.engine, self.app_id = engine, str(app_id)
        self.rate = qps * (1 - headroom)  # the whole app's, split among live holders
        self.heartbeat_s = heartbeat_s
        # Several heartbeats: a busy process is never taken for dead because one beat was late.
        self.ttl_s = ttl_s if ttl_s is not None else max(10.0, 5 * heartbeat_s)
        self.join_wait_s = join_wait_s if join_wait_s is not None else 2 * heartbeat_s
        self.holder = holder or new_holder()
        self._sleep = sleep
        self._bucket = TokenBucket(self.rate)
        self._beat_lock = threading.Lock()
        self._next_beat = 0.0  # monotonic; 0 = not registered yet
        self._ready_at = 0.0  # monotonic time before which a new member sends nothing
        self.holders = 0  # live holders at the last heartbeat (this one included)
        self.max_holders = 0  # the most seen (observability, tests)
        self.beats = 0

    # -- per call ---------------------------------------------------------------------------

    def acquire(self) -> float:
        """Block until this process may send one request; return the seconds waited."""
        waited = 0.0
        if time.monotonic() >= self._next_beat:
            self._beat()
        delay = self._ready_at - time.monotonic()
        if delay > 0:
            self._sleep(delay)
            self._ready_at = 0.0
            waited += delay
            self._ready_at = 0.0  # waited out (threads already waiting keep their own delay)
        return waited + self._bucket.acquire()

    # -- heartbeat --------------------------------------------------------------------------

    def _beat(self) -> None:
        # One thread beats; the others go on at the current share (at most one beat stale).
        if not self._beat_lock.acquire(blocking=False):
            return
        try:
            if time.monotonic() < self._next_beat:
                return
            now = _now()
            expires = now + timedelta(seconds=self.ttl_s)
            with self.engine.begin() as conn:
                renewed = conn.execute(
                    sa.update(share)
                    .where(
                        share.c.app_id == self.app_id,
                        share.c.holder == self.holder,
                        share.c.expires_at >= now,
                    )
                    .values(expires_at=expires)
                ).rowcount
            joined = renewed != 1
            if joined:
                self._join(now, expires)
            with self.engine.connect() as conn:
                live = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(share)
                    .where(share.c.app_id == self.app_id, share.c.expires_at >= now)
                ).scalar_one()
            self.holders = max(1, int(live))
            if joined and self.holders == 1:
                self._ready_at = 0.0  # alone: no one to slow down first (module doc)
            self.max_holders = max(self.max_holders, self.holders)
            self._bucket.set_rate(self.rate / self.holders)
            self.beats += 1
            self._next_beat = time.monotonic() + self.heartbeat_s
        finally:
            self._beat_lock.release()

    def _join(self, now: datetime, expires: datetime) -> None:
        """(Re)register: the others counted us out (first beat, or idle past the TTL), so they
        may be at a larger share now; wait until each has beaten and seen us."""
        with self.engine.begin() as conn:
            # Rows of processes silent for long (killed): gone, so the table stays small.
            conn.execute(
                sa.delete(share).where(
                    share.c.app_id == self.app_id,
                    share.c.expires_at < now - timedelta(seconds=self.ttl_s),
                )
            )
            conn.execute(
                sa.delete(share).where(share.c.app_id == self.app_id, share.c.holder == self.holder)
            )
            conn.execute(
                sa.insert(share).values(app_id=self.app_id, holder=self.holder, expires_at=expires)
            )
        self._ready_at = time.monotonic() + self.join_wait_s

    def join(self) -> None:
        """Register now (rather than at the first request) and wait out the join delay."""
        self._beat()
        delay = self._ready_at - time.monotonic()
        if delay > 0:
            self._sleep(delay)
            self._ready_at = 0.0

    def close(self) -> None:
        """Leave: the others take this share at their next heartbeat."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(share).where(share.c.app_id == self.app_id, share.c.holder == self.holder)
            )
        self._next_beat = 0.0
