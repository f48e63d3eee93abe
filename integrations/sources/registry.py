"""The sources a run can use, by name. Adding a source is one line in :data:`SOURCES`.

A source is a module (``integrations/sources/<vendor>/source.py``) with

- ``NAME``: its name, the key in :data:`SOURCES` and the vendor of its token keys;
- ``DATASETS`` (optional): the datasets it loads, each declared once in its ``datasets.py``
  (:mod:`integrations.datasets`); :func:`all_datasets` lists every source's, in registry order,
  and the tables, Bitable specs, settings and monitor checks are derived from them;
- ``connect(settings, resources) -> client``: builds the source's client from the settings and
  the process's shared resources (:class:`RuntimeResources`: database engine, token store). It
  is called at most once per process, on first use (``Runtime.client(name)`` in flows/runtime.py),
  so a run that does not use a source never builds its client (its module and declarations are
  imported by anything that reads the schema: ``tables``, the Bitable specs, the monitor).

A client may expose ``stats`` (:class:`CallStats`) so run summaries count its requests, and
``end_run()``, called when each run of the process ends (to give back what the run held across
processes, e.g. a share of the app's rate limit).
Integrations never import ``flows``: the runtime is seen here only through the protocol below.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from integrations.datasets import Dataset
    from integrations.settings import Settings
    from token_store.api import TokenStore

# name → module defining NAME and connect(settings, resources). One line per source.
SOURCES: dict[str, str] = {
    "oceanengine": "integrations.sources.oceanengine.source",
    "supplier": "integrations.sources.supplier.source",
}


class RuntimeResources(Protocol):
    """What a source's ``connect`` may use of the process's runtime (built lazily there)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def tokens(self) -> TokenStore: ...


class Source(Protocol):
    NAME: str

    def connect(self, settings: Settings, resources: RuntimeResources) -> Any: ...


class CallStats(Protocol):
    """Optional ``client.stats``: requests sent, and retries by failure class name."""

    @property
    def total(self) -> int: ...

    def snapshot(self) -> dict[str, Any]: ...  # {"retries": {"Throttled": n, ...}, ...}


class UnknownSource(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown source {self.name!r} (known: {', '.join(sorted(SOURCES))})"


def names() -> list[str]:
    return sorted(SOURCES)


def get_source(name: str) -> Source:
    """The source module registered as ``name`` (imported on first call)."""
    try:
        module_name = SOURCES[name]
    except KeyError:
        raise UnknownSource(name) from None
    module: ModuleType = importlib.import_module(module_name)
    declared = getattr(module, "NAME", None)
    if declared != name or not callable(getattr(module, "connect", None)):
        raise TypeError(
            f"{module_name}: a source module needs NAME = {name!r} and connect(settings, resources)"
        )
    return cast("Source", module)


# --- datasets -------------------------------------------------------------------------------
# Importing the declarations imports their source packages: every schema-level consumer (tables,
# specs, monitor) needs all of them anyway. Clients are still built only by ``connect``.


def all_datasets() -> tuple[Dataset, ...]:
    """Every source's declared datasets, registry order (a name declared twice is an error)."""
    out: list[Dataset] = []
    for name in SOURCES:
        declared = tuple(getattr(get_source(name), "DATASETS", ()))
        wrong = [d.name for d in declared if d.source != name]
        if wrong:
            raise ValueError(f"source {name} lists datasets of another source: {', '.join(wrong)}")
        out.extend(declared)
    names = [d.name for d in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"dataset(s) declared twice: {', '.join(dup)}")
    return tuple(out)


def dataset(name: str) -> Dataset:
    datasets = all_datasets()
    for d in datasets:
        if d.name == name:
            return d
    raise KeyError(f"unknown dataset {name!r}; known: {', '.join(d.name for d in datasets)}")


def bitable_datasets() -> tuple[str, ...]:
    """Names of the datasets projected to Bitable (configurable as [bitable_tables.<name>])."""
    return tuple(d.name for d in all_datasets() if d.bitable is not None)


def known_flows() -> tuple[str, ...]:
    """The flows (deployments) loading the datasets, first-seen order."""
    return tuple(dict.fromkeys(d.flow for d in all_datasets()))
