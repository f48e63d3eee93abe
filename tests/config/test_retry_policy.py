"""integrations/retry.py: the one RetryPolicy, with each caller's defaults as before."""

from __future__ import annotations

import pytest
from tenacity import retry_if_exception_type

from integrations.feishu.retry import FEISHU_RETRY, rate_limit_reset
from integrations.retry import RetryPolicy
from integrations.sources.oceanengine.client import OCEANENGINE_RETRY
from token_store.client_credentials import CLIENT_CREDENTIALS_RETRY
from token_store.oauth import OAUTH_RETRY


def _caps(p: RetryPolicy, n: int) -> float:
    return min(p.max_delay_s, p.base_delay_s * 2 ** (n - 1))


def test_defaults_per_caller_are_unchanged() -> None:
    assert (OCEANENGINE_RETRY.max_attempts, OCEANENGINE_RETRY.base_delay_s) == (6, 0.5)
    assert (FEISHU_RETRY.max_attempts, FEISHU_RETRY.max_delay_s) == (6, 20.0)
    assert (OAUTH_RETRY.max_attempts, OAUTH_RETRY.max_delay_s) == (4, 8.0)
    assert CLIENT_CREDENTIALS_RETRY.max_attempts == 4


@pytest.mark.parametrize(
    ("policy", "low", "high"),
    [(OCEANENGINE_RETRY, 0.5, 1.0), (FEISHU_RETRY, 0.75, 1.25), (OAUTH_RETRY, 1.0, 1.0)],
)
def test_delay_is_capped_exponential_within_the_jitter(policy, low, high) -> None:
    for n in range(1, 10):
        d = _caps(policy, n)
        for _ in range(50):
            assert d * low <= policy.delay(n) <= d * high
    assert [OAUTH_RETRY.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_a_server_hint_is_obeyed_within_bounds() -> None:
    assert FEISHU_RETRY.delay(3, rate_limit_reset({"X-Ogw-Ratelimit-Reset": "3"})) == 3.0
    assert FEISHU_RETRY.delay(3, 0.0) == 0.5 and FEISHU_RETRY.delay(1, 99.0) == 20.0
    assert FEISHU_RETRY.delay(1, rate_limit_reset({})) <= 0.5 * 1.25


def test_tenacity_follows_the_policy() -> None:
    slept: list[float] = []
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise TimeoutError("blip")

    with pytest.raises(TimeoutError):
        OAUTH_RETRY.retrying(retry_if_exception_type(TimeoutError), sleep=slept.append)(failing)
    assert len(calls) == 4 and slept == [0.5, 1.0, 2.0]

    calls.clear()
    with pytest.raises(TimeoutError):  # not a retryable failure: one call
        OAUTH_RETRY.retrying(retry_if_exception_type(KeyError), sleep=slept.append)(failing)
    assert len(calls) == 1


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=(1.2, 1.0))
