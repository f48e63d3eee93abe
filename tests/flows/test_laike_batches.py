"""The laike write batching (flows/laike.py ``_Batches``): each flush is at most one Bitable
create chunk, so a flush never costs a second create call for a handful of rows."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

from flows.laike import FLUSH_ROWS, _Batches
from flows.window import Window


class _Run:
    def __init__(self) -> None:
        self.rt = SimpleNamespace(bitable_enabled=True, tenant_spec=None)
        self.summary = object()
        self.window = Window.single(date(2026, 11, 29))
        self.written: list[tuple[str, tuple[Any, ...]]] = []

    def write(self, task: Any, *args: Any) -> None:
        self.written.append((task.name, args))


def _batches(run: _Run) -> list[list[dict]]:
    return [args[0] for name, args in run.written if name == "write-batch"]


def test_no_flush_goes_over_one_create_chunk() -> None:
    run = _Run()
    b = _Batches(run, {a: str(a) for a in range(100)})  # type: ignore[arg-type]
    for a in range(100):
        b.add(a, [{"local_account_id": a, "n": i} for i in range(17)])  # 1,700 rows
    b.flush(last=True)
    sizes = [len(rows) for rows in _batches(run)]
    assert sum(sizes) == 1700
    assert all(0 < n <= FLUSH_ROWS for n in sizes[:-1]), sizes
    assert sizes[:-1] == [493] * 3  # 29 accounts × 17: the 30th would go over 500
    assert sizes[-1] == 1700 - 3 * 493


def test_an_account_over_one_chunk_is_a_flush_of_its_own() -> None:
    run = _Run()
    b = _Batches(run, {1: "a", 2: "b", 3: "c"})  # type: ignore[arg-type]
    b.add(1, [{"local_account_id": 1}] * 10)
    b.add(2, [{"local_account_id": 2}] * 700)  # flushes account 1 first, then itself
    b.add(3, [{"local_account_id": 3}] * 10)
    b.flush(last=True)
    assert [len(rows) for rows in _batches(run)] == [10, 700, 10]
