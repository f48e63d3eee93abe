"""The two concurrency mechanisms under :class:`flows.context.RunContext`.

- :class:`KeyWork` and :func:`work`: keys worked through by a few long-lived workers, with
  per-key retries, outcomes in completion order (the fan-out);
- :class:`WriteLane`: steps run in the background strictly one after another in submission
  order (the write-behind lane: DB then Bitable, one writer per base), so the flow thread keeps
  collecting fetches while earlier batches are written.

Plain threading mechanics, no Prefect: the context runs the fan-out's workers as Prefect task
runs and the lane's steps as task calls.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
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


class KeyWork:
    """Keys worked through by a few long-lived workers, with per-key retries; the outcomes
    (result or final exception) for the consumer in completion order.

    A fan-out used to be one Prefect task run per key. The Prefect server spends ~70 ms of CPU
    recording each task run and the flow process ~20 ms (bench/RESULTS.md, issue 20): a
    1,000-account run cost more CPU in bookkeeping than in fetching. Here a handful of task
    runs (the runner's threads) each take the next key until none is left, so the cost does
    not grow with the account count; per-account outcomes stay in the run's summary.

    - ``next()`` (a worker): the next key to work on and its arguments, waiting for a retry
      that is not due yet; ``None`` when nothing is left (or the consumer went away).
    - ``done()``/``failed()`` (a worker): the key's result, or its exception. A failure that
      ``retry_if`` accepts is tried again after ``delays[attempt]`` seconds, at most
      ``len(delays)`` times, by whichever worker is free; otherwise it is the key's outcome.
    - ``outcomes()`` (the consumer): ``(key, result or exception)`` until every key has one.
      At most ``window`` outcomes wait unconsumed (workers wait), so memory stays flat
      whatever the key count; a consumed outcome is not kept.
    - ``ended()`` (a worker's end, however it ended): when the last worker is gone with keys
      still open (a worker that never started, or was interrupted), those keys get that
      worker's exception as their outcome, so the consumer never waits forever.
    """

    def __init__(
        self,
        jobs: Iterable[tuple[Any, tuple[Any, ...]]],
        *,
        workers: int,
        delays: Sequence[float] = (),
        retry_if: Callable[[BaseException], bool] = lambda e: False,
        on_retry: Callable[[Any, BaseException, int, float], None] | None = None,
        window: int = 128,
    ) -> None:
        self._ready: deque[tuple[Any, tuple[Any, ...], int]] = deque(
            (key, args, 0) for key, args in jobs
        )
        self._open = len(self._ready)  # keys without a final outcome
        self._later: list[tuple[float, int, Any, tuple[Any, ...], int]] = []  # a heap
        self._seq = 0
        self._busy: dict[int, tuple[Any, tuple[Any, ...], int]] = {}  # worker thread → its job
        self._entered: set[int] = set()  # the workers that started
        self._out: deque[tuple[Any, Any]] = deque()
        self._workers = workers
        self._delays = list(delays)
        self._retry_if = retry_if
        self._on_retry = on_retry
        self._window = max(1, window)
        self._closed = False
        self._cv = threading.Condition()

    # -- workers --------------------------------------------------------------------------------
    def next(self) -> tuple[Any, tuple[Any, ...], int] | None:
        with self._cv:
            while not self._closed:
                now = time.monotonic()
                while self._later and self._later[0][0] <= now:
                    _, _, key, args, attempt = heapq.heappop(self._later)
                    self._ready.append((key, args, attempt))
                if self._ready:
                    job = self._ready.popleft()
                    self._busy[threading.get_ident()] = job
                    return job
                if not self._later:
                    return None
                self._cv.wait(self._later[0][0] - now)
            return None

    def done(self, key: Any, result: Any) -> None:
        self._final(key, result)

    def failed(self, key: Any, args: tuple[Any, ...], attempt: int, error: BaseException) -> None:
        if attempt < len(self._delays) and self._retry_if(error):
            delay = self._delays[attempt]
            if self._on_retry is not None:
                self._on_retry(key, error, attempt + 1, delay)
            with self._cv:
                self._busy.pop(threading.get_ident(), None)
                self._seq += 1
                heapq.heappush(
                    self._later, (time.monotonic() + delay, self._seq, key, args, attempt + 1)
                )
                self._cv.notify_all()
            return
        self._final(key, error)

    def _final(self, key: Any, outcome: Any) -> None:
        with self._cv:
            self._busy.pop(threading.get_ident(), None)
            while len(self._out) >= self._window and not self._closed:
                self._cv.wait()
            if self._closed:
                return
            self._out.append((key, outcome))
            self._open -= 1
            self._cv.notify_all()

    def enter(self, worker: int) -> None:
        with self._cv:
            self._entered.add(worker)

    def never_started(self, worker: int, error: BaseException) -> None:
        """Worker ``worker``'s task ended; if it never entered :func:`work`, it ends here."""
        with self._cv:
            if worker in self._entered:
                return
            self._entered.add(worker)
        self.ended(error)

    def ended(self, error: BaseException | None = None) -> None:
        with self._cv:
            self._workers -= 1
            orphan = self._busy.pop(threading.get_ident(), None)
            if orphan is not None:  # interrupted mid-key: another worker takes it
                self._ready.appendleft(orphan)
            if self._workers <= 0 and self._open > 0 and not self._closed:
                reason = error or RuntimeError("every fan-out worker ended")
                left = [k for k, _, _ in self._ready] + [k for *_, k, _, _ in self._later]
                left += [k for k, _, _ in self._busy.values()]
                self._ready.clear()
                self._later.clear()
                for key in left:
                    self._out.append((key, reason))
                    self._open -= 1
            self._cv.notify_all()

    # -- the consumer ---------------------------------------------------------------------------
    def outcomes(self) -> Iterator[tuple[Any, Any]]:
        try:
            while True:
                with self._cv:
                    while not self._out and self._open > 0:
                        self._cv.wait()
                    if not self._out:
                        return
                    box = [self._out.popleft()]
                    self._cv.notify_all()
                yield box.pop()  # while suspended here, this frame holds no rows
        finally:
            self.close()

    def close(self) -> None:
        """The consumer is gone: workers stop at their next key."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()


def work(jobs: KeyWork, fn: Callable[..., Any], worker: int = 0) -> int:
    """Worker ``worker``'s loop: ``fn(*args)`` for each key :meth:`KeyWork.next` hands out; the
    number of keys it worked on. Any exception of ``fn`` is that key's; the loop goes on."""
    jobs.enter(worker)
    n = 0
    try:
        while (job := jobs.next()) is not None:
            key, args, attempt = job
            n += 1
            try:
                result = fn(*args)
            except Exception as e:  # noqa: BLE001 - the key's outcome (or its retry)
                jobs.failed(key, args, attempt, e)
            else:
                jobs.done(key, result)
                del result  # not kept while this worker waits for its next key
    except BaseException as e:
        jobs.ended(e)
        raise
    jobs.ended()
    return n
