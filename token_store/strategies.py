"""How a vendor's tokens are obtained and renewed: one :class:`RefreshStrategy` per vendor.

The store (:mod:`token_store.api`) owns what is common to every vendor: the per-key lock across
processes, re-reading under the lock, persisting before anyone uses a new token, the in-memory
cache of :class:`~token_store.api.TokenProvider`. A strategy only talks to the vendor:

- :class:`AuthorizationCode` — a person consents once (an auth code), then a refresh token is
  spent for each new pair. With ``rotates_refresh_token`` (Ocean Engine) the old refresh token dies
  at the refresh, which is why the store serialises refreshes and commits before use.
- :class:`~token_store.client_credentials.ClientCredentials` — OAuth2 client credentials
  (RFC 6749 §4.4): a new access token is simply obtained again with the client id and secret; there
  is no refresh token, so nothing rotates and nothing can be lost.

A strategy is registered for a vendor (``TokenKey.provider``) and an app (``TokenKey.app_id``); the
store refuses a key of another app rather than sending one app's secret for another's tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol, runtime_checkable

from integrations.settings import ConfigError
from token_store.client_credentials import ClientCredentials, ClientCredentialsRejected
from token_store.errors import ReauthorizeRequired, TokenNotFound
from token_store.models import TokenKey, TokenSet

__all__ = [
    "AuthCodeOAuth",
    "AuthorizationCode",
    "ClientCredentials",  # in token_store/client_credentials.py (its HTTP exchange)
    "ClientCredentialsRejected",
    "RefreshStrategy",
    "Unconfigured",
]


@runtime_checkable
class RefreshStrategy(Protocol):
    """The vendor-specific half of the token store (see the module docstring)."""

    @property
    def vendor(self) -> str:
        """The ``TokenKey.provider`` this strategy serves, e.g. ``"oceanengine"``."""
        ...

    @property
    def app_id(self) -> str:
        """The app (client id) whose credentials this strategy holds."""
        ...

    @property
    def rotates_refresh_token(self) -> bool:
        """True when a refresh spends the stored refresh token (it must be persisted at once)."""
        ...

    @property
    def refresh_margin(self) -> timedelta | None:
        """Renew this long before the access token expires; None: the store's margin."""
        ...

    @property
    def needs_consent(self) -> bool:
        """True when a first token set needs a person (an auth code): without a stored set the
        store reports TokenNotFound instead of calling :meth:`obtain`."""
        ...

    def obtain(self, key: TokenKey) -> TokenSet:
        """A first token set for ``key`` without a stored one; raises TokenNotFound when that
        needs a person (an auth code)."""
        ...

    def refresh(self, key: TokenKey, current: TokenSet) -> TokenSet:
        """A new token set replacing ``current`` (expired, refused with 401, or forced)."""
        ...


class AuthCodeOAuth(Protocol):
    """What :class:`AuthorizationCode` needs of a vendor's OAuth endpoints
    (``token_store.oauth.OceanEngineOAuth`` implements it)."""

    app_id: str

    def exchange_auth_code(self, auth_code: str) -> TokenSet: ...

    def refresh(self, key: object, refresh_token: str, account_ids: list[int]) -> TokenSet: ...


@dataclass
class AuthorizationCode:
    """Authorisation code grant with a refresh token (Ocean Engine: single use, rotating)."""

    vendor: str
    oauth: AuthCodeOAuth
    rotates_refresh_token: bool = True
    refresh_margin: timedelta | None = None
    needs_consent: bool = True

    @property
    def app_id(self) -> str:
        return self.oauth.app_id

    def obtain(self, key: TokenKey) -> TokenSet:
        raise TokenNotFound(key)  # only a person's consent (an auth code) can start a grant

    def exchange_auth_code(self, auth_code: str) -> TokenSet:
        return self.oauth.exchange_auth_code(auth_code)

    def refresh(self, key: TokenKey, current: TokenSet) -> TokenSet:
        if current.refresh_token is None:
            raise ReauthorizeRequired(key, "the stored token set has no refresh token")
        return self.oauth.refresh(
            key, current.refresh_token.get_secret_value(), current.account_ids
        )


@dataclass
class Unconfigured:
    """A vendor whose app is named but whose secret is missing: every grant says which setting."""

    vendor: str
    app_id: str
    problem: str = field(repr=True)  # e.g. "ADSYNC_OCEANENGINE_APP_SECRET: required to ..."
    rotates_refresh_token: bool = True
    refresh_margin: timedelta | None = None
    needs_consent: bool = True

    def obtain(self, key: TokenKey) -> TokenSet:
        raise ConfigError(self.problem)

    def exchange_auth_code(self, auth_code: str) -> TokenSet:
        raise ConfigError(self.problem)

    def refresh(self, key: TokenKey, current: TokenSet) -> TokenSet:
        raise ConfigError(self.problem)
