"""Ocean Engine as a registered source (integrations/sources/registry.py): one client per process.

The client is shared by every thread of the process: one rate limiter for the app's QPS, one token
provider (tokens of key ``oceanengine:<app_id>:<principal>``, authorisation code with a rotating
refresh token, token_store/strategies.py), one connection pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations.settings import Settings, require
from integrations.sources.oceanengine.datasets import DATASETS

__all__ = ["DATASETS", "NAME", "connect"]

if TYPE_CHECKING:
    from integrations.sources.oceanengine.client import OceanEngineClient
    from integrations.sources.registry import RuntimeResources

NAME = "oceanengine"


def connect(settings: Settings, resources: RuntimeResources) -> OceanEngineClient:
    from integrations.sources.oceanengine.client import OceanEngineClient

    require(settings, "oceanengine_app_id", "oceanengine_app_secret")
    return OceanEngineClient(
        resources.tokens.provider(),
        base_url=settings.oceanengine_base_url,
        qps=settings.oceanengine_qps,
        timeout_s=settings.oceanengine_timeout_s,
        report_max_lookback_days=settings.oceanengine_report_max_lookback_days,
    )
