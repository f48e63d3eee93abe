"""Per-app request pacing: one schedule of request slots shared by every caller.

Ocean Engine throttles per app (code 40100, docs/contracts/oceanengine.md §6). A 40100 costs a round
trip and a backoff, so we pace on the client side and treat 40100 as the exception.

Both limiters are *slot schedulers* (GCRA / "virtual scheduling"): ``acquire()`` reserves the next
free slot ``max(now, next_free)`` and moves ``next_free`` on by ``1/qps``; the caller then sleeps
outside any lock until its slot. Consequences:

- never more than ``burst`` requests start in any ``burst/qps`` window, so any window of W
  seconds holds at most ``W*qps + burst`` starts (burst defaults to 1: perfectly even spacing);
- callers are served in arrival order and nobody polls, so throughput sits at ``qps`` exactly
  as long as enough threads are waiting (contrast Prefect's ``rate_limit``, which polls the API
  server with backoff and measured far below nominal, docs/contracts/prefect.md §3).

Scopes:

``TokenBucket``
    One process, any number of threads (the client acquires before every request).
``FileLockedSchedule``
    Several processes on ONE machine: the ``next_free`` time lives in a small file and is
    read-modified-written under ``fcntl.flock``. The clock is ``time.monotonic()``, which on Linux
    is CLOCK_MONOTONIC, system-wide (same origin for all processes since boot) and immune to
    wall-clock steps. A reservation costs one flock + 8-byte read/write (tens of µs), far below
    any realistic 1/qps. Put the file in the data dir (``default_schedule_path``).

Several MACHINES: a shared file does not work across hosts; ``shared_ratelimit.SharedAppLimiter``
splits the app's QPS among the live processes through the app database (a heartbeat row per
process; the per-call path stays this module's ``TokenBucket``). Its module doc says why that
and not a Prefect global concurrency limit or a per-call database token bucket.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

from integrations.private_files import private_dir

_SLOT = struct.Struct("<d")  # next_free as a little-endian float64 (monotonic seconds)


@runtime_checkable
class RateLimiter(Protocol):
    def acquire(self) -> float:
        """Block until the caller may send one request; return the seconds waited."""
        ...


def _sleep_until(t: float) -> float:
    waited = 0.0
    while True:
        delay = t - time.monotonic()
        if delay <= 0:
            return waited
        time.sleep(delay)
        waited += delay


class TokenBucket:
    """Thread-safe per-process slot scheduler at ``qps`` with an optional small burst."""

    def __init__(self, qps: float, burst: int = 1) -> None:
        if qps <= 0:
            raise ValueError("qps must be > 0")
        if burst < 1:
            raise ValueError("burst must be >= 1")
        self.qps = float(qps)
        self.interval = 1.0 / self.qps
        self._burst = burst
        # How far next_free may trail "now": an idle limiter lets `burst` requests through at once.
        self._slack = (burst - 1) * self.interval
        self._next_free = 0.0
        self._lock = threading.Lock()

    def set_rate(self, qps: float) -> None:
        """Change the rate for slots reserved from now on (shared_ratelimit moves a process's
        share as processes come and go); slots already handed out keep their times."""
        if qps <= 0:
            raise ValueError("qps must be > 0")
        with self._lock:
            self.qps = float(qps)
            self.interval = 1.0 / self.qps
            self._slack = (self._burst - 1) * self.interval

    def reserve(self) -> float:
        """Reserve a slot and return its (monotonic) start time without sleeping."""
        with self._lock:
            now = time.monotonic()
            slot = max(now - self._slack, self._next_free)
            self._next_free = slot + self.interval
            return max(slot, now)

    def acquire(self) -> float:
        return _sleep_until(self.reserve())


class FileLockedSchedule:
    """Slot scheduler shared by all processes on this machine that use the same ``path``.

    Thread-safe too: ``flock`` locks belong to an open file description, so threads of one
    process that share the fd would not exclude each other; a thread lock serialises them first.
    """

    def __init__(self, path: str | os.PathLike[str], qps: float) -> None:
        if qps <= 0:
            raise ValueError("qps must be > 0")
        self.path = Path(path)
        private_dir(self.path.parent)
        self.qps = float(qps)
        self.interval = 1.0 / self.qps
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = -1

    def _file(self) -> int:
        # Re-open after fork: a forked child must not share the parent's open file description.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def reserve(self) -> float:
        with self._lock:
            fd = self._file()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, _SLOT.size, 0)
                stored = _SLOT.unpack(raw)[0] if len(raw) == _SLOT.size else 0.0
                now = time.monotonic()
                # A value far in the future can only come from a previous boot (monotonic
                # restarted): ignore it rather than stall.
                if stored > now + 3600:
                    stored = 0.0
                slot = max(now, stored)
                os.pwrite(fd, _SLOT.pack(slot + self.interval), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return slot

    def acquire(self) -> float:
        return _sleep_until(self.reserve())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


# Pace a little below the app's nominal QPS. The server counts arrivals in a rolling second, and
# requests spaced at exactly 1/qps arrive with jitter (a thread woken for its slot may wait a
# few GIL switch intervals), so the (n+qps)-th request can land inside the window of the n-th and
# get 40100. A 40100 costs one slot, so more headroom only pays if it saves more 40100s than the
# slots it gives up (~21 per 1000 calls for each 2 %). On the 本地推 bench 5 % did not save that
# many (bench/RESULTS.md, "Rate-limit headroom"), so 3 % stays.
DEFAULT_HEADROOM = 0.03


def app_limiter(
    qps: float,
    *,
    shared_path: str | os.PathLike[str] | None = None,
    headroom: float = DEFAULT_HEADROOM,
) -> TokenBucket | FileLockedSchedule:
    """The limiter for one app: in-process, or shared by every process using ``shared_path``."""
    if not 0 <= headroom < 1:
        raise ValueError("headroom must be in [0, 1)")
    rate = qps * (1 - headroom)
    return FileLockedSchedule(shared_path, rate) if shared_path else TokenBucket(rate)


def default_schedule_path(data_dir: str | os.PathLike[str], app_id: str | int | None) -> Path:
    """Where processes of one app on this machine share their schedule."""
    return Path(data_dir) / "ratelimit" / f"oceanengine-{app_id or 'default'}.slot"
