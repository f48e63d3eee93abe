"""Rotation-safe OAuth tokens of every vendor in the project database or the OS keyring.

Tokens are keyed by vendor (``TokenKey``: ``vendor:app_id:principal``); each vendor's grant is a
:class:`~token_store.strategies.RefreshStrategy` registered with the store: authorisation code
with a rotating refresh token (Ocean Engine) or OAuth2 client credentials
(:class:`~token_store.client_credentials.ClientCredentials`).

Public API (see :mod:`token_store.api`): ``build_token_store``, ``TokenStore``, ``TokenProvider``,
``TokenKey``, ``TokenSet``, ``TokenStatus``, the strategies; errors in :mod:`token_store.errors`.
"""

from token_store.api import (
    TokenProvider,
    TokenStore,
    build_token_store,
)
from token_store.client_credentials import ClientCredentials, ClientCredentialsRejected
from token_store.errors import ReauthorizeRequired, TokenNotFound, TokenStoreError
from token_store.models import TokenKey, TokenSet, TokenStatus
from token_store.strategies import AuthorizationCode, RefreshStrategy

__all__ = [
    "AuthorizationCode",
    "ClientCredentials",
    "ClientCredentialsRejected",
    "ReauthorizeRequired",
    "RefreshStrategy",
    "TokenKey",
    "TokenNotFound",
    "TokenProvider",
    "TokenSet",
    "TokenStatus",
    "TokenStore",
    "TokenStoreError",
    "build_token_store",
]
