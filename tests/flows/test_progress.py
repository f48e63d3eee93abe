"""Run progress counters and quiet task logging (flows/progress.py)."""

from __future__ import annotations

import logging
import threading

import pytest

from flows import progress


def test_progress_counts_and_never_reports_100_before_the_end() -> None:
    with progress.tracking("laike-daily", "2026-11-01..2026-11-14") as p:
        assert progress.current() is p
        p.add_total(4)  # 2 accounts × 2 chunks
        p.fetched(ok=True, rows=10)
        p.fetched(ok=False)
        p.skipped(1)  # the failed account's second chunk
        assert (p.done, p.failed, p.rows) == (3, 1, 10)
        assert p.percent() == 75.0
        p.fetched(ok=True, rows=5)
        assert p.percent() == 99.0  # fetched, not yet written
        p.batch_written(15)
        assert (p.written, p.batches) == (15, 1)
        assert "account fetches 4/4 (1 failed)" in progress.render_line(p)
    assert p.finished and p.percent() == 100.0
    assert progress.current() is not p  # back to the no-op outside a run


def test_a_body_that_raises_does_not_mark_the_run_finished() -> None:
    with pytest.raises(RuntimeError), progress.tracking("dpa-daily", "2026-11-01..2026-11-01") as p:
        p.add_total(2)
        raise RuntimeError("boom")
    assert not p.finished and p.percent() == 0.0


def test_batches_push_the_artifact_from_its_own_thread_and_finish_pushes_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = progress.RunProgress(flow="laike-daily", window="2026-11-29..2026-11-29")
    pushes: list[tuple[str, int, bool]] = []
    pushing, release = threading.Event(), threading.Event()

    def push() -> None:  # a slow Prefect server: the first push hangs until released
        pushes.append((threading.current_thread().name, p.written, p.finished))
        pushing.set()
        release.wait(30)

    p.artifact_id = "artifact"
    monkeypatch.setattr(p, "_update_artifact", push)
    p._start_pusher()  # noqa: SLF001 - open_artifact's, without a flow run
    p.batch_written(10)
    assert pushing.wait(30)
    for _ in range(4):  # the writer never waits for the hung push
        p.batch_written(10)
    release.set()
    p.finish()
    assert pushes[-1] == (threading.current_thread().name, 50, True)
    assert {name for name, _, _ in pushes[:-1]} == {"progress-artifact"}
    assert 2 <= len(pushes) <= 3  # batches reported during a push coalesce into one


def _emit(level: int, msg: str, prefect_level: int) -> list[logging.LogRecord]:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    task_logger = logging.getLogger("prefect.task_runs")
    root = logging.getLogger("prefect")
    handler, old = Keep(level=0), root.level
    task_logger.addHandler(handler)
    root.setLevel(prefect_level)
    try:
        progress.quiet_task_logging()
        progress.quiet_task_logging()  # idempotent
        task_logger.log(level, msg)
    finally:
        task_logger.removeHandler(handler)
        root.setLevel(old)
    return seen


def test_completed_task_lines_are_debug() -> None:
    assert _emit(logging.INFO, "Finished in state Completed()", logging.INFO) == []
    debug = _emit(logging.INFO, "Finished in state Completed()", logging.DEBUG)
    assert [r.levelname for r in debug] == ["DEBUG"]
    # Failures and other task lines are untouched.
    failed = _emit(logging.ERROR, "Finished in state Failed('x')", logging.INFO)
    assert [r.levelname for r in failed] == ["ERROR"]
    retry = _emit(logging.INFO, "Task run failed with exception … Retry 1/2", logging.INFO)
    assert [r.levelname for r in retry] == ["INFO"]
    assert sum(f is progress._FILTER for f in logging.getLogger("prefect.task_runs").filters) == 1
