"""The Ocean Engine contract, end to end: the real client (and the token store's OAuth client)
against the simulator in its REFERENCE mode, for every endpoint the product calls.

Each test asserts the request as it went on the wire — method, path (trailing slash), the exact
query/body names, their encodings (JSON arrays/objects as one query value, ids as decimal text),
where the token travels (``Access-Token`` header; also the ``access_token`` query parameter on
``oauth2/advertiser/get`` only; never on OAuth POSTs) — and the parsing of the reference-shaped
answer against the simulator's own data. Where a behaviour is unconfirmed the simulator has a
knob; the same tests run with each knob's other variant (``sandbox/QUIRKS.md``).

Requests are recorded by wrapping ``httpx.Client.send`` (the real transport still sends them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from integrations.retry import RetryPolicy
from integrations.sources.oceanengine import endpoints as E
from integrations.sources.oceanengine.fields import MoneyUnitMismatch
from sandbox.oceanengine.data import MOTION_COMIC_ADVERTISER_IDS
from tests.oceanengine.conftest import yesterday
from tests.oceanengine.expected import local_rows, same_modulo_blanks
from token_store.oauth import OceanEngineOAuth

INT53 = 2**53


@dataclass
class Sent:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: httpx.Headers
    body: bytes

    def q(self, name: str) -> str:
        values = self.query[name]
        assert len(values) == 1, (name, values)  # one value per name, never repeated keys
        return values[0]

    def qjson(self, name: str) -> Any:
        return json.loads(self.q(name))


@pytest.fixture
def wire(monkeypatch) -> Iterator[list[Sent]]:
    """Every request any httpx.Client sends during the test, as it went on the wire."""
    sent: list[Sent] = []
    original = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kw: Any) -> httpx.Response:
        if request.url.path.startswith("/open_api/"):
            query: dict[str, list[str]] = {}
            for k, v in request.url.params.multi_items():
                query.setdefault(k, []).append(v)
            sent.append(
                Sent(request.method, request.url.path, query, request.headers, request.read())
            )
        return original(self, request, **kw)

    monkeypatch.setattr(httpx.Client, "send", send)
    yield sent


def _only(sent: list[Sent], endpoint: str) -> list[Sent]:
    path = f"/open_api/{endpoint}/"
    return [s for s in sent if s.path == path]


def _data_call(s: Sent, token: str, names: set[str]) -> None:
    """A GET data call: the token in the header only, exactly ``names`` in the query, no body."""
    assert s.method == "GET" and s.body == b""
    assert s.headers["Access-Token"] == token
    assert "access_token" not in s.query  # only oauth2/advertiser/get carries it there
    assert set(s.query) == names, sorted(s.query)


def _page(s: Sent, size: int = 100) -> int:
    assert s.q("page_size") == str(size)
    page = int(s.q("page"))
    assert page >= 1
    return page


# --- OAuth (the token store's client) ----------------------------------------------------------


def test_oauth_exchange_and_refresh_as_sent(sb, oe, wire) -> None:
    oauth = OceanEngineOAuth(
        sb.oceanengine_url,
        str(oe.app_id),
        SecretStr(oe.app_secret),
        timeout_s=5.0,
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02),
    )
    ts = oauth.exchange_auth_code(oe.issue_auth_code())
    new = oauth.refresh("key", ts.refresh_token.get_secret_value(), ts.account_ids)
    exchange, refresh = _only(wire, "oauth2/access_token"), _only(wire, "oauth2/refresh_token")
    assert len(exchange) == len(refresh) == 1
    for s, grant, secret_field in (
        (exchange[0], "auth_code", "auth_code"),
        (refresh[0], "refresh_token", "refresh_token"),
    ):
        assert s.method == "POST" and s.query == {}
        assert s.headers["Content-Type"] == "application/json"
        assert "Access-Token" not in s.headers  # OAuth calls carry no access token
        body = json.loads(s.body)
        assert set(body) == {"app_id", "secret", "grant_type", secret_field}
        assert body["app_id"] == oe.app_id and type(body["app_id"]) is int  # int64, not text
        assert body["grant_type"] == grant
    # The reference answer parsed: lifetimes, rotation, the consent's account ids (> 2^53).
    assert set(ts.account_ids) == set(sb.data.all_account_ids())
    assert max(ts.account_ids) > INT53
    assert new.account_ids == ts.account_ids
    assert new.refresh_token.get_secret_value() != ts.refresh_token.get_secret_value()
    # Reference lifetimes (ZS/WY captures): 86399 s and 2591999 s from the same instant.
    assert ts.refresh_expires_at - ts.access_expires_at == timedelta(seconds=2591999 - 86399)


# --- accounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("accepts_header", [False, True], ids=["reference", "header-too"])
def test_advertiser_get_as_sent(sb, oe, wire, make_client, provider, accepts_header) -> None:
    oe.knobs.advertiser_get_accepts_header = accepts_header
    fetched = E.fetch_authorized_accounts(make_client())
    [s] = _only(wire, E.EP_ADVERTISER_GET)
    assert s.method == "GET" and s.body == b""
    token = provider.get()
    assert s.q("access_token") == token and set(s.query) == {"access_token"}
    assert s.headers["Access-Token"] == token  # kept: harmless, and what other endpoints read
    rows = {a.id: a for a in fetched.rows}
    assert fetched.rejections == [] and set(rows) == set(sb.data.all_account_ids())
    assert rows[sb.data.cc_account_id].account_type == "CUSTOMER_ADMIN"
    for acc in sb.data.aweme_accounts:
        assert rows[acc.account_id].kind == "AWEME"
        assert rows[acc.account_id].account_string_id == acc.aweme_sec_uid


def test_advertiser_get_header_only_is_refused_in_reference_mode(sb, oe) -> None:
    """What a client sending only the header meets in reference mode: 40104, no data."""
    code = oe.issue_auth_code()
    with httpx.Client(base_url=sb.oceanengine_url) as http:
        body = {"app_id": oe.app_id, "secret": oe.app_secret, "auth_code": code}
        token = http.post("/open_api/oauth2/access_token/", json=body).json()["data"][
            "access_token"
        ]
        r = http.get("/open_api/oauth2/advertiser/get/", headers={"Access-Token": token}).json()
    assert r["code"] == 40104 and "data" not in r


def test_customer_center_account_list_as_sent(sb, oe, wire, make_client, provider) -> None:
    rows = []
    for page, rej in E.iter_customer_center_accounts(make_client(), sb.data.cc_account_id):
        assert rej == []
        rows += page
    [s] = _only(wire, E.EP_CC_ACCOUNT_LIST)
    _data_call(s, provider.get(), {"account_id", "filter", "page", "page_size"})
    assert s.q("account_id") == str(sb.data.cc_account_id)  # int64 as decimal text
    assert s.qjson("filter") == {"account_type": "LOCAL"}  # JSON object in one query value
    assert _page(s) == 1
    assert [r.account_id for r in rows] == [a.id for a in sb.data.local_accounts]


def test_life_advertiser_list_as_sent(sb, oe, wire, make_client) -> None:
    from tests.oceanengine.token_provider import SandboxTokenProvider

    life = SandboxTokenProvider(
        sb.oceanengine_url, oe.app_id, oe.app_secret, oe.issue_auth_code([sb.data.life_account_id])
    )
    try:
        client = make_client(tokens=life)
        accounts = E.fetch_authorized_accounts(client).rows
        assert [a.account_type for a in accounts] == ["PLATFORM_ROLE_LIFE"]
        rows = E.collect(E.iter_life_local_accounts(client, accounts[0].id))
        [s] = _only(wire, E.EP_LIFE_ADVERTISER_LIST)
        _data_call(s, life.get(), {"life_account_id", "filtering", "page", "page_size"})
        assert s.q("life_account_id") == str(sb.data.life_account_id)
        assert s.qjson("filtering") == {"local_account_role": "ALL"}
        assert _page(s) == 1
        assert rows.rejections == []
        assert [r.local_account_id for r in rows.rows] == [a.id for a in sb.data.local_accounts]
        # The consent reaches the local accounts' reports through the 来客 account.
        acct = next(a.id for a in sb.data.local_accounts if not a.forbidden)
        day = yesterday(sb)
        assert E.fetch_local_promotion_report(client, acct, day, day).rows
    finally:
        life.close()


# --- 本地推 ------------------------------------------------------------------------------------


def _good(sb) -> int:
    return next(a.id for a in sb.data.local_accounts if not a.forbidden)


@pytest.mark.parametrize("aggregates", [False, True], ids=["reference", "aggregated-report"])
def test_local_report_and_promotion_list_as_sent(
    sb, oe, wire, make_client, provider, aggregates
) -> None:
    oe.knobs.report_aggregates_without_promotion_ids = aggregates
    acct, day = _good(sb), yesterday(sb)
    rows, rejections = E.fetch_local_promotion_report(make_client(), acct, day, day)
    token = provider.get()
    reports = _only(wire, E.EP_LOCAL_REPORT)
    base = {"local_account_id", "start_date", "end_date", "time_granularity", "metrics"}
    base |= {"page", "page_size"}
    first = reports[0]
    _data_call(first, token, base)  # no filtering: one walk, per-promotion rows expected
    assert first.q("start_date") == first.q("end_date") == day.isoformat()
    assert first.q("time_granularity") == "TIME_GRANULARITY_DAILY"
    metrics = first.qjson("metrics")
    assert isinstance(metrics, list) and "stat_cost" in metrics and len(metrics) >= 1
    assert first.q("metrics") == json.dumps(metrics, separators=(",", ":"))  # compact JSON
    assert _page(first) == 1
    if aggregates:  # no promotion_id dimension: list promotions, ask again with their ids
        [listing] = _only(wire, E.EP_LOCAL_PROMOTION_LIST)
        _data_call(listing, token, {"local_account_id", "filtering", "page", "page_size"})
        assert listing.qjson("filtering") == {"promotion_status_first": "PROMOTION_STATUS_ALL"}
        again = reports[1]
        _data_call(again, token, base | {"filtering"})
        ids = again.qjson("filtering")["promotion_ids"]
        assert ids == [p.promotion_id for p in sb.data.promotions(acct)][: len(ids)]
        assert all(type(i) is int and i > INT53 for i in ids)  # JSON ints, exact
    else:
        assert len(reports) == 1
    expected = local_rows(sb.data, acct, day)
    assert rejections == [] and len(rows) == len(expected) > 0
    for row in rows:
        key = (row["stat_date"], row["local_account_id"], row["promotion_id"])
        assert same_modulo_blanks(row, expected[key]) == []
        assert isinstance(row["cost"], Decimal)


# --- DOU+ --------------------------------------------------------------------------------------


@pytest.mark.parametrize("total_key", ["both", "total_num", "total_number"])
@pytest.mark.parametrize("time_format", ["datetime", "date"])
def test_douplus_order_list_as_sent(
    sb, oe, wire, make_client, provider, total_key, time_format
) -> None:
    oe.knobs.douplus_total_key = total_key
    oe.knobs.douplus_create_time_format = time_format
    aweme = sb.data.aweme_accounts[0]
    until, since = sb.data.today, sb.data.today - timedelta(days=60)
    got = E.collect(
        E.iter_douplus_orders_created(
            make_client(), aweme.aweme_sec_uid, since, until, money_unit="fen"
        )
    )
    sent = _only(wire, E.EP_DOUPLUS_ORDER_LIST)
    for s in sent:
        _data_call(s, provider.get(), {"aweme_sec_uid", "filter", "page", "page_size"})
        assert s.q("aweme_sec_uid") == aweme.aweme_sec_uid
        span = s.qjson("filter")["order_create_time"]
        assert set(span) == {"start_time", "end_time"}
    assert sent[0].qjson("filter")["order_create_time"]["start_time"] == f"{since} 00:00:00"
    if time_format == "date":  # refused once, then whole days
        assert sent[1].qjson("filter")["order_create_time"] == {
            "start_time": since.isoformat(),
            "end_time": until.isoformat(),
        }
    truth = {
        o.order_id: o
        for o in sb.data.douplus_orders(aweme.aweme_sec_uid)
        if since <= o.create_time.date() <= until
    }
    assert got.rejections == [] and {r["order_id"] for r in got.rows} == set(truth)
    for r in got.rows:
        assert r["budget"] == Decimal(truth[r["order_id"]].budget_fen) / 100
        assert r["order_id"] > INT53


@pytest.mark.parametrize(
    ("server_unit", "setting"),
    [("fen", "fen"), ("yuan", "yuan"), ("yuan", "fen")],
    ids=["reference", "yuan-api-yuan-setting", "mismatch"],
)
def test_douplus_report_as_sent(sb, oe, wire, make_client, provider, server_unit, setting) -> None:
    oe.knobs.douplus_money_unit = server_unit
    aweme = sb.data.aweme_accounts[0]
    day = next(
        yesterday(sb) - timedelta(days=i)
        for i in range(60)
        if any(
            sb.data.order_daily(o, yesterday(sb) - timedelta(days=i))
            for o in sb.data.douplus_orders(aweme.aweme_sec_uid)
        )
    )
    pages = E.iter_douplus_report(make_client(), aweme.aweme_sec_uid, day, day, money_unit=setting)
    if setting != server_unit:
        with pytest.raises(MoneyUnitMismatch, match="ADSYNC_DOUPLUS_MONEY_UNIT=yuan"):
            E.collect(pages)
        return
    got = E.collect(pages)
    [s] = _only(wire, E.EP_DOUPLUS_REPORT)
    _data_call(s, provider.get(), {"aweme_sec_uid", "stat_time", "group_by", "page", "page_size"})
    assert s.qjson("stat_time") == {"begin_time": day.isoformat(), "end_time": day.isoformat()}
    assert s.qjson("group_by") == ["GROUP_BY_AD_ID"]
    assert _page(s) == 1
    expected = {
        o.order_id: m
        for o in sb.data.douplus_orders(aweme.aweme_sec_uid)
        if (m := sb.data.order_daily(o, day)) is not None
    }
    assert got.rejections == [] and {r["order_id"] for r in got.rows} == set(expected)
    for r in got.rows:
        m = expected[r["order_id"]]
        assert r["stat_date"] == day
        assert r["cost"] == Decimal(int(m["stat_cost"])) / 100  # yuan, exact either way
        assert r["total_play"] == m["total_play"]


# --- DPA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("strings", [False, True], ids=["reference", "enum-strings"])
def test_dpa_availables_and_detail_as_sent(sb, oe, wire, make_client, provider, strings) -> None:
    oe.knobs.dpa_status_strings = strings
    client = make_client()
    adv = MOTION_COMIC_ADVERTISER_IDS[0]
    libs = E.fetch_dpa_availables(client, adv)
    [s] = _only(wire, E.EP_DPA_AVAILABLES)
    _data_call(s, provider.get(), {"advertiser_id"})
    assert s.q("advertiser_id") == str(adv)
    [lib] = libs.rows
    assert lib.platform_id > INT53 and lib.account_type == "AD"
    products = E.collect(E.iter_dpa_products(client, adv, lib.platform_id))
    sent = _only(wire, E.EP_DPA_DETAIL)
    for s in sent:
        _data_call(s, provider.get(), {"advertiser_id", "product_platform_id", "page", "page_size"})
        assert s.q("product_platform_id") == str(lib.platform_id)  # not "platform_id"
    assert [_page(s) for s in sent] == list(range(1, len(sent) + 1))
    truth = {p["product_id"]: p for p in sb.data.dpa_products(lib.platform_id)}
    assert products.rejections == [] and {r["product_id"] for r in products.rows} == set(truth)
    for r in products.rows:
        t = truth[r["product_id"]]
        assert (r["status"], r["audit_status"]) == (t["status"], t["audit_status"])


# --- errors and where the token travels on them -------------------------------------------------


@pytest.mark.parametrize("code", [50000, 50001, 50002, 50003, 50004, 50005])
def test_5xxxx_table_in_every_variant(sb, oe, wire, make_client, code) -> None:
    from integrations.sources.oceanengine.errors import OceanEngineError
    from sandbox.oceanengine.knobs import FaultRule

    oe.knobs.system_error_code = code
    oe.knobs.fault_schedule = [FaultRule(E.EP_LOCAL_REPORT, 1, "code_50000")]
    acct, day = _good(sb), yesterday(sb)
    try:
        E.fetch_local_promotion_report(make_client(), acct, day, day)
        failed = None
    except OceanEngineError as e:
        failed = e
    sent = _only(wire, E.EP_LOCAL_REPORT)
    if code in (50000, 50001, 50002):
        assert failed is None and len(sent) == 2  # retried once, then the answer
    else:
        assert failed is not None and failed.code == code and len(sent) == 1
