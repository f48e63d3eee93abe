"""The source registry: every source's datasets, in one order (see :mod:`integrations.datasets`).

A new source adds one line to ``SOURCES``. Everything per dataset (tables, Bitable specs, the
``[bitable_tables.<name>]`` settings, monitor checks, CLI choices) iterates :func:`all_datasets`.
"""

from __future__ import annotations

from integrations.datasets import Dataset
from integrations.sources.oceanengine import datasets as oceanengine

SOURCES: dict[str, tuple[Dataset, ...]] = {
    oceanengine.SOURCE: oceanengine.DATASETS,
}


def all_datasets() -> tuple[Dataset, ...]:
    return tuple(d for datasets in SOURCES.values() for d in datasets)


def dataset(name: str) -> Dataset:
    for d in all_datasets():
        if d.name == name:
            return d
    raise KeyError(f"unknown dataset {name!r}; known: {', '.join(d.name for d in all_datasets())}")


def bitable_datasets() -> tuple[str, ...]:
    """Names of the datasets projected to Bitable (configurable as [bitable_tables.<name>])."""
    return tuple(d.name for d in all_datasets() if d.bitable is not None)


def known_flows() -> tuple[str, ...]:
    """The flows (deployments) loading the datasets, first-seen order."""
    return tuple(dict.fromkeys(d.flow for d in all_datasets()))


def _check_unique() -> None:
    names = [d.name for d in all_datasets()]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"dataset(s) declared twice: {', '.join(dup)}")
    for src, datasets in SOURCES.items():
        wrong = [d.name for d in datasets if d.source != src]
        if wrong:
            raise ValueError(f"source {src} lists datasets of another source: {', '.join(wrong)}")


_check_unique()
