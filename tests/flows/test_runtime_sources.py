"""Runtime.client: a source's client by name, built once per process by the source's connect."""

from __future__ import annotations

import threading

import pytest

from flows.runtime import Runtime
from integrations.settings import ConfigError, load_settings
from integrations.sources import registry
from tests.flows import probe_source


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(registry.SOURCES, "probe", "tests.flows.probe_source")
    probe_source.connects.clear()
    return probe_source


def _runtime(tmp_path, **kw) -> Runtime:
    return Runtime(settings=load_settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", **kw))


def test_client_is_built_once_and_shared_by_threads(tmp_path, probe) -> None:
    rt = _runtime(tmp_path)
    assert rt.api_calls() == 0 and rt.throttled_calls() == 0  # nothing built yet
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(rt.client("probe"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len({id(c) for c in got}) == 1
    assert len(probe.connects) == 1 and probe.connects[0].resources is rt
    client = probe.connects[0]
    client.stats.total, client.stats.throttled = 7, 2
    assert (rt.api_calls(), rt.throttled_calls()) == (7, 2)
    assert _runtime(tmp_path).client("probe") is not client  # per runtime (process), not global


def test_unknown_source_names_the_known_ones(tmp_path) -> None:
    with pytest.raises(
        registry.UnknownSource, match="unknown source 'nope' \\(known: .*oceanengine"
    ):
        _runtime(tmp_path).client("nope")


def test_a_source_module_must_declare_its_name(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setitem(registry.SOURCES, "other", "tests.flows.probe_source")
    with pytest.raises(TypeError, match="NAME = 'other'"):
        _runtime(tmp_path).client("other")


def test_oceanengine_source_needs_its_settings(tmp_path) -> None:
    rt = _runtime(tmp_path, oceanengine_app_id="1")
    with pytest.raises(ConfigError, match="ADSYNC_OCEANENGINE_APP_SECRET"):
        rt.client("oceanengine")
    assert rt.api_calls() == 0
