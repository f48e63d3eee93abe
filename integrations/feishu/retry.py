"""Retry policy for Feishu calls: which failures are retryable and how long to wait.

Feishu serialises writes per base and throttles per app; the SDK itself never retries
(docs/contracts/feishu.md §2). Retryable codes are throttling/conflict/not-ready/timeout
(§4–5 there).
"""

from __future__ import annotations

from collections.abc import Mapping

from integrations.retry import RetryPolicy

# Throttled, write conflict, data not ready, server timeout, gateway rate limit.
RETRYABLE_CODES = frozenset({1254290, 1254291, 1254607, 1255040, 99991400})
# Documented as "retry", but also used for errors a retry cannot fix (1254002 "Fail": too large a
# change, a bad page_token; 1255001/1255002 internal/RPC errors): their own small budget.
SMALL_BUDGET_CODES = frozenset({1254002, 1255001, 1255002})
SMALL_BUDGET = 2  # retries per call
# Same client_token resubmitted while the base revision is unchanged: retry later with the SAME
# token (a new one could double a create that did land); at least this long between tries.
RESUBMITTED = 1254608
RESUBMIT_WAIT_S = 1.0
RESUBMIT_BUDGET = 2
# Same client_token on a different request: the sink reconciles, then uses a new token.
CLIENT_TOKEN_CONFLICT = 1255006
# Token revoked/expired early: drop lark-oapi's cached token and retry once.
TOKEN_CODES = frozenset({99991663, 99991665})
RATE_LIMIT_RESET_HEADER = "x-ogw-ratelimit-reset"


# 6 attempts, 0.5 s doubling to at most 20 s, ±25 % jitter; a rate-limit reset header
# (``policy.delay(n, rate_limit_reset(headers))``) overrides the backoff.
FEISHU_RETRY = RetryPolicy(max_attempts=6, base_delay_s=0.5, max_delay_s=20.0, jitter=(0.75, 1.25))


def rate_limit_reset(headers: Mapping[str, str] | None) -> float | None:
    """``x-ogw-ratelimit-reset`` (seconds) from a header dict of any key case."""
    if not headers:
        return None
    for k, v in headers.items():
        if k.lower() == RATE_LIMIT_RESET_HEADER:
            try:
                return max(0.0, float(v))
            except (TypeError, ValueError):
                return None
    return None
