"""The Feishu simulator through the REAL lark-oapi client (sync and async) over loopback HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import lark_oapi as lark
import pytest
from lark_oapi.api.bitable.v1 import (
    AppTableCreateHeader,
    AppTableField,
    AppTableFieldProperty,
    AppTableFieldPropertyOption,
    AppTableRecord,
    AppTableViewProperty,
    AppTableViewPropertyFilterInfo,
    AppTableViewPropertyFilterInfoCondition,
    BatchCreateAppTableRecordRequest,
    BatchCreateAppTableRecordRequestBody,
    BatchDeleteAppTableRecordRequest,
    BatchDeleteAppTableRecordRequestBody,
    BatchUpdateAppTableRecordRequest,
    BatchUpdateAppTableRecordRequestBody,
    ChildrenFilter,
    Condition,
    CreateAppTableFieldRequest,
    CreateAppTableRequest,
    CreateAppTableRequestBody,
    CreateAppTableViewRequest,
    FilterInfo,
    GetAppTableViewRequest,
    ListAppTableFieldRequest,
    ListAppTableRequest,
    ListAppTableViewRequest,
    PatchAppTableViewRequest,
    PatchAppTableViewRequestBody,
    ReqTable,
    ReqView,
    SearchAppTableRecordRequest,
    SearchAppTableRecordRequestBody,
    Sort,
)

from sandbox.feishu.app import FeishuSim
from tests.sandbox.feishu_harness import lark_client, serve_feishu

# 2024-01-01 00:00 and 2024-01-02 00:00 Asia/Shanghai, in ms.
JAN1 = 1704038400000
JAN2 = JAN1 + 86_400_000


@pytest.fixture
def fs() -> Iterator[tuple[FeishuSim, lark.Client]]:
    with serve_feishu() as (sim, served):
        yield sim, lark_client(sim, served.url)


def _hdr(name: str, ftype: int, **prop: Any) -> AppTableCreateHeader:
    b = AppTableCreateHeader.builder().field_name(name).type(ftype)
    if prop:
        b = b.property(AppTableFieldProperty(prop))
    return b.build()


def _create_table(client: lark.Client, app_token: str, name: str = "daily") -> Any:
    body = (
        CreateAppTableRequestBody.builder()
        .table(
            ReqTable.builder()
            .name(name)
            .default_view_name("全部")
            .fields(
                [
                    _hdr("key", 1),
                    _hdr("date", 5, date_formatter="yyyy/MM/dd"),
                    _hdr("spend", 2, formatter="0.00"),
                    _hdr("account", 1),
                ]
            )
            .build()
        )
        .build()
    )
    resp = client.bitable.v1.app_table.create(
        CreateAppTableRequest.builder().app_token(app_token).request_body(body).build()
    )
    assert resp.success(), (resp.code, resp.msg)
    return resp


def _create_req(app_token: str, table_id: str, rows: list[dict], token: str | None = None):
    b = BatchCreateAppTableRecordRequest.builder().app_token(app_token).table_id(table_id)
    if token:
        b = b.client_token(token)
    records = [AppTableRecord.builder().fields(r).build() for r in rows]
    return b.request_body(
        BatchCreateAppTableRecordRequestBody.builder().records(records).build()
    ).build()


def _search_req(app_token: str, table_id: str, body: SearchAppTableRecordRequestBody, **q: Any):
    b = SearchAppTableRecordRequest.builder().app_token(app_token).table_id(table_id)
    if "page_size" in q:
        b = b.page_size(q["page_size"])
    if "page_token" in q:
        b = b.page_token(q["page_token"])
    return b.request_body(body).build()


def _cond(name: str, op: str, value: list[str]) -> Condition:
    return Condition.builder().field_name(name).operator(op).value(value).build()


def _keys(resp: Any) -> list[str]:
    return [item.fields["key"][0]["text"] for item in resp.data.items or []]


def test_sync_tables_fields_records_and_views_round_trip(fs) -> None:
    sim, client = fs
    app = sim.app_token
    created = _create_table(client, app)
    tid = created.data.table_id
    assert created.data.default_view_id.startswith("vew")
    assert len(created.data.field_id_list) == 4
    assert created.get_log_id()  # X-Tt-Logid on every response, in the case lark-oapi reads

    tables = client.bitable.v1.app_table.list(ListAppTableRequest.builder().app_token(app).build())
    assert [(t.table_id, t.name) for t in tables.data.items] == [(tid, "daily")]

    # Fields: create a select with options; list shows the primary flag and null property on text.
    field = (
        AppTableField.builder()
        .field_name("  status ")
        .type(3)
        .property(
            AppTableFieldProperty.builder()
            .options([AppTableFieldPropertyOption.builder().name("on").build()])
            .build()
        )
        .build()
    )
    made = client.bitable.v1.app_table_field.create(
        CreateAppTableFieldRequest.builder()
        .app_token(app)
        .table_id(tid)
        .request_body(field)
        .build()
    )
    assert made.success() and made.data.field.field_name == "status"  # trimmed
    assert made.data.field.property.options[0].id.startswith("opt")
    fields = client.bitable.v1.app_table_field.list(
        ListAppTableFieldRequest.builder().app_token(app).table_id(tid).build()
    ).data.items
    by_name = {f.field_name: f for f in fields}
    assert by_name["key"].is_primary and by_name["key"].property is None
    assert not by_name["spend"].is_primary and by_name["spend"].property.formatter == "0.00"
    assert by_name["date"].ui_type == "DateTime"

    rows = [
        {"key": "a|1", "date": JAN1, "spend": 12.5, "account": "act_1", "status": "on"},
        {"key": "b|1", "date": JAN1, "spend": 3, "account": "act_2", "status": "new-option"},
        {"key": "a|2", "date": JAN2, "spend": 7.25, "account": "act_1"},
    ]
    resp = client.bitable.v1.app_table_record.batch_create(_create_req(app, tid, rows))
    assert resp.success(), (resp.code, resp.msg)
    ids = [r.record_id for r in resp.data.records]
    assert all(i.startswith("rec") and len(i) == 13 for i in ids)
    assert resp.data.records[0].fields["key"] == "a|1"  # write shape echoed back
    # An unknown select option is auto-created.
    status = next(f for f in sim.fields(app, tid) if f["field_name"] == "status")
    assert [o["name"] for o in status["property"]["options"]] == ["on", "new-option"]

    # Search: text comes back as segments, dates as ms, empty cells omitted.
    found = client.bitable.v1.app_table_record.search(
        _search_req(
            app,
            tid,
            SearchAppTableRecordRequestBody.builder()
            .filter(
                FilterInfo.builder()
                .conjunction("and")
                .conditions([_cond("account", "is", ["act_1"])])
                .build()
            )
            .sort([Sort.builder().field_name("date").desc(True).build()])
            .build(),
        )
    )
    assert found.success() and found.data.total == 2 and not found.data.has_more
    first = found.data.items[0]
    assert first.fields["key"] == [{"text": "a|2", "type": "text"}]
    assert first.fields["date"] == JAN2 and first.fields["spend"] == 7.25
    assert "status" not in first.fields

    upd = client.bitable.v1.app_table_record.batch_update(
        BatchUpdateAppTableRecordRequest.builder()
        .app_token(app)
        .table_id(tid)
        .request_body(
            BatchUpdateAppTableRecordRequestBody.builder()
            .records([AppTableRecord.builder().record_id(ids[0]).fields({"spend": 13.0}).build()])
            .build()
        )
        .build()
    )
    assert upd.success() and upd.data.records[0].record_id == ids[0]
    assert sim.records(app, tid)[0]["fields"]["spend"] == 13.0
    assert sim.records(app, tid)[0]["fields"]["key"] == "a|1"  # untouched fields stay

    dele = client.bitable.v1.app_table_record.batch_delete(
        BatchDeleteAppTableRecordRequest.builder()
        .app_token(app)
        .table_id(tid)
        .request_body(BatchDeleteAppTableRecordRequestBody.builder().records([ids[1]]).build())
        .build()
    )
    assert dele.success() and dele.data.records[0].deleted is True
    assert [r["record_id"] for r in sim.records(app, tid)] == [ids[0], ids[2]]

    # Views: create, patch a filter on a text field (field_id + JSON-string value), list, get.
    view = client.bitable.v1.app_table_view.create(
        CreateAppTableViewRequest.builder()
        .app_token(app)
        .table_id(tid)
        .request_body(ReqView.builder().view_name("act_1").view_type("grid").build())
        .build()
    )
    assert view.success() and view.data.view.view_type == "grid"
    vid = view.data.view.view_id
    account_fid = by_name["account"].field_id
    patched = client.bitable.v1.app_table_view.patch(
        PatchAppTableViewRequest.builder()
        .app_token(app)
        .table_id(tid)
        .view_id(vid)
        .request_body(
            PatchAppTableViewRequestBody.builder()
            .property(
                AppTableViewProperty.builder()
                .filter_info(
                    AppTableViewPropertyFilterInfo.builder()
                    .conjunction("and")
                    .conditions(
                        [
                            AppTableViewPropertyFilterInfoCondition.builder()
                            .field_id(account_fid)
                            .operator("is")
                            .value('["act_1"]')
                            .build()
                        ]
                    )
                    .build()
                )
                .build()
            )
            .build()
        )
        .build()
    )
    assert patched.success(), (patched.code, patched.msg)
    cond = patched.data.view.property.filter_info.conditions[0]
    assert (cond.field_id, cond.operator, cond.value, cond.field_type) == (
        account_fid,
        "is",
        '["act_1"]',
        1,
    )
    assert cond.condition_id
    listed = client.bitable.v1.app_table_view.list(
        ListAppTableViewRequest.builder().app_token(app).table_id(tid).build()
    )
    assert [v.view_name for v in listed.data.items] == ["全部", "act_1"]
    got = client.bitable.v1.app_table_view.get(
        GetAppTableViewRequest.builder().app_token(app).table_id(tid).view_id(vid).build()
    )
    assert got.data.view.property.filter_info.conditions[0].value == '["act_1"]'
    # Searching through the view applies its filter (no filter/sort in the request).
    via_view = client.bitable.v1.app_table_record.search(
        _search_req(app, tid, SearchAppTableRecordRequestBody.builder().view_id(vid).build())
    )
    assert sorted(_keys(via_view)) == ["a|1", "a|2"]

    counters = sim.counters_snapshot()
    assert counters["records.batch_create"] == 1 and counters["views.patch"] == 1
    assert counters["token"] == 1  # lark-oapi caches a 7200 s token


def test_async_calls_through_the_a_methods(fs) -> None:
    sim, client = fs
    app = sim.app_token
    tid = _create_table(client, app).data.table_id

    async def flow() -> tuple[Any, Any, Any, Any]:
        created = await client.bitable.v1.app_table_record.abatch_create(
            _create_req(app, tid, [{"key": f"k{i}", "spend": i} for i in range(5)])
        )
        found = await client.bitable.v1.app_table_record.asearch(
            _search_req(
                app,
                tid,
                SearchAppTableRecordRequestBody.builder()
                .filter(
                    FilterInfo.builder()
                    .conjunction("and")
                    .conditions([_cond("spend", "isGreaterEqual", ["3"])])
                    .build()
                )
                .build(),
            )
        )
        ids = [r.record_id for r in created.data.records]
        upd = await client.bitable.v1.app_table_record.abatch_update(
            BatchUpdateAppTableRecordRequest.builder()
            .app_token(app)
            .table_id(tid)
            .request_body(
                BatchUpdateAppTableRecordRequestBody.builder()
                .records(
                    [AppTableRecord.builder().record_id(ids[0]).fields({"key": "k0!"}).build()]
                )
                .build()
            )
            .build()
        )
        dele = await client.bitable.v1.app_table_record.abatch_delete(
            BatchDeleteAppTableRecordRequest.builder()
            .app_token(app)
            .table_id(tid)
            .request_body(BatchDeleteAppTableRecordRequestBody.builder().records(ids[1:3]).build())
            .build()
        )
        return created, found, upd, dele

    created, found, upd, dele = asyncio.run(flow())
    assert created.success() and len(created.data.records) == 5
    assert found.success() and sorted(_keys(found)) == ["k3", "k4"]
    assert upd.success() and dele.success()

    async def more() -> list[Any]:
        a = client.bitable.v1
        return [
            await a.app_table.alist(ListAppTableRequest.builder().app_token(app).build()),
            await a.app_table_field.alist(ListAppTableFieldRequest.builder().app_token(app).table_id(tid).build()),
            await a.app_table_view.acreate(
                CreateAppTableViewRequest.builder().app_token(app).table_id(tid)
                .request_body(ReqView.builder().view_name("act_9").build()).build()
            ),
            await a.app_table_view.alist(ListAppTableViewRequest.builder().app_token(app).table_id(tid).build()),
        ]  # fmt: skip

    results = asyncio.run(more())
    assert all(r.success() for r in results), [(r.code, r.msg) for r in results]
    assert [r["fields"]["key"] for r in sim.records(app, tid)] == ["k0!", "k3", "k4"]


def test_unknown_field_is_1254045_and_nothing_is_written(fs) -> None:
    sim, client = fs
    tid = _create_table(client, sim.app_token).data.table_id
    resp = client.bitable.v1.app_table_record.batch_create(
        _create_req(sim.app_token, tid, [{"key": "ok"}, {"key": "bad", "媒体名称": "x"}])
    )
    assert resp.code == 1254045 and resp.msg == "FieldNameNotFound"
    body = lark.JSON.unmarshal(resp.raw.content.decode(), dict)
    assert "'fields.'媒体名称''" in body["error"]["message"] and body["error"]["log_id"]
    assert sim.records(sim.app_token, tid) == []  # all-or-nothing


@pytest.mark.parametrize(
    ("row", "code"),
    [
        ({"spend": "12.5"}, 1254061),  # number given as string
        ({"date": "2024-01-01"}, 1254064),  # date not int ms
        ({"date": 1704038400000.5}, 1254064),
        ({"key": 123}, 1254060),
    ],
)
def test_type_mismatch_codes(fs, row: dict, code: int) -> None:
    sim, client = fs
    tid = _create_table(client, sim.app_token).data.table_id
    resp = client.bitable.v1.app_table_record.batch_create(
        _create_req(sim.app_token, tid, [{"key": "fine"}, row])
    )
    assert resp.code == code
    assert sim.records(sim.app_token, tid) == []


def test_batch_limits_are_1254104(fs) -> None:
    sim, client = fs
    app = sim.app_token
    tid = _create_table(client, app).data.table_id
    too_many = client.bitable.v1.app_table_record.batch_create(
        _create_req(app, tid, [{"key": str(i)} for i in range(1001)])
    )
    assert too_many.code == 1254104
    ok = client.bitable.v1.app_table_record.batch_create(
        _create_req(app, tid, [{"key": str(i)} for i in range(1000)])
    )
    assert ok.success() and len(sim.records(app, tid)) == 1000
    ids = [r.record_id for r in ok.data.records]
    dele = client.bitable.v1.app_table_record.batch_delete(
        BatchDeleteAppTableRecordRequest.builder()
        .app_token(app)
        .table_id(tid)
        .request_body(BatchDeleteAppTableRecordRequestBody.builder().records(ids[:501]).build())
        .build()
    )
    assert dele.code == 1254104 and len(sim.records(app, tid)) == 1000
    upd = client.bitable.v1.app_table_record.batch_update(
        BatchUpdateAppTableRecordRequest.builder()
        .app_token(app)
        .table_id(tid)
        .request_body(
            BatchUpdateAppTableRecordRequestBody.builder()
            .records([AppTableRecord.builder().record_id(i).fields({"spend": 1}).build() for i in ids] + [
                AppTableRecord.builder().record_id(ids[0]).fields({"spend": 2}).build()])
            .build()
        )
        .build()
    )  # fmt: skip
    assert upd.code == 1254104


def test_batch_update_is_all_or_nothing_on_unknown_record(fs) -> None:
    sim, client = fs
    app = sim.app_token
    tid = _create_table(client, app).data.table_id
    rid = (
        client.bitable.v1.app_table_record.batch_create(
            _create_req(app, tid, [{"key": "a", "spend": 1}])
        )
        .data.records[0]
        .record_id
    )
    upd = client.bitable.v1.app_table_record.batch_update(
        BatchUpdateAppTableRecordRequest.builder()
        .app_token(app)
        .table_id(tid)
        .request_body(
            BatchUpdateAppTableRecordRequestBody.builder()
            .records(
                [
                    AppTableRecord.builder().record_id(rid).fields({"spend": 2}).build(),
                    AppTableRecord.builder().record_id("recNOPE00000").fields({"spend": 3}).build(),
                ]
            )
            .build()
        )
        .build()
    )
    assert upd.code == 1254043
    assert sim.records(app, tid)[0]["fields"]["spend"] == 1


def test_client_token_replays_same_result_and_rejects_a_different_body(fs) -> None:
    sim, client = fs
    app = sim.app_token
    tid = _create_table(client, app).data.table_id
    token = str(uuid.uuid4())
    first = client.bitable.v1.app_table_record.batch_create(
        _create_req(app, tid, [{"key": "x"}], token)
    )
    too_soon = client.bitable.v1.app_table_record.batch_create(
        _create_req(app, tid, [{"key": "x"}], token)
    )
    assert first.success() and too_soon.code == 1254608  # base revision unchanged
    assert too_soon.raw.status_code == 403
    sim.knobs.resubmit_1254608 = False  # the other variant: replay at once
    again = client.bitable.v1.app_table_record.batch_create(
        _create_req(app, tid, [{"key": "x"}], token)
    )
    sim.knobs.resubmit_1254608 = True
    assert again.success()
    assert again.data.records[0].record_id == first.data.records[0].record_id
    assert len(sim.records(app, tid)) == 1
    moved = client.bitable.v1.app_table_record.batch_create(  # another write moves the revision
        _create_req(app, tid, [{"key": "z"}], str(uuid.uuid4()))
    )
    later = client.bitable.v1.app_table_record.batch_create(
        _create_req(app, tid, [{"key": "x"}], token)
    )
    assert moved.success() and later.success()
    assert later.data.records[0].record_id == first.data.records[0].record_id
    assert len(sim.records(app, tid)) == 2
    other = client.bitable.v1.app_table_record.batch_create(
        _create_req(app, tid, [{"key": "y"}], token)
    )
    assert other.code == 1255006
    bad = client.bitable.v1.app_table_record.batch_create(
        _create_req(app, tid, [{"key": "y"}], "nope")
    )
    assert bad.code == 1254037
    assert len(sim.records(app, tid)) == 2


def test_search_filters_children_dates_paging_and_field_names(fs) -> None:
    sim, client = fs
    app = sim.app_token
    tid = _create_table(client, app).data.table_id
    sim.add_records(
        app,
        tid,
        [
            {"key": "a", "date": JAN1, "spend": 1, "account": "act_1"},
            {"key": "b", "date": JAN1 + 23 * 3_600_000, "spend": 2, "account": "act_2"},
            {"key": "c", "date": JAN2, "spend": 3, "account": "act_1"},
            {"key": "d", "spend": 4},
        ],
    )
    search = client.bitable.v1.app_table_record.search

    def run(flt: FilterInfo | None = None, **kw: Any) -> Any:
        b = SearchAppTableRecordRequestBody.builder()
        if flt is not None:
            b = b.filter(flt)
        if "field_names" in kw:
            b = b.field_names(kw.pop("field_names"))
        resp = search(_search_req(app, tid, b.build(), **kw))
        assert resp.success(), (resp.code, resp.msg)
        return resp

    def f(conj: str, *conds: Condition, children: list | None = None) -> FilterInfo:
        b = FilterInfo.builder().conjunction(conj).conditions(list(conds))
        return (b.children(children) if children else b).build()

    # ExactDate is truncated to the day in Asia/Shanghai: noon of Jan 1 matches a and b.
    assert _keys(run(f("and", _cond("date", "is", ["ExactDate", str(JAN1 + 12 * 3_600_000)])))) == [
        "a",
        "b",
    ]
    assert _keys(run(f("and", _cond("date", "isGreater", ["ExactDate", str(JAN1)])))) == ["c"]
    assert _keys(run(f("and", _cond("date", "isEmpty", [])))) == ["d"]
    assert _keys(
        run(f("and", _cond("account", "contains", ["act"]), _cond("spend", "isLess", ["3"])))
    ) == ["a", "b"]
    assert _keys(run(f("or", _cond("key", "is", ["d"]), _cond("account", "isNot", ["act_1"])))) == [
        "b",
        "d",
    ]
    assert _keys(run(f("and", _cond("account", "doesNotContain", ["2"])))) == ["a", "c", "d"]
    # One level of children: account is act_1 AND (spend > 2 OR key is a)
    child = (
        ChildrenFilter.builder()
        .conjunction("or")
        .conditions([_cond("spend", "isGreater", ["2"]), _cond("key", "is", ["a"])])
        .build()
    )
    assert _keys(run(f("and", _cond("account", "is", ["act_1"]), children=[child]))) == ["a", "c"]
    # Paging is in the query string.
    p1 = run(page_size=3)
    assert p1.data.has_more and p1.data.total == 4 and _keys(p1) == ["a", "b", "c"]
    p2 = run(page_size=3, page_token=p1.data.page_token)
    assert not p2.data.has_more and _keys(p2) == ["d"]
    only = run(field_names=["key"])
    assert set(only.data.items[0].fields) == {"key"}

    def err(flt: FilterInfo | None = None, **kw: Any) -> int:
        b = SearchAppTableRecordRequestBody.builder()
        if flt is not None:
            b = b.filter(flt)
        return search(_search_req(app, tid, b.build(), **kw)).code

    assert err(page_size=501) == 1254011
    assert err(f("and", _cond("nope", "is", ["x"]))) == 1254045
    assert err(f("and", _cond("date", "isGreaterEqual", ["ExactDate", str(JAN1)]))) == 1254018
    assert err(f("and", _cond("key", "isEmpty", ["x"]))) == 1254018
    assert err(f("and", _cond("key", "like", ["x"]))) == 1254018


def test_table_field_and_view_name_rules(fs) -> None:
    sim, client = fs
    app = sim.app_token
    tid = _create_table(client, app).data.table_id
    dup_table = client.bitable.v1.app_table.create(
        CreateAppTableRequest.builder().app_token(app).request_body(
            CreateAppTableRequestBody.builder().table(ReqTable.builder().name("daily").build()).build()
        ).build()
    )  # fmt: skip
    assert dup_table.code == 1254013
    dup_field = client.bitable.v1.app_table_field.create(
        CreateAppTableFieldRequest.builder().app_token(app).table_id(tid)
        .request_body(AppTableField.builder().field_name("spend").type(2).build()).build()
    )  # fmt: skip
    assert dup_field.code == 1254014

    def make_view(name: str, vtype: str = "grid") -> Any:
        return client.bitable.v1.app_table_view.create(
            CreateAppTableViewRequest.builder().app_token(app).table_id(tid)
            .request_body(ReqView.builder().view_name(name).view_type(vtype).build()).build()
        )  # fmt: skip

    assert make_view("全部").code == 1254020
    assert make_view("a[1]").code == 1254022
    assert make_view("x", "pivot").code == 1254019
    # 200 views per table, the default view included: the 201st is 1254101.
    for i in range(199):
        assert make_view(f"acct {i}").success()
    assert len(sim.views(app, tid)) == 200
    assert make_view("one too many").code == 1254101
    unknown = client.bitable.v1.app_table_field.list(
        ListAppTableFieldRequest.builder().app_token(app).table_id("tblNOPE").build()
    )
    assert unknown.code == 1254041


def test_only_documented_date_formatters_are_accepted(fs) -> None:
    sim, client = fs
    tid = _create_table(client, sim.app_token).data.table_id

    def create(fmt: str) -> Any:
        prop = AppTableFieldProperty.builder().date_formatter(fmt).build()
        body = AppTableField.builder().field_name(f"d {fmt}").type(5).property(prop).build()
        req = (
            CreateAppTableFieldRequest.builder()
            .app_token(sim.app_token)
            .table_id(tid)
            .request_body(body)
            .build()
        )
        return client.bitable.v1.app_table_field.create(req)

    assert create("yyyy-MM-dd").code == 1254001  # common, but not in the documented enum
    for fmt in ("yyyy/MM/dd", "yyyy-MM-dd HH:mm", "MM-dd", "MM/dd/yyyy", "dd/MM/yyyy"):
        assert create(fmt).success(), fmt


def test_app_get_and_roles_on_advanced_bases(fs) -> None:
    from lark_oapi.api.bitable.v1 import GetAppRequest, ListAppRoleRequest

    sim, client = fs
    app = sim.app_token
    got = client.bitable.v1.app.get(GetAppRequest.builder().app_token(app).build())
    assert got.success() and got.data.app.is_advanced is False
    assert got.data.app.time_zone == "Asia/Shanghai"
    roles = ListAppRoleRequest.builder().app_token(app).page_size(1).build()
    assert client.bitable.v1.app_role.list(roles).code == 1254301  # not advanced
    tid = _create_table(client, app).data.table_id
    sim.add_records(app, tid, [{"key": "a"}, {"key": "b"}])
    sim.set_advanced(app)
    assert client.bitable.v1.app.get(
        GetAppRequest.builder().app_token(app).build()
    ).data.app.is_advanced
    assert client.bitable.v1.app_role.list(roles).success()  # the app can manage it
    body = SearchAppTableRecordRequestBody.builder().build()
    assert (
        len(client.bitable.v1.app_table_record.search(_search_req(app, tid, body)).data.items) == 2
    )
    sim.knobs.app_can_manage = False  # documented: search succeeds with no records
    denied = client.bitable.v1.app_role.list(roles)
    assert denied.code == 1254302 and denied.raw.status_code == 403
    hidden = client.bitable.v1.app_table_record.search(_search_req(app, tid, body))
    assert hidden.success() and not hidden.data.items and hidden.data.total == 0


def test_delete_table_removes_it_but_never_the_last_one(fs) -> None:
    from lark_oapi.api.bitable.v1 import DeleteAppTableRequest

    sim, client = fs

    def table_ids() -> list[str]:
        req = ListAppTableRequest.builder().app_token(sim.app_token).build()
        resp = client.bitable.v1.app_table.list(req)
        assert resp.success(), (resp.code, resp.msg)
        return [t.table_id for t in resp.data.items or []]

    def delete(table_id: str) -> Any:
        req = DeleteAppTableRequest.builder().app_token(sim.app_token).table_id(table_id).build()
        return client.bitable.v1.app_table.delete(req)

    keep = _create_table(client, sim.app_token, "keep").data.table_id
    gone = _create_table(client, sim.app_token, "gone").data.table_id
    sim.reset_counters()
    assert delete(gone).success() and gone not in table_ids()
    assert sim.counters_snapshot()["tables.delete"] == 1 and sim.counters_snapshot()["writes"] == 1
    assert delete(gone).code == 1254041  # no such table (any more)
    for tid in table_ids():
        if tid != keep:
            assert delete(tid).success()
    resp = delete(keep)
    assert resp.code == 1254001 and table_ids() == [keep]  # a base keeps one table
