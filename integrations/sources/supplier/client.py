"""The one HTTP client of the supplier (海尔 open platform) API.

Auth is OAuth2 client credentials (``POST /oauth2/auth``, form body, RFC 6749 §4.4) through
the vendor-neutral token store: the client holds a :class:`~.tokens.TokenSource` (in a run, the
store's provider with the ``ClientCredentials`` strategy, ``source.py``) and calls ``get()``
before a request. The store renews the token before it expires, single-flight under its lock,
and persists it encrypted. A 401 on a data call calls ``refresh(stale)`` **once** (a no-op when
another thread or process already replaced that token) and retries; a second 401 is an
:class:`AuthError` (credentials or clock are wrong: looping cannot help).

Network errors, timeouts, HTTP 5xx, gateway HTML pages and throttling (HTTP 429 or envelope
code 429) are retried with the product's one :class:`~integrations.retry.RetryPolicy`
(exponential backoff, jitter, through tenacity); business errors are final.

Responses: an object with both ``success`` and ``code`` is the wrapped envelope
(``{success, code, message, data}``), anything else is the data itself (QUIRKS.md). JSON is
decoded with ``parse_float=Decimal`` so money never passes through float.

Secrets: the client secret and tokens travel only in the form body and the ``Authorization``
header, never in URLs; they are never logged, and any server message echoed into an exception
is scrubbed of both. Images are fetched without the ``Authorization`` header (a CDN must not
see the token).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import retry_if_exception_type

from integrations.retry import RetryPolicy
from integrations.sources.call_stats import CallStats
from integrations.sources.supplier.errors import (
    ApiError,
    AuthError,
    SupplierError,
    Throttled,
    Transient,
)
from integrations.sources.supplier.tokens import TokenSource, memory_tokens

if TYPE_CHECKING:
    from integrations.settings import Settings

logger = logging.getLogger("adsync.supplier")
T = TypeVar("T")
TOKEN_PATH = "/oauth2/auth"


# 6 attempts, 0.5 s doubling to at most 20 s, equal jitter (a throttled caller waits >= 0.25 s).
DEFAULT_RETRY = RetryPolicy(max_attempts=6, base_delay_s=0.5, max_delay_s=20.0)


class _Unauthorized(Exception):
    """HTTP 401 (or envelope code 401) on a data call: the token is dead."""


def _redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text[:300]


class SupplierClient:
    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: SecretStr | str,
        token_url: str | None = None,
        tokens: TokenSource | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url or self.base_url + TOKEN_PATH
        self.client_id = client_id
        self._secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        # Outside a run (tests, scripts): a private in-memory store with the same strategy.
        self.tokens: TokenSource = (
            tokens
            if tokens is not None
            else memory_tokens(self.token_url, self.client_id, self._secret)
        )
        self.retry = retry or DEFAULT_RETRY
        self._http = http or httpx.Client(timeout=timeout_s)
        self._owns_http = http is None
        self._last_token = ""  # for scrubbing messages only
        self.stats = CallStats()

    @classmethod
    def from_settings(
        cls, settings: Settings, tokens: TokenSource | None = None, **kwargs: Any
    ) -> SupplierClient:
        from integrations.settings import require_supplier

        require_supplier(settings)
        assert settings.supplier_base_url and settings.supplier_client_id  # for the type checker
        assert settings.supplier_client_secret is not None
        return cls(
            base_url=settings.supplier_base_url,
            token_url=settings.supplier_token_url,
            client_id=settings.supplier_client_id,
            client_secret=settings.supplier_client_secret,
            timeout_s=settings.supplier_timeout_s,
            tokens=tokens,
            **kwargs,
        )

    def __repr__(self) -> str:  # no secret, no token
        return f"SupplierClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> SupplierClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def http(self) -> httpx.Client:
        return self._http

    # -- tokens ----------------------------------------------------------------------------------
    def token(self, *, stale: str | None = None) -> str:
        """A valid token (the store renews it before expiry); with ``stale``: one different from
        the token the API just refused (refreshed unless someone already did)."""
        value = self.tokens.refresh(stale) if stale is not None else self.tokens.get()
        self._last_token = value
        return value

    def _secrets(self) -> list[str]:
        return [self._secret.get_secret_value(), self._last_token]

    # -- calls -----------------------------------------------------------------------------------
    def with_retry(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` with backoff on :class:`Transient` (Throttled included)."""
        retrying = self.retry.retrying(retry_if_exception_type(Transient))

        def before_sleep(state: Any) -> None:
            err = state.outcome.exception() if state.outcome else None
            self.stats.retry(type(err).__name__)
            _log_retry(state)

        retrying.before_sleep = before_sleep
        return retrying(fn)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST ``body`` as JSON to ``path``; the answer's data (envelope removed)."""
        token = self.token()
        try:
            return self.with_retry(lambda: self._post_once(path, body, token))
        except _Unauthorized:
            logger.info("supplier: token refused on %s; re-authenticating once", path)
        token = self.token(stale=token)
        self.stats.refresh()
        try:
            return self.with_retry(lambda: self._post_once(path, body, token))
        except _Unauthorized:
            raise AuthError(
                "a fresh token was refused too (HTTP 401); check the credentials and the token "
                "URL (ADSYNC_SUPPLIER_TOKEN_URL)",
                endpoint=path,
                code=401,
            ) from None

    def _post_once(self, path: str, body: Mapping[str, Any], token: str) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        self.stats.call(path)
        try:
            resp = self._http.post(self.base_url + path, json=dict(body), headers=headers)
        except httpx.HTTPError as e:
            raise Transient(f"request failed ({type(e).__name__})", endpoint=path) from None
        status = resp.status_code
        if status == 401:
            raise _Unauthorized()
        if status == 429:
            raise Throttled("throttled (HTTP 429)", endpoint=path, code=429)
        if status >= 500:
            raise Transient(f"HTTP {status}", endpoint=path, code=status)
        parsed = _json_or_none(resp)
        if parsed is None:
            raise Transient(f"HTTP {status}: not a JSON answer", endpoint=path, code=status)
        if isinstance(parsed, dict) and "success" in parsed and "code" in parsed:
            return self._unwrap(path, parsed, status)
        if status != 200:
            self._raise_business(path, parsed, status)
        return parsed

    def _unwrap(self, path: str, env: dict[str, Any], status: int) -> Any:
        if env.get("success") is True and status == 200:
            return env.get("data")
        code = str(env.get("code"))
        if code == "401":
            raise _Unauthorized()
        if code == "429":
            raise Throttled("throttled (code 429)", endpoint=path, code=code)
        if code.isdigit() and 500 <= int(code) < 600:
            raise Transient(f"code {code}", endpoint=path, code=code)
        self._raise_business(path, env, status)

    def _raise_business(self, path: str, body: Any, status: int) -> None:
        code = body.get("code", status) if isinstance(body, dict) else status
        message = body.get("message", "") if isinstance(body, dict) else ""
        raise ApiError(
            f"code {code}: {_redact(str(message), self._secrets())}", endpoint=path, code=code
        )


def _json_or_none(resp: httpx.Response) -> Any:
    try:
        return json.loads(resp.content, parse_float=Decimal)
    except ValueError:
        return None


def _log_retry(state: Any) -> None:
    err = state.outcome.exception() if state.outcome else None
    logger.warning(
        "supplier: retry %d after %s (%s)",
        state.attempt_number,
        type(err).__name__,
        err if isinstance(err, SupplierError) else "",
    )
