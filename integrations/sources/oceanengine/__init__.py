"""Ocean Engine Open API: client, error taxonomy, rate limiting, typed pages (see QUIRKS.md).

Typical use (one client per app per process, shared by all threads)::

    from integrations.sources.oceanengine import OceanEngineClient, fetch_local_promotion_report

    client = OceanEngineClient(token_store.provider())          # settings: URL, QPS, timeout
    rows, rejections = fetch_local_promotion_report(client, account_id, day, day)
"""

from integrations.retry import RetryPolicy
from integrations.sources.oceanengine.client import (
    CallStats,
    OceanEngineClient,
    TokenProvider,
    encode_params,
)
from integrations.sources.oceanengine.endpoints import (
    collect,
    fetch_authorized_accounts,
    fetch_dpa_availables,
    fetch_local_promotion_report,
    iter_customer_center_accounts,
    iter_douplus_orders,
    iter_douplus_report,
    iter_dpa_products,
    iter_life_local_accounts,
    iter_local_promotion_report,
    iter_local_promotions,
)
from integrations.sources.oceanengine.errors import (
    ApiError,
    InvalidParams,
    OceanEngineError,
    PermissionDenied,
    RetryableError,
    Throttled,
    TokenError,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
    Transient,
)
from integrations.sources.oceanengine.pagination import Fetched, Rejection
from integrations.sources.oceanengine.ratelimit import (
    FileLockedSchedule,
    RateLimiter,
    TokenBucket,
    app_limiter,
    default_schedule_path,
)

__all__ = [
    "ApiError",
    "CallStats",
    "Fetched",
    "FileLockedSchedule",
    "InvalidParams",
    "OceanEngineClient",
    "OceanEngineError",
    "PermissionDenied",
    "RateLimiter",
    "Rejection",
    "RetryPolicy",
    "RetryableError",
    "Throttled",
    "TokenBucket",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenMissing",
    "TokenProvider",
    "Transient",
    "app_limiter",
    "collect",
    "default_schedule_path",
    "encode_params",
    "fetch_authorized_accounts",
    "fetch_dpa_availables",
    "fetch_local_promotion_report",
    "iter_customer_center_accounts",
    "iter_douplus_orders",
    "iter_douplus_report",
    "iter_dpa_products",
    "iter_life_local_accounts",
    "iter_local_promotion_report",
    "iter_local_promotions",
]
