"""The supplier (海尔 open platform) as a registered source (integrations/sources/registry.py).

One client per process, shared by the task threads: its token comes from the process's token
store, where ``connect`` registers the OAuth2 client-credentials strategy for vendor
``supplier`` (key ``supplier:<client_id>:default``). The store persists the token (encrypted)
and renews it under its lock, so every thread and process of a deployment shares one token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations.settings import Settings, require_supplier
from integrations.sources.supplier.datasets import DATASETS

__all__ = ["DATASETS", "NAME", "connect"]

if TYPE_CHECKING:
    from integrations.sources.registry import RuntimeResources
    from integrations.sources.supplier.client import SupplierClient

NAME = "supplier"


def connect(settings: Settings, resources: RuntimeResources) -> SupplierClient:
    from integrations.sources.supplier import tokens
    from integrations.sources.supplier.client import TOKEN_PATH, SupplierClient

    require_supplier(settings)
    assert settings.supplier_base_url and settings.supplier_client_id  # for the type checker
    assert settings.supplier_client_secret is not None
    token_url = settings.supplier_token_url or settings.supplier_base_url.rstrip("/") + TOKEN_PATH
    strategy = tokens.strategy(
        token_url, settings.supplier_client_id, settings.supplier_client_secret
    )
    return SupplierClient.from_settings(
        settings, tokens=tokens.provider(resources.tokens, strategy)
    )
