"""Retry policy for Feishu calls: which failures are retryable and how long to wait.

Feishu serialises writes per base and throttles per app; the SDK itself never retries
(docs/contracts/feishu.md §2). Retryable codes are throttling/conflict/not-ready/timeout
(§4–5 there).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    jitter: float = 0.25  # ± fraction

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        reset = rate_limit_reset(headers)
        if reset is not None:
            return min(max(reset, self.base_delay_s), self.max_delay_s)
        d = min(self.base_delay_s * (2 ** (attempt - 1)), self.max_delay_s)
        return d * (1 + random.uniform(-self.jitter, self.jitter))


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
