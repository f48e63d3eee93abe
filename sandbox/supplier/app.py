"""The supplier (海尔 open platform) simulator: a Starlette app on its own port.

Every call goes through one pipeline (``_dispatch``): count → rate limit (429-like) → latency →
scheduled/random fault → ``Authorization: Bearer`` check (HTTP 401) → request validation →
handler → envelope (``knobs.envelope_style``). ``POST /oauth2/auth`` answers the RFC 6749 token
shape; ``GET /_media/{path}`` is the supplier's image CDN (no token, ETag/304).

Sandbox-only helpers (not part of the real API): ``GET /_sandbox/counters``,
``POST /_sandbox/counters/reset``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sandbox.data import CN_TZ
from sandbox.oceanengine.realism import BAD_GATEWAY_HTML, Counters
from sandbox.supplier import handlers
from sandbox.supplier.data import SupplierData
from sandbox.supplier.knobs import FAULT_KINDS, SupplierKnobs

__all__ = ["SupplierSim"]

DEFAULT_CLIENT_ID = "sandbox-supplier-client"
DEFAULT_CLIENT_SECRET = "sandbox-supplier-secret-4c1d8e0b7a93"
CUSTOMER_CODE = "8800123456"
SEND_TO_CODE = "8800123456-01"
SUPPLIER_CODE = "HAIER-S001"
TOKEN_PATH = "/oauth2/auth"

ROUTES: dict[str, Callable[[handlers.Call], Any]] = {
    "product-info/procurable-products-out/check-procurable-products": handlers.products,
    "goods-price/price-daily-sales/price-query/pt-out-list-price": handlers.prices,
    "stock/get-available-stock-open": handlers.stock,
    "logistics/sass/get-thirdparty-logistics-info-by-order-code-auth": handlers.logistics,
}


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class SupplierSim:
    def __init__(
        self,
        data: SupplierData,
        knobs: SupplierKnobs | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
    ) -> None:
        self.data = data
        self.knobs = knobs or SupplierKnobs()
        self.client_id = client_id
        self.client_secret = client_secret
        self.customer_code = CUSTOMER_CODE
        self.send_to_code = SEND_TO_CODE
        self.supplier_code = SUPPLIER_CODE
        self.counters = Counters()
        self._clock_offset = 0.0
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token → expiry (simulator clock)
        self._window: deque[float] = deque()
        self._rng = random.Random(self.knobs.fault_seed or data.seed)
        self.tokens_issued = 0
        self.app = Starlette(
            routes=[
                Route("/_sandbox/counters", self._counters_endpoint, methods=["GET"]),
                Route("/_sandbox/counters/reset", self._reset_endpoint, methods=["POST"]),
                Route(TOKEN_PATH, self._token_endpoint, methods=["POST"]),
                Route("/_media/{path:path}", self._media_endpoint, methods=["GET"]),
                Route("/{path:path}", self._dispatch, methods=["POST"]),
            ]
        )

    # -- clock and tokens ------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_time(self, seconds: float) -> None:
        """Jump the token clock forward (expiry without sleeping)."""
        self._clock_offset += seconds

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 from now on (expired mid-run)."""
        with self._lock:
            self._tokens.clear()

    def _token_valid(self, token: str) -> bool:
        with self._lock:
            exp = self._tokens.get(token)
        return exp is not None and self.now() < exp

    def counters_snapshot(self) -> dict[str, Any]:
        return self.counters.snapshot()

    def reset_counters(self) -> None:
        self.counters.reset()

    # -- HTTP ------------------------------------------------------------------------------------
    async def _counters_endpoint(self, request: Request) -> Response:
        return _Json(self.counters_snapshot())

    async def _reset_endpoint(self, request: Request) -> Response:
        self.reset_counters()
        return _Json({"ok": True})

    async def _token_endpoint(self, request: Request) -> Response:
        """RFC 6749 §4.4 client credentials: form body in, bare token JSON out."""
        endpoint = TOKEN_PATH.strip("/")
        nth, nth_any = self.counters.hit(endpoint)
        early = await self._pre(endpoint, nth, nth_any, data_call=False)
        if early is not None:
            return early
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return self._oauth_error(endpoint, 400, "invalid_request", "form body expected")
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return self._oauth_error(endpoint, 400, "unsupported_grant_type", "grant_type")
        if form.get("client_id") != self.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        ):
            # The secret is never echoed (RFC 6749 §5.2 invalid_client, HTTP 401).
            return self._oauth_error(endpoint, 401, "invalid_client", "client authentication")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = self.now() + self.knobs.token_ttl_s
            self.tokens_issued += 1
        self.counters.answered(endpoint, 200)
        return _Json(
            {"access_token": token, "token_type": "bearer", "expires_in": self.knobs.token_ttl_s}
        )

    def _oauth_error(self, endpoint: str, status: int, error: str, what: str) -> Response:
        self.counters.answered(endpoint, status)
        return _Json({"error": error, "error_description": f"{what} failed"}, status_code=status)

    async def _media_endpoint(self, request: Request) -> Response:
        path = request.path_params["path"]
        endpoint = "_media"
        nth, nth_any = self.counters.hit(endpoint)
        early = await self._pre(endpoint, nth, nth_any, data_call=False)
        if early is not None:
            return early
        found = self.data.image(path)
        if found is None:
            self.counters.answered(endpoint, 404)
            return Response("not found", status_code=404, media_type="text/plain")
        body, ctype = found
        headers = {}
        if self.knobs.image_etags:
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            headers["ETag"] = etag
            if request.headers.get("if-none-match") == etag:
                self.counters.answered(endpoint, 304)
                return Response(status_code=304, headers=headers)
        self.counters.answered(endpoint, 200)
        return Response(body, media_type=ctype, headers=headers)

    async def _dispatch(self, request: Request) -> Response:
        endpoint = request.path_params["path"].strip("/")
        nth, nth_any = self.counters.hit(endpoint)
        handler = ROUTES.get(endpoint)
        if handler is None:
            return self._error(endpoint, 404, "404", f"no such API: /{endpoint}")
        early = await self._pre(endpoint, nth, nth_any, data_call=True)
        if early is not None:
            return early
        fault = self._pick(endpoint, nth, nth_any, by_rate=True)
        if fault:
            self.counters.fault(fault)
        if fault == "http_500":
            return self._error(endpoint, 500, "500", "系统异常，请稍后重试")
        if fault == "html_502":
            self.counters.answered(endpoint, 502)
            return HTMLResponse(BAD_GATEWAY_HTML, status_code=502)
        if fault == "throttle":
            return self._throttled(endpoint)
        token = _bearer(request.headers.get("authorization", ""))
        if fault == "token_expired" and token:
            with self._lock:
                self._tokens.pop(token, None)
        if not token or not self._token_valid(token):
            return self._error(endpoint, 401, "401", "access_token无效或已过期")
        body = await request.body()
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self._business(endpoint, "400", "request body: a JSON object is expected")
        call = handlers.Call(sim=self, body=payload, base_url=str(request.base_url).rstrip("/"))
        try:
            result = handler(call)
        except handlers.BusinessError as e:
            return self._business(endpoint, e.code, e.message)
        if fault == "timeout":
            await asyncio.sleep(self.knobs.timeout_sleep_s)
        self.counters.answered(endpoint, 200)
        if self.knobs.envelope_style == "bare":
            return _Json(result)
        return _Json({"success": True, "code": "200", "message": "成功", "data": result})

    # -- pipeline pieces -------------------------------------------------------------------------
    async def _pre(self, endpoint: str, nth: int, nth_any: int, data_call: bool) -> Response | None:
        """Rate limit and latency; a scheduled fault on a non-data endpoint."""
        limited = not self._allow()
        delay = self._jitter()
        if delay:
            await asyncio.sleep(delay)
        if limited:
            return self._throttled(endpoint)
        if not data_call:
            fault = self._pick(endpoint, nth, nth_any, by_rate=False)
            if fault in ("http_500", "html_502", "throttle"):
                self.counters.fault(fault)
                if fault == "html_502":
                    self.counters.answered(endpoint, 502)
                    return HTMLResponse(BAD_GATEWAY_HTML, status_code=502)
                if fault == "throttle":
                    return self._throttled(endpoint)
                return self._error(endpoint, 500, "500", "系统异常，请稍后重试")
        return None

    def _allow(self) -> bool:
        limit = self.knobs.rate_limit
        if limit is None:
            return True
        now = time.monotonic()
        with self._lock:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= limit:
                return False
            self._window.append(now)
            return True

    def _jitter(self) -> float:
        k = self.knobs
        if k.latency_ms <= 0 and k.jitter_ms <= 0:
            return 0.0
        with self._lock:
            j = self._rng.uniform(-k.jitter_ms, k.jitter_ms) if k.jitter_ms > 0 else 0.0
        return max(0.0, k.latency_ms + j) / 1000.0

    def _pick(self, endpoint: str, nth: int, nth_any: int, by_rate: bool) -> str | None:
        for rule in self.knobs.rules():
            if (rule.endpoint == endpoint and rule.nth_call == nth) or (
                rule.endpoint == "*" and by_rate and rule.nth_call == nth_any
            ):
                return rule.kind
        if not by_rate or not self.knobs.fault_rate:
            return None
        with self._lock:
            roll = self._rng.random()
        acc = 0.0
        for kind in FAULT_KINDS:  # fixed order: the same seed gives the same faults
            acc += self.knobs.fault_rate.get(kind, 0.0)
            if roll < acc:
                return kind
        return None

    def _throttled(self, endpoint: str) -> Response:
        message = "请求过于频繁，请稍后重试"
        if self.knobs.throttle_style == "envelope":
            return self._business(endpoint, "429", message)
        return self._error(endpoint, 429, "429", message)

    def _business(self, endpoint: str, code: str, message: str) -> Response:
        """A business error: HTTP 200 + success=false (wrapped) or HTTP 4xx (bare)."""
        if self.knobs.envelope_style == "bare":
            status = int(code) if code.isdigit() and 400 <= int(code) < 600 else 400
            return self._error(endpoint, status, code, message)
        self.counters.answered(endpoint, code)
        return _Json({"success": False, "code": code, "message": message, "data": None})

    def _error(self, endpoint: str, status: int, code: str, message: str) -> Response:
        self.counters.answered(endpoint, status)
        body: dict[str, Any] = {"code": code, "message": message}
        if self.knobs.envelope_style == "wrapped":
            body = {"success": False, **body, "data": None}
        return _Json(body, status_code=status)

    def china_now(self) -> datetime:
        return datetime.fromtimestamp(self.now(), CN_TZ)


def _bearer(header: str) -> str:
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
