"""Deterministic primitives shared by every simulator: China time and stable seeded hashing.

A simulator's data is never stored: each record and metric is derived from a hash of
``(seed, kind, key...)``, so the same seed always gives the same answers and a large data set
costs nothing until asked for. Each vendor's data set lives with its simulator
(``sandbox/oceanengine/data.py``). No I/O.
"""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime
from zoneinfo import ZoneInfo

CN_TZ = ZoneInfo("Asia/Shanghai")


def china_today() -> date:
    return datetime.now(CN_TZ).date()


def _h(seed: int, *parts: object) -> int:
    """A stable 64-bit hash of ``(seed, parts...)`` (``hash()`` is salted per process)."""
    raw = "|".join(map(str, (seed, *parts))).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(_h(seed, *parts))
