"""Run progress: live counters of the current run, the Prefect progress artifact, a terminal view.

One :class:`RunProgress` per flow run, opened by the run's ``RunContext`` (flows/context.py),
which counts the fetches; the steps reach it through :func:`current` (module-level: they run on
worker threads, and only one flow run is in progress per process at a time, as ``adsync
run``/``demo``/the engine run them) to report written batches; the progress artifact is
updated on every written batch, so the Prefect UI moves while a run of any length is going.
:func:`live_display` renders the same counters in a terminal (``adsync run``, only on a TTY).

Also here: :func:`quiet_task_logging`, which moves Prefect's per-task-run "Finished in state
Completed()" line to DEBUG (a 1,000-account run printed ~1,050 of them and nothing useful).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("adsync.flows")


@dataclass
class RunProgress:
    """Counters of one run. ``total``/``done`` count fetch units: one per account and 7-day
    chunk (a daily run has one chunk, so these are accounts done/total)."""

    flow: str
    window: str
    api_calls: Callable[[], int] = lambda: 0
    throttled: Callable[[], int] = lambda: 0
    total: int = 0
    done: int = 0
    failed: int = 0
    rows: int = 0  # rows fetched
    written: int = 0  # rows written to the DB
    batches: int = 0
    finished: bool = False
    started: float = field(default_factory=time.monotonic)
    artifact_id: Any = None
    key: str = ""  # the artifact key's stem (flow, + tenant when not default); default: flow
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # The artifact is pushed from its own thread, never from the write lane that reports a
    # batch (an HTTP call to the Prefect server per batch held up every Bitable write after it).
    _wake: threading.Event = field(default_factory=threading.Event, repr=False)
    _pusher: threading.Thread | None = field(default=None, repr=False)
    _closing: bool = False

    # -- what the steps report --------------------------------------------------------------
    def add_total(self, units: int) -> None:
        with self._lock:
            self.total += units

    def fetched(self, ok: bool, rows: int = 0) -> None:
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            self.rows += rows

    def skipped(self, units: int) -> None:
        """Units that will not be fetched (an account that failed in an earlier chunk)."""
        with self._lock:
            self.done += units

    def batch_written(self, rows: int) -> None:
        with self._lock:
            self.written += rows
            self.batches += 1
        self._wake.set()  # the pusher sends the latest counters; batches in between coalesce

    # -- derived ------------------------------------------------------------------------------
    def percent(self) -> float:
        if self.finished:
            return 100.0
        if self.total <= 0:
            return 0.0
        # Never 100 before the run is over: the last batch is still being written.
        return min(99.0, 100.0 * self.done / self.total)

    def eta_s(self) -> float | None:
        elapsed = time.monotonic() - self.started
        if self.finished or not self.done or self.total <= self.done or elapsed <= 0:
            return None
        return elapsed / self.done * (self.total - self.done)

    def description(self) -> str:
        return (
            f"{self.flow} {self.window}: accounts {self.done}/{self.total or '?'}, "
            f"{self.rows} rows fetched, {self.written} written"
        )

    # -- Prefect artifact -----------------------------------------------------------------------
    def _update_artifact(self) -> None:
        if self.artifact_id is None:
            return
        try:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(
                artifact_id=self.artifact_id,
                progress=round(self.percent(), 1),
                description=self.description(),
            )
        except Exception as e:  # noqa: BLE001 - progress is best effort; the ledger is the record
            log.debug("progress artifact update failed: %s", e)

    def open_artifact(self) -> None:
        from prefect.artifacts import create_progress_artifact
        from prefect.context import FlowRunContext

        if FlowRunContext.get() is None:
            return
        try:
            self.artifact_id = create_progress_artifact(
                progress=0.0,
                key=f"{self.key or self.flow}-progress",
                description=self.description(),
            )
        except Exception as e:  # noqa: BLE001 - best effort, as above
            log.debug("progress artifact not created: %s", e)
            return
        self._start_pusher()

    def _start_pusher(self) -> None:
        ctx = contextvars.copy_context()  # the flow run's (Prefect client settings)
        self._pusher = threading.Thread(
            target=ctx.run, args=(self._push_loop,), name="progress-artifact", daemon=True
        )
        self._pusher.start()

    def _push_loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            self._update_artifact()

    def close(self) -> None:
        """Stop the pusher (after the update in flight, if any)."""
        if self._pusher is not None:
            self._closing = True
            self._wake.set()
            self._pusher.join()
            self._pusher = None

    def finish(self) -> None:
        self.close()  # nothing older can overwrite the final state
        self.finished = True
        self._update_artifact()


_current: RunProgress | None = None
_NOOP = RunProgress(flow="-", window="-")  # steps called outside a run report into this


def current() -> RunProgress:
    """The progress of the run in progress in this process (a throw-away one outside runs)."""
    return _current or _NOOP


@contextlib.contextmanager
def tracking(
    flow: str,
    window: str,
    api_calls: Callable[[], int] = lambda: 0,
    throttled: Callable[[], int] = lambda: 0,
) -> Iterator[RunProgress]:
    """A new run progress made current (see :func:`track`)."""
    with track(RunProgress(flow=flow, window=window, api_calls=api_calls, throttled=throttled)):
        yield _current or _NOOP


@contextlib.contextmanager
def track(p: RunProgress) -> Iterator[RunProgress]:
    """Make a run's progress current and open its artifact; the artifact reaches 100 when the
    body returns (not when it raises)."""
    global _current
    p.open_artifact()
    previous, _current = _current, p
    try:
        yield p
        p.finish()
    finally:
        p.close()
        _current = previous


# -- quiet logging ------------------------------------------------------------------------------


class _CompletedToDebug(logging.Filter):
    """Per-task "Finished in state Completed()" → DEBUG: shown only when Prefect logs at DEBUG.

    Failed/crashed task states stay at ERROR; the flow run's own final line is untouched (it is
    logged by ``prefect.flow_runs``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not str(record.msg).startswith(
            "Finished in state Completed"
        ):
            return True
        if logging.getLogger("prefect").getEffectiveLevel() > logging.DEBUG:
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_FILTER = _CompletedToDebug()


def quiet_task_logging() -> None:
    """Install the filter on Prefect's task-run logger (idempotent)."""
    logger = logging.getLogger("prefect.task_runs")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


# -- terminal view ---------------------------------------------------------------------------------


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 60}:{s % 60:02d}"


def render_line(p: RunProgress) -> str:
    """One status line: the same counters the artifact shows, plus API calls, 40100s and ETA."""
    total = p.total or "?"
    return (
        f"{p.flow} {p.window}  account fetches {p.done}/{total}"
        f"{f' ({p.failed} failed)' if p.failed else ''}  rows {p.rows} fetched / {p.written} "
        f"written  API calls {p.api_calls()}  40100s {p.throttled()}  "
        f"elapsed {_fmt_s(time.monotonic() - p.started)}  ETA {_fmt_s(p.eta_s())}"
    )


@contextlib.contextmanager
def live_display(enabled: bool) -> Iterator[None]:
    """While the block runs, show the current run's progress bar on the terminal (rich)."""
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.live import Live
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    def view() -> Table:
        grid = Table.grid(padding=(0, 1))
        p = _current
        if p is None:
            grid.add_row("starting …")
            return grid
        grid.add_row(
            ProgressBar(total=100.0, completed=p.percent(), width=30),
            f"{p.percent():5.1f}%  {render_line(p)}",
        )
        return grid

    console = Console(stderr=True)
    with Live(get_renderable=view, console=console, refresh_per_second=4, transient=True):
        yield
