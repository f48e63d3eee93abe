"""flows.fanout: completion order, per-key outcomes, results released once consumed, the
write lane's order and stop at a failure."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from flows.fanout import WriteLane, completed


class Rows(list):
    """A weak-referenceable stand-in for one account's fetched rows."""


def _each(fn: Callable[..., Any], keys: list[int], workers: int) -> Iterator[tuple[int, Any]]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from completed(lambda k: pool.submit(fn, k), keys, 4 * workers)


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


def test_at_most_window_submitted_and_unconsumed():
    outstanding, peak = 0, 0

    def submit(key: int) -> Future:
        nonlocal outstanding, peak
        outstanding += 1
        peak = max(peak, outstanding)
        f: Future = Future()
        f.set_result(key * 10)
        return f

    got = []
    for key, value in completed(submit, range(20), window=3):
        outstanding -= 1
        got.append((key, value))
    assert sorted(got) == [(k, k * 10) for k in range(20)]
    assert peak == 3
