"""A registered source for tests/flows/test_runtime_sources.py: counts how often it connects."""

from __future__ import annotations

import threading
import time
from typing import Any

NAME = "probe"
connects: list[Any] = []
_lock = threading.Lock()


class ProbeStats:
    def __init__(self) -> None:
        self.total = 0
        self.throttled = 0

    def snapshot(self) -> dict[str, Any]:
        return {"retries": {"Throttled": self.throttled}}


class ProbeClient:
    def __init__(self, resources: Any) -> None:
        self.resources = resources
        self.stats = ProbeStats()


def connect(settings: Any, resources: Any) -> ProbeClient:
    time.sleep(0.05)  # widen the window in which a second thread could connect too
    client = ProbeClient(resources)
    with _lock:
        connects.append(client)
    return client
