"""The one retry policy type: how many attempts, and how long to wait between them.

Which failures are retryable is each caller's business (Ocean Engine's error taxonomy, Feishu's
codes, an OAuth endpoint's answers); the policy only says how often and how long. Callers either
run their own loop (``max_attempts`` + :meth:`RetryPolicy.delay`) or hand the policy to tenacity
(:meth:`RetryPolicy.retrying`).

The n-th retry waits ``d * uniform(*jitter)`` with ``d = min(max_delay_s, base_delay_s * 2**(n-1))``.
The default jitter ``(0.5, 1.0)`` is "equal jitter" (``[d/2, d]``): many threads or processes
throttled at the same moment do not come back in lock-step. ``(1.0, 1.0)`` is no jitter.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, Retrying, before_sleep_log, stop_after_attempt


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # calls in all, the first one included
    base_delay_s: float = 0.5
    max_delay_s: float = 20.0
    jitter: tuple[float, float] = (0.5, 1.0)  # the wait is backoff × uniform(low, high)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(
                f"RetryPolicy.max_attempts must be at least 1, got {self.max_attempts}"
            )
        low, high = self.jitter
        if not 0 <= low <= high:
            raise ValueError(
                f"RetryPolicy.jitter must be (low, high) with 0 <= low <= high, got {self.jitter}"
            )

    def backoff(self, retry_number: int) -> float:
        """The un-jittered wait before retry ``retry_number`` (counting from 1)."""
        return min(self.max_delay_s, self.base_delay_s * (2 ** (retry_number - 1)))

    def delay(self, retry_number: int, hint_s: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (= attempt ``retry_number + 1``).

        ``hint_s``: the server said when to come back (a rate-limit reset header); it is obeyed,
        bounded below by ``base_delay_s`` and above by ``max_delay_s``, without jitter.
        """
        if hint_s is not None:
            return min(max(hint_s, self.base_delay_s), self.max_delay_s)
        low, high = self.jitter
        return self.backoff(retry_number) * random.uniform(low, high)

    def retrying(
        self,
        retry: Any,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> Retrying:
        """A tenacity ``Retrying`` following this policy; ``retry`` says which failures retry
        (e.g. ``retry_if_exception_type(...)``). The last failure is re-raised as is."""
        kw: dict[str, Any] = {}
        if logger is not None:
            kw["before_sleep"] = before_sleep_log(logger, logging.WARNING)
        if sleep is not None:
            kw["sleep"] = sleep
        return Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._tenacity_wait,
            retry=retry,
            reraise=True,
            **kw,
        )

    def _tenacity_wait(self, state: RetryCallState) -> float:
        return self.delay(state.attempt_number)  # attempt n failed: this is retry n
