"""The one HTTP client for the Ocean Engine Open API.

Why synchronous (``httpx.Client``) and threads rather than asyncio: the bottleneck is the per-app
QPS limit, not the number of open sockets. By Little's law the requests in flight are
``QPS × latency``: at 10–20 QPS and 0.3–1.5 s per report call that is ~5–30 concurrent requests,
which a thread pool of 10–30 workers (Prefect's ``ThreadPoolTaskRunner`` or
``concurrent.futures``) carries easily. Sync code keeps Prefect tasks plain functions (no event
loop inside worker threads) and keeps tracebacks simple; asyncio would only pay off at hundreds
of concurrent requests, which the rate limit never allows.

One client instance is shared by all threads: ``httpx.Client``'s connection pool is thread-safe,
the rate limiter is shared, and the call counters take a lock. Every request:

1. waits for a slot from the per-app rate limiter (:mod:`.ratelimit`);
2. sends ``Access-Token`` from the :class:`TokenProvider` (never logged); for the endpoints in
   :data:`TOKEN_IN_QUERY` (``oauth2/advertiser/get``) also as the ``access_token`` query
   parameter, the only place the official SDK puts it there. Every URL that can reach a log
   (httpx's own request log included, see :class:`_RedactTokenQuery`) or an exception is redacted;
3. is classified by :mod:`.errors`; Throttled/Transient are retried with exponential backoff and
   jitter up to ``RetryPolicy.max_attempts``; a token error triggers a refresh and a retry, again
   if the refreshed token is itself invalidated before the retry lands (several revocations in
   one run), at most ``MAX_REFRESHES_PER_CALL`` times per call and never when the refresh gave
   back the same token. Refreshes are single-flight across threads: all callers holding the
   same stale token share one ``provider.refresh(stale)``. Everything else raises immediately.

JSON bodies are decoded with ``parse_float=Decimal``: integers (int64 ids above 2^53) stay exact
Python ints, and decimals (yuan amounts) arrive as Decimal, so no value ever passes through float.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from integrations.retry import RetryPolicy
from integrations.sources.call_stats import CallStats
from integrations.sources.oceanengine.errors import (
    OceanEngineError,
    RetryableError,
    TokenError,
    Transient,
    envelope_error,
    error_for_http_status,
    redact,
)
from integrations.sources.oceanengine.ratelimit import (
    RateLimiter,
    app_limiter,
    default_schedule_path,
)

if TYPE_CHECKING:
    from integrations.settings import Settings

logger = logging.getLogger("adsync.oceanengine")

# Endpoints whose reference request carries the token as the ``access_token`` query parameter
# (official Go SDK api_oauth2_advertiser_get.go; no other endpoint does). The header is sent too.
TOKEN_IN_QUERY = frozenset({"oauth2/advertiser/get"})


class _RedactTokenQuery(logging.Filter):
    """httpx logs every request URL at INFO ("HTTP Request: GET https://…?access_token=…"):
    render such records with the token value replaced, before any handler sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        if "_token=" in text:
            record.msg, record.args = redact(text), None
        return True


def _install_log_redaction() -> None:
    for name in ("httpx", "httpcore"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _RedactTokenQuery) for f in lg.filters):
            lg.addFilter(_RedactTokenQuery())


_install_log_redaction()

# Parameters that identify the account a call is about (for error messages and logs).
_ACCOUNT_PARAMS = (
    "local_account_id",
    "advertiser_id",
    "aweme_sec_uid",
    "account_id",
    "cc_account_id",
)


# Token refreshes one call may make when the token keeps being invalidated between refresh and
# retry. Bounded so a grant that is really dead fails the call quickly.
MAX_REFRESHES_PER_CALL = 3


@runtime_checkable
class TokenProvider(Protocol):
    """Hands out access tokens (``token_store.api`` implements this)."""

    def get(self) -> str:
        """A currently valid access token."""
        ...

    def refresh(self, stale: str) -> str:
        """A token different from ``stale`` (refreshing only if nobody has done so yet)."""
        ...


# 6 attempts, 0.5 s doubling to at most 20 s, "equal jitter" (the n-th retry waits in [d/2, d]).
OCEANENGINE_RETRY = RetryPolicy(
    max_attempts=6, base_delay_s=0.5, max_delay_s=20.0, jitter=(0.5, 1.0)
)


def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Query values as Ocean Engine expects: arrays/objects as compact JSON, None dropped."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, float):
            # A float here is a bug waiting to happen (ids, money): refuse it loudly.
            raise TypeError(f"query parameter {key!r} is a float; pass int, str or Decimal")
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, int | Decimal):
            out[key] = str(value)
        elif isinstance(value, date | datetime):
            out[key] = value.isoformat()
        else:
            out[key] = json.dumps(
                value, separators=(",", ":"), ensure_ascii=False, default=_json_default
            )
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot JSON-encode {type(value).__name__}")


def endpoint_path(endpoint: str) -> str:
    """``v3.0/local/report/promotion/get`` → ``/open_api/v3.0/local/report/promotion/get/``."""
    return f"/open_api/{endpoint.strip('/').removeprefix('open_api/')}/"


def _account_of(params: Mapping[str, Any]) -> object | None:
    for key in _ACCOUNT_PARAMS:
        if params.get(key) is not None:
            return params[key]
    return None


class OceanEngineClient:
    """Thread-safe sync client. Use one per app per process; share it across threads."""

    def __init__(
        self,
        tokens: TokenProvider | None,
        *,
        base_url: str | None = None,
        qps: float | None = None,
        timeout_s: float | None = None,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 64,
        transport: httpx.BaseTransport | None = None,
        report_max_lookback_days: int | None = 365,
    ) -> None:
        if base_url is None or qps is None or timeout_s is None:
            from integrations.settings import get_settings

            s = get_settings()
            base_url = base_url or s.oceanengine_base_url
            qps = qps or s.oceanengine_qps
            timeout_s = timeout_s or s.oceanengine_timeout_s
        self.tokens = tokens
        # Reports serve this many days back at most (None: no clamp); see dates.clamp_to_lookback.
        self.report_max_lookback_days = report_max_lookback_days
        self.limiter: RateLimiter = limiter or app_limiter(qps)
        self.retry = retry or OCEANENGINE_RETRY
        self.stats = CallStats()
        # Request conventions learned from the API during this client's life (e.g. which
        # DOU+ order_create_time format it accepts), so later calls ask right the first time.
        self.conventions: dict[str, str] = {}
        # Single-flight refresh: stale token → the token its refresh produced (a few recent).
        self._refresh_lock = threading.Lock()
        self._refreshed: dict[str, str] = {}
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            headers={"Accept": "application/json"},
        )

    @classmethod
    def from_settings(
        cls,
        tokens: TokenProvider,
        settings: Settings | None = None,
        *,
        shared_limiter: bool = False,
        **kwargs: Any,
    ) -> OceanEngineClient:
        """A client configured from settings. ``shared_limiter=True``: pace together with every
        other process of this app on this machine (file-locked schedule in the data dir)."""
        from integrations.settings import get_settings

        s = settings or get_settings()
        if shared_limiter and "limiter" not in kwargs:
            path = default_schedule_path(s.data_dir, s.oceanengine_app_id)
            kwargs["limiter"] = app_limiter(s.oceanengine_qps, shared_path=path)
        kwargs.setdefault("report_max_lookback_days", s.oceanengine_report_max_lookback_days)
        return cls(
            tokens,
            base_url=s.oceanengine_base_url,
            qps=s.oceanengine_qps,
            timeout_s=s.oceanengine_timeout_s,
            **kwargs,
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def end_run(self) -> None:
        """A run of this process ended: give back its share of the app's QPS (the heartbeat row
        of a shared limiter), so the other processes take it now rather than after the row's
        TTL. The client stays usable: its next request joins again."""
        from integrations.sources.oceanengine.shared_ratelimit import SharedAppLimiter

        if isinstance(self.limiter, SharedAppLimiter):
            self.limiter.close()

    def close(self) -> None:
        self.end_run()
        self._http.close()

    def __enter__(self) -> OceanEngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public calls ---------------------------------------------------------------------------

    def get(
        self, endpoint: str, params: Mapping[str, Any], *, account: object | None = None
    ) -> dict[str, Any]:
        """GET an authenticated endpoint; return the envelope's ``data`` (``{}`` if absent)."""
        query = encode_params(params)
        acct = account if account is not None else _account_of(params)
        return self._call("GET", endpoint, acct, query=query, authenticated=True)

    def post(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        authenticated: bool = False,
        account: object | None = None,
    ) -> dict[str, Any]:
        """POST a JSON body (OAuth endpoints: ``authenticated=False``); return ``data``."""
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=_json_default)
        return self._call(
            "POST", endpoint, account, content=payload.encode(), authenticated=authenticated
        )

    # -- the retry loop -------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        endpoint: str,
        account: object | None,
        *,
        authenticated: bool,
        query: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> dict[str, Any]:
        name = endpoint.strip("/")
        path = endpoint_path(endpoint)
        token = self._token() if authenticated else None
        refreshes = 0
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send_once(method, name, path, account, token, query, content)
            except TokenError as err:
                if refreshes >= MAX_REFRESHES_PER_CALL or self.tokens is None or token is None:
                    raise
                refreshes += 1
                logger.warning(
                    "token refused on %s (account %s, code %s): refresh %d/%d and retry",
                    name,
                    account,
                    err.code,
                    refreshes,
                    MAX_REFRESHES_PER_CALL,
                )
                new = self._refresh_token(token)
                if new == token:
                    raise  # the provider has nothing newer: retrying cannot help
                token = new
                attempt -= 1  # the token retry does not use up the transient-retry budget
            except RetryableError as err:
                if attempt >= self.retry.max_attempts:
                    logger.error(
                        "giving up on %s (account %s, code %s) after %d attempts: %s",
                        name,
                        account,
                        err.code_label,
                        attempt,
                        err.api_message,
                    )
                    raise
                delay = self.retry.delay(attempt)
                self.stats.retry(type(err).__name__)
                logger.warning(
                    "retry %s (account %s): %s code %s, attempt %d/%d, sleeping %.2fs",
                    name,
                    account,
                    type(err).__name__,
                    err.code_label,
                    attempt,
                    self.retry.max_attempts,
                    delay,
                )
                time.sleep(delay)

    def _refresh_token(self, stale: str) -> str:
        """One ``provider.refresh(stale)`` per stale token across all threads of this client."""
        assert self.tokens is not None
        with self._refresh_lock:
            done = self._refreshed.get(stale)
            if done is not None:
                return done
            new = self.tokens.refresh(stale)
            self.stats.refresh()
            self._refreshed[stale] = new
            while len(self._refreshed) > 16:  # only recent tokens can still be in flight
                self._refreshed.pop(next(iter(self._refreshed)))
            return new

    def _token(self) -> str:
        if self.tokens is None:
            raise OceanEngineError("no token provider configured", endpoint="(client)", code=None)
        return self.tokens.get()

    def _send_once(
        self,
        method: str,
        name: str,
        path: str,
        account: object | None,
        token: str | None,
        query: dict[str, str] | None,
        content: bytes | None,
    ) -> dict[str, Any]:
        headers = {"Access-Token": token} if token is not None else {}
        if token is not None and name in TOKEN_IN_QUERY:
            query = {**(query or {}), "access_token": token}
        if content is not None:
            headers["Content-Type"] = "application/json"
        self.limiter.acquire()
        self.stats.call(name)
        t0 = time.perf_counter()
        try:
            resp = self._http.request(method, path, params=query, content=content, headers=headers)
        except httpx.TimeoutException as e:
            raise Transient(
                f"timeout ({type(e).__name__})", endpoint=name, account=account
            ) from None
        except httpx.TransportError as e:
            raise Transient(
                f"transport error ({type(e).__name__}: {redact(str(e))[:200]})",
                endpoint=name,
                account=account,
            ) from None
        finally:
            self.stats.observe(time.perf_counter() - t0)
        return self._decode(resp, name, account)

    @staticmethod
    def _decode(resp: httpx.Response, name: str, account: object | None) -> dict[str, Any]:
        status = resp.status_code
        if status >= 500 or status in (408, 429):
            raise error_for_http_status(status, _excerpt(resp), endpoint=name, account=account)
        try:
            body = json.loads(resp.content, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            if status >= 300:
                raise error_for_http_status(
                    status, _excerpt(resp), endpoint=name, account=account
                ) from None
            raise Transient(
                f"non-JSON response body: {_excerpt(resp)}",
                endpoint=name,
                account=account,
                http_status=status,
            ) from None
        if not isinstance(body, dict):
            raise Transient("response body is not a JSON object", endpoint=name, account=account)
        err = envelope_error(body, endpoint=name, account=account, http_status=status)
        if err is not None:
            raise err
        if status >= 300:
            raise error_for_http_status(status, _excerpt(resp), endpoint=name, account=account)
        data = body.get("data")
        return data if isinstance(data, dict) else {}


def _excerpt(resp: httpx.Response, limit: int = 200) -> str:
    text = resp.text.strip().replace("\n", " ")
    return redact(text[:limit]) or f"(empty body, HTTP {resp.status_code})"
