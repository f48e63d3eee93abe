"""One run's context, used the same way by every flow: the window, its chunks with progress,
per-account outcomes, one fan-out, the write-behind lane, and the run's bookkeeping.

A flow body reads top to bottom::

    run = RunContext.dated(FLOW_NAME, date=date, start=start, end=end, lookback_days=lookback)
    if isinstance(run, State):  # could not start (settings, tokens, parameters)
        return run
    with run:  # ledger row open; an exception ends the run FAILED, never lost
        names = run.one(list_accounts, only)
        run.add_accounts(names)
        for chunk in run.chunks(chunk_days):
            for aid, fetched in run.fan_out(fetch, run.healthy(), chunk.start, chunk.end):
                run.write(write_rows, run.record(aid, fetched))
    return run.state

- **outcomes**: one :class:`AccountResult` per account (or listing source), in the summary;
  a fetch that failed marks its account failed with the reason (the run ends PARTIAL), and
  :meth:`healthy` leaves it out of later chunks.
- **fan-out**: :meth:`fan_out` works through the keys with a few Prefect task runs (one per
  runner thread) and yields the successes in completion order; failures are captured per
  account, transient ones retried per key with the task's own retry options.
- **progress**: fetch units (one per account, chunk and fetch kind) counted in one
  :class:`flows.progress.RunProgress`, whose Prefect artifact moves with every written batch.
- **write-behind lane**: :meth:`write` queues a step on one background thread (in the flow
  run's context, so its steps are task runs of this flow), written in order while the fetch
  goes on; each chunk's writes are in before the next chunk is fetched (durable progress), and
  the run's last ones before the run ends.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from types import TracebackType
from typing import Any, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import State
from prefect.utilities.annotations import quote
from sqlalchemy.exc import SQLAlchemyError

from flows import progress, steps
from flows.fanout import KeyWork, WriteLane, work
from flows.runtime import (
    DEFAULT_TENANT,
    Runtime,
    check_flow_settings,
    current_tenant,
    get_runtime,
)
from flows.summary import AccountResult, RunSummary
from flows.sync_run import artifact_key, final_state, flow_run_id, logger, not_started, publish
from flows.window import Window, china_today, resolve_window, split_window
from integrations import feishu
from integrations.database import ledger
from integrations.settings import ConfigError
from integrations.sources.oceanengine.pagination import Rejection
from token_store.errors import TokenStoreError

log = logging.getLogger("adsync.flows")

K = TypeVar("K")
R = TypeVar("R")

# Fetched results not yet consumed per fan-out: enough to keep the rate limiter busy, few
# enough that memory stays flat whatever the account count.
FAN_OUT_WINDOW = 128
# Fan-out workers when the flow's task runner does not bound its threads.
DEFAULT_FAN_OUT_WORKERS = 16


@task(name="fan-out", cache_policy=NO_CACHE)
def _fan_out_worker(jobs: KeyWork, fn: Callable[..., Any], worker: int) -> int:
    """One worker of a fan-out: the keys it fetched (see RunContext.fan_out)."""
    return work(jobs, fn, worker)


def _if_never_started(jobs: KeyWork, worker: int, future: Any) -> None:
    try:
        future.result()
    except BaseException as e:  # noqa: BLE001 - its keys get the reason (KeyWork.ended)
        jobs.never_started(worker, e)


def _runner_threads() -> int:
    ctx = FlowRunContext.get()
    threads = getattr(ctx.task_runner, "_max_workers", None) if ctx else None
    if not isinstance(threads, int) or threads >= sys.maxsize:
        return DEFAULT_FAN_OUT_WORKERS
    return max(1, threads)


def _retry_delays(task: Task[..., Any]) -> list[float]:
    """The delays before each of ``task``'s retries, as Prefect would wait them."""
    retries = task.retries or 0
    delay = task.retry_delay_seconds
    if isinstance(delay, list | tuple):
        delays = [float(d) for d in delay] or [0.0]
        return [delays[min(i, len(delays) - 1)] for i in range(retries)]
    return [float(delay or 0)] * retries


def _retry_condition(task: Task[..., Any]) -> Callable[[BaseException], bool]:
    condition = task.retry_condition_fn
    if condition is None:
        return lambda error: isinstance(error, Exception)
    if condition is steps.retry_if_transient:
        return steps.is_transient
    raise TypeError(f"{task.name}: fan_out knows no retry condition {condition!r}")


def _enter_tenant(tenant: str | None) -> Runtime:
    """The runtime of the current run's tenant (:func:`_tenant_scope` set it); an unknown
    tenant is a ConfigError."""
    return get_runtime(tenant or DEFAULT_TENANT)


def _tenant_scope(
    tenant: str | None, start: Callable[[], RunContext | State]
) -> RunContext | State:
    """Run ``start`` with ``tenant`` as the current tenant (tasks and the write lane inherit it
    through the copied context; a refused start's ledger row names it). Prefect runs a flow in
    its caller's context, so the variable is reset when the run ends (or could not start):
    the next run in this thread, or the caller, never sees this run's tenant."""
    token = current_tenant.set(tenant or DEFAULT_TENANT)
    try:
        run = start()
    except BaseException:
        current_tenant.reset(token)
        raise
    if isinstance(run, State):
        current_tenant.reset(token)
    else:
        run._tenant_token = token
    return run


class RunContext:
    """One flow run: see the module docstring. Built by :meth:`dated` or :meth:`today`."""

    def __init__(self, flow: str, window: Window, rt: Runtime) -> None:
        self.flow = flow
        self.window = window
        self.rt = rt
        self.summary = RunSummary(
            flow=flow,
            window_start=window.start,
            window_end=window.end,
            run_id=flow_run_id(),
            tenant=rt.tenant,
        )
        self.progress = progress.RunProgress(
            flow=flow,
            window=f"{window.start}..{window.end}",
            api_calls=rt.api_calls,
            throttled=rt.throttled_calls,
            key=artifact_key(flow, rt.tenant),
        )
        self._outcomes: dict[Any, AccountResult] = {}
        self._declared = 0  # progress units declared by chunks() and not yet fetched or skipped
        self._lane = WriteLane()
        self._scope = contextlib.ExitStack()
        self._run_pk: Any = None
        self._calls_before = 0
        self._t0 = 0.0
        self._state: State | None = None
        self._tenant_token: contextvars.Token[str] | None = None

    # -- starting ---------------------------------------------------------------------------
    @classmethod
    def dated(
        cls,
        flow: str,
        *,
        date: date | str | None,
        start: date | str | None,
        end: date | str | None,
        lookback_days: int | None,
        tenant: str = DEFAULT_TENANT,
    ) -> RunContext | State:
        """A dated flow's run over the window of its parameters (see resolve_window), or the
        NotStarted state when the parameters or settings are wrong (never retried)."""
        return _tenant_scope(
            tenant,
            lambda: cls._dated(
                flow, date=date, start=start, end=end, lookback_days=lookback_days, tenant=tenant
            ),
        )

    @classmethod
    def _dated(
        cls,
        flow: str,
        *,
        date: date | str | None,
        start: date | str | None,
        end: date | str | None,
        lookback_days: int | None,
        tenant: str = DEFAULT_TENANT,
    ) -> RunContext | State:
        """A dated flow's run over the window of its parameters (see resolve_window), or the
        NotStarted state when the parameters or settings are wrong (never retried)."""
        try:
            s = _enter_tenant(tenant).settings
            window = resolve_window(
                date=date,
                start=start,
                end=end,
                lookback_days=s.lookback_days if lookback_days is None else lookback_days,
                tz=s.timezone,
            )
        except (ConfigError, ValueError, TypeError) as e:
            return not_started(flow, str(e))
        return cls._checked(flow, window)

    @classmethod
    def today(cls, flow: str, tenant: str = DEFAULT_TENANT) -> RunContext | State:
        """An undated flow's run (accounts, DPA), its window today (China time)."""
        return _tenant_scope(tenant, lambda: cls._today(flow, tenant))

    @classmethod
    def _today(cls, flow: str, tenant: str) -> RunContext | State:
        try:
            window = Window.single(china_today(_enter_tenant(tenant).settings.timezone))
        except ConfigError as e:
            return not_started(flow, str(e))
        return cls._checked(flow, window)

    @classmethod
    def _checked(cls, flow: str, window: Window) -> RunContext | State:
        """Settings and tokens are checked first: a run that cannot start ends Failed with one
        line naming the setting, no traceback, no retries and no ledger row (it never ran)."""
        progress.quiet_task_logging()
        try:
            rt = get_runtime()
            check_flow_settings(rt.settings, flow)
            rt.check_tokens(flow)
        except (ConfigError, TokenStoreError) as e:
            return not_started(flow, str(e))
        except SQLAlchemyError as e:
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
            return not_started(flow, f"cannot use ADSYNC_DATABASE_URL: {reason}")
        return cls(flow, window, rt)

    # -- the run's bookkeeping ----------------------------------------------------------------
    def __enter__(self) -> RunContext:
        s = self.summary
        self._run_pk = ledger.start_run(
            self.rt.engine,
            self.flow,
            s.window_start,
            s.window_end,
            run_id=s.run_id,
            tenant=self.rt.tenant,
        )
        self._calls_before = self.rt.api_calls()
        self._throttled_before = self.rt.throttled_calls()
        self._latency_before = self.rt.api_latency()
        self._t0 = time.monotonic()
        self._scope.enter_context(self.rt.run_scope())
        self._scope.enter_context(progress.track(self.progress))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            return self._exit(exc_type, exc, tb)
        finally:
            if self._tenant_token is not None:  # the run's tenant ends with it
                current_tenant.reset(self._tenant_token)
                self._tenant_token = None

    def _exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """Wait for the write lane, close the ledger row, publish, notify, set :attr:`state`.
        An exception of the body or of a queued write is the run's error (FAILED); anything
        beyond ``Exception`` (e.g. KeyboardInterrupt) still closes the ledger row and goes on."""
        try:
            if exc is None:
                try:
                    self._lane.drain()
                except Exception as e:  # noqa: BLE001 - recorded below, like the body's own
                    exc_type, exc, tb = type(e), e, e.__traceback__
            else:
                with contextlib.suppress(Exception):  # the first error is the one to report
                    self._lane.drain()
            self._scope.__exit__(exc_type, exc, tb)
            if isinstance(exc, Exception):
                logger().error("%s failed", self.flow, exc_info=(type(exc), exc, exc.__traceback__))
                self.summary.error = f"{type(exc).__name__}: {exc}"
            elif exc is not None:
                # A deployment's flow timeout (flows/deployed.py) or a cancellation interrupts
                # the body with a BaseException: the ledger row must not read SUCCESS.
                self.summary.error = f"interrupted ({type(exc).__name__}): the run did not finish"
        finally:
            self._finish_ledger()
        if exc is not None and not isinstance(exc, Exception):
            return False
        publish(self.summary, artifact_key(self.flow, self.rt.tenant))
        self.rt.notify(self.summary)
        logger().info("%s", self.summary.text().splitlines()[0])
        self._state = final_state(self.summary)
        return True

    def _finish_ledger(self) -> None:
        s = self.summary
        s.seconds = time.monotonic() - self._t0
        s.api_calls = self.rt.api_calls() - self._calls_before
        counts = s.counts_json()
        # Not a sink (no "kind:" prefix): the run's API cost, for monitor.py metrics.
        counts["api"] = {
            "calls": s.api_calls,
            "throttled": self.rt.throttled_calls() - self._throttled_before,  # retried
            "latency": _latency_delta(self._latency_before, self.rt.api_latency()),
        }
        shared = self.rt.qps_processes()
        if shared is not None:  # the app's QPS was split among this many processes at most
            counts["api"]["qps_processes"] = shared
        ledger.finish_run(
            self.rt.engine,
            self._run_pk,
            status=s.status.value,
            accounts_ok=len(s.ok_accounts),
            accounts_failed=len(s.failed_accounts),
            failed_accounts=s.failed_accounts_json(),
            counts=counts,
            api_calls=s.api_calls,
            error=s.failure_message() or None,
        )

    @property
    def state(self) -> State:
        """The run's final Prefect state (Completed, or Failed named Partial/Failed)."""
        if self._state is None:
            raise RuntimeError(f"{self.flow}: the run has not ended")
        return self._state

    # -- per-account outcomes -----------------------------------------------------------------
    def add_accounts(self, names: Mapping[K, str]) -> list[K]:
        """The run's accounts (id → name), each with an outcome in the summary."""
        for key, name in names.items():
            self.outcome(key, name)
        return list(names)

    def outcome(self, key: Any, name: str = "") -> AccountResult:
        """The outcome of an account (or listing source), created on first use."""
        res = self._outcomes.get(key)
        if res is None:
            res = self._outcomes[key] = AccountResult(account_id=key, name=name)
            self.summary.accounts.append(res)
        return res

    def healthy(self) -> list[Any]:
        """The accounts not failed so far, in the order they were added."""
        return [key for key, res in self._outcomes.items() if res.ok]

    def fail(self, key: Any, error: BaseException, what: str = "") -> None:
        """Mark an account failed with the reason (the run ends PARTIAL; others go on)."""
        res = self.outcome(key)
        reason = steps.short_reason(error)
        res.ok, res.reason = False, f"{what}: {reason}" if what else reason
        # ERROR on the run's log (the Prefect UI), as the account's own task run's failure was
        # when each account had one (fan_out).
        logger().error("account %s failed: %s", key, res.reason)

    def record(
        self, key: Any, fetched: steps.FetchResult, *, count_rows: bool = True
    ) -> list[dict[str, Any]]:
        """One account's fetched rows on its outcome (rows, cost, rejected rows named); returns
        the rows. ``count_rows=False``: only the rejections (a secondary fetch, e.g. orders)."""
        res = self.outcome(key)
        if count_rows:
            res.rows += len(fetched.rows)
            res.cost += sum((r.get("cost") or Decimal(0) for r in fetched.rows), Decimal(0))
        res.reject(
            *(
                f"{r.key}: {r.reason}" if isinstance(r, Rejection) else str(r)
                for r in fetched.rejections
            )
        )
        for rej in fetched.rejections[:20]:
            log.warning("account %s: rejected row %s", key, rej)
        return fetched.rows

    # -- window, chunks, progress ---------------------------------------------------------------
    def chunks(self, days: int, fetches_per_account: int = 1) -> Iterator[Window]:
        """The window in chunks of at most ``days`` days, in order. Progress counts
        ``fetches_per_account`` units per account and chunk; an account failed in an earlier
        chunk is skipped. Each chunk's writes are in before the next chunk is fetched."""
        chunks = split_window(self.window, days)
        self._declare(len(self._outcomes) * len(chunks) * fetches_per_account)
        for chunk in chunks:
            self.skip(fetches_per_account * (len(self._outcomes) - len(self.healthy())))
            yield chunk
            self._lane.drain()

    def skip(self, units: int) -> None:
        """Progress units that will not be fetched (their account failed)."""
        self.progress.skipped(units)
        self._declared = max(0, self._declared - units)

    def _declare(self, units: int) -> None:
        self.progress.add_total(units)
        self._declared += units

    # -- steps: now, fanned out, write-behind ----------------------------------------------------
    def one(self, task: Task[..., R], *args: Any) -> R:
        """Run a step now, in this thread; return its result (exceptions propagate)."""
        # quote(): Prefect would otherwise walk every row of a big argument looking for futures.
        return task(*(quote(a) for a in args))

    def fan_out(
        self,
        task: Task[..., R],
        keys: Sequence[K],
        *args: Any,
        args_of: Callable[[K], tuple[Any, ...]] | None = None,
        account: Callable[[K], Any] | None = None,
        what: str = "",
        fatal: tuple[type[Exception], ...] = (),
    ) -> Iterator[tuple[K, R]]:
        """``task``'s function on ``(key, *args)`` (or ``args_of(key)``) for every key,
        concurrently; yields ``(key, result)`` of each success in completion order, so the
        caller writes while the others are still fetched.

        The keys are worked through by as many Prefect task runs (named after ``task``) as the
        flow's runner has threads, not one task run per key (:class:`flows.fanout.KeyWork`
        says why). ``task``'s retry options still hold per key: a transient failure is tried
        again after the same delays, by the next free worker.

        A failure marks its account (``account(key)``, default the key) failed, reason prefixed
        with ``what``; the others go on. An exception of a ``fatal`` type is the run's, not an
        account's: it is raised. One progress unit per key."""
        self._units(len(keys))
        if not keys:
            return
        if self.rt.bitable_enabled:  # its writes start within seconds: import the sink now
            feishu.preload()
        label = what or task.name

        def on_retry(key: Any, error: BaseException, n: int, delay: float) -> None:
            logger().warning(
                "%s %s: %s; retry %d in %gs", label, key, steps.short_reason(error), n, delay
            )

        workers = min(len(keys), _runner_threads())
        jobs = KeyWork(
            ((k, args_of(k) if args_of else (k, *args)) for k in keys),
            workers=workers,
            delays=_retry_delays(task),
            retry_if=_retry_condition(task),
            on_retry=on_retry,
            window=FAN_OUT_WINDOW,
        )
        worker = _fan_out_worker.with_options(
            name=task.name, task_run_name=f"{task.name}-worker-{{worker}}"
        )
        futures = []
        try:
            for i in range(workers):
                fut = worker.submit(quote(jobs), quote(task.fn), i)
                fut.add_done_callback(lambda f, i=i: _if_never_started(jobs, i, f))
                futures.append(fut)
            for key, outcome in jobs.outcomes():
                if isinstance(outcome, fatal):
                    raise outcome
                if isinstance(outcome, BaseException):
                    self.fail(account(key) if account else key, outcome, what)
                    self.progress.fetched(ok=False)
                    continue
                self.progress.fetched(ok=True, rows=len(getattr(outcome, "rows", ()) or ()))
                yield key, outcome
        finally:
            jobs.close()  # on an early exit, the workers stop at their next key
        for fut in futures:
            fut.wait()

    def attempt(self, task: Task[..., R], key: Any, *args: Any) -> R | None:
        """A fan-out of one: ``task(*args)``'s result, or None when it failed (the failure on
        ``key``'s outcome, as :meth:`fan_out` records it)."""
        for _, result in self.fan_out(task, [key], args_of=lambda _: args):
            return result
        return None

    def _units(self, n: int) -> None:
        take = min(n, self._declared)
        self._declared -= take
        if n > take:
            self.progress.add_total(n - take)

    def write(self, task: Task[..., Any], *args: Any) -> None:
        """Queue a write step on the write-behind lane (after every step queued before it).
        A failure stops the lane; the run then ends with that failure."""
        ctx = contextvars.copy_context()  # the flow run's context, as the task runner does
        self._lane.submit(task.name, lambda: ctx.run(self.one, task, *args))


def _latency_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """This run's share of the process-wide call-latency histogram (the clients outlive runs)."""
    return {
        "le": after["le"],
        "bins": [a - b for a, b in zip(after["bins"], before["bins"], strict=True)],
        "seconds": round(after["seconds"] - before["seconds"], 6),
    }
