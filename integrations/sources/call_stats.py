"""Call counters shared by the source clients (requests, retries, token refreshes, latency)."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from typing import Any

# Upper bounds (seconds) of the call-latency histogram's buckets, Prometheus-style; the last
# bucket (+Inf) is implied. Each HTTP call's duration (request sent → response or transport
# error) falls into one bin: a bisect and two additions under the stats lock per call.
LATENCY_BUCKETS_S: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class CallStats:
    """Thread-safe counters of one source client for run summaries and metrics: HTTP requests
    sent per endpoint, retries by failure class, token refreshes, and the calls' durations as a
    histogram (:data:`LATENCY_BUCKETS_S`). Satisfies ``integrations.sources.registry.CallStats``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()
        self._refreshes = 0
        self._bins = [0] * (len(LATENCY_BUCKETS_S) + 1)  # per bin, not cumulative; last: +Inf
        self._seconds = 0.0

    def observe(self, seconds: float) -> None:
        i = bisect.bisect_left(LATENCY_BUCKETS_S, seconds)
        with self._lock:
            self._bins[i] += 1
            self._seconds += seconds

    def latency(self) -> tuple[list[int], float]:
        """(calls per bin — ≤ each bound of LATENCY_BUCKETS_S, then +Inf — , total seconds)."""
        with self._lock:
            return list(self._bins), self._seconds

    def call(self, endpoint: str) -> None:
        with self._lock:
            self._calls[endpoint] += 1

    def retry(self, kind: str) -> None:
        with self._lock:
            self._retries[kind] += 1

    def refresh(self) -> None:
        with self._lock:
            self._refreshes += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._calls.values())

    def by_endpoint(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": sum(self._calls.values()),
                "by_endpoint": dict(self._calls),
                "retries": dict(self._retries),
                "token_refreshes": self._refreshes,
            }
