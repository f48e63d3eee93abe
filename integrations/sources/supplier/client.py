"""The one HTTP client of the supplier (海尔 open platform) API.

Auth is OAuth2 client credentials (``POST /oauth2/auth``, form body, RFC 6749 §4.4). The token
comes from an injectable :class:`~.tokens.TokenCache` (in-memory by default) and is renewed
``renew_margin_s`` before it expires; grants are single-flight across threads (one lock; a
caller whose token was refused only re-authenticates if nobody replaced that token meanwhile).
A 401 on a data call re-authenticates **once** and retries; a second 401 is an
:class:`AuthError` (credentials or clock are wrong: looping cannot help).

Network errors, timeouts, HTTP 5xx, gateway HTML pages and throttling (HTTP 429 or envelope
code 429) are retried with exponential backoff and jitter through tenacity (the product's
HTTP-level retry library, as in ``token_store/oauth.py``); business errors are final.

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
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from integrations.sources.supplier.errors import (
    ApiError,
    AuthError,
    SupplierError,
    Throttled,
    Transient,
)
from integrations.sources.supplier.tokens import CachedToken, MemoryTokenCache, TokenCache

if TYPE_CHECKING:
    from integrations.settings import Settings

logger = logging.getLogger("adsync.supplier")
T = TypeVar("T")
TOKEN_PATH = "/oauth2/auth"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with additive jitter (tenacity): retry n waits
    ``min(max_wait_s, initial_wait_s * 2**(n-1))`` plus up to ``initial_wait_s`` at random. The
    floor matters: a throttled caller always waits at least ``initial_wait_s``."""

    attempts: int = 6
    initial_wait_s: float = 0.5
    max_wait_s: float = 20.0


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
        token_cache: TokenCache | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        renew_margin_s: float = 300.0,
        clock: Callable[[], datetime] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url or self.base_url + TOKEN_PATH
        self.client_id = client_id
        self._secret = (
            client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        )
        self.cache: TokenCache = token_cache if token_cache is not None else MemoryTokenCache()
        self.retry = retry or RetryPolicy()
        self.renew_margin_s = renew_margin_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._http = http or httpx.Client(timeout=timeout_s)
        self._owns_http = http is None
        self._auth_lock = threading.Lock()
        self._last_token = ""  # for scrubbing messages only
        self.grants = 0  # successful /oauth2/auth calls by this client (run summaries)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> SupplierClient:
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

    @property
    def token_key(self) -> str:
        return f"supplier:{self.client_id}@{self.token_url}"

    # -- tokens ----------------------------------------------------------------------------------
    def token(self, *, stale: str | None = None) -> str:
        """A token valid for at least ``renew_margin_s`` more, and different from ``stale``."""
        with self._auth_lock:
            cached = self.cache.get(self.token_key)
            if cached is not None:
                value = cached.access_token.get_secret_value()
                fresh = cached.seconds_left(self._clock()) > self.renew_margin_s
                if fresh and value != stale:
                    self._last_token = value
                    return value
            new = self.with_retry(self._authenticate)
            self.cache.put(self.token_key, new)
            self.grants += 1
            self._last_token = new.access_token.get_secret_value()
            logger.info("supplier: new access token (expires in %.0f s)", new.seconds_left())
            return self._last_token

    def _authenticate(self) -> CachedToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret.get_secret_value(),
        }
        try:
            resp = self._http.post(self.token_url, data=form)
        except httpx.HTTPError as e:
            raise Transient(
                f"token request failed ({type(e).__name__})", endpoint=TOKEN_PATH
            ) from None
        if resp.status_code == 429:
            raise Throttled("throttled", endpoint=TOKEN_PATH, code=429)
        if resp.status_code >= 500:
            raise Transient(f"HTTP {resp.status_code}", endpoint=TOKEN_PATH, code=resp.status_code)
        body = _json_or_none(resp)
        if resp.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise AuthError(
                f"client credentials refused (HTTP {resp.status_code}, "
                f"error {_redact(str(error), self._secrets())!r}); check "
                "ADSYNC_SUPPLIER_CLIENT_ID / ADSYNC_SUPPLIER_CLIENT_SECRET",
                endpoint=TOKEN_PATH,
                code=resp.status_code,
            )
        token, ttl = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise AuthError("token answer without access_token", endpoint=TOKEN_PATH)
        try:
            seconds = int(Decimal(str(ttl)))
        except ArithmeticError:
            raise AuthError(
                "token answer: expires_in is not a number", endpoint=TOKEN_PATH
            ) from None
        if seconds <= 0:
            raise AuthError("token answer: expires_in must be > 0", endpoint=TOKEN_PATH)
        return CachedToken(SecretStr(token), self._clock() + timedelta(seconds=seconds))

    def _secrets(self) -> list[str]:
        return [self._secret.get_secret_value(), self._last_token]

    # -- calls -----------------------------------------------------------------------------------
    def with_retry(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` with backoff on :class:`Transient` (Throttled included)."""
        p = self.retry
        retrying = Retrying(
            stop=stop_after_attempt(p.attempts),
            wait=wait_exponential(multiplier=p.initial_wait_s, max=p.max_wait_s)
            + wait_random(0, p.initial_wait_s),
            retry=retry_if_exception_type(Transient),
            before_sleep=_log_retry,
            reraise=True,
        )
        return retrying(fn)

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST ``body`` as JSON to ``path``; the answer's data (envelope removed)."""
        token = self.token()
        try:
            return self.with_retry(lambda: self._post_once(path, body, token))
        except _Unauthorized:
            logger.info("supplier: token refused on %s; re-authenticating once", path)
        token = self.token(stale=token)
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
