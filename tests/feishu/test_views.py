"""Per-account views: create, rename, patch a wrong filter, and the 200-view cap."""

from __future__ import annotations

import json
import logging

import pytest

from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY as SPEC
from integrations.feishu.views import ensure_views, sanitize_view_name, view_names
from tests.feishu.conftest import Feishu, promotion_rows, table_id

BASE_ID = 1854347260793866


def _filters(feishu: Feishu, tid: str) -> dict[str, str]:
    out = {}
    for v in feishu.sim.views(feishu.sim.app_token, tid):
        conds = ((v.get("property") or {}).get("filter_info") or {}).get("conditions") or []
        if conds:
            out[v["view_name"]] = json.loads(conds[0]["value"])[0]
    return out


def test_250_accounts_give_200_views_a_warning_and_all_records(
    feishu: Feishu, sink: BitableSink, caplog: pytest.LogCaptureFixture
) -> None:
    rows = promotion_rows(500, accounts=250)
    assert sink.upsert(SPEC, rows).created == 500
    accounts = {BASE_ID + i: f"账户{(BASE_ID + i) % 1000}" for i in range(250)}
    h = sink.ensure_table(SPEC)
    with caplog.at_level(logging.WARNING):
        res = ensure_views(sink.api, h, accounts)
    views = feishu.sim.views(feishu.sim.app_token, h.table_id)
    assert len(views) == 200  # the default view + 199 account views
    assert res.created == 199 and len(res.without_view) == 51
    assert str(BASE_ID + 249) in res.without_view[-1]
    assert "cap of 200 views" in caplog.text and str(BASE_ID + 249) in caplog.text
    assert len(feishu.sim.records(feishu.sim.app_token, h.table_id)) == 500
    # Each view filters on the account-id text field with its own id.
    f = _filters(feishu, h.table_id)
    assert f[accounts[BASE_ID]] == str(BASE_ID)
    account_field = h.fields["local_account_id"].field_id
    v0 = next(v for v in views if v["view_name"] == accounts[BASE_ID])
    assert v0["property"]["filter_info"]["conditions"][0]["field_id"] == account_field

    feishu.sim.reset_counters()
    again = ensure_views(sink.api, h, accounts)
    assert again.unchanged == 199 and feishu.writes() == 0


def test_rename_and_wrong_filter(feishu: Feishu, sink: BitableSink) -> None:
    sink.upsert(SPEC, promotion_rows(6, accounts=3))
    h = sink.ensure_table(SPEC)
    accounts = {BASE_ID: "北京店", BASE_ID + 1: "上海店", BASE_ID + 2: "广州店"}
    assert ensure_views(sink.api, h, accounts).created == 3

    # The account was renamed upstream: its view follows (found by its filter, not its name).
    accounts[BASE_ID] = "北京旗舰店"
    # Someone pointed 上海店's view at another account.
    api = sink.api
    sh = next(v for v in api.list_views(h.table_id) if v.view_name == "上海店")
    fid = h.fields["local_account_id"].field_id
    api.patch_view(h.table_id, sh.view_id, filter_conditions=[(fid, "is", '["42"]')])

    feishu.sim.reset_counters()
    res = ensure_views(api, h, accounts)
    assert (res.renamed, res.patched, res.created, res.unchanged) == (1, 1, 0, 1)
    assert feishu.writes() == 2
    f = _filters(feishu, table_id(feishu, SPEC.name))
    assert f == {"北京旗舰店": str(BASE_ID), "上海店": str(BASE_ID + 1), "广州店": str(BASE_ID + 2)}


def test_view_names_are_sanitised_and_unique() -> None:
    assert sanitize_view_name("[测试] 店", "1") == "(测试) 店"
    assert sanitize_view_name("  ", "123") == "123"
    assert len(sanitize_view_name("长" * 300, "1")) == 100
    names = view_names({"111222333": "同名", "444555666": "同名", "7": "别名"})
    assert names == {"111222333": "同名 (222333)", "444555666": "同名 (555666)", "7": "别名"}
    long = view_names({"1000001": "x" * 120, "2000001": "x" * 120})
    assert all(len(n) <= 100 for n in long.values()) and len(set(long.values())) == 2
    clash = view_names({"1000001": "a", "2000001": "a"})  # same last 6 digits
    assert len(set(clash.values())) == 2
