"""Every endpoint walker against the sandbox: all pages, date splitting, shapes, expected values."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from integrations.sources.oceanengine.endpoints import (
    EP_CC_ACCOUNT_LIST,
    EP_DOUPLUS_ORDER_LIST,
    EP_DOUPLUS_REPORT,
    EP_DPA_DETAIL,
    EP_LOCAL_PROMOTION_LIST,
    EP_LOCAL_REPORT,
    collect,
    fetch_authorized_accounts,
    fetch_dpa_availables,
    fetch_local_promotion_report,
    iter_customer_center_accounts,
    iter_douplus_orders,
    iter_douplus_report,
    iter_dpa_products,
    iter_local_promotions,
)
from sandbox.oceanengine.data import MOTION_COMIC_ADVERTISER_IDS
from sandbox.server import Sandbox
from tests.oceanengine.conftest import FAST_RETRY, yesterday
from tests.oceanengine.expected import local_rows, same_modulo_blanks
from tests.oceanengine.token_provider import SandboxTokenProvider


def _good_account(sb) -> int:
    return next(a.id for a in sb.data.local_accounts if not a.forbidden)


def test_accounts_listing(sb, oe, make_client) -> None:
    client = make_client()
    accts = collect(iter_customer_center_accounts(client, sb.data.cc_account_id))
    assert accts.rejections == []
    assert [a.account_id for a in accts.rows] == [a.id for a in sb.data.local_accounts]
    assert accts.rows[0].to_row()["account_type"] == "LOCAL"
    assert client.stats.by_endpoint() == {EP_CC_ACCOUNT_LIST: 1}

    authorized = fetch_authorized_accounts(client)
    kinds = {a.kind for a in authorized.rows}
    assert {"CUSTOMER_ADMIN", "AWEME", "ADVERTISER"} <= kinds
    aweme = [a for a in authorized.rows if a.kind == "AWEME"]
    assert {a.account_string_id for a in aweme} == {a.aweme_sec_uid for a in sb.data.aweme_accounts}


def test_accounts_listing_pages_in_parallel_in_order(oe) -> None:
    """350 accounts = 4 pages of 100: pages 2-4 fetched together, yielded in page order."""
    with Sandbox(profile="fast", seed=3, n_local_accounts=350, promotions_per_account=1) as big:
        provider = SandboxTokenProvider(
            big.oceanengine_url, big.oe.app_id, big.oe.app_secret, big.oe.issue_auth_code()
        )
        from integrations.sources.oceanengine.client import OceanEngineClient

        with OceanEngineClient(provider, base_url=big.oceanengine_url, qps=1000) as client:
            accts = collect(iter_customer_center_accounts(client, big.data.cc_account_id))
            assert [a.account_id for a in accts.rows] == [a.id for a in big.data.local_accounts]
            assert len(accts.rows) == 350
            assert client.stats.by_endpoint() == {EP_CC_ACCOUNT_LIST: 4}


def test_local_report_walks_all_pages(oe) -> None:
    """300 promotions, ~230 delivering on one day = 3 pages of 100; every row, no duplicates."""
    with Sandbox(profile="fast", seed=7, n_local_accounts=2, promotions_per_account=300) as big:
        provider = SandboxTokenProvider(
            big.oceanengine_url, big.oe.app_id, big.oe.app_secret, big.oe.issue_auth_code()
        )
        from integrations.sources.oceanengine.client import OceanEngineClient

        with OceanEngineClient(
            provider, base_url=big.oceanengine_url, qps=1000, timeout_s=5, retry=FAST_RETRY
        ) as client:
            acct, day = _good_account(big), yesterday(big)
            rows, rejections = fetch_local_promotion_report(client, acct, day, day)
            expected = local_rows(big.data, acct, day)
            assert 200 < len(expected) <= 300
            assert rejections == []
            assert {r["promotion_id"] for r in rows} == {k[2] for k in expected}
            assert len(rows) == len(expected)
            assert client.stats.by_endpoint() == {EP_LOCAL_REPORT: 3}
        provider.close()


def _small_client(box: Sandbox, **kw):
    from integrations.sources.oceanengine.client import OceanEngineClient

    provider = SandboxTokenProvider(
        box.oceanengine_url, box.oe.app_id, box.oe.app_secret, box.oe.issue_auth_code()
    )
    return OceanEngineClient(
        provider, base_url=box.oceanengine_url, qps=1000, timeout_s=5, retry=FAST_RETRY, **kw
    )


def test_local_report_splits_ranges_longer_than_365_days(oe) -> None:
    with (
        Sandbox(profile="fast", seed=3, n_local_accounts=2, promotions_per_account=2) as box,
        _small_client(box, report_max_lookback_days=None) as client,  # no lookback clamp
    ):
        acct = _good_account(box)
        end = yesterday(box)
        start = end - timedelta(days=369)  # 370 days: 365 + 5
        rows, rejections = fetch_local_promotion_report(client, acct, start, end)
        assert rejections == []
        expected = {}
        for i in range(370):
            expected.update(local_rows(box.data, acct, start + timedelta(days=i)))
        got = {(r["stat_date"], r["local_account_id"], r["promotion_id"]): r for r in rows}
        assert got.keys() == expected.keys() and len(rows) == len(expected) > 100
        for k in expected:
            assert same_modulo_blanks(got[k], expected[k]) == []
        # A span > 365 days would have been a 40001; the server saw only successes.
        codes = box.oe.counters_snapshot()["codes"][EP_LOCAL_REPORT]
        assert set(codes) == {"0"}


def test_local_report_falls_back_to_promotion_ids_when_the_api_aggregates(
    sb, oe, make_client
) -> None:
    oe.knobs.report_aggregates_without_promotion_ids = True
    client = make_client()
    acct, day = _good_account(sb), yesterday(sb)
    rows, rejections = fetch_local_promotion_report(client, acct, day, day)
    expected = local_rows(sb.data, acct, day)
    assert rejections == []
    assert {(r["stat_date"], r["local_account_id"], r["promotion_id"]) for r in rows} == set(
        expected
    )
    # 1 aggregated answer, 1 promotion list (all statuses), 1 filtered report.
    assert client.stats.by_endpoint() == {
        EP_LOCAL_REPORT: 2,
        EP_LOCAL_PROMOTION_LIST: 1,
    }


def test_local_report_with_explicit_promotion_ids_chunks_by_100(sb, oe, make_client) -> None:
    client = make_client()
    acct, day = _good_account(sb), yesterday(sb)
    ids = [p.promotion_id for p in sb.data.promotions(acct)]
    padded = ids + list(range(1, 200))  # unknown ids are fine; they force 3 chunks
    rows, _ = fetch_local_promotion_report(client, acct, day, day, promotion_ids=padded)
    assert {r["promotion_id"] for r in rows} == {k[2] for k in local_rows(sb.data, acct, day)}
    assert client.stats.by_endpoint() == {EP_LOCAL_REPORT: 3}


def test_promotion_list_includes_deleted_promotions(sb, oe, make_client) -> None:
    client = make_client()
    acct = _good_account(sb)
    got = collect(iter_local_promotions(client, acct))
    assert [p.promotion_id for p in got.rows] == [p.promotion_id for p in sb.data.promotions(acct)]


@pytest.mark.parametrize("total_key", ["total_num", "total_number"])
def test_douplus_orders_and_daily_report(oe, total_key: str) -> None:
    with Sandbox(profile="fast", seed=11, n_local_accounts=1, orders_per_aweme=230) as s:
        s.oe.knobs.douplus_total_key = total_key
        provider = SandboxTokenProvider(
            s.oceanengine_url, s.oe.app_id, s.oe.app_secret, s.oe.issue_auth_code()
        )
        from integrations.sources.oceanengine.client import OceanEngineClient

        with OceanEngineClient(
            provider, base_url=s.oceanengine_url, qps=1000, timeout_s=5, retry=FAST_RETRY
        ) as client:
            aweme = s.data.aweme_accounts[0]
            orders = collect(iter_douplus_orders(client, aweme.aweme_sec_uid, money_unit="fen"))
            truth = {o.order_id: o for o in s.data.douplus_orders(aweme.aweme_sec_uid)}
            assert orders.rejections == []
            assert len(orders.rows) == len(truth) == 230
            assert client.stats.by_endpoint()[EP_DOUPLUS_ORDER_LIST] == 3  # 100+100+30
            for row in orders.rows:
                o = truth[row["order_id"]]
                assert row["budget"] == Decimal(o.budget_fen) / 100
                assert row["task_id"] == o.task_id
                assert row["item_id"] == (o.item_id or None)
                assert row["order_create_time"] == o.create_time

            end = yesterday(s)
            start = end - timedelta(days=2)
            report = collect(
                iter_douplus_report(client, aweme.aweme_sec_uid, start, end, money_unit="fen")
            )
            assert report.rejections == []
            expected = {}
            for o in truth.values():
                for i in range(3):
                    d = start + timedelta(days=i)
                    m = s.data.order_daily(o, d)
                    if m is not None:
                        expected[(o.order_id, d)] = m
            got = {(r["order_id"], r["stat_date"]): r for r in report.rows}
            assert got.keys() == expected.keys()
            # No date dimension in the API: one request per day (each a single page here).
            assert client.stats.by_endpoint()[EP_DOUPLUS_REPORT] == 3
            for k, m in expected.items():
                assert got[k]["cost"] == Decimal(m["stat_cost"]) / 100
                assert got[k]["total_play"] == m["total_play"]
                assert got[k]["dp_target_convert_cnt"] == m["dp_target_convert_cnt"]
                # Metric parity: kept per order per day (fen → yuan; the 5s rate as served).
                conv = m["dp_target_convert_cnt"]
                fen = m["stat_cost"] // conv if conv else 0
                assert got[k]["custom_convert_cost"] == Decimal(fen) / 100
                assert got[k]["play_duration_5s_rank"] == Decimal(
                    str(m["play_duration_5s_rank"])
                ).quantize(Decimal("0.000001"))
        provider.close()


@pytest.mark.parametrize("strings", [False, True], ids=["int-statuses", "string-statuses"])
def test_dpa_availables_and_products(sb, oe, make_client, strings: bool) -> None:
    oe.knobs.dpa_status_strings = strings
    client = make_client()
    adv = MOTION_COMIC_ADVERTISER_IDS[0]
    libs = fetch_dpa_availables(client, adv)
    assert libs.rejections == [] and len(libs.rows) == 1
    assert libs.rows[0].account_type == "AD" and libs.rows[0].product_industry == "PLAYLET"
    platform_id = libs.rows[0].platform_id
    products = collect(iter_dpa_products(client, adv, platform_id))
    truth = {p["product_id"]: p for p in sb.data.dpa_products(platform_id)}
    assert products.rejections == []
    assert {r["product_id"] for r in products.rows} == truth.keys()
    assert client.stats.by_endpoint()[EP_DPA_DETAIL] == -(-len(truth) // 100)
    import json

    for r in products.rows:
        t = truth[r["product_id"]]
        assert r["product_platform_id"] == platform_id and r["advertiser_id"] == adv
        assert json.loads(r["profession_json"]) == {k: str(v) for k, v in t["profession"].items()}
        # Canonical form stored: the official int, whichever form was served.
        assert (r["status"], r["audit_status"]) == (t["status"], t["audit_status"])
    assert {r["status"] for r in products.rows} == {0, 1}
    assert {r["audit_status"] for r in products.rows} == {1, 2}


@pytest.mark.parametrize(
    ("raw", "status", "audit"),
    [
        ({"status": "STATUS_ONLINE", "audit_status": "AUDIT_STATUS_APPROVE"}, 1, 1),
        ({"status": "STATUS_OFFLINE", "audit_status": "AUDIT_STATUS_REJECT"}, 0, -1),
        ({"status": "1", "audit_status": "-1"}, 1, -1),
        ({"status": 0, "audit_status": 2}, 0, 2),
        ({"status": "-", "audit_status": None}, None, None),
    ],
)
def test_dpa_status_forms(raw, status, audit) -> None:
    from integrations.sources.oceanengine.models import DpaProduct

    p = DpaProduct.model_validate({"product_id": 1, **raw})
    assert (p.status, p.audit_status) == (status, audit)


def test_dpa_unknown_status_string_is_a_clear_rejection() -> None:
    from pydantic import ValidationError

    from integrations.sources.oceanengine.models import DpaProduct

    with pytest.raises(ValidationError, match="audit_status 'AUDIT_STATUS_WHAT' is not one of"):
        DpaProduct.model_validate({"product_id": 1, "audit_status": "AUDIT_STATUS_WHAT"})


@pytest.mark.parametrize("server_format", ["datetime", "date"])
def test_douplus_created_filter_works_in_either_server_format(sb, oe, make_client, server_format):
    from integrations.sources.oceanengine.endpoints import iter_douplus_orders_created

    oe.knobs.douplus_create_time_format = server_format
    client = make_client()
    aweme = sb.data.aweme_accounts[0]
    until = sb.data.today
    since = until - timedelta(days=30)
    want = {
        o.order_id
        for o in sb.data.douplus_orders(aweme.aweme_sec_uid)
        if since <= o.create_time.date() <= until
    }
    assert want
    for _ in range(2):  # the second listing asks in the learned format at once
        got = collect(
            iter_douplus_orders_created(client, aweme.aweme_sec_uid, since, until, money_unit="fen")
        )
        assert got.rejections == [] and {r["order_id"] for r in got.rows} == want
    pages = -(-len(want) // 100)
    codes = oe.counters_snapshot()["codes"][EP_DOUPLUS_ORDER_LIST]
    if server_format == "datetime":  # the first format tried
        assert codes == {"0": 2 * pages}
    else:  # one refusal, then the date format, remembered
        assert codes == {"40001": 1, "0": 2 * pages}
    assert client.conventions["douplus.order_create_time"] == server_format


@pytest.mark.parametrize("server_limit", [None, 30])
def test_backfill_older_than_the_lookback_is_clamped_with_a_warning(
    sb, oe, make_client, caplog, server_limit
) -> None:
    import logging

    oe.knobs.report_max_lookback_days = server_limit  # None: the server serves any start
    client = make_client(report_max_lookback_days=30)
    acct = _good_account(sb)
    today = sb.data.today
    start, end = today - timedelta(days=40), today - timedelta(days=25)
    with caplog.at_level(logging.WARNING, logger="adsync.oceanengine"):
        rows, rejections = fetch_local_promotion_report(client, acct, start, end)
    assert rejections == []
    earliest = today - timedelta(days=30)
    assert {r["stat_date"] for r in rows} == {
        earliest + timedelta(days=i) for i in range((end - earliest).days + 1)
    }
    warned = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(warned) == 1
    assert f"10 day(s) {start}..{earliest - timedelta(days=1)} left out" in warned[0]
    assert "ADSYNC_OCEANENGINE_REPORT_MAX_LOOKBACK_DAYS" in warned[0]
    assert set(oe.counters_snapshot()["codes"][EP_LOCAL_REPORT]) == {"0"}

    # A range wholly older than the lookback asks nothing; DOU+ clamps the same way.
    old = collect(
        iter_douplus_report(
            client, sb.data.aweme_accounts[0].aweme_sec_uid, start, start, money_unit="fen"
        )
    )
    assert old.rows == [] and EP_DOUPLUS_REPORT not in oe.counters_snapshot()["requests"]


def test_sandbox_rejects_report_starts_older_than_its_lookback_knob(sb, oe, make_client) -> None:
    from integrations.sources.oceanengine.errors import InvalidParams

    oe.knobs.report_max_lookback_days = 30
    client = make_client(report_max_lookback_days=None)  # the client does not clamp
    day = sb.data.today - timedelta(days=31)
    with pytest.raises(InvalidParams, match="start_date: must not be earlier than 30 days"):
        fetch_local_promotion_report(client, _good_account(sb), day, day)
