"""lark-oapi client construction and its process-global tenant-token cache.

lark-oapi caches tenant tokens in ``TokenManager.cache`` (a class attribute shared by every
Client in the process) under ``self_tenant_token:<app_id>``, and never evicts a token the server
has revoked (docs/contracts/feishu.md §1). ``clear_tenant_token`` is the eviction the SDK lacks.
"""

from __future__ import annotations

import lark_oapi as lark
from lark_oapi.core.token.manager import TokenManager

from integrations.settings import Settings, require

DEFAULT_TIMEOUT_S = 30.0


def tenant_token_cache_key(app_id: str) -> str:
    return f"self_tenant_token:{app_id}"


def clear_tenant_token(app_id: str) -> None:
    """Forget the cached tenant token of ``app_id``; the next call fetches a fresh one."""
    # An empty value with expiry 0 reads as absent (LocalCache drops expired entries on get).
    TokenManager.cache.set(tenant_token_cache_key(app_id), "", 0)


def build_client(
    app_id: str, app_secret: str, base_url: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> lark.Client:
    return (
        lark.Client.builder()
        .app_id(app_id)
        .app_secret(app_secret)
        .domain(base_url.rstrip("/"))
        .timeout(timeout_s)
        .log_level(lark.LogLevel.WARNING)
        .build()
    )


def make_client(settings: Settings, timeout_s: float = DEFAULT_TIMEOUT_S) -> lark.Client:
    """A lark-oapi client for the configured self-built app (ConfigError if not configured)."""
    require(settings, "feishu_app_id", "feishu_app_secret")
    assert settings.feishu_app_id is not None and settings.feishu_app_secret is not None
    return build_client(
        settings.feishu_app_id,
        settings.feishu_app_secret.get_secret_value(),
        settings.feishu_base_url,
        timeout_s,
    )
