"""Fixtures: one sandbox per module (fast profile, knobs reset per test) and real clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from integrations.retry import RetryPolicy
from integrations.sources.oceanengine.client import OceanEngineClient
from sandbox.oceanengine.knobs import OceanEngineKnobs
from sandbox.server import Sandbox
from tests.oceanengine.token_provider import SandboxTokenProvider

# Tiny delays: retry behaviour is the same, tests stay fast.
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(profile="fast", seed=42, n_local_accounts=6, promotions_per_account=20) as s:
        yield s


@pytest.fixture
def oe(sb: Sandbox) -> Iterator[Any]:
    """The simulator, with fast knobs and zeroed counters for this test."""
    sb.oe.knobs = OceanEngineKnobs.for_profile("fast")
    sb.oe.reset_counters()
    yield sb.oe


@pytest.fixture
def provider(sb: Sandbox, oe: Any) -> Iterator[SandboxTokenProvider]:
    p = SandboxTokenProvider(sb.oceanengine_url, oe.app_id, oe.app_secret, oe.issue_auth_code())
    oe.reset_counters()  # the exchange is not part of what tests count
    yield p
    p.close()


@pytest.fixture
def make_client(
    sb: Sandbox, provider: SandboxTokenProvider
) -> Iterator[Callable[..., OceanEngineClient]]:
    made: list[OceanEngineClient] = []

    def make(**kw: Any) -> OceanEngineClient:
        kw.setdefault("retry", FAST_RETRY)
        kw.setdefault("qps", 1000.0)
        kw.setdefault("timeout_s", 5.0)
        c = OceanEngineClient(kw.pop("tokens", provider), base_url=sb.oceanengine_url, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def yesterday(sb: Sandbox):
    return sb.data.today - timedelta(days=1)
