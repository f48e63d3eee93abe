"""flows.memory: the malloc arena cap applies on glibc and defers to MALLOC_ARENA_MAX."""

from __future__ import annotations

import sys

import pytest

from flows.memory import limit_malloc_arenas


def test_users_malloc_arena_max_wins(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_applies_on_glibc(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True
