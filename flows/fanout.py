"""The two concurrency mechanisms under :class:`flows.context.RunContext`.

- :func:`completed`: one run per key, outcomes in completion order, at most ``window`` runs
  submitted and not yet consumed (the fan-out);
- :class:`WriteLane`: steps run in the background strictly one after another in submission
  order (the write-behind lane: DB then Bitable, one writer per base), so the flow thread keeps
  collecting fetches while earlier batches are written.

Plain ``concurrent.futures`` mechanics, no Prefect: the context submits Prefect task runs
through them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any


class WriteLane:
    """One thread running queued steps in order; after a failure the rest are not run."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future] = []
        self._failed = False

    @property
    def failed(self) -> bool:
        """A queued step failed (``drain`` raises it)."""
        return self._failed

    def submit(self, name: str, run: Callable[[], Any]) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-lane")
            self._failed = False

        def step() -> Any:
            if self._failed:
                raise RuntimeError(f"{name}: not run, an earlier write step failed")
            try:
                return run()
            except BaseException:
                self._failed = True
                raise

        self._futures.append(self._pool.submit(step))

    def drain(self) -> None:
        """Wait for every queued step; raise the first failure. The lane then starts afresh."""
        futures, self._futures = self._futures, []
        try:
            for fut in futures:
                fut.result()  # the first failure
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


def completed(
    submit: Callable[[Any], Any], keys: Iterable[Any], window: int
) -> Iterator[tuple[Any, Any | BaseException]]:
    """``(key, result or the exception)`` in completion order, keeping at most ``window`` runs
    submitted and not yet consumed (a pending Prefect task run holds its run object and
    context: memory stays flat whatever the account count). Unlike ``as_completed``, which
    keeps every future (so every account's rows) until the last is done, a future is dropped
    once yielded. The consumer must not block for long (writes go to the write lane), or the
    window runs dry."""
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
