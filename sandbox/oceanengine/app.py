"""The Ocean Engine Open API simulator: a Starlette app serving ``/open_api/...``.

Every call goes through one pipeline (``_dispatch``): count → QPS limiter (40100) → latency →
scheduled/random fault → ``Access-Token`` check (40104/40105/40102) → handler → envelope.
Business errors are HTTP 200 with ``{code, message, request_id, data}`` like the real API.

Sandbox-only helpers (not part of the real API): ``GET /_sandbox/counters`` (per endpoint, and
per app its accepted/throttled calls and peak calls per rolling second),
``POST /_sandbox/counters/reset``, ``POST /_sandbox/auth_code`` (a fresh consent code).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from sandbox.oceanengine import accounts as oceanengine_accounts
from sandbox.oceanengine import douplus as oceanengine_douplus
from sandbox.oceanengine import dpa as oceanengine_dpa
from sandbox.oceanengine import hostile as hostile
from sandbox.oceanengine import local as oceanengine_local
from sandbox.oceanengine import oauth as oceanengine_oauth
from sandbox.oceanengine.auth import AuthStore
from sandbox.oceanengine.ctx import Ctx, Endpoint
from sandbox.oceanengine.data import SandboxData
from sandbox.oceanengine.errors import (
    DEV_THROTTLED,
    DEV_THROTTLED_MESSAGE,
    MESSAGES,
    SYSTEM_ERROR,
    THROTTLED,
    TOKEN_EMPTY,
    TOKEN_INVALID,
    OEError,
    envelope,
)
from sandbox.oceanengine.knobs import FaultRule, OceanEngineKnobs
from sandbox.oceanengine.params import Params
from sandbox.oceanengine.realism import (
    BAD_GATEWAY_HTML,
    Counters,
    FaultPicker,
    QpsLimiter,
)

__all__ = ["FaultRule", "OceanEngineKnobs", "OceanEngineSim"]

DEFAULT_APP_ID = 1_790_000_000_000_001
DEFAULT_APP_SECRET = "sandbox-oe-secret-9f3c2a7d41b6e850"

ROUTES: dict[str, Endpoint] = {
    **oceanengine_oauth.ROUTES,
    **oceanengine_accounts.ROUTES,
    **oceanengine_local.ROUTES,
    **oceanengine_douplus.ROUTES,
    **oceanengine_dpa.ROUTES,
}


def normalize(path: str) -> str:
    """``/open_api/v3.0/x/get/`` → ``v3.0/x/get`` (the counters' endpoint names)."""
    return path.removeprefix("/").removeprefix("open_api/").strip("/")


class _Json(JSONResponse):
    # ensure_ascii=False keeps Chinese readable; ints stay ints (no float round-trip).
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class OceanEngineSim:
    def __init__(
        self,
        data: SandboxData,
        knobs: OceanEngineKnobs | None = None,
        *,
        app_id: int = DEFAULT_APP_ID,
        app_secret: str = DEFAULT_APP_SECRET,
    ) -> None:
        self.data = data
        self.app_id = app_id
        self.app_secret = app_secret
        # app_id → secret of every app served; add_app() adds one (several tenants' apps on the
        # one Ocean Engine host, each with its own consents, tokens and QPS budget).
        self.apps: dict[int, str] = {app_id: app_secret}
        self._knobs = knobs or OceanEngineKnobs()
        self._clock_offset = 0.0
        self.auth = AuthStore(self._knobs, self.now)
        self.counters = Counters()
        self._limiter = QpsLimiter()
        self._faults = FaultPicker(self._knobs.fault_seed or data.seed)
        self.app = Starlette(
            routes=[
                Route("/_sandbox/counters", self._counters_endpoint, methods=["GET"]),
                Route("/_sandbox/counters/reset", self._reset_endpoint, methods=["POST"]),
                Route("/_sandbox/auth_code", self._auth_code_endpoint, methods=["POST"]),
                Route("/open_api/{path:path}", self._dispatch, methods=["GET", "POST"]),
            ]
        )

    # -- knobs and clock ------------------------------------------------------------------------
    @property
    def knobs(self) -> OceanEngineKnobs:
        return self._knobs

    @knobs.setter
    def knobs(self, knobs: OceanEngineKnobs) -> None:
        self._knobs = knobs
        self.auth.set_knobs(knobs)
        self._faults.reseed(knobs.fault_seed or self.data.seed)

    def now(self) -> float:
        """The simulator's clock (wall time + ``advance_time`` offsets) for token lifetimes."""
        return time.time() + self._clock_offset

    def advance_time(self, seconds: float) -> None:
        """Jump the token clock forward (auth-code / token expiry without sleeping)."""
        self._clock_offset += seconds

    # -- test/operator helpers ------------------------------------------------------------------
    def add_app(self, app_id: int, app_secret: str) -> None:
        """Serve another developer app: its consents and tokens are its own (a code or refresh
        token of one app is invalid for the other) and so is its QPS window."""
        if app_id in self.apps:
            raise ValueError(f"app {app_id} is already served")
        self.apps[app_id] = app_secret

    def issue_auth_code(
        self, advertiser_ids: list[int] | None = None, *, app_id: int | None = None
    ) -> str:
        """What the consent page would hand the redirect URI; default: every account ticked.
        ``app_id``: the app whose consent page it is (default: the first app)."""
        if app_id is not None and app_id not in self.apps:
            raise ValueError(f"app {app_id} is not served (add_app first)")
        ids = self.data.all_account_ids() if advertiser_ids is None else advertiser_ids
        if app_id is None and len(self.apps) > 1:
            app_id = self.app_id
        return self.auth.issue_auth_code(list(ids), app_id)

    def revoke_access_tokens(self) -> None:
        """Every access token issued so far answers 40105 from now on (refresh still works)."""
        self.auth.revoke_all()

    def expire_access_tokens(self) -> None:
        """Every access token issued so far answers 40102 (expired) from now on."""
        self.auth.expire_all()

    def counters_snapshot(self) -> dict[str, Any]:
        """The counters (realism.Counters) plus ``"apps"``: per app id (a string), the calls
        its QPS window accepted and throttled (40100) and ``peak_per_s``, the most accepted in
        any rolling second (realism.QpsLimiter)."""
        return {**self.counters.snapshot(), "apps": self._limiter.snapshot()}

    def reset_counters(self) -> None:
        self.counters.reset()
        self._limiter.reset()

    # -- HTTP -----------------------------------------------------------------------------------
    async def _counters_endpoint(self, request: Request) -> Response:
        return _Json(self.counters_snapshot())

    async def _reset_endpoint(self, request: Request) -> Response:
        self.reset_counters()
        return _Json({"ok": True})

    async def _auth_code_endpoint(self, request: Request) -> Response:
        raw = request.query_params.get("app_id", "")  # another app's consent (add_app)
        app_id = int(raw) if raw.isdigit() else None
        if app_id is not None and app_id not in self.apps:
            return _Json({"error": f"app {app_id} is not served"}, status_code=404)
        return _Json({"auth_code": self.issue_auth_code(app_id=app_id)})

    async def _dispatch(self, request: Request) -> Response:
        endpoint = normalize(request.url.path)
        nth, nth_any = self.counters.hit(endpoint)
        response = await self._handle(request, endpoint, nth, nth_any)
        return response

    async def _handle(self, request: Request, endpoint: str, nth: int, nth_any: int) -> Response:
        knobs = self._knobs
        spec = ROUTES.get(endpoint)
        if spec is None:
            self.counters.answered(endpoint, "http_404")
            return PlainTextResponse("404 page not found", status_code=404)
        if request.method != spec.method:
            self.counters.answered(endpoint, "http_405")
            return PlainTextResponse("405 method not allowed", status_code=405)

        throttled = not self._limiter.allow(self._app_of(request), knobs.qps_limit)
        delay = self._faults.jitter(*knobs.latency_for(endpoint))
        if delay:
            await asyncio.sleep(delay)  # overlaps with other requests, like a real server
        if throttled:
            return self._answer(endpoint, OEError(THROTTLED))

        fault = self._faults.pick(knobs, endpoint, nth, nth_any, by_rate=spec.needs_token)
        if fault:
            self.counters.fault(fault)
        if fault == "html_502":
            self.counters.answered(endpoint, "http_502")
            return HTMLResponse(BAD_GATEWAY_HTML, status_code=502)
        if fault == "code_50000":
            code = knobs.system_error_code
            return self._answer(endpoint, OEError(code, MESSAGES.get(code, MESSAGES[SYSTEM_ERROR])))
        if fault == "code_40110":
            return self._answer(endpoint, OEError(DEV_THROTTLED, DEV_THROTTLED_MESSAGE))

        result = await self._run(request, endpoint, spec, fault)
        if fault == "timeout":
            # Handled (side effects done) but answered too late for the client to see it.
            await asyncio.sleep(knobs.timeout_sleep_s)
        return self._answer(endpoint, result)

    async def _run(
        self, request: Request, endpoint: str, spec: Endpoint, fault: str | None
    ) -> dict[str, Any] | OEError:
        knobs = self._knobs
        try:
            raw: dict[str, Any] = dict(request.query_params)
            if spec.method == "POST":
                raw.update(await _json_body(request, knobs.bad_param_code))
            ctx = Ctx(
                data=self.data,
                knobs=knobs,
                params=Params(raw, knobs.bad_param_code),
                auth=self.auth,
                app_id=self.app_id,
                app_secret=self.app_secret,
                apps=self.apps,
            )
            if spec.needs_token:
                token = _presented_token(request, endpoint, raw, knobs)
                if not token:
                    raise OEError(TOKEN_EMPTY)
                if fault == "token_revoked":
                    self.auth.revoke(token)
                    raise OEError(TOKEN_INVALID)
                ctx.grant = self.auth.check(token)
                ctx.access_token = token
            elif fault == "token_revoked":
                self.auth.revoke_all()
                raise OEError(TOKEN_INVALID)
            return hostile.serve(ctx, endpoint, spec.handler)
        except OEError as e:
            return e

    def _app_of(self, request: Request) -> int:
        """Whose QPS budget a call spends: the app its access token was issued to (OAuth calls
        and unknown tokens: the ``app_id`` query parameter, else the first app)."""
        if len(self.apps) > 1:
            token = request.headers.get("Access-Token", "") or request.query_params.get(
                "access_token", ""
            )
            app = self.auth.app_of(token.strip()) if token else None
            if app is not None:
                return app
            raw = request.query_params.get("app_id", "")
            if raw.isdigit() and int(raw) in self.apps:
                return int(raw)
        return self.app_id

    def _answer(self, endpoint: str, result: dict[str, Any] | OEError) -> Response:
        if isinstance(result, OEError):
            self.counters.answered(endpoint, result.code)
            # Error envelopes carry an empty data object (ZS capture), except 40104 (no data).
            data = None if result.code == TOKEN_EMPTY else {}
            return _Json(envelope(result.code, result.message, data))
        self.counters.answered(endpoint, 0)
        return _Json(envelope(0, "OK", result))


# Endpoints whose reference request carries the token in the ``access_token`` query parameter.
TOKEN_IN_QUERY = frozenset({"oauth2/advertiser/get"})


def _presented_token(
    request: Request, endpoint: str, raw: dict[str, Any], knobs: OceanEngineKnobs
) -> str:
    """The token the call carries where the reference reads it; "" → 40104."""
    header = request.headers.get("Access-Token", "").strip()
    if endpoint not in TOKEN_IN_QUERY:
        return header
    query = str(raw.get("access_token", "") or "").strip()
    if query:
        return query
    return header if knobs.advertiser_get_accepts_header else ""


async def _json_body(request: Request, bad_code: int) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        raise OEError(bad_code, "request body: invalid JSON") from None
    if not isinstance(parsed, dict):
        raise OEError(bad_code, "request body: must be a JSON object")
    return parsed
