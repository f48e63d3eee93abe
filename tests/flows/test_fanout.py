"""flows.fanout: completion order, per-key outcomes and retries, results released once
consumed, at most ``window`` waiting, workers that end early; the write lane's order and stop
at a failure."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from flows.fanout import KeyWork, WriteLane, work


class Rows(list):
    """A weak-referenceable stand-in for one account's fetched rows."""


def _each(
    fn: Callable[..., Any], keys: list[int], workers: int, **opts: Any
) -> Iterator[tuple[int, Any]]:
    jobs = KeyWork(((k, (k,)) for k in keys), workers=workers, **opts)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i in range(workers):
            pool.submit(work, jobs, fn, i)
        yield from jobs.outcomes()


def test_each_yields_in_completion_order_with_exceptions_as_outcomes():
    gates = {k: threading.Event() for k in (1, 2, 3)}

    def fetch(key: int) -> str:
        gates[key].wait(5)
        if key == 2:
            raise ValueError(f"bad {key}")
        return f"{key}!"

    it = _each(fetch, [1, 2, 3], workers=3)
    gates[3].set()
    assert next(it) == (3, "3!")
    gates[2].set()
    key, err = next(it)
    assert key == 2 and isinstance(err, ValueError) and str(err) == "bad 2"
    gates[1].set()
    assert list(it) == [(1, "1!")]


def test_a_consumed_result_is_not_kept_while_others_are_pending():
    release_slow = threading.Event()
    made: dict[int, weakref.ref] = {}

    def fetch(key: int) -> Rows:
        if key == 2:
            release_slow.wait(5)
        rows = Rows([{"k": key}] * 100)
        made[key] = weakref.ref(rows)
        return rows

    it = _each(fetch, [1, 2], workers=2)
    key, rows = next(it)
    assert key == 1 and len(rows) == 100
    del rows
    gc.collect()
    # Key 2 is still being fetched: key 1's rows must already be gone (as_completed keeps them).
    assert made[1]() is None
    release_slow.set()
    assert [k for k, _ in it] == [2]


def test_write_lane_runs_in_order_off_the_caller_thread_and_stops_at_a_failure():
    ran: list[tuple[int, str]] = []

    def step(n: int) -> None:
        ran.append((n, threading.current_thread().name))
        if n == 3:
            raise OSError("disk full")

    lane = WriteLane()
    for n in range(1, 6):
        lane.submit("step", lambda n=n: step(n))
    with pytest.raises(OSError, match="disk full"):
        lane.drain()
    assert [n for n, _ in ran] == [1, 2, 3]  # 4 and 5 never ran
    assert all(name.startswith("write-lane") for _, name in ran)

    lane.submit("step", lambda: step(10))  # a drained lane starts afresh
    assert not lane.failed
    lane.drain()
    assert ran[-1][0] == 10


def test_at_most_window_outcomes_wait_unconsumed():
    jobs = KeyWork(((k, (k,)) for k in range(20)), workers=4, window=3)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for i in range(4):
            pool.submit(work, jobs, lambda k: k * 10, i)
        got, waiting = [], []
        for key, value in jobs.outcomes():
            waiting.append(len(jobs._out))  # noqa: SLF001 - what the workers could not add
            got.append((key, value))
    assert sorted(got) == [(k, k * 10) for k in range(20)]
    assert max(waiting) <= 3


def test_transient_failures_are_retried_per_key_then_final():
    tries: dict[int, int] = {}
    retried: list[tuple[int, int, float]] = []
    lock = threading.Lock()

    def fetch(key: int) -> str:
        with lock:
            tries[key] = tries.get(key, 0) + 1
        if key == 1 and tries[key] < 3:
            raise ConnectionError("reset")  # transient, fine on the third try
        if key == 2:
            raise ConnectionError("down")  # transient, never fine
        if key == 3:
            raise PermissionError("no access")  # not worth a retry
        return "ok"

    out = dict(
        _each(
            fetch,
            [1, 2, 3, 4],
            workers=2,
            delays=[0.01, 0.02],
            retry_if=lambda e: isinstance(e, ConnectionError),
            on_retry=lambda k, e, n, d: retried.append((k, n, d)),
        )
    )
    assert out[1] == "ok" and out[4] == "ok"
    assert isinstance(out[2], ConnectionError) and isinstance(out[3], PermissionError)
    assert tries == {1: 3, 2: 3, 3: 1, 4: 1}
    assert sorted(retried) == [(1, 1, 0.01), (1, 2, 0.02), (2, 1, 0.01), (2, 2, 0.02)]


def test_keys_left_when_every_worker_ended_get_its_reason():
    jobs = KeyWork(((k, (k,)) for k in range(5)), workers=2)
    jobs.never_started(0, RuntimeError("task run refused"))
    assert jobs.next() is not None  # the other worker took key 0, then was interrupted
    jobs.ended(KeyboardInterrupt())
    out = dict(jobs.outcomes())
    assert sorted(out) == list(range(5))
    assert all(isinstance(e, KeyboardInterrupt) for e in out.values())


def test_a_started_worker_is_not_ended_twice():
    jobs = KeyWork([(1, (1,))], workers=1)
    assert work(jobs, lambda k: k) == 1
    jobs.never_started(0, RuntimeError("its task run failed after"))  # already ended in work()
    assert list(jobs.outcomes()) == [(1, 1)]


def test_a_consumer_that_leaves_stops_the_workers():
    started = threading.Event()
    seen: list[int] = []

    def fetch(key: int) -> int:
        seen.append(key)
        started.set()
        return key

    jobs = KeyWork(((k, (k,)) for k in range(100)), workers=1, window=1)
    with ThreadPoolExecutor(max_workers=1) as pool:
        done = pool.submit(work, jobs, fetch, 0)
        it = jobs.outcomes()
        next(it)
        it.close()  # e.g. a fatal outcome raised in the consumer
        assert done.result(timeout=30) < 100  # the worker stopped, not blocked on the window
