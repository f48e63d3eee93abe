"""The sources a run can use, by name. Adding a source is one line in :data:`SOURCES`.

A source is a module (``integrations/sources/<vendor>/source.py``) with

- ``NAME``: its name, the key in :data:`SOURCES` and the vendor of its token keys;
- ``connect(settings, resources) -> client``: builds the source's client from the settings and
  the process's shared resources (:class:`RuntimeResources`: database engine, token store). It
  is called at most once per process, on first use (``Runtime.client(name)`` in flows/runtime.py),
  so importing a source costs nothing to a run that does not use it.

A client may expose ``stats`` (:class:`CallStats`) so run summaries count its requests.
Integrations never import ``flows``: the runtime is seen here only through the protocol below.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from integrations.settings import Settings
    from token_store.api import TokenStore

# name → module defining NAME and connect(settings, resources). One line per source.
SOURCES: dict[str, str] = {
    "oceanengine": "integrations.sources.oceanengine.source",
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
