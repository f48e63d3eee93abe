"""Latency, rate limits and fault injection, driven by :class:`FeishuKnobs` and a seeded RNG."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import defaultdict, deque

from sandbox.feishu.knobs import (
    BITABLE_ENDPOINTS,
    READ_ENDPOINTS,
    WRITE_ENDPOINTS,
    FeishuKnobs,
)

WINDOW_S = 1.0


class Realism:
    def __init__(self, knobs: FeishuKnobs, seed: int) -> None:
        self.knobs = knobs
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._rejections: dict[str, int] = defaultdict(int)

    def latency_s(self, endpoint: str) -> float:
        base, jitter = self.knobs.endpoint_latency_ms.get(
            endpoint, (self.knobs.latency_ms, self.knobs.jitter_ms)
        )
        with self._lock:
            extra = self._rng.uniform(0, jitter) if jitter > 0 else 0.0
        return max(0.0, (base + extra) / 1000)

    def _qps(self, endpoint: str) -> float | None:
        if endpoint in self.knobs.endpoint_qps:
            return self.knobs.endpoint_qps[endpoint]
        if endpoint in WRITE_ENDPOINTS:
            return self.knobs.write_qps
        if endpoint in READ_ENDPOINTS:
            return self.knobs.read_qps
        return None

    def throttle(self, endpoint: str) -> tuple[int, int, int] | None:
        """None if the call may proceed; else (code, limit, reset_s) for the rejection.

        Rejected calls do not consume the window. Rejections alternate the two documented
        shapes (1254290 on HTTP 200, 99991400 on HTTP 429) so clients must handle both.
        """
        qps = self._qps(endpoint)
        if qps is None:
            return None
        limit = max(1, int(qps))
        now = time.monotonic()
        with self._lock:
            hits = self._hits[endpoint]
            while hits and now - hits[0] >= WINDOW_S:
                hits.popleft()
            if len(hits) < limit:
                hits.append(now)
                return None
            self._rejections[endpoint] += 1
            code = 1254290 if self._rejections[endpoint] % 2 == 1 else 99991400
            reset = max(1, math.ceil(WINDOW_S - (now - hits[0])))
            return code, limit, reset

    def fault(self, endpoint: str, nth_call: int) -> str | None:
        """The fault to inject into this call, if any (schedule first, then random rates)."""
        for ep, nth, kind in self.knobs.fault_schedule:
            if ep == endpoint and nth == nth_call:
                return kind
        if endpoint not in BITABLE_ENDPOINTS or not self.knobs.fault_rate:
            return None
        with self._lock:
            for kind, rate in sorted(self.knobs.fault_rate.items()):
                if rate > 0 and self._rng.random() < rate:
                    return kind
        return None
