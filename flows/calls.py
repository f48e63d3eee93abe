"""How a flow body runs its steps: as Prefect task runs, or as plain calls (same code path).

The flow body is written once against :class:`Calls`. ``PrefectCalls`` is what deployments and
``adsync run`` use; ``DirectCalls`` runs the very same body with the task functions called
directly on threads, which is how ``bench/laike_daily.py`` measures Prefect's overhead.

Three ways to run a step:

- ``one``: now, in this thread; returns its result;
- ``each``: one run per key, concurrently; outcomes in completion order;
- ``serial``: in the background, strictly one after another in submission order (the write
  lane: DB then Bitable, one writer per base), so the flow thread keeps collecting fetches while
  earlier batches are written; ``drain`` waits for the lane and raises its first failure.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any, Protocol

from prefect import Task
from prefect.utilities.annotations import quote


class Calls(Protocol):
    def one(self, task: Task, *args: Any) -> Any:
        """Run a step and return its result (exceptions propagate)."""
        ...

    def each(
        self, task: Task, keys: Sequence[Any], *args: Any
    ) -> Iterator[tuple[Any, Any | BaseException]]:
        """Run ``task(key, *args)`` for every key concurrently; yield ``(key, result or the
        exception)`` in completion order, so the caller can write while others still fetch."""
        ...

    def serial(self, task: Task, *args: Any) -> None:
        """Queue a step on the serial background lane (after every step queued before it)."""
        ...

    def drain(self) -> None:
        """Wait for the serial lane; raise the first failure of its steps."""
        ...


class _SerialLane:
    """One thread running queued steps in order; after a failure the rest are not run."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._failed = False

    def submit(self, name: str, run: Callable[[], Any]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="serial-lane")
            self._failed = False

        def step() -> Any:
            if self._failed:
                raise RuntimeError(f"{name}: not run, an earlier serial step failed")
            try:
                return run()
            except BaseException:
                self._failed = True
                raise

        self._futures.append(self._pool.submit(step))

    def drain(self) -> None:
        futures, self._futures = self._futures, []
        try:
            for fut in futures:
                fut.result()  # the first failure
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


class PrefectCalls:
    """Each step is a Prefect task run. ``each`` runs on the flow's task runner; the serial
    lane is its own thread (in the flow run's context, so its steps are task runs of this flow):
    a chain of ``wait_for`` task runs would queue behind every submitted fetch and hold pool
    threads while waiting."""

    def __init__(self, window: int = 128) -> None:
        self.window = window
        self._lane = _SerialLane()

    def one(self, task: Task, *args: Any) -> Any:
        # quote(): Prefect would otherwise walk every row of a big argument looking for futures.
        return task(*(quote(a) for a in args))

    def each(
        self, task: Task, keys: Sequence[Any], *args: Any
    ) -> Iterator[tuple[Any, Any | BaseException]]:
        return _completed(lambda k: task.submit(k, *args), keys, self.window)

    def serial(self, task: Task, *args: Any) -> None:
        ctx = contextvars.copy_context()  # the flow run's context, as the task runner does
        self._lane.submit(task.name, lambda: ctx.run(self.one, task, *args))

    def drain(self) -> None:
        self._lane.drain()


class DirectCalls:
    """The same steps as plain function calls: ``each`` on a pool of ``workers`` threads, the
    serial lane on its own thread."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._lane = _SerialLane()

    def one(self, task: Task, *args: Any) -> Any:
        return task.fn(*args)

    def each(
        self, task: Task, keys: Sequence[Any], *args: Any
    ) -> Iterator[tuple[Any, Any | BaseException]]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            yield from _completed(lambda k: pool.submit(task.fn, k, *args), keys, 4 * self.workers)

    def serial(self, task: Task, *args: Any) -> None:
        self._lane.submit(task.name, lambda: task.fn(*args))

    def drain(self) -> None:
        self._lane.drain()


def _completed(
    submit: Callable[[Any], Any], keys: Iterable[Any], window: int
) -> Iterator[tuple[Any, Any | BaseException]]:
    """``(key, outcome)`` in completion order, keeping at most ``window`` runs submitted and not
    yet consumed (a pending Prefect task run holds its run object and context: memory stays flat
    whatever the account count). Unlike ``as_completed``, which keeps every future (so every
    account's rows) until the last is done, a future is dropped once yielded. The consumer must
    not block for long (writes go to the serial lane), or the window runs dry."""
    done: SimpleQueue[Any] = SimpleQueue()
    key_of: dict[int, Any] = {}
    todo = iter(keys)

    def launch() -> None:
        for k in todo:
            fut = submit(k)
            key_of[id(fut)] = k
            fut.add_done_callback(done.put)
            return

    for _ in range(max(1, window)):
        launch()
    while key_of:
        box = [done.get()]
        yield _take(box, key_of)  # while suspended here, this frame holds no future or rows
        launch()


def _take(box: list[Any], key_of: dict[int, Any]) -> tuple[Any, Any | BaseException]:
    fut = box.pop()
    return _outcome(key_of.pop(id(fut)), fut.result)


def _outcome(key: Any, result: Callable[[], Any]) -> tuple[Any, Any | BaseException]:
    try:
        return key, result()
    except Exception as e:  # noqa: BLE001 - handed to the caller, who records it per key
        return key, e
