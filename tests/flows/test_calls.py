"""flows.calls: completion order, per-key outcomes, and results released once consumed."""

from __future__ import annotations

import gc
import threading
import weakref
from types import SimpleNamespace

from flows.calls import DirectCalls


class Rows(list):
    """A weak-referenceable stand-in for one account's fetched rows."""


def test_each_yields_in_completion_order_with_exceptions_as_outcomes():
    gates = {k: threading.Event() for k in (1, 2, 3)}

    def fetch(key: int, suffix: str) -> str:
        gates[key].wait(5)
        if key == 2:
            raise ValueError(f"bad {key}")
        return f"{key}{suffix}"

    it = DirectCalls(workers=3).each(SimpleNamespace(fn=fetch), [1, 2, 3], "!")
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

    it = DirectCalls(workers=2).each(SimpleNamespace(fn=fetch), [1, 2])
    key, rows = next(it)
    assert key == 1 and len(rows) == 100
    del rows
    gc.collect()
    # Key 2 is still being fetched: key 1's rows must already be gone (as_completed keeps them).
    assert made[1]() is None
    release_slow.set()
    assert [k for k, _ in it] == [2]


def test_serial_lane_runs_in_order_off_the_caller_thread_and_stops_at_a_failure():
    import pytest

    ran: list[tuple[int, str]] = []

    def step(n: int) -> None:
        ran.append((n, threading.current_thread().name))
        if n == 3:
            raise OSError("disk full")

    calls = DirectCalls(workers=2)
    task = SimpleNamespace(fn=step, name="step")
    for n in range(1, 6):
        calls.serial(task, n)
    with pytest.raises(OSError, match="disk full"):
        calls.drain()
    assert [n for n, _ in ran] == [1, 2, 3]  # 4 and 5 never ran
    assert all(name.startswith("serial-lane") for _, name in ran)

    calls.serial(task, 10)  # a drained lane starts afresh
    calls.drain()
    assert ran[-1][0] == 10


def test_at_most_window_submitted_and_unconsumed():
    from concurrent.futures import Future

    from flows.calls import _completed

    outstanding, peak = 0, 0

    def submit(key: int) -> Future:
        nonlocal outstanding, peak
        outstanding += 1
        peak = max(peak, outstanding)
        f: Future = Future()
        f.set_result(key * 10)
        return f

    got = []
    for key, value in _completed(submit, range(20), window=3):
        outstanding -= 1
        got.append((key, value))
    assert sorted(got) == [(k, k * 10) for k in range(20)]
    assert peak == 3
