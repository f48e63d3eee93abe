"""Ocean Engine simulator data endpoints: shapes and types per the contract, limits, error paths."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from sandbox.oceanengine.app import OceanEngineKnobs
from sandbox.oceanengine.data import MOTION_COMIC_ADVERTISER_IDS, SandboxData
from tests.sandbox.oceanengine_harness import (
    OE,
    assert_big_id,
    assert_envelope,
    assert_page_info,
    served_oe,
)


@pytest.fixture(scope="module")
def oe() -> Iterator[OE]:
    with served_oe() as h:
        yield h


def _ok_local(oe: OE) -> int:
    return next(a.id for a in oe.data.local_accounts if not a.forbidden)


def _forbidden_local(oe: OE) -> int:
    (acc,) = [a for a in oe.data.local_accounts if a.forbidden]
    return acc.id


# --- every data endpoint needs a token ------------------------------------------------------

DATA_ENDPOINTS = [
    "v3.0/customer_center/account/list",
    "v3.0/local/promotion/list",
    "v3.0/local/report/promotion/get",
    "v3.0/douplus/order/list",
    "v3.0/douplus/order/report",
    "2/dpa/product/availables",
    "2/dpa/detail/get",
]


@pytest.mark.parametrize("endpoint", DATA_ENDPOINTS)
def test_data_endpoints_require_access_token(oe: OE, endpoint: str) -> None:
    r = oe.raw_get(endpoint)
    assert r.status_code == 200
    assert r.json()["code"] == 40104
    assert oe.raw_get(endpoint, "unknown-token").json()["code"] == 40105


# --- customer center ---------------------------------------------------------------------------


def _cc(oe: OE, **kw: object) -> dict:
    params = {"account_id": oe.data.cc_account_id, "filter": {"account_type": "LOCAL"}, **kw}
    return oe.get("v3.0/customer_center/account/list", **params)


def test_customer_center_lists_local_accounts_across_pages(oe: OE) -> None:
    seen = []
    for page in (1, 2, 3):
        data = assert_envelope(_cc(oe, page=page, page_size=3))
        assert_page_info(data["page_info"], page, 3, 7)
        seen += data["accounts"]
    assert len(seen) == 7
    for row, acc in zip(seen, oe.data.local_accounts, strict=True):
        assert set(row) == {"account_id", "account_name", "account_type"}
        assert_big_id(row["account_id"])
        assert row == {"account_id": acc.id, "account_name": acc.name, "account_type": "LOCAL"}
    assert any(ord(ch) > 0x1F000 for r in seen for ch in r["account_name"])  # emoji survive


def test_customer_center_defaults_and_filters(oe: OE) -> None:
    data = assert_envelope(_cc(oe))
    assert_page_info(data["page_info"], 1, 10, 7)
    target = oe.data.local_accounts[2]
    by_id = assert_envelope(_cc(oe, filter={"account_type": "LOCAL", "account_ids": [target.id]}))
    assert [a["account_id"] for a in by_id["accounts"]] == [target.id]
    by_name = assert_envelope(
        _cc(oe, filter={"account_type": "LOCAL", "account_name": target.name[:6]})
    )
    assert target.id in [a["account_id"] for a in by_name["accounts"]]
    assert assert_envelope(_cc(oe, filter={"account_type": "AD"}))["accounts"] == []


@pytest.mark.parametrize(
    "params, needle",
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 101}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": 101, "page_size": 100}, "10000"),
        ({"filter": {}}, "account_type"),
        ({"filter": {"account_type": "DOU+"}}, "account_type"),
        ({"filter": "{oops"}, "filter"),
        ({"filter": {"account_type": "LOCAL", "account_ids": ["x"]}}, "account_ids"),
    ],
)
def test_customer_center_validation(oe: OE, params: dict, needle: str) -> None:
    body = _cc(oe, **params)
    assert_envelope(body, 40001)
    assert needle in body["message"]


def test_customer_center_needs_filter_and_a_workbench_account(oe: OE) -> None:
    body = oe.get("v3.0/customer_center/account/list", account_id=oe.data.cc_account_id)
    assert body["code"] == 40001 and "filter" in body["message"]
    aweme_id = oe.data.aweme_accounts[0].account_id
    body = _cc(oe, account_id=aweme_id)
    assert body["code"] == 40002
    assert str(aweme_id) in body["message"]


def test_customer_center_scales_to_ten_thousand_accounts() -> None:
    data = SandboxData.generate(seed=7, n_local_accounts=10_050, promotions_per_account=50)
    with served_oe(data) as oe:
        last = assert_envelope(_cc(oe, page=100, page_size=100))
        assert len(last["accounts"]) == 100
        assert_page_info(last["page_info"], 100, 100, 10_050)
        assert _cc(oe, page=101, page_size=100)["code"] == 40001  # beyond the first 10,000
        far = data.local_accounts[9_999].id
        promos = oe.get("v3.0/local/promotion/list", local_account_id=far, page_size=100)
        assert assert_envelope(promos)["page_info"]["total_number"] <= 50


# --- 本地推 promotion list ----------------------------------------------------------------------


def test_promotion_list_shape_and_status_filter(oe: OE) -> None:
    acc = _ok_local(oe)
    data = assert_envelope(oe.get("v3.0/local/promotion/list", local_account_id=acc, page_size=100))
    promos = oe.data.promotions(acc)
    not_deleted = [p for p in promos if p.status_first != "PROMOTION_STATUS_DELETED"]
    assert_page_info(data["page_info"], 1, 100, len(not_deleted))
    row = data["promotion_list"][0]
    for key in ("promotion_id", "project_id", "local_account_id", "aweme_id"):
        assert_big_id(row[key])
    assert row["local_account_id"] == acc
    assert isinstance(row["opt_status"], int)
    assert isinstance(row["promotion_status_second"], list)
    assert len(row["promotion_create_time"]) == 19  # yyyy-MM-dd HH:mm:ss
    every = oe.get(
        "v3.0/local/promotion/list",
        local_account_id=acc,
        page_size=100,
        filtering={"promotion_status_first": "PROMOTION_STATUS_ALL"},
    )
    assert assert_envelope(every)["page_info"]["total_number"] == len(promos)
    some = [p.promotion_id for p in promos[:3]]
    picked = oe.get(
        "v3.0/local/promotion/list",
        local_account_id=acc,
        filtering={"promotion_ids": some, "promotion_status_first": "PROMOTION_STATUS_ALL"},
    )
    assert [r["promotion_id"] for r in assert_envelope(picked)["promotion_list"]] == some


def test_promotion_list_errors(oe: OE) -> None:
    ok = _ok_local(oe)
    forbidden = oe.get("v3.0/local/promotion/list", local_account_id=_forbidden_local(oe))
    assert assert_envelope(forbidden, 40002) == {}
    assert oe.get("v3.0/local/promotion/list", local_account_id=12345)["code"] == 40002
    assert oe.get("v3.0/local/promotion/list")["code"] == 40001
    too_many = oe.get(
        "v3.0/local/promotion/list",
        local_account_id=ok,
        filtering={"promotion_ids": list(range(101))},
    )
    assert too_many["code"] == 40001
    assert oe.get("v3.0/local/promotion/list", local_account_id=ok, page_size=101)["code"] == 40001


# --- 本地推 report ------------------------------------------------------------------------------


def _report(oe: OE, acc: int, start, end, **kw: object) -> dict:
    params = {
        "local_account_id": acc,
        "start_date": str(start),
        "end_date": str(end),
        "metrics": ["stat_cost", "show_cnt", "click_cnt", "ctr", "convert_cnt"],
        "page_size": 100,
        **kw,
    }
    return oe.get("v3.0/local/report/promotion/get", **params)


def test_report_daily_rows_match_the_data_and_page_cleanly(oe: OE) -> None:
    acc, today = _ok_local(oe), oe.data.today
    start, end = today - timedelta(days=29), today - timedelta(days=1)
    rows, page = [], 1
    while True:
        data = assert_envelope(_report(oe, acc, start, end, page=page, page_size=50))
        rows += data["promotion_list"]
        if page >= data["page_info"]["total_page"]:
            break
        page += 1
    expected = [
        r for i in range(30 - 1) for r in oe.data.promotion_daily(acc, start + timedelta(days=i))
    ]
    assert data["page_info"]["total_number"] == len(expected) == len(rows) > 100
    assert [(r["stat_time_day"], r["promotion_id"]) for r in rows] == [
        (r["stat_time_day"], r["promotion_id"]) for r in expected
    ]
    row = rows[0]
    assert set(row) == {
        "promotion_id", "promotion_name", "project_id", "project_name", "stat_time_day",
        "stat_cost", "show_cnt", "click_cnt", "ctr", "convert_cnt",
    }  # fmt: skip
    assert_big_id(row["promotion_id"])
    assert_big_id(row["project_id"])
    assert type(row["show_cnt"]) is int and type(row["click_cnt"]) is int
    assert isinstance(row["stat_cost"], float | int) and isinstance(row["ctr"], float | int)
    assert row["stat_cost"] == expected[0]["stat_cost"]


def test_report_filters_and_orders(oe: OE) -> None:
    acc, today = _ok_local(oe), oe.data.today
    day = today - timedelta(days=10)
    all_rows = assert_envelope(_report(oe, acc, day, day))["promotion_list"]
    pick = [all_rows[0]["promotion_id"], all_rows[-1]["promotion_id"]]
    picked = _report(oe, acc, day, day, filtering={"promotion_ids": pick})
    assert {r["promotion_id"] for r in assert_envelope(picked)["promotion_list"]} == set(pick)
    by_cost = _report(oe, acc, day, day, order_field="stat_cost", order_type="DESC")
    costs = [r["stat_cost"] for r in assert_envelope(by_cost)["promotion_list"]]
    assert costs == sorted(costs, reverse=True)
    total = _report(
        oe, acc, day, day + timedelta(days=2), time_granularity="TIME_GRANULARITY_TOTAL"
    )
    trow = assert_envelope(total)["promotion_list"][0]
    assert "stat_time_day" not in trow and "promotion_id" in trow


def test_report_validation(oe: OE) -> None:
    acc, today = _ok_local(oe), oe.data.today
    y = today - timedelta(days=1)
    cases = [
        (dict(page_size=25), "page_size"),
        (dict(page_size=0), "page_size"),
        (dict(metrics=[]), "metrics"),
        (dict(metrics=["stat_cost", "not_a_metric"]), "metrics"),
        (dict(metrics="stat_cost"), "metrics"),  # not JSON-encoded
        (dict(start_date="2025/01/01"), "start_date"),
        (dict(order_field="click_cnt", metrics=["stat_cost"]), "order_field"),
        (dict(time_granularity="DAILY"), "time_granularity"),
    ]
    for kw, needle in cases:
        params = {"start": y, "end": y}
        body = _report(oe, acc, params["start"], params["end"], **kw)
        assert body["code"] == 40001, (kw, body)
        assert needle in body["message"], (kw, body)
    missing = oe.get(
        "v3.0/local/report/promotion/get", local_account_id=acc, start_date=str(y), end_date=str(y)
    )
    assert missing["code"] == 40001 and "metrics" in missing["message"]
    assert _report(oe, acc, y, y - timedelta(days=1))["code"] == 40001  # end before start


def test_report_span_limit_is_365_days(oe: OE) -> None:
    acc, end = _ok_local(oe), oe.data.today
    assert _report(oe, acc, end - timedelta(days=364), end)["code"] == 0
    too_long = _report(oe, acc, end - timedelta(days=365), end)
    assert too_long["code"] == 40001 and "365" in too_long["message"]
    hourly = _report(
        oe, acc, end - timedelta(days=7), end, time_granularity="TIME_GRANULARITY_HOURLY"
    )
    assert hourly["code"] == 40001 and "7 days" in hourly["message"]


def test_report_forbidden_account_is_40002(oe: OE) -> None:
    y = oe.data.today - timedelta(days=1)
    body = _report(oe, _forbidden_local(oe), y, y)
    assert assert_envelope(body, 40002) == {}
    assert _report(oe, 999, y, y)["code"] == 40002


def test_report_recent_days_change_then_settle() -> None:
    data = SandboxData.generate(seed=3)
    with served_oe(data) as oe:
        acc, today = _ok_local(oe), data.today
        recent, old = today - timedelta(days=1), today - timedelta(days=6)

        def cost(day) -> float:
            rows = assert_envelope(_report(oe, acc, day, day))["promotion_list"]
            return round(sum(r["stat_cost"] for r in rows), 2)

        before = (cost(recent), cost(old))
        data.today = today + timedelta(days=1)  # a day later, same server
        after = (cost(recent), cost(old))
        assert after[0] > before[0]  # late data still arriving for a 1-day-old day
        assert after[1] == before[1]  # a 6-day-old day is settled
        data.today = today + timedelta(days=10)
        assert cost(recent) > after[0]


def test_report_can_aggregate_without_promotion_ids() -> None:
    knobs = OceanEngineKnobs(report_aggregates_without_promotion_ids=True)
    with served_oe(knobs=knobs) as oe:
        acc, y = _ok_local(oe), oe.data.today - timedelta(days=2)
        rows = assert_envelope(_report(oe, acc, y, y))["promotion_list"]
        assert len(rows) == 1 and "promotion_id" not in rows[0]
        expected = sum(r["show_cnt"] for r in oe.data.promotion_daily(acc, y))
        assert rows[0]["show_cnt"] == expected and rows[0]["stat_time_day"] == str(y)


# --- DOU+ ----------------------------------------------------------------------------------------


def _sec(oe: OE, i: int = 0) -> str:
    return oe.data.aweme_accounts[i].aweme_sec_uid


def test_douplus_order_list_shape(oe: OE) -> None:
    data = assert_envelope(oe.get("v3.0/douplus/order/list", aweme_sec_uid=_sec(oe), page_size=100))
    info = data["page_info"]
    assert info["total_num"] == info["total_number"] == oe.data.orders_per_aweme
    assert info["total_page"] == 1
    orders = data["order_list"]
    assert len(orders) == 12
    times = [o["order"]["order_create_time"] for o in orders]
    assert times == sorted(times, reverse=True)  # CREATE_TIME DESC by default
    video_of: dict[int, list[int]] = {}
    for o in orders:
        order, ad = o["order"], o["ad_list"][0]
        assert_big_id(order["order_id"])
        assert_big_id(order["task_id"])
        assert_big_id(ad["ad_id"])
        assert type(order["budget"]) is int and order["budget"] % 100 == 0  # fen
        assert order["task_status"] in ("DELIVERING", "DELIVERIED")
        assert isinstance(ad["delivery_time"], float)
        assert set(o["live_room_info"]) >= {"room_id", "room_status"}
        if order["scene_type"] == "VIDEO":
            (item,) = o["item_info_list"]
            assert_big_id(item["aweme_item_id"])
            video_of.setdefault(item["aweme_item_id"], []).append(order["order_id"])
        else:
            assert o["item_info_list"] == []
    assert max(len(v) for v in video_of.values()) >= 2  # several orders per video


def test_douplus_order_list_filters_and_errors(oe: OE) -> None:
    first = oe.data.douplus_orders(_sec(oe))[0]
    one = oe.get(
        "v3.0/douplus/order/list", aweme_sec_uid=_sec(oe), filter={"order_id": [first.order_id]}
    )
    assert [o["order"]["order_id"] for o in assert_envelope(one)["order_list"]] == [first.order_id]
    page0 = oe.get("v3.0/douplus/order/list", aweme_sec_uid=_sec(oe), page=0, page_size=5)
    assert assert_envelope(page0)["page_info"]["page"] == 1  # 0 treated as the first page
    assert oe.get("v3.0/douplus/order/list", aweme_sec_uid=_sec(oe), page_size=101)["code"] == 40001
    bad = oe.get("v3.0/douplus/order/list", aweme_sec_uid=_sec(oe), filter={"status": ["NOPE"]})
    assert bad["code"] == 40001
    assert oe.get("v3.0/douplus/order/list")["code"] == 40001
    assert oe.get("v3.0/douplus/order/list", aweme_sec_uid="MS4wLjABAAAAnope")["code"] == 40002


def test_douplus_requires_the_aweme_account_in_the_grant() -> None:
    data = SandboxData.generate()
    with served_oe(data, login=False) as oe:
        oe.login([data.aweme_accounts[0].account_id])
        assert oe.get("v3.0/douplus/order/list", aweme_sec_uid=_sec(oe, 0))["code"] == 0
        assert oe.get("v3.0/douplus/order/list", aweme_sec_uid=_sec(oe, 1))["code"] == 40002
        y = str(data.today)
        cc = _cc(oe)
        assert cc["code"] == 40002
        assert _report(oe, _ok_local(oe), y, y)["code"] == 40002


def test_douplus_total_key_knob() -> None:
    with served_oe(knobs=OceanEngineKnobs(douplus_total_key="total_num")) as oe:
        info = assert_envelope(oe.get("v3.0/douplus/order/list", aweme_sec_uid=_sec(oe)))[
            "page_info"
        ]
        assert "total_number" not in info and info["total_num"] == 12


def _order_report(oe: OE, begin, end, **kw: object) -> dict:
    stat_time = {"begin_time": str(begin), "end_time": str(end)}
    return oe.get("v3.0/douplus/order/report", aweme_sec_uid=_sec(oe), stat_time=stat_time, **kw)


def test_douplus_report_per_order_in_fen(oe: OE) -> None:
    today = oe.data.today
    orders = oe.data.douplus_orders(_sec(oe))
    for day in (today - timedelta(days=i) for i in range(1, 45)):
        expected = {o.order_id: m for o in orders if (m := oe.data.order_daily(o, day)) is not None}
        if expected:
            break
    data = assert_envelope(_order_report(oe, day, day, page_size=100))
    assert_page_info(data["page_info"], 1, 100, len(expected))
    assert data["page_info"]["total_num"] == len(expected)
    got = {r["dimension_data"]["order_id"]: r for r in data["order_metrics"]}
    assert set(got) == set(expected)
    row = next(iter(got.values()))
    dim, met = row["dimension_data"], row["metrics_data"]
    assert set(dim) == {
        "order_id",
        "task_id",
        "advertiser_id",
        "ad_id",
        "is_fans",
        "item_id",
        "room_id",
    }
    assert_big_id(dim["order_id"])
    assert dim["item_id"] == 0 and dim["room_id"] == 0  # not filled when grouping by ad
    assert type(met["stat_cost"]) is int  # fen
    assert isinstance(met["play_duration_5s_rank"], float | int)
    assert met["stat_cost"] == expected[dim["order_id"]]["stat_cost"]


def test_douplus_report_window_sums_days(oe: OE) -> None:
    order = oe.data.douplus_orders(_sec(oe))[1]
    days = order.days()
    data = assert_envelope(
        _order_report(oe, days[0], days[-1], filter={"order_ids": [order.order_id]})
    )
    (row,) = data["order_metrics"]
    daily = [oe.data.order_daily(order, d) for d in days]
    assert row["metrics_data"]["stat_cost"] == sum(m["stat_cost"] for m in daily if m)


def test_douplus_report_creative_grouping_and_validation(oe: OE) -> None:
    today = oe.data.today
    start = today - timedelta(days=60)
    orders = [o for o in oe.data.douplus_orders(_sec(oe)) if o.scene_type == "VIDEO"][:2]
    creative = _order_report(
        oe,
        start,
        today,
        group_by=["GROUP_BY_AD_ID", "GROUP_BY_CREATIVE_ID"],
        filter={"order_ids": [o.order_id for o in orders]},
    )
    rows = assert_envelope(creative)["order_metrics"]
    assert {r["dimension_data"]["item_id"] for r in rows} == {o.item_id for o in orders}
    no_ids = _order_report(oe, start, today, group_by=["GROUP_BY_AD_ID", "GROUP_BY_CREATIVE_ID"])
    assert no_ids["code"] == 40001 and "order_ids" in no_ids["message"]
    assert _order_report(oe, today - timedelta(days=179), today)["code"] == 0
    too_long = _order_report(oe, today - timedelta(days=180), today)
    assert too_long["code"] == 40001 and "180" in too_long["message"]
    assert _order_report(oe, today, today, page_size=101)["code"] == 40001
    assert oe.get("v3.0/douplus/order/report", aweme_sec_uid=_sec(oe))["code"] == 40001
    bad_json = oe.get("v3.0/douplus/order/report", aweme_sec_uid=_sec(oe), stat_time="2025-01-01")
    assert bad_json["code"] == 40001


# --- DPA ---------------------------------------------------------------------------------------


def test_dpa_availables_for_motion_comic_advertisers(oe: OE) -> None:
    for adv in MOTION_COMIC_ADVERTISER_IDS:
        data = assert_envelope(oe.get("2/dpa/product/availables", advertiser_id=adv))
        (lib,) = data["list"]
        assert_big_id(lib["platform_id"])
        assert lib["account_id"] == adv and isinstance(lib["name"], str)
    cc = oe.get("2/dpa/product/availables", advertiser_id=oe.data.cc_account_id)
    assert cc["code"] == 40002
    assert oe.get("2/dpa/product/availables", advertiser_id=123)["code"] == 40002
    assert oe.get("2/dpa/product/availables")["code"] == 40001


def _library(oe: OE, adv: int) -> int:
    return oe.get("2/dpa/product/availables", advertiser_id=adv)["data"]["list"][0]["platform_id"]


def test_dpa_detail_pages_products_with_profession_strings(oe: OE) -> None:
    adv = MOTION_COMIC_ADVERTISER_IDS[0]
    lib = _library(oe, adv)
    products, page = [], 1
    while True:
        data = assert_envelope(
            oe.get(
                "2/dpa/detail/get",
                advertiser_id=adv,
                product_platform_id=lib,
                page=page,
                page_size=30,
            )
        )
        products += data["list"]
        if page >= data["page_info"]["total_page"]:
            break
        page += 1
    assert_page_info(data["page_info"], page, 30, 100)
    assert len(products) == 100 == len({p["product_id"] for p in products})
    malformed = 0
    for p in products:
        assert_big_id(p["product_id"])
        assert p["platform_id"] == lib
        assert isinstance(p["first_category_id"], str)
        prof = p["profession"]
        assert all(isinstance(v, str) for v in prof.values())
        qs = parse_qs(urlparse(prof["album_link"]).query)
        if qs.get("playlet_id") == [prof["album_id"]]:
            assert prof["album_link"].startswith("https://")
        else:
            malformed += 1
    assert 1 <= malformed <= 15


def test_dpa_detail_filters_and_errors(oe: OE) -> None:
    adv = MOTION_COMIC_ADVERTISER_IDS[1]
    lib = _library(oe, adv)
    first = oe.data.dpa_products(lib)[5]
    one = oe.get(
        "2/dpa/detail/get",
        advertiser_id=adv,
        product_platform_id=lib,
        filtering={"product_id": first["product_id"]},
    )
    assert [p["product_id"] for p in assert_envelope(one)["list"]] == [first["product_id"]]
    default = assert_envelope(
        oe.get("2/dpa/detail/get", advertiser_id=adv, product_platform_id=lib)
    )
    assert default["page_info"]["page_size"] == 20
    big = oe.get("2/dpa/detail/get", advertiser_id=adv, product_platform_id=lib, page_size=101)
    assert big["code"] == 40001
    other_lib = _library(oe, MOTION_COMIC_ADVERTISER_IDS[0])
    wrong = oe.get("2/dpa/detail/get", advertiser_id=adv, product_platform_id=other_lib)
    assert wrong["code"] == 40001 and "product_platform_id" in wrong["message"]
    assert oe.get("2/dpa/detail/get", advertiser_id=adv)["code"] == 40001
    assert oe.get("2/dpa/detail/get", advertiser_id=1, product_platform_id=lib)["code"] == 40002
