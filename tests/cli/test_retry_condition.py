"""Task retries: configuration errors are never retried (issue 16, item 2)."""

from __future__ import annotations

import httpx
import pytest
from prefect.states import Failed

from flows.steps import API_TASK, retry_if_transient
from integrations.settings import ConfigError
from integrations.sources.oceanengine.errors import PermissionDenied, Throttled
from token_store.errors import ReauthorizeRequired, TokenNotFound, TransientOAuthError


def _retried(exc: BaseException) -> bool:
    return retry_if_transient(None, None, Failed(data=exc))


@pytest.mark.parametrize(
    "exc",
    [
        ConfigError("ADSYNC_TOKEN_ENCRYPTION_KEY: cannot decrypt"),
        ValueError("start 2026-11-25 is after end 2026-11-20"),
        TokenNotFound("oceanengine:1:default"),
        ReauthorizeRequired("oceanengine:1:default", "refresh token expired"),
        httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol."),
        PermissionDenied("no permission", endpoint="v3.0/local/report/promotion/get", code=40002),
    ],
)
def test_deterministic_failures_are_not_retried(exc):
    assert _retried(exc) is False


@pytest.mark.parametrize(
    "exc",
    [
        Throttled("qps", endpoint="v3.0/local/report/promotion/get", code=40100),
        TransientOAuthError("oauth 50000"),
        ConnectionResetError("peer reset"),
    ],
)
def test_transient_failures_are_retried(exc):
    assert _retried(exc) is True


def test_api_tasks_use_the_condition():
    assert API_TASK["retry_condition_fn"] is retry_if_transient
