"""flows.context.RunContext in a real flow run (session Prefect server, sandbox settings):
per-account outcomes across chunks, progress units, the write lane's order, and a failed write
ending the run FAILED with its reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.context import RunContext
from flows.steps import FetchResult
from flows.summary import RunStatus, RunSummary
from flows.sync_run import summary_of
from tests.flows.sandboxed import small_sandbox

FLOW = "laike-daily"  # a flow name the settings check knows
written: list[tuple[str, int]] = []
progress_seen: list[tuple[int, int, int]] = []


@task(cache_policy=NO_CACHE)
def fetch(key: int, day: str) -> FetchResult:
    if key == 2:
        raise ValueError(f"account {key} is broken on {day}")
    return FetchResult(key, [{"k": key, "day": day}], rejections=["r1"] if key == 3 else [])


@task(cache_policy=NO_CACHE)
def write(day: str, keys: list[int]) -> None:
    if day == "boom":
        raise OSError("disk full")
    written.extend((day, k) for k in sorted(keys))


@flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
def probe(start: str, end: str, fail_write: bool = False):
    run = RunContext.dated(FLOW, date=None, start=start, end=end, lookback_days=None)
    if isinstance(run, State):
        return run
    with run:
        run.add_accounts({1: "one", 2: "two", 3: "three"})
        for chunk in run.chunks(1):
            day = "boom" if fail_write else str(chunk.start)
            got = [
                k for k, fetched in run.fan_out(fetch, run.healthy(), day) if run.record(k, fetched)
            ]
            run.write(write, day, got)
        p = run.progress
        progress_seen.append((p.total, p.done, p.failed))
    return run.state


def _run(**params) -> RunSummary:
    state = probe(return_state=True, **params)
    summary = summary_of(state)
    assert isinstance(summary, RunSummary), f"{state.name}: {state.message}"
    return summary


@pytest.mark.timeout(300)
def test_outcomes_progress_and_the_write_lane(prefect_server, tmp_path, monkeypatch) -> None:
    with small_sandbox(tmp_path, monkeypatch, n_local_accounts=2) as sb:
        first = sb.data.today - timedelta(days=3)
        days = [str(first + timedelta(days=i)) for i in range(3)]
        written.clear()
        progress_seen.clear()

        summary = _run(start=days[0], end=days[-1])
        assert summary.status is RunStatus.PARTIAL
        assert [str(a.account_id) for a in summary.failed_accounts] == ["2"]
        broken = summary.account(2)
        assert broken is not None and broken.reason == f"account 2 is broken on {days[0]}"
        three = summary.account(3)
        assert three is not None and (three.rows, three.rejected) == (3, 3)
        # The failed account is fetched once, then skipped; every unit is counted once.
        assert progress_seen == [(9, 9, 1)]
        # Each chunk's writes are in, in order, before the next chunk is fetched.
        assert written == [(d, k) for d in days for k in (1, 3)]

        # A write that fails is the run's error, raised when the lane is drained; later
        # chunks are not fetched.
        progress_seen.clear()
        summary = _run(start=days[0], end=days[-1], fail_write=True)
        assert summary.error == "OSError: disk full"
        assert summary.status is RunStatus.PARTIAL  # some accounts were fetched (summary.py)
        assert "OSError: disk full" in summary.failure_message()
        assert progress_seen == []  # the body ended at the first chunk's drain
