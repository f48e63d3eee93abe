"""RunContext.fan_out in a real flow run: the keys share a few task runs (one per runner
thread), and the task's own retry options hold per key."""

from __future__ import annotations

import threading

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.context import RunContext
from flows.steps import retry_if_transient
from flows.summary import RunStatus, RunSummary
from flows.sync_run import summary_of
from tests.flows.sandboxed import small_sandbox

THREADS = 3
KEYS = list(range(1, 21))
tries: dict[int, int] = {}
task_runs: dict[int, str] = {}
lock = threading.Lock()
together = threading.Barrier(THREADS, timeout=120)  # the first keys run at the same time


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[0, 0],
    retry_condition_fn=retry_if_transient,
)
def fetch(key: int) -> int:
    with lock:
        tries[key] = tries.get(key, 0) + 1
        task_runs[key] = str(task_run.id)
    if key <= THREADS:
        together.wait()
    if key == 5 and tries[key] == 1:
        raise ConnectionError("reset by peer")  # transient: fine on the retry
    if key == 6:
        raise ConnectionError("down")  # transient, never fine: 3 tries, then the account fails
    if key == 7:
        raise ValueError("no such account")  # deterministic: no retry
    return key * 10


@flow(task_runner=ThreadPoolTaskRunner(max_workers=THREADS))
def many(start: str, end: str):
    run = RunContext.dated("laike-daily", date=None, start=start, end=end, lookback_days=None)
    if isinstance(run, State):
        return run
    with run:
        run.add_accounts({k: str(k) for k in KEYS})
        got = dict(run.fan_out(fetch, run.healthy()))
        assert got == {k: k * 10 for k in KEYS if k not in (6, 7)}
    return run.state


def test_keys_share_a_few_task_runs_and_retry_per_key(prefect_server, tmp_path, monkeypatch):
    with small_sandbox(tmp_path, monkeypatch, n_local_accounts=1) as sb:
        day = str(sb.data.today)
        tries.clear()
        task_runs.clear()

        summary = summary_of(many(start=day, end=day, return_state=True))
        assert isinstance(summary, RunSummary) and summary.status is RunStatus.PARTIAL, summary
        assert sorted(a.account_id for a in summary.failed_accounts) == [6, 7]
        assert "down" in summary.account(6).reason
        assert "no such account" in summary.account(7).reason
        assert tries == {k: {5: 2, 6: 3}.get(k, 1) for k in KEYS}
        # 20 keys, 3 runner threads: 3 task runs between them (the first 3 keys ran at once,
        # each in its own), not 20.
        assert len({task_runs[k] for k in range(1, THREADS + 1)}) == THREADS
        assert len(set(task_runs.values())) == THREADS
