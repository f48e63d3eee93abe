"""OAuth2 client credentials (RFC 6749 §4.4) as a token store strategy.

``POST <token_url>`` with ``grant_type=client_credentials``, ``client_id`` and ``client_secret``
(RFC 6749 §2.3.1 allows the credentials in the body; ``encoding`` says form or JSON) answers
``access_token`` and ``expires_in``. There is no refresh token: a token is re-obtained when it is
about to expire or when the API refuses it (HTTP 401), so a lost answer costs one more request and
never a re-consent.

Failures: timeouts, connection errors, HTTP 429 and 5xx and a body that is not JSON are transient
and retried (:data:`CLIENT_CREDENTIALS_RETRY`); any other refusal (HTTP 400/401/403, e.g. RFC 6749
``invalid_client``) raises :class:`ClientCredentialsRejected` at once, naming the vendor, the client
id and the setting to check. The secret and tokens never appear in an error, a log or a repr; the
vendor's error text is echoed only after the secret is redacted from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

import httpx
from pydantic import SecretStr
from tenacity import retry_if_exception_type

from integrations.retry import RetryPolicy
from token_store.errors import OAuthError, TransientOAuthError
from token_store.models import NO_REFRESH_EXPIRY, TokenKey, TokenSet, utcnow

log = logging.getLogger(__name__)

# Same budget as the Ocean Engine OAuth calls: 4 attempts, 0.5 s doubling to at most 8 s.
CLIENT_CREDENTIALS_RETRY = RetryPolicy(
    max_attempts=4, base_delay_s=0.5, max_delay_s=8.0, jitter=(1.0, 1.0)
)


class ClientCredentialsRejected(OAuthError):
    """The token endpoint refused the client (wrong id/secret, grant not allowed): not retried."""


@dataclass
class ClientCredentials:
    """Token store strategy for a vendor using OAuth2 client credentials.

    Register it once per process (``store.register(ClientCredentials(...))``); the store then
    serves keys ``TokenKey(vendor, client_id, principal)``: ``store.provider(key).get()`` obtains a
    first token (no consent step), caches it until ``refresh_margin`` before expiry and re-obtains
    it then; ``.refresh(stale)`` after a 401 re-obtains unless another thread or process already
    did. Every new token is stored (encrypted) before it is handed out, so all processes share it.
    """

    vendor: str
    token_url: str
    client_id: str
    client_secret: SecretStr = field(repr=False)
    timeout_s: float = 15.0
    retry: RetryPolicy = CLIENT_CREDENTIALS_RETRY
    # Renew this long before expiry; must be shorter than the tokens' lifetime (checked).
    refresh_margin: timedelta = timedelta(seconds=60)
    encoding: Literal["form", "json"] = "form"
    scope: str | None = None
    # Where the token fields sit in the answer: None = top level (RFC 6749 §5.1), else the name of
    # an envelope object (e.g. "data" for ``{"code": 0, "data": {...}}``).
    envelope: str | None = None
    # Name of the setting holding the secret, for error messages (e.g. "ADSYNC_SUPPLIER_CLIENT_SECRET").
    secret_setting: str = "the client secret"
    transport: httpx.BaseTransport | None = field(default=None, repr=False)  # tests: MockTransport
    rotates_refresh_token: bool = field(default=False, init=False)
    needs_consent: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_id.strip():
            raise ValueError(f"{self.vendor}: client_id must not be empty")
        if not self.client_secret.get_secret_value():
            raise ValueError(f"{self.vendor}: {self.secret_setting} must not be empty")
        if not self.token_url.startswith(("http://", "https://")):
            raise ValueError(f"{self.vendor}: token_url must be an http(s) URL")

    @property
    def app_id(self) -> str:
        return self.client_id

    def key(self, principal: str = "default") -> TokenKey:
        """The store key of this client's tokens."""
        return TokenKey(self.vendor, self.client_id, principal)

    def obtain(self, key: TokenKey) -> TokenSet:
        retrying = self.retry.retrying(retry_if_exception_type(TransientOAuthError), log)
        with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
            data = retrying(self._post_once, client)
        return self._token_set(data)

    def refresh(self, key: TokenKey, current: TokenSet) -> TokenSet:
        return self.obtain(key)  # nothing to rotate: the credentials obtain a new token

    # --- internals -------------------------------------------------------------------------

    def _post_once(self, client: httpx.Client) -> dict[str, Any]:
        secret = self.client_secret.get_secret_value()
        body = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": secret,
        }
        if self.scope:
            body["scope"] = self.scope
        where = f"{self.vendor} token endpoint"
        try:
            if self.encoding == "json":
                resp = client.post(self.token_url, json=body)
            else:
                resp = client.post(self.token_url, data=body)
        except httpx.TransportError as e:
            raise TransientOAuthError(f"{where}: {type(e).__name__}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientOAuthError(f"{where}: HTTP {resp.status_code}")
        try:
            doc = resp.json()
        except ValueError:
            raise TransientOAuthError(
                f"{where}: HTTP {resp.status_code}, body is not JSON"
            ) from None
        if not isinstance(doc, dict):
            raise TransientOAuthError(f"{where}: HTTP {resp.status_code}, unexpected JSON")
        if resp.status_code >= 300:
            detail = _redact(
                " ".join(
                    str(doc.get(k))
                    for k in ("error", "error_description", "code", "message", "msg")
                    if doc.get(k) not in (None, "")
                ),
                secret,
            )
            raise ClientCredentialsRejected(
                f"{where} refused client {self.client_id}: HTTP {resp.status_code}"
                + (f" ({detail})" if detail else "")
                + f"; check the client id and {self.secret_setting}",
                resp.status_code,
            )
        data = doc if self.envelope is None else doc.get(self.envelope)
        if not isinstance(data, dict):
            raise OAuthError(
                f"{where}: answer has no {self.envelope!r} object (has: {sorted(doc)})"
            )
        return data

    def _token_set(self, data: dict[str, Any]) -> TokenSet:
        where = f"{self.vendor} token endpoint"
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthError(f"{where}: answer lacks access_token (has: {sorted(data)})")
        try:  # 7200, "7200" or 7200.0: a whole number of seconds, never through a float
            lifetime = int(Decimal(str(data["expires_in"])))
        except (KeyError, ArithmeticError, ValueError):
            # Field names only: the payload holds the token.
            raise OAuthError(
                f"{where}: answer lacks a numeric expires_in (has: {sorted(data)})"
            ) from None
        if lifetime <= 0:
            raise OAuthError(f"{where}: expires_in is {lifetime}, not a positive number of seconds")
        margin = self.refresh_margin.total_seconds()
        if lifetime <= margin:
            # Every use would fetch a new token: say so rather than hammer the endpoint.
            raise OAuthError(
                f"{where}: tokens live {lifetime} s, not longer than the refresh margin "
                f"({margin:g} s); configure a smaller refresh_margin"
            )
        return TokenSet(
            access_token=SecretStr(token),
            refresh_token=None,
            access_expires_at=utcnow() + timedelta(seconds=lifetime),
            refresh_expires_at=NO_REFRESH_EXPIRY,
            account_ids=[],
        )


def _redact(text: str, secret: str) -> str:
    return (text.replace(secret, "***") if secret else text)[:300]
