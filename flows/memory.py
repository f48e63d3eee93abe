"""Peak-memory hygiene for the flow process.

glibc gives each thread that allocates under contention its own malloc arena (up to 8 × cores).
A flow runs dozens of threads (fetch pool, serial write lane, Prefect's own), and memory freed
in one arena is not reusable by the others, so the process's peak RSS grows with the thread
count rather than with the data. Capping arenas at 2 is the usual remedy (the MALLOC_ARENA_MAX
environment variable does the same, but must be set before the interpreter starts; a worker's
flow-run subprocess or ``adsync run`` would need it in every environment). Its effect on the 本地推
bench's peak RSS is in bench/RESULTS.md ("malloc arenas").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger("adsync.flows")

M_ARENA_MAX = -8  # glibc <malloc.h>
DEFAULT_ARENAS = 2


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas for arenas created from now on; True when applied. No-op off
    glibc, or when MALLOC_ARENA_MAX is already set in the environment (the user's choice wins)."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # musl or another libc without mallopt
        log.debug("mallopt unavailable; malloc arenas not capped")
        return False
