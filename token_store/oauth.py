"""Ocean Engine OAuth2 endpoints: auth-code exchange and refresh (docs/contracts/oceanengine.md
§2, §7).

Transient failures (timeouts, connection errors, HTTP 5xx, a non-JSON body, code 40100, transient
5xxxx (50000-50002, the table in integrations/sources/oceanengine/errors.py), and 40110 on a
refresh) are retried with exponential backoff. Only an answer that really means a dead refresh token
(40103, 40107, or a message naming ``refresh_token``) demands a new consent
(:class:`ReauthorizeRequired`); it is never retried, the refresh token being single use. A throttled
refresh (40100, or 40110 = 开发者频控 in a public SDK's guide) is NOT a dead token: demanding re-consent
for it would send a person to the consent page for nothing.

Note on retries after a lost response: if a refresh reached Ocean Engine but its answer was lost
(read timeout), the old refresh token is already spent and the retry gets 40107, which surfaces
as ReauthorizeRequired naming the key. That is the documented crash-window outcome, not a loss.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from tenacity import retry_if_exception_type

from integrations.retry import RetryPolicy
from integrations.sources.oceanengine.errors import TRANSIENT_SERVER_CODES
from token_store.errors import AuthCodeInvalid, OAuthError, ReauthorizeRequired, TransientOAuthError
from token_store.models import TokenSet, utcnow

log = logging.getLogger(__name__)

ACCESS_TOKEN_PATH = "/open_api/oauth2/access_token/"
REFRESH_TOKEN_PATH = "/open_api/oauth2/refresh_token/"
CONSENT_URL = "https://ad.oceanengine.com/openapi/audit/oauth.html"

CODE_RATE_LIMITED = 40100
CODE_AUTH_CODE_INVALID = 40110  # on the exchange: auth code expired/used (ZS capture)
CODE_DEV_THROTTLED = 40110  # anywhere else: developer-level throttling (PHP error guide)
# Codes that mean the refresh token itself is dead (docs/contracts/oceanengine.md §7; numbers
# unconfirmed).
REFRESH_DEAD_CODES = frozenset({40103, 40107})


def _is_transient_code(code: int, *, refreshing: bool) -> bool:
    if code == CODE_RATE_LIMITED or (refreshing and code == CODE_DEV_THROTTLED):
        return True
    return code in TRANSIENT_SERVER_CODES


def _refresh_token_dead(code: int, message: str) -> bool:
    return code in REFRESH_DEAD_CODES or "refresh_token" in message.lower().replace(" ", "_")


def _redact(text: str, secrets: list[str]) -> str:
    """Provider messages are echoed into errors; make sure they cannot carry our secrets."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text[:300]


# 4 attempts, 0.5 s doubling to at most 8 s, no jitter (one refresh per key at a time).
OAUTH_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.5, max_delay_s=8.0, jitter=(1.0, 1.0))


@dataclass
class OceanEngineOAuth:
    """Calls the two OAuth endpoints for one app. Never logs request or response bodies."""

    base_url: str
    app_id: str
    app_secret: SecretStr = field(repr=False)
    timeout_s: float = 15.0
    retry: RetryPolicy = OAUTH_RETRY

    def exchange_auth_code(self, auth_code: str) -> TokenSet:
        """Exchange a consent ``auth_code`` (10 min, single use) for a token set."""
        body = {"grant_type": "auth_code", "auth_code": auth_code}
        data = self._call(ACCESS_TOKEN_PATH, body, [auth_code], key=None)
        return _token_set(data, account_ids=_account_ids(data))

    def refresh(self, key: object, refresh_token: str, account_ids: list[int]) -> TokenSet:
        """Spend ``refresh_token`` for a new pair. The answer carries no account ids: keep ours."""
        body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        data = self._call(REFRESH_TOKEN_PATH, body, [refresh_token], key=key)
        return _token_set(data, account_ids=account_ids)

    @staticmethod
    def consent_url_for(app_id: str, state: str, redirect_uri: str | None = None) -> str:
        """The consent page; after consent the redirect receives ``auth_code`` and ``state``."""
        params = {"app_id": app_id, "state": state}
        if redirect_uri:
            params["redirect_uri"] = redirect_uri
        return str(httpx.URL(CONSENT_URL, params=params))

    # --- internals -------------------------------------------------------------------------

    def _call(
        self, path: str, body: dict[str, Any], secrets: list[str], key: object | None
    ) -> dict[str, Any]:
        payload = {"app_id": _int_or_str(self.app_id), "secret": self.app_secret.get_secret_value()}
        payload.update(body)
        secrets = [*secrets, self.app_secret.get_secret_value()]
        url = self.base_url.rstrip("/") + path
        retrying = self.retry.retrying(retry_if_exception_type(TransientOAuthError), log)
        with httpx.Client(timeout=self.timeout_s) as client:
            return retrying(self._post_once, client, url, path, payload, secrets, key)

    def _post_once(
        self,
        client: httpx.Client,
        url: str,
        path: str,
        payload: dict[str, Any],
        secrets: list[str],
        key: object | None,
    ) -> dict[str, Any]:
        try:
            resp = client.post(url, json=payload)
        except httpx.TransportError as e:  # timeouts, refused/reset connections
            raise TransientOAuthError(f"{path}: {type(e).__name__}") from None
        if resp.status_code >= 500:
            raise TransientOAuthError(f"{path}: HTTP {resp.status_code}")
        try:
            doc = resp.json()
        except ValueError:
            raise TransientOAuthError(
                f"{path}: HTTP {resp.status_code}, body is not JSON"
            ) from None
        if not isinstance(doc, dict):
            raise TransientOAuthError(f"{path}: HTTP {resp.status_code}, unexpected JSON")
        code = doc.get("code")
        message = _redact(str(doc.get("message", "")), secrets)
        if code == 0 and resp.status_code < 300 and isinstance(doc.get("data"), dict):
            return doc["data"]
        if not isinstance(code, int):
            raise OAuthError(f"{path}: HTTP {resp.status_code}, no result code")
        if _is_transient_code(code, refreshing=key is not None):
            raise TransientOAuthError(f"{path}: code {code} ({message})", code)
        if key is not None and _refresh_token_dead(code, message):
            raise ReauthorizeRequired(key, f"refresh token rejected (code {code}: {message})")
        if key is None and code == CODE_AUTH_CODE_INVALID:
            raise AuthCodeInvalid(
                f"auth code expired, already used or unknown (code {code}: {message}); "
                "open the consent URL again and use the new code within 10 minutes",
                code,
            )
        raise OAuthError(f"{path}: code {code} ({message})", code)


def _int_or_str(v: str) -> int | str:
    return int(v) if v.isdigit() else v


def _account_ids(data: dict[str, Any]) -> list[int]:
    ids = data.get("advertiser_ids") or []
    if not ids and data.get("advertiser_id"):
        ids = [data["advertiser_id"]]
    return [int(i) for i in ids]


def _token_set(data: dict[str, Any], account_ids: list[int]) -> TokenSet:
    try:
        now: datetime = utcnow()
        return TokenSet(
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            access_expires_at=now + timedelta(seconds=int(data["expires_in"])),
            refresh_expires_at=now + timedelta(seconds=int(data["refresh_token_expires_in"])),
            account_ids=account_ids,
        )
    except (KeyError, TypeError, ValueError):
        # Field names only: the payload holds the secrets.
        raise OAuthError(f"token response lacks fields (has: {sorted(data)})") from None
