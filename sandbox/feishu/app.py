"""Feishu Open API simulator (tenant token, Bitable v1, custom bot) for the real lark-oapi client.

Serve ``FeishuSim(...).app`` with :func:`sandbox.runner.serve_in_thread` and point
``lark.Client.builder().domain(url)`` at it. Behaviour follows docs/contracts/feishu.md; choices
where the contract is unconfirmed are in sandbox/QUIRKS.md ("Feishu").
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from sandbox.feishu.bitable import Bitable, field_json, view_json, write_fields
from sandbox.feishu.errors import FeishuError
from sandbox.feishu.knobs import BITABLE_ENDPOINTS, WRITE_ENDPOINTS, FeishuKnobs
from sandbox.feishu.page import NotFound, render_base, render_page
from sandbox.feishu.realism import Realism
from sandbox.feishu.state import Store
from sandbox.feishu.webhook import (
    MAX_BODY_BYTES,
    WebhookLimiter,
    check_keyword,
    validate_message,
    verify_signature,
)

DEFAULT_BASE_NAME = "adsync sandbox"
# The endpoint reuses a token with more than 30 min left (docs/contracts/feishu.md §1).
TOKEN_REUSE_MIN_S = 30 * 60
# "write_overlaps": writes that arrived while another write to the same base was in flight
# (counted whatever ``write_conflicts`` says): the measure of one-writer-per-base.
COUNTER_NAMES = (*sorted(BITABLE_ENDPOINTS), "token", "webhook", "writes", "write_overlaps")
APPS = "/open-apis/bitable/v1/apps/{app_token}"

_BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)

Op = Callable[[dict[str, str], Any], dict[str, Any]]


def _log_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(9).upper()


def _with_log_id(resp: Response, log_id: str = "") -> Response:
    """Add ``X-Tt-Logid`` in exactly that case: lark-oapi copies response headers into a plain
    dict and looks the name up case-sensitively, and Starlette lower-cases headers it is given."""
    resp.raw_headers.append((b"X-Tt-Logid", (log_id or _log_id()).encode()))
    return resp


class FeishuSim:
    """One self-built app with one base (created on first start, reused from ``state_dir``)."""

    def __init__(
        self,
        state_dir: Path | None = None,
        knobs: FeishuKnobs | None = None,
        *,
        app_id: str | None = None,
        app_secret: str | None = None,
        seed: int = 42,
    ) -> None:
        self.knobs = knobs or FeishuKnobs()
        self.store = Store(state_dir, seed)
        meta = self.store.load_meta()
        # Credentials: given, else persisted, else fresh. A fresh app_id per instance matters:
        # lark-oapi caches tenant tokens process-wide by app_id, so two simulators sharing one
        # would see each other's tokens (99991663).
        self.app_id: str = app_id or meta.get("app_id") or f"cli_sbx{secrets.token_hex(7)[:13]}"
        self.app_secret: str = app_secret or meta.get("app_secret") or secrets.token_urlsafe(24)
        self.bitable = Bitable(self.store, self.knobs)
        self.realism = Realism(self.knobs, seed)
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # tenant_access_token -> expiry (epoch s)
        self._inflight: dict[str, int] = {}  # app_token -> writes in flight
        self._work_s: dict[str, float] = {}  # endpoint -> recent processing time (s)
        self._counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self._webhook_limiter = WebhookLimiter()
        self.webhook_messages: list[dict[str, Any]] = []

        if meta.get("app_token") in self.store.bases:
            self.app_token: str = meta["app_token"]
        else:
            self.app_token = self.store.create_base(DEFAULT_BASE_NAME).app_token
        self.webhook_token: str = meta.get("webhook_token") or str(uuid.uuid4())
        self.webhook_secret: str = meta.get("webhook_secret") or secrets.token_urlsafe(16)
        self.store.save_meta(
            {
                "app_id": self.app_id,
                "app_secret": self.app_secret,
                "app_token": self.app_token,
                "webhook_token": self.webhook_token,
                "webhook_secret": self.webhook_secret,
            }
        )
        self.app = self._build_app()

    page_path = "/_sandbox/"
    counters_path = "/_sandbox/counters"

    @property
    def webhook_path(self) -> str:
        return f"/open-apis/bot/v2/hook/{self.webhook_token}"

    webhook_url_path = webhook_path  # the name the Sandbox class reads

    # -- counters ----------------------------------------------------------------------------
    def _count(self, endpoint: str) -> int:
        with self._lock:
            self._counters[endpoint] = self._counters.get(endpoint, 0) + 1
            if endpoint in WRITE_ENDPOINTS:
                self._counters["writes"] += 1
            return self._counters[endpoint]

    def counters_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def reset_counters(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(COUNTER_NAMES, 0)

    # -- tokens ------------------------------------------------------------------------------
    def revoke_tenant_tokens(self) -> None:
        """Every issued token dies now; the next call with one gets 99991663."""
        with self._lock:
            self._tokens.clear()

    def _issue_token(self) -> tuple[str, int]:
        now = time.time()
        with self._lock:
            self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
            if self._tokens:
                token, exp = max(self._tokens.items(), key=lambda kv: kv[1])
                if exp - now > TOKEN_REUSE_MIN_S:
                    return token, int(exp - now)
            # Less than 30 min left (or none): a new token; the old one stays valid until expiry.
            token = "t-" + secrets.token_hex(20)
            expire = int(self.knobs.tenant_token_expire_s)
            self._tokens[token] = now + expire
            return token, expire

    def _check_auth(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise FeishuError(99991661)
        with self._lock:
            exp = self._tokens.get(token.strip())
        if exp is None or exp <= time.time():
            raise FeishuError(99991663)

    # -- responses ---------------------------------------------------------------------------
    @staticmethod
    def _json(
        payload: dict[str, Any], status: int = 200, headers: dict | None = None, log_id: str = ""
    ) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        resp = Response(
            body, status_code=status, media_type="application/json; charset=utf-8", headers=headers
        )
        return _with_log_id(resp, log_id)

    def _ok(self, data: dict[str, Any]) -> Response:
        return self._json({"code": 0, "msg": "success", "data": data})

    def _error(self, err: FeishuError, headers: dict | None = None) -> Response:
        log_id = _log_id()
        error: dict[str, Any] = {"log_id": log_id}
        if err.message:
            error["message"] = err.message
        payload = {"code": err.code, "msg": err.msg, "error": error}
        return self._json(payload, err.status, headers, log_id)

    @staticmethod
    def _rate_headers(limit: int, reset_s: int) -> dict[str, str]:
        return {"x-ogw-ratelimit-limit": str(limit), "x-ogw-ratelimit-reset": str(reset_s)}

    def _fault_response(self, kind: str) -> Response:
        if kind == "html_502":
            return _with_log_id(HTMLResponse(_BAD_GATEWAY, status_code=502))
        code = int(kind.removeprefix("code_")) if kind.startswith("code_") else 1254002
        headers = self._rate_headers(1, 1) if code == 99991400 else None
        return self._error(FeishuError(code, f"injected fault {kind}"), headers)

    # -- request pipeline --------------------------------------------------------------------
    async def _body(self, request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise FeishuError(1254000, "request body is not valid JSON") from None

    async def _handle(self, request: Request, endpoint: str, op: Op) -> Response:
        """Auth → fault → throttle → write conflict → latency → op → response."""
        nth = self._count(endpoint)
        fault = self.realism.fault(endpoint, nth)
        if fault == "token_revoked":
            self.revoke_tenant_tokens()
            fault = None
        try:
            self._check_auth(request)
        except FeishuError as e:
            return self._error(e)
        if fault is not None and fault != "timeout":
            await asyncio.sleep(self.realism.latency_s(endpoint))
            return self._fault_response(fault)
        rejected = self.realism.throttle(endpoint)
        if rejected is not None:
            code, limit, reset = rejected
            headers = self._rate_headers(limit, reset) if code == 99991400 else None
            return self._error(FeishuError(code), headers)
        try:
            body = await self._body(request)
        except FeishuError as e:
            return self._error(e)
        query = dict(request.query_params)
        app_token = request.path_params["app_token"]
        is_write = endpoint in WRITE_ENDPOINTS
        if is_write:
            with self._lock:
                busy = self._inflight.get(app_token, 0) > 0
                if busy:
                    self._counters["write_overlaps"] += 1
                if busy and self.knobs.write_conflicts:
                    return self._error(
                        FeishuError(1254291, "another write to this base is in progress")
                    )
                self._inflight[app_token] = self._inflight.get(app_token, 0) + 1
        try:
            # A platform's latency is its whole response time, processing included: the sleep is
            # the configured latency minus what this endpoint's work has recently taken here, so
            # the simulator's own CPU time is not added on top (the write still lands at the end).
            latency = self.realism.latency_s(endpoint)
            await asyncio.sleep(max(0.0, latency - self._work_s.get(endpoint, 0.0)))
            t_work = time.monotonic()
            try:
                with self.store.lock:
                    data = op(query, body)
                    snap = self.store.snapshot(self.bitable.base(app_token)) if is_write else None
                # Persisting is part of the write (still "in flight") but off the event loop.
                if snap is not None:
                    await asyncio.to_thread(self.store.write_snapshot, snap)
                self._note_work(endpoint, time.monotonic() - t_work)
            except FeishuError as e:
                if fault == "timeout":  # the gateway times out whatever the backend said
                    await asyncio.sleep(self.knobs.timeout_s)
                    return self._error(FeishuError(1255040))
                return self._error(e)
        finally:
            if is_write:
                with self._lock:
                    self._inflight[app_token] -= 1
        if fault == "timeout":
            # The write (if any) has committed; the client sees a hang, then a gateway timeout.
            await asyncio.sleep(self.knobs.timeout_s)
            return self._error(FeishuError(1255040, "injected fault timeout"))
        return self._ok(data)

    def _note_work(self, endpoint: str, seconds: float) -> None:
        # A moving average (weight 1/4) of the endpoint's processing time.
        prev = self._work_s.get(endpoint)
        self._work_s[endpoint] = seconds if prev is None else prev + (seconds - prev) / 4

    def _route(self, endpoint: str, make_op: Callable[[Request], Op]) -> Callable:
        async def endpoint_fn(request: Request) -> Response:
            return await self._handle(request, endpoint, make_op(request))

        return endpoint_fn

    # -- endpoints ---------------------------------------------------------------------------
    async def _token(self, request: Request) -> Response:
        nth = self._count("token")
        fault = self.realism.fault("token", nth)
        await asyncio.sleep(self.realism.latency_s("token"))
        if fault == "token_revoked":
            self.revoke_tenant_tokens()
        elif fault is not None:
            return self._fault_response(fault)
        raw = await request.body()
        try:
            # lark-oapi sends no Content-Type here: parse as JSON whatever the header says.
            body = json.loads(raw)
            app_id, app_secret = body["app_id"], body["app_secret"]
        except (ValueError, KeyError, TypeError):
            return self._error(FeishuError(10003, "app_id and app_secret are required"))
        if app_id != self.app_id:
            return self._error(FeishuError(99991543))
        if not secrets.compare_digest(str(app_secret), self.app_secret):
            return self._error(FeishuError(10015))
        token, expire = self._issue_token()
        return self._json({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": expire})

    async def _webhook(self, request: Request) -> Response:
        self._count("webhook")
        await asyncio.sleep(self.realism.latency_s("webhook"))
        if request.path_params["token"] != self.webhook_token:
            return self._error(FeishuError(19001))
        try:
            if self.knobs.webhook_rate_limit:
                self._webhook_limiter.check()
            raw = await request.body()
            try:
                body = json.loads(raw)
            except ValueError:
                raise FeishuError(9499) from None
            if len(raw) > MAX_BODY_BYTES or not isinstance(body, dict):
                raise FeishuError(9499)
            if self.knobs.webhook_ip_denied:
                raise FeishuError(19022)
            verify_signature(body, self.webhook_secret)
            validate_message(body)
            check_keyword(body, self.knobs.webhook_keywords)
        except FeishuError as e:
            resp = self._json({"code": e.code, "msg": e.msg, "data": {}}, e.status)
            return resp
        with self._lock:
            self.webhook_messages.append({k: v for k, v in body.items() if k != "sign"})
        return self._json(
            {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}
        )

    async def _page(self, request: Request) -> Response:
        with self._lock:
            cards = list(self.webhook_messages)
        with self.store.lock:
            html = render_page(list(self.store.bases.values()), self.counters_snapshot(), cards)
        return HTMLResponse(html)

    async def _base_page(self, request: Request) -> Response:
        """Feishu's web address of a base/table/view (what the run card links to)."""
        q = request.query_params
        try:
            page = int(q.get("page", "1"))
        except ValueError:
            page = 1
        with self._lock:
            cards = list(self.webhook_messages)
        with self.store.lock:
            base = self.store.bases.get(request.path_params["app_token"])
            try:
                if base is None:
                    raise NotFound("base")
                html = render_base(base, q.get("table"), q.get("view"), page, cards)
            except NotFound as e:
                return HTMLResponse(f"<p>not found: {e}</p>", status_code=404)
        return HTMLResponse(html)

    async def _counters_json(self, request: Request) -> Response:
        return JSONResponse(self.counters_snapshot())

    async def _not_found(self, request: Request) -> Response:
        return self._json({"code": 404, "msg": "404 page not found"}, 404)

    def _build_app(self) -> Starlette:
        b = self.bitable

        def p(r: Request, key: str) -> str:
            return r.path_params[key]

        routes = [
            Route("/open-apis/auth/v3/tenant_access_token/internal", self._token, methods=["POST"]),
            Route(
                APPS,
                self._route("app.get", lambda r: lambda q, _: b.get_app(p(r, "app_token"))),
                methods=["GET"],
            ),
            Route(
                f"{APPS}/roles",
                self._route(
                    "roles.list", lambda r: lambda q, _: b.list_roles(p(r, "app_token"), q)
                ),
                methods=["GET"],
            ),
            Route(
                f"{APPS}/tables",
                self._route(
                    "tables.list", lambda r: lambda q, _: b.list_tables(p(r, "app_token"), q)
                ),
                methods=["GET"],
            ),
            Route(
                f"{APPS}/tables",
                self._route(
                    "tables.create",
                    lambda r: lambda q, body: b.create_table(p(r, "app_token"), body),
                ),
                methods=["POST"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}",
                self._route(
                    "tables.delete",
                    lambda r: lambda q, _: b.delete_table(p(r, "app_token"), p(r, "table_id")),
                ),
                methods=["DELETE"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/fields",
                self._route(
                    "fields.list",
                    lambda r: lambda q, _: b.list_fields(p(r, "app_token"), p(r, "table_id"), q),
                ),
                methods=["GET"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/fields",
                self._route(
                    "fields.create",
                    lambda r: (
                        lambda q, body: b.create_field(p(r, "app_token"), p(r, "table_id"), body)
                    ),
                ),
                methods=["POST"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/records/search",
                self._route(
                    "records.search",
                    lambda r: (
                        lambda q, body: b.search(p(r, "app_token"), p(r, "table_id"), q, body)
                    ),
                ),
                methods=["POST"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/records/batch_create",
                self._route(
                    "records.batch_create",
                    lambda r: (
                        lambda q, body: b.batch_create(p(r, "app_token"), p(r, "table_id"), q, body)
                    ),
                ),
                methods=["POST"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/records/batch_update",
                self._route(
                    "records.batch_update",
                    lambda r: (
                        lambda q, body: b.batch_update(p(r, "app_token"), p(r, "table_id"), q, body)
                    ),
                ),
                methods=["POST"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/records/batch_delete",
                self._route(
                    "records.batch_delete",
                    lambda r: (
                        lambda q, body: b.batch_delete(p(r, "app_token"), p(r, "table_id"), body)
                    ),
                ),
                methods=["POST"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/views",
                self._route(
                    "views.list",
                    lambda r: lambda q, _: b.list_views(p(r, "app_token"), p(r, "table_id"), q),
                ),
                methods=["GET"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/views",
                self._route(
                    "views.create",
                    lambda r: (
                        lambda q, body: b.create_view(p(r, "app_token"), p(r, "table_id"), body)
                    ),
                ),
                methods=["POST"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/views/{{view_id}}",
                self._route(
                    "views.get",
                    lambda r: (
                        lambda q, _: b.get_view(
                            p(r, "app_token"), p(r, "table_id"), p(r, "view_id")
                        )
                    ),
                ),
                methods=["GET"],
            ),
            Route(
                f"{APPS}/tables/{{table_id}}/views/{{view_id}}",
                self._route(
                    "views.patch",
                    lambda r: (
                        lambda q, body: b.patch_view(
                            p(r, "app_token"), p(r, "table_id"), p(r, "view_id"), body
                        )
                    ),
                ),
                methods=["PATCH"],
            ),
            Route("/open-apis/bot/v2/hook/{token}", self._webhook, methods=["POST"]),
            Route("/", self._page, methods=["GET"]),
            Route("/_sandbox/", self._page, methods=["GET"]),
            Route("/_sandbox", self._page, methods=["GET"]),
            Route("/_sandbox/counters", self._counters_json, methods=["GET"]),
            Route("/base/{app_token}", self._base_page, methods=["GET"]),
            Route(
                "/{path:path}", self._not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
            ),
        ]
        return Starlette(routes=routes)

    # -- inspection and seeding for tests (bypass the API: no counters, knobs or auth) ---------
    def create_base(self, name: str) -> str:
        return self.store.create_base(name).app_token

    def set_advanced(
        self, app_token: str, advanced: bool = True, *, time_zone: str | None = None
    ) -> None:
        """Turn advanced permissions on/off as the base's owner would (and/or its time zone)."""
        with self.store.lock:
            base = self.bitable.base(app_token)
            base.is_advanced = advanced
            if time_zone is not None:
                base.time_zone = time_zone
            self.store.save(base)

    def tables(self, app_token: str) -> list[dict[str, Any]]:
        with self.store.lock:
            return [
                {"table_id": t.table_id, "name": t.name, "revision": t.revision}
                for t in self.bitable.base(app_token).tables
            ]

    def fields(self, app_token: str, table_id: str) -> list[dict[str, Any]]:
        with self.store.lock:
            return [field_json(f) for f in self.bitable.table(app_token, table_id).fields]

    def records(self, app_token: str, table_id: str) -> list[dict[str, Any]]:
        """Records in insertion order: ``{"record_id", "fields"}`` with cells as stored."""
        with self.store.lock:
            table = self.bitable.table(app_token, table_id)
            return [
                {"record_id": r.record_id, "fields": write_fields(table, r)}
                for r in table.records.values()
            ]

    def views(self, app_token: str, table_id: str) -> list[dict[str, Any]]:
        with self.store.lock:
            table = self.bitable.table(app_token, table_id)
            return [view_json(v, table) for v in table.views]

    def add_table(
        self, app_token: str, name: str, fields: list[dict[str, Any]] | None = None
    ) -> str:
        """Create a table as a person would in the UI (first field primary); returns table_id."""
        with self.store.lock:
            spec: dict[str, Any] = {"name": name}
            if fields:
                spec["fields"] = fields
            data = self.bitable.create_table(app_token, {"table": spec})
            self.store.save(self.bitable.base(app_token))
            return data["table_id"]

    def add_records(self, app_token: str, table_id: str, rows: list[dict[str, Any]]) -> list[str]:
        """Insert rows (field name → write-shape value) without limits; returns record ids."""
        with self.store.lock:
            base = self.bitable.base(app_token)
            table = self.bitable.table(app_token, table_id)
            ids = self.bitable.insert_records(base, table, rows)
            self.store.save(base)
            return ids

    def rename_field(self, app_token: str, table_id: str, old: str, new: str) -> None:
        """Rename as a person would in the UI: the field keeps its id and its data."""
        with self.store.lock:
            table = self.bitable.table(app_token, table_id)
            f = table.field_by_name(old)
            if f is None:
                raise KeyError(old)
            if table.field_by_name(new) is not None:
                raise ValueError(f"field {new!r} already exists")
            f.field_name = new
            self.store.save(self.bitable.base(app_token))

    def drop_table(self, app_token: str, table_id: str) -> None:
        """Delete a table behind the client's back (then calls get 1254041)."""
        with self.store.lock:
            base = self.bitable.base(app_token)
            base.tables = [t for t in base.tables if t.table_id != table_id]
            self.store.save(base)

    def drop_view(self, app_token: str, table_id: str, view_id: str) -> None:
        """Delete a view as a person would in the UI (then it is no longer listed)."""
        with self.store.lock:
            table = self.bitable.table(app_token, table_id)
            table.views = [v for v in table.views if v.view_id != view_id]
            self.store.save(self.bitable.base(app_token))
