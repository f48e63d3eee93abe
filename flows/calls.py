"""How a flow body runs its steps: as Prefect task runs, or as plain calls (same code path).

The flow body is written once against :class:`Calls`. ``PrefectCalls`` is what deployments and
``adsync run`` use; ``DirectCalls`` runs the very same body with the task functions called
directly on a thread pool, which is how ``bench/laike_daily.py`` measures Prefect's overhead.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import as_completed as cf_as_completed
from typing import Any, Protocol

from prefect import Task
from prefect.futures import as_completed
from prefect.utilities.annotations import quote, unmapped


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


class PrefectCalls:
    """Each step is a Prefect task run (the flow's task runner runs ``each`` concurrently)."""

    def one(self, task: Task, *args: Any) -> Any:
        # quote(): Prefect would otherwise walk every row of a big argument looking for futures.
        return task(*(quote(a) for a in args))

    def each(
        self, task: Task, keys: Sequence[Any], *args: Any
    ) -> Iterator[tuple[Any, Any | BaseException]]:
        futures = task.map(list(keys), *(unmapped(a) for a in args))
        key_of = dict(zip(futures, keys, strict=True))
        for fut in as_completed(list(key_of)):
            yield _outcome(key_of.pop(fut), fut.result)


class DirectCalls:
    """The same steps as plain function calls; ``each`` on a pool of ``workers`` threads."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def one(self, task: Task, *args: Any) -> Any:
        return task.fn(*args)

    def each(
        self, task: Task, keys: Sequence[Any], *args: Any
    ) -> Iterator[tuple[Any, Any | BaseException]]:
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            key_of = {pool.submit(task.fn, k, *args): k for k in keys}
            for fut in cf_as_completed(key_of):
                yield _outcome(key_of.pop(fut), fut.result)


def _outcome(key: Any, result: Any) -> tuple[Any, Any | BaseException]:
    try:
        return key, result()
    except Exception as e:  # noqa: BLE001 - handed to the caller, who records it per key
        return key, e
