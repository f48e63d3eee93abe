"""Rotation-safe Ocean Engine OAuth tokens in the project database or the OS keyring.

Public API (see :mod:`token_store.api`): ``build_token_store``, ``TokenStore``, ``TokenProvider``,
``TokenKey``, ``TokenSet``, ``TokenStatus``; errors in :mod:`token_store.errors`.
"""

from token_store.api import (
    TokenProvider,
    TokenStore,
    build_token_store,
)
from token_store.errors import ReauthorizeRequired, TokenNotFound, TokenStoreError
from token_store.models import TokenKey, TokenSet, TokenStatus

__all__ = [
    "ReauthorizeRequired",
    "TokenKey",
    "TokenNotFound",
    "TokenProvider",
    "TokenSet",
    "TokenStatus",
    "TokenStore",
    "TokenStoreError",
    "build_token_store",
]
