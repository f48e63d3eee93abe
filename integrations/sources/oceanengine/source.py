"""Ocean Engine as a registered source (integrations/sources/registry.py): one client per process.

The client is shared by every thread of the process: one rate limiter for the app's QPS (shared
with the other processes of the app through the app database when :func:`shared_qps` says so),
one token provider (tokens of key ``oceanengine:<app_id>:<principal>``, authorisation code with a rotating
refresh token, token_store/strategies.py), one connection pool.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from integrations.settings import Settings, require
from integrations.sources.oceanengine.datasets import DATASETS

__all__ = ["DATASETS", "NAME", "connect", "shared_qps"]

if TYPE_CHECKING:
    from integrations.sources.oceanengine.client import OceanEngineClient
    from integrations.sources.oceanengine.ratelimit import RateLimiter
    from integrations.sources.oceanengine.shared_ratelimit import SharedAppLimiter
    from integrations.sources.registry import RuntimeResources

NAME = "oceanengine"


def connect(settings: Settings, resources: RuntimeResources) -> OceanEngineClient:
    from integrations.sources.oceanengine.client import OceanEngineClient

    require(settings, "oceanengine_app_id", "oceanengine_app_secret")
    return OceanEngineClient(
        resources.tokens.provider(),
        base_url=settings.oceanengine_base_url,
        qps=settings.oceanengine_qps,
        limiter=app_limiter(settings, resources),
        timeout_s=settings.oceanengine_timeout_s,
        report_max_lookback_days=settings.oceanengine_report_max_lookback_days,
    )


# One limiter per app in a process: the clients of a tenant's several principals (and of several
# runs served by one process) draw from the same app QPS, never N times it.
_LIMITERS: dict[tuple[str, float, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def app_limiter(settings: Settings, resources: RuntimeResources) -> RateLimiter:
    """This process's limiter of the app: shared with the app's other processes through the app
    database when :func:`shared_qps` says so, else an in-process bucket."""
    from integrations.sources.oceanengine.ratelimit import app_limiter as bucket

    assert settings.oceanengine_app_id is not None  # required by connect
    shared = shared_qps(settings)
    key = (
        settings.oceanengine_app_id,
        float(settings.oceanengine_qps),
        settings.db_url if shared else "",
    )
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = (
                _shared_limiter(settings, resources) if shared else bucket(settings.oceanengine_qps)
            )
            _LIMITERS[key] = limiter
        return limiter


def shared_qps(settings: Settings) -> bool:
    """Whether this process paces the app together with the others (ADSYNC_OCEANENGINE_SHARED_QPS).

    ``auto``: on a server database (PostgreSQL, MariaDB), the topology where several workers run
    the app's flows at once; off on SQLite (one host, normally one process: the in-process bucket
    costs nothing, and a heartbeat write would contend with the run's own writes on the file).
    """
    mode = settings.oceanengine_shared_qps
    if mode != "auto":
        return mode == "on"
    from sqlalchemy.engine import make_url

    return make_url(settings.db_url).get_backend_name() != "sqlite"


def _shared_limiter(settings: Settings, resources: RuntimeResources) -> SharedAppLimiter:
    from integrations.sources.oceanengine.shared_ratelimit import SharedAppLimiter

    assert settings.oceanengine_app_id is not None  # required above
    return SharedAppLimiter(resources.engine, settings.oceanengine_app_id, settings.oceanengine_qps)
