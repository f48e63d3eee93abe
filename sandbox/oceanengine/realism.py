"""Counters, the per-app QPS limiter and fault selection for the Ocean Engine simulator."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from typing import Any

from sandbox.oceanengine.knobs import FAULT_KINDS, OceanEngineKnobs


class Counters:
    """Requests per normalized endpoint, responses per (endpoint, code), injected faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.codes: Counter[tuple[str, int | str]] = Counter()
        self.faults: Counter[str] = Counter()

    def hit(self, endpoint: str) -> tuple[int, int]:
        """Count one request; return (calls to this endpoint, calls overall) since the reset."""
        with self._lock:
            self.requests[endpoint] += 1
            return self.requests[endpoint], sum(self.requests.values())

    def answered(self, endpoint: str, code: int | str) -> None:
        with self._lock:
            self.codes[(endpoint, code)] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.codes.clear()
            self.faults.clear()

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: ``{"total", "requests": {ep: n}, "codes": {ep: {code: n}}, "faults"}``.

        Codes are the envelope ``code`` as a string, or ``"http_502"`` for an HTML error page.
        """
        with self._lock:
            codes: dict[str, dict[str, int]] = {}
            for (ep, code), n in sorted(self.codes.items(), key=lambda kv: str(kv[0])):
                codes.setdefault(ep, {})[str(code)] = n
            return {
                "total": sum(self.requests.values()),
                "requests": dict(sorted(self.requests.items())),
                "codes": codes,
                "faults": dict(sorted(self.faults.items())),
            }


class QpsLimiter:
    """Rolling one-second window per app: at most ``limit`` accepted calls in any second.

    Rejected calls do not use up the window (the server refuses them before doing work). Per
    app it also counts the calls it accepted and throttled, and the most accepted calls seen in
    one rolling second (``peak_per_s``, the window's length after an append): what a test
    reads to show each app stayed under its QPS (:meth:`snapshot`, cleared by :meth:`reset`;
    the windows themselves are kept, they are the limit's state, not counters).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[int, deque[float]] = {}
        self._accepted: Counter[int] = Counter()
        self._throttled: Counter[int] = Counter()
        self._peak: dict[int, int] = {}

    def allow(self, app_id: int, limit: float | None) -> bool:
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(app_id, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if limit is not None and len(window) >= limit:
                self._throttled[app_id] += 1
                return False
            window.append(now)
            self._accepted[app_id] += 1
            self._peak[app_id] = max(self._peak.get(app_id, 0), len(window))
            return True

    def snapshot(self) -> dict[str, dict[str, int]]:
        """JSON-ready, per app id (a string): ``{"accepted", "throttled", "peak_per_s"}``."""
        with self._lock:
            apps = sorted(set(self._accepted) | set(self._throttled))
            return {
                str(app): {
                    "accepted": self._accepted[app],
                    "throttled": self._throttled[app],
                    "peak_per_s": self._peak.get(app, 0),
                }
                for app in apps
            }

    def reset(self) -> None:
        with self._lock:
            self._accepted.clear()
            self._throttled.clear()
            self._peak.clear()


class FaultPicker:
    """Decides which fault (if any) a call gets: the schedule first, then the seeded rates."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def reseed(self, seed: int) -> None:
        with self._lock:
            self._rng = random.Random(seed)

    def jitter(self, latency_ms: float, jitter_ms: float) -> float:
        """Seconds to sleep: latency ± uniform jitter, never negative."""
        if latency_ms <= 0 and jitter_ms <= 0:
            return 0.0
        with self._lock:
            j = self._rng.uniform(-jitter_ms, jitter_ms) if jitter_ms > 0 else 0.0
        return max(0.0, latency_ms + j) / 1000.0

    def pick(
        self, knobs: OceanEngineKnobs, endpoint: str, nth: int, nth_any: int, by_rate: bool
    ) -> str | None:
        for rule in knobs.rules():
            if (rule.endpoint == endpoint and rule.nth_call == nth) or (
                rule.endpoint == "*" and rule.nth_call == nth_any
            ):
                return rule.kind
        if not by_rate or not knobs.fault_rate:
            return None
        with self._lock:
            roll = self._rng.random()
        acc = 0.0
        for kind in FAULT_KINDS:  # fixed order: the same seed gives the same faults
            acc += knobs.fault_rate.get(kind, 0.0)
            if roll < acc:
                return kind
        return None


BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
