"""Typed, serialised, retrying access to one Bitable base through lark-oapi.

Every call for a base goes through one lock (Feishu processes a base's writes serially and
answers concurrent ones with 1254291), is paced, and is retried on the throttling/conflict codes.
lark-oapi returns JSON errors as responses but *raises* on transport errors and on non-JSON
bodies (an HTML 502 → ``json.JSONDecodeError``), so both paths are handled here.

Creates are special: after a transport failure the server may have committed the batch, so the
call raises :class:`AmbiguousWrite` instead of retrying blindly; the sink settles it by reconcile.
Retries of a create on a Feishu error code reuse the same ``client_token``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import lark_oapi as lark
import requests
from lark_oapi.api.bitable.v1 import (
    AppTable,
    AppTableCreateHeader,
    AppTableField,
    AppTableFieldForList,
    AppTableFieldProperty,
    AppTableRecord,
    AppTableView,
    AppTableViewProperty,
    AppTableViewPropertyFilterInfo,
    AppTableViewPropertyFilterInfoCondition,
    BatchCreateAppTableRecordRequest,
    BatchCreateAppTableRecordRequestBody,
    BatchDeleteAppTableRecordRequest,
    BatchDeleteAppTableRecordRequestBody,
    BatchUpdateAppTableRecordRequest,
    BatchUpdateAppTableRecordRequestBody,
    CreateAppTableFieldRequest,
    CreateAppTableRequest,
    CreateAppTableRequestBody,
    CreateAppTableViewRequest,
    DeleteAppTableRequest,
    DisplayApp,
    FilterInfo,
    GetAppRequest,
    GetAppTableViewRequest,
    ListAppRoleRequest,
    ListAppTableFieldRequest,
    ListAppTableRequest,
    ListAppTableViewRequest,
    PatchAppTableViewRequest,
    PatchAppTableViewRequestBody,
    ReqTable,
    ReqView,
    SearchAppTableRecordRequest,
    SearchAppTableRecordRequestBody,
)
from lark_oapi.core.const import APPLICATION_JSON, CONTENT_TYPE
from lark_oapi.core.exception import ObtainAccessTokenException
from lark_oapi.core.http import Transport
from lark_oapi.core.model import BaseRequest, BaseResponse, RequestOption
from lark_oapi.core.token import verify

from integrations.feishu.auth import clear_tenant_token
from integrations.feishu.errors import FeishuApiError, FeishuTransportError
from integrations.feishu.retry import (
    FEISHU_RETRY,
    RESUBMIT_BUDGET,
    RESUBMIT_WAIT_S,
    RESUBMITTED,
    RETRYABLE_CODES,
    SMALL_BUDGET,
    SMALL_BUDGET_CODES,
    TOKEN_CODES,
    rate_limit_reset,
)
from integrations.retry import RetryPolicy

log = logging.getLogger(__name__)

# Every batch call; within both the old and the new limits (docs/contracts/feishu.md §4).
BATCH_SIZE = 500
SEARCH_PAGE_SIZE = 500
LIST_PAGE_SIZE = 100
WRITE_OPS = frozenset(
    {
        "tables.create",
        "tables.delete",
        "fields.create",
        "records.batch_create",
        "records.batch_update",
        "records.batch_delete",
        "views.create",
        "views.patch",
    }
)

# ``ignore_consistency_check`` is never set: with it, reads right after a write may be stale
# (docs/contracts/feishu.md, corrections), and the recovery path reads to decide what to create.

_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.RequestException,
    httpx.TransportError,
    json.JSONDecodeError,  # HTML error page from a gateway (502/504)
)

R = TypeVar("R")

# _plain_body: lark-oapi's JSON encoder deep-copies every model object it serialises, a cost per
# record that dominated large loads (bench/RESULTS.md, "lark-oapi request bodies"). For the two
# hot batch calls the typed request is built as usual (paths, query), then
# its body is replaced by the identical plain dict, which json.dumps encodes directly.
# _send_plain: for batch_create the answer is read the same way round: lark-oapi would build
# a model object per returned record and cell (~30 ms a batch of 500, on the writer's path
# between two creates); only the record_ids are needed.


@dataclass
class _PlainResponse:
    """A lark-oapi response whose ``data`` is the plain JSON (``success``/``code``/``msg``/
    ``raw``/``get_log_id`` as on the SDK's typed responses)."""

    base: BaseResponse
    data: dict[str, Any]

    def success(self) -> bool:
        return self.base.success()

    @property
    def code(self) -> int | None:
        return self.base.code

    @property
    def msg(self) -> str | None:
        return self.base.msg

    @property
    def raw(self) -> Any:
        return self.base.raw

    def get_log_id(self) -> str | None:
        return self.base.get_log_id()


def _send_plain(config: Any, req: BaseRequest) -> _PlainResponse:
    """The SDK's typed call (auth, headers, transport) without its model building. A body
    that is not JSON (a gateway's HTML page) raises JSONDecodeError as the typed call does."""
    option = RequestOption()
    verify(config, req, option)
    option.headers[CONTENT_TYPE] = f"{APPLICATION_JSON}; charset=utf-8"
    raw = Transport.execute(config, req, option)
    body = json.loads(raw.content)
    base = BaseResponse()
    base.code, base.msg, base.raw = body.get("code"), body.get("msg"), raw
    return _PlainResponse(base, body.get("data") or {})


@dataclass
class _BaseGate:
    """Per base (app_token), process-wide: the writer lock and when the last call started."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    last_call: float = 0.0


_GATES: dict[str, _BaseGate] = {}
_GATES_GUARD = threading.Lock()


def base_gate(app_token: str) -> _BaseGate:
    with _GATES_GUARD:
        return _GATES.setdefault(app_token, _BaseGate())


class AmbiguousWrite(FeishuTransportError):
    """A create failed in transport (or kept answering 1254608): the batch may or may not
    exist. Settle by reconcile."""

    def __init__(self, op: str, cause: BaseException | None = None, reason: str = "") -> None:
        if cause is not None:
            super().__init__(op, cause)
        else:
            self.op = op
            Exception.__init__(self, f"feishu {op}: {reason}")


@dataclass
class CallStats:
    """Calls made (per op, each HTTP attempt counts), retries (per reason), token refetches."""

    calls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    token_refreshes: int = 0

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if op in WRITE_OPS)


@dataclass(frozen=True)
class Pacing:
    """Minimum spacing between the starts of calls on one base (writes and reads separately).

    Measured start to start: calls are already serial per base, so a call slower than 1/qps
    waits for nothing more (a gap after each call's end would add up to 100 ms per write).
    """

    write_qps: float = 10.0
    read_qps: float = 20.0


class BitableApi:
    """One base (``app_token``) through a lark-oapi client; thread-safe, strictly serial."""

    def __init__(
        self,
        client: lark.Client,
        app_token: str,
        *,
        policy: RetryPolicy | None = None,
        pacing: Pacing | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.app_token = app_token
        self.app_id: str = client._config.app_id  # noqa: SLF001 - needed to evict its token
        self.policy = policy or FEISHU_RETRY
        self.pacing = pacing or Pacing()
        self.stats = CallStats()
        self._sleep = sleep
        self._gate = base_gate(app_token)
        # The cross-process writer lock of this base (base_lock.BaseLock), set by the sink.
        self.xlock: Any = None
        self.last_default_view_id: str | None = None

    def _xheld(self) -> AbstractContextManager[None]:
        return self.xlock.held() if self.xlock is not None else nullcontext()

    @property
    def _bt(self) -> Any:
        return self.client.bitable.v1

    # -- core ----------------------------------------------------------------------------------
    def pause(self, seconds: float) -> None:
        """Wait (through the injectable sleep): callers that must let the server settle."""
        self._sleep(seconds)

    def _pace(self, write: bool) -> None:
        qps = self.pacing.write_qps if write else self.pacing.read_qps
        if qps <= 0:
            return
        wait = self._gate.last_call + 1.0 / qps - time.monotonic()
        if wait > 0:
            self._sleep(wait)

    def call(self, op: str, fn: Callable[[Any], R], req: Any, *, idempotent: bool = True) -> R:
        """Run ``fn(req)`` under the base lock with pacing, retries and token recovery."""
        write = op in WRITE_OPS
        token_refreshed = False
        attempt = resubmits = small = 0
        with self._gate.lock:
            while True:
                attempt += 1
                self._pace(write)
                self._gate.last_call = time.monotonic()
                self.stats.calls[op] += 1
                try:
                    with self._xheld():
                        resp = fn(req)
                except ObtainAccessTokenException as e:
                    raise FeishuApiError("auth", int(e.code or 0), str(e.msg)) from None
                except _TRANSPORT_ERRORS as e:
                    if not idempotent:
                        raise AmbiguousWrite(op, e) from None
                    if attempt >= self.policy.max_attempts:
                        raise FeishuTransportError(op, e) from None
                    reason = "html" if isinstance(e, json.JSONDecodeError) else "transport"
                    self.stats.retries[reason] += 1
                    log.warning("feishu %s: %s, retrying", op, type(e).__name__)
                    self._sleep(self.policy.delay(attempt))
                    continue
                if resp.success():
                    return resp
                code = int(resp.code or 0)
                if code == RESUBMITTED:
                    # The same client_token too soon: wait ≥ 1 s, same token (never a new one:
                    # the first submit may have landed). A create still refused is settled by
                    # reconcile (AmbiguousWrite), not raised.
                    resubmits += 1
                    if resubmits <= RESUBMIT_BUDGET:
                        self.stats.retries[str(code)] += 1
                        self._sleep(max(RESUBMIT_WAIT_S, self.policy.delay(resubmits)))
                        continue
                    if not idempotent:
                        raise AmbiguousWrite(op, reason=f"{code} {resp.msg} after retries")
                if code in SMALL_BUDGET_CODES:
                    small += 1
                    if small <= SMALL_BUDGET:
                        self.stats.retries[str(code)] += 1
                        self._sleep(self.policy.delay(small))
                        continue
                    raise FeishuApiError(op, code, str(resp.msg), resp.get_log_id())
                if code in TOKEN_CODES and not token_refreshed:
                    # lark-oapi keeps reusing a revoked token until its own expiry: evict it.
                    token_refreshed = True
                    self.stats.token_refreshes += 1
                    clear_tenant_token(self.app_id)
                    continue
                if code in RETRYABLE_CODES and attempt < self.policy.max_attempts:
                    self.stats.retries[str(code)] += 1
                    headers = resp.raw.headers if resp.raw is not None else None
                    delay = self.policy.delay(attempt, rate_limit_reset(headers))
                    log.info("feishu %s: %s %s, retry in %.2fs", op, code, resp.msg, delay)
                    self._sleep(delay)
                    continue
                raise FeishuApiError(op, code, str(resp.msg), resp.get_log_id())

    def _paged(self, op: str, fn: Callable[[Any], Any], build: Callable[[str | None], Any]):
        token: str | None = None
        while True:
            data = self.call(op, fn, build(token)).data
            yield from data.items or []
            if not data.has_more or not data.page_token:
                return
            token = data.page_token

    # -- base ----------------------------------------------------------------------------------
    def get_app(self) -> DisplayApp:
        """The base's metadata (``is_advanced``, ``time_zone``, ``revision``)."""
        req = GetAppRequest.builder().app_token(self.app_token).build()
        return self.call("app.get", self._bt.app.get, req).data.app

    def probe_roles(self) -> None:
        """One page of the base's roles: only an app that can manage an advanced base may read
        them, so 1254302/1254304 here means "no manage rights" (raised as FeishuApiError)."""
        req = ListAppRoleRequest.builder().app_token(self.app_token).page_size(1).build()
        self.call("roles.list", self._bt.app_role.list, req)

    # -- tables / fields -----------------------------------------------------------------------
    def list_tables(self) -> list[AppTable]:
        def build(tok: str | None) -> ListAppTableRequest:
            b = ListAppTableRequest.builder().app_token(self.app_token).page_size(LIST_PAGE_SIZE)
            return (b.page_token(tok) if tok else b).build()

        return list(self._paged("tables.list", self._bt.app_table.list, build))

    def create_table(self, name: str, fields: list[tuple[str, int, dict[str, Any] | None]]) -> str:
        headers = [
            AppTableCreateHeader.builder()
            .field_name(n)
            .type(t)
            .property(_field_property(p))
            .build()
            for n, t, p in fields
        ]
        req = (
            CreateAppTableRequest.builder()
            .app_token(self.app_token)
            .request_body(
                CreateAppTableRequestBody.builder()
                .table(ReqTable.builder().name(name).fields(headers).build())
                .build()
            )
            .build()
        )
        # Not idempotent: a transport failure here is settled by re-listing tables next run.
        data = self.call("tables.create", self._bt.app_table.create, req, idempotent=False).data
        self.last_default_view_id = data.default_view_id  # returned when fields are sent
        return data.table_id

    def delete_table(self, table_id: str) -> None:
        req = DeleteAppTableRequest.builder().app_token(self.app_token).table_id(table_id).build()
        self.call("tables.delete", self._bt.app_table.delete, req)

    def list_fields(self, table_id: str) -> list[AppTableFieldForList]:
        def build(tok: str | None) -> ListAppTableFieldRequest:
            b = (
                ListAppTableFieldRequest.builder()
                .app_token(self.app_token)
                .table_id(table_id)
                .page_size(LIST_PAGE_SIZE)
            )
            return (b.page_token(tok) if tok else b).build()

        return list(self._paged("fields.list", self._bt.app_table_field.list, build))

    def create_field(
        self, table_id: str, name: str, ftype: int, prop: dict[str, Any] | None
    ) -> AppTableField:
        body = AppTableField.builder().field_name(name).type(ftype)
        if prop:
            body = body.property(_field_property(prop))
        req = (
            CreateAppTableFieldRequest.builder()
            .app_token(self.app_token)
            .table_id(table_id)
            .request_body(body.build())
            .build()
        )
        resp = self.call("fields.create", self._bt.app_table_field.create, req, idempotent=False)
        return resp.data.field

    # -- records -------------------------------------------------------------------------------
    def search(
        self,
        table_id: str,
        *,
        field_names: list[str] | None = None,
        filter_info: FilterInfo | None = None,
    ) -> Iterator[AppTableRecord]:
        def build(tok: str | None) -> SearchAppTableRecordRequest:
            body = SearchAppTableRecordRequestBody.builder().automatic_fields(False)
            if field_names:
                body = body.field_names(field_names)
            if filter_info is not None:
                body = body.filter(filter_info)
            b = (
                SearchAppTableRecordRequest.builder()
                .app_token(self.app_token)
                .table_id(table_id)
                .page_size(SEARCH_PAGE_SIZE)
                .request_body(body.build())
            )
            return (b.page_token(tok) if tok else b).build()

        return self._paged("records.search", self._bt.app_table_record.search, build)

    def has_records(self, table_id: str) -> bool:
        return self.count_records(table_id) > 0

    def count_records(self, table_id: str) -> int:
        """Records in the table (search ``total``; one read)."""
        req = (
            SearchAppTableRecordRequest.builder()
            .app_token(self.app_token)
            .table_id(table_id)
            .page_size(1)
            .request_body(SearchAppTableRecordRequestBody.builder().build())
            .build()
        )
        data = self.call("records.search", self._bt.app_table_record.search, req).data
        return int(data.total or len(data.items or []))

    def batch_create(
        self, table_id: str, records: list[dict[str, Any]], client_token: str
    ) -> list[str]:
        """Create ``records`` (fields dicts); record_ids in request order.

        Raises AmbiguousWrite on a transport failure (the batch may exist)."""
        req = (
            BatchCreateAppTableRecordRequest.builder()
            .app_token(self.app_token)
            .table_id(table_id)
            .client_token(client_token)
            .request_body(BatchCreateAppTableRecordRequestBody.builder().build())
            .build()
        )
        req.body = {"records": [{"fields": f} for f in records]}  # see _plain_body
        config = self.client._config  # noqa: SLF001 - the SDK's own call, minus its models
        resp = self.call(
            "records.batch_create",
            lambda r: _send_plain(config, r),
            req,
            idempotent=False,
        )
        ids = [str(i) for r in resp.data.get("records") or [] if (i := r.get("record_id"))]
        if len(ids) != len(records):
            raise FeishuApiError(
                "records.batch_create", -1, f"sent {len(records)} records, got {len(ids)} ids"
            )
        return ids

    def batch_update(self, table_id: str, records: list[tuple[str, dict[str, Any]]]) -> None:
        req = (
            BatchUpdateAppTableRecordRequest.builder()
            .app_token(self.app_token)
            .table_id(table_id)
            .request_body(
                BatchUpdateAppTableRecordRequestBody.builder()
                .records(
                    [AppTableRecord.builder().record_id(r).fields(f).build() for r, f in records]
                )
                .build()
            )
            .build()
        )
        req.body = {"records": [{"record_id": r, "fields": f} for r, f in records]}
        # Setting the same values twice is harmless: transport errors are retried.
        self.call("records.batch_update", self._bt.app_table_record.batch_update, req)

    def batch_delete(self, table_id: str, record_ids: list[str]) -> None:
        req = (
            BatchDeleteAppTableRecordRequest.builder()
            .app_token(self.app_token)
            .table_id(table_id)
            .request_body(
                BatchDeleteAppTableRecordRequestBody.builder().records(record_ids).build()
            )
            .build()
        )
        self.call("records.batch_delete", self._bt.app_table_record.batch_delete, req)

    # -- views ---------------------------------------------------------------------------------
    def list_views(self, table_id: str) -> list[AppTableView]:
        def build(tok: str | None) -> ListAppTableViewRequest:
            b = (
                ListAppTableViewRequest.builder()
                .app_token(self.app_token)
                .table_id(table_id)
                .page_size(LIST_PAGE_SIZE)
            )
            return (b.page_token(tok) if tok else b).build()

        return list(self._paged("views.list", self._bt.app_table_view.list, build))

    def get_view(self, table_id: str, view_id: str) -> AppTableView:
        req = (
            GetAppTableViewRequest.builder()
            .app_token(self.app_token)
            .table_id(table_id)
            .view_id(view_id)
            .build()
        )
        return self.call("views.get", self._bt.app_table_view.get, req).data.view

    def create_view(self, table_id: str, name: str) -> AppTableView:
        req = (
            CreateAppTableViewRequest.builder()
            .app_token(self.app_token)
            .table_id(table_id)
            .request_body(ReqView.builder().view_name(name).view_type("grid").build())
            .build()
        )
        # Not idempotent (a retried create could add a second view): re-list next run instead.
        return self.call(
            "views.create", self._bt.app_table_view.create, req, idempotent=False
        ).data.view

    def patch_view(
        self,
        table_id: str,
        view_id: str,
        *,
        name: str | None = None,
        filter_conditions: list[tuple[str, str, str]] | None = None,
        hidden_fields: list[str] | None = None,
    ) -> AppTableView:
        """Rename and/or set the filter (``[(field_id, operator, json_value)]``, AND) and/or
        the hidden fields (field ids)."""
        body = PatchAppTableViewRequestBody.builder()
        if name is not None:
            body = body.view_name(name)
        prop = AppTableViewProperty.builder()
        if hidden_fields is not None:
            prop = prop.hidden_fields(hidden_fields)
        if filter_conditions is not None:
            conds = [
                AppTableViewPropertyFilterInfoCondition.builder()
                .field_id(fid)
                .operator(op)
                .value(val)
                .build()
                for fid, op, val in filter_conditions
            ]
            info = AppTableViewPropertyFilterInfo.builder().conjunction("and").conditions(conds)
            prop = prop.filter_info(info.build())
        if filter_conditions is not None or hidden_fields is not None:
            body = body.property(prop.build())
        req = (
            PatchAppTableViewRequest.builder()
            .app_token(self.app_token)
            .table_id(table_id)
            .view_id(view_id)
            .request_body(body.build())
            .build()
        )
        return self.call("views.patch", self._bt.app_table_view.patch, req).data.view


def _field_property(prop: dict[str, Any] | None) -> AppTableFieldProperty | None:
    if not prop:
        return None
    b = AppTableFieldProperty.builder()
    if "formatter" in prop:
        b = b.formatter(prop["formatter"])
    if "date_formatter" in prop:
        b = b.date_formatter(prop["date_formatter"])
    return b.build()
