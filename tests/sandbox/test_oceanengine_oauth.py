"""Ocean Engine simulator: OAuth endpoints and token errors, over real HTTP with plain httpx."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from sandbox.oceanengine.app import OceanEngineKnobs
from tests.sandbox.oceanengine_harness import (
    OE,
    assert_big_id,
    assert_envelope,
    served_oe,
)


@pytest.fixture
def oe() -> Iterator[OE]:
    with served_oe(login=False) as h:
        yield h


def test_auth_code_exchange_returns_token_pair_and_grant(oe: OE) -> None:
    body = oe.exchange(oe.sim.issue_auth_code())
    data = assert_envelope(body)
    assert isinstance(data["access_token"], str) and len(data["access_token"]) >= 32
    assert isinstance(data["refresh_token"], str) and data["refresh_token"] != data["access_token"]
    assert data["expires_in"] == 86399
    assert data["refresh_token_expires_in"] == 2591999
    assert data["advertiser_ids"][0] == oe.data.cc_account_id
    assert_big_id(data["advertiser_ids"][0])
    assert set(data["advertiser_ids"]) == set(oe.data.all_account_ids())
    assert data["advertiser_id"] == data["advertiser_ids"][0]
    assert data["advertiser_name"] == oe.data.cc_account_name


def test_auth_code_is_single_use(oe: OE) -> None:
    code = oe.sim.issue_auth_code()
    assert oe.exchange(code)["code"] == 0
    again = oe.exchange(code)
    assert assert_envelope(again, 40110) == {}
    assert "auth_code" in again["message"]


def test_auth_code_expires_after_ten_minutes(oe: OE) -> None:
    fresh, stale = oe.sim.issue_auth_code(), oe.sim.issue_auth_code()
    oe.sim.advance_time(599)
    assert oe.exchange(fresh)["code"] == 0
    oe.sim.advance_time(2)
    assert oe.exchange(stale)["code"] == 40110


def test_unknown_auth_code_and_bad_requests(oe: OE) -> None:
    assert oe.exchange("not-a-code")["code"] == 40110
    base = {"app_id": oe.sim.app_id, "secret": oe.sim.app_secret}
    missing = oe.post("oauth2/access_token", base)
    assert missing["code"] == 40001 and "auth_code" in missing["message"]
    wrong_grant = oe.post(
        "oauth2/access_token", {**base, "grant_type": "password", "auth_code": "x"}
    )
    assert wrong_grant["code"] == 40001 and "grant_type" in wrong_grant["message"]
    # grant_type may be absent (OFF's request model has none)
    ok = oe.post("oauth2/access_token", {**base, "auth_code": oe.sim.issue_auth_code()})
    assert ok["code"] == 0
    r = oe.http.post(f"{oe.url}/open_api/oauth2/access_token/", content=b"{not json")
    assert r.status_code == 200 and r.json()["code"] == 40001


def test_wrong_app_secret_is_rejected_without_echoing_it(oe: OE) -> None:
    body = oe.post(
        "oauth2/access_token",
        {"app_id": oe.sim.app_id, "secret": "guess-secret-123", "auth_code": "x"},
    )
    assert body["code"] == 40101
    assert "guess-secret-123" not in json.dumps(body)
    assert oe.sim.app_secret not in json.dumps(body)


def test_paths_work_with_and_without_trailing_slash(oe: OE) -> None:
    body = {"app_id": oe.sim.app_id, "secret": oe.sim.app_secret}
    assert (
        oe.post("oauth2/access_token", {**body, "auth_code": oe.sim.issue_auth_code()}, False)[
            "code"
        ]
        == 0
    )
    token = oe.login()["access_token"]
    for path in ("oauth2/advertiser/get", "oauth2/advertiser/get/"):
        r = oe.http.get(f"{oe.url}/open_api/{path}", params={"access_token": token})
        assert r.json()["code"] == 0


def test_refresh_rotates_pair_and_kills_old_refresh_token(oe: OE) -> None:
    first = oe.login()
    body = oe.refresh(first["refresh_token"])
    second = assert_envelope(body)
    assert set(second) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "refresh_token_expires_in",
    }
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (second["expires_in"], second["refresh_token_expires_in"]) == (86399, 2591999)

    reused = oe.refresh(first["refresh_token"])
    assert assert_envelope(reused, 40107) == {}
    assert oe.refresh("never-issued")["code"] == 40107
    # the new refresh token works, once
    third = assert_envelope(oe.refresh(second["refresh_token"]))
    assert oe.refresh(second["refresh_token"])["code"] == 40107
    # the new access token works; the old one keeps working until its own expiry (default knob)
    for token in (third["access_token"], first["access_token"]):
        assert oe.raw_get("oauth2/advertiser/get", token).json()["code"] == 0


def test_refresh_can_revoke_the_old_access_token() -> None:
    knobs = OceanEngineKnobs(refresh_keeps_old_access_token=False)
    with served_oe(knobs=knobs) as oe:
        old = oe.tokens
        new = oe.refresh(old["refresh_token"])["data"]
        assert oe.raw_get("oauth2/advertiser/get", old["access_token"]).json()["code"] == 40105
        assert oe.raw_get("oauth2/advertiser/get", new["access_token"]).json()["code"] == 0


def test_refresh_token_expires(oe: OE) -> None:
    tokens = oe.login()
    oe.sim.advance_time(2591999 + 1)
    assert oe.refresh(tokens["refresh_token"])["code"] == 40103


def test_short_lifetimes_for_tests() -> None:
    knobs = OceanEngineKnobs(access_token_ttl_s=60, refresh_token_ttl_s=120)
    with served_oe(knobs=knobs) as oe:
        assert (oe.tokens["expires_in"], oe.tokens["refresh_token_expires_in"]) == (60, 120)
        oe.sim.advance_time(61)
        expired = oe.raw_get("oauth2/advertiser/get", oe.token).json()
        assert expired["code"] == 40102
        fresh = oe.refresh(oe.tokens["refresh_token"])["data"]
        assert oe.raw_get("oauth2/advertiser/get", fresh["access_token"]).json()["code"] == 0


def test_concurrent_refreshes_of_one_token_only_one_wins(oe: OE) -> None:
    tokens = oe.login()
    codes: list[int] = []

    def go() -> None:
        with httpx.Client() as c:
            r = c.post(
                f"{oe.url}/open_api/oauth2/refresh_token/",
                json={
                    "app_id": oe.sim.app_id,
                    "secret": oe.sim.app_secret,
                    "refresh_token": tokens["refresh_token"],
                },
            )
            codes.append(r.json()["code"])

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [0] + [40107] * 5


def test_access_token_errors(oe: OE) -> None:
    token = oe.login()["access_token"]
    missing = oe.raw_get("oauth2/advertiser/get")
    assert missing.status_code == 200
    assert missing.json()["code"] == 40104
    assert missing.json()["message"] == "The access_token is empty."
    assert "data" not in missing.json()  # as captured (ZS)
    assert oe.raw_get("oauth2/advertiser/get", "bogus").json()["code"] == 40105

    oe.sim.expire_access_tokens()
    assert oe.raw_get("oauth2/advertiser/get", token).json()["code"] == 40102
    token = oe.login()["access_token"]  # issued after the expiry: fine
    assert oe.raw_get("oauth2/advertiser/get", token).json()["code"] == 0
    oe.sim.revoke_access_tokens()
    assert oe.raw_get("oauth2/advertiser/get", token).json()["code"] == 40105
    # refresh tokens survive a revocation: the token store recovers by refreshing
    new = oe.refresh(oe.tokens["refresh_token"])["data"]
    assert oe.raw_get("oauth2/advertiser/get", new["access_token"]).json()["code"] == 0


def test_advertiser_get_lists_granted_accounts(oe: OE) -> None:
    oe.login()
    data = assert_envelope(oe.get("oauth2/advertiser/get"))
    assert "page_info" not in data
    rows = {r["account_id"]: r for r in data["list"]}
    assert set(rows) == set(oe.data.all_account_ids())
    cc = rows[oe.data.cc_account_id]
    assert_big_id(cc["account_id"])
    assert cc["account_type"] == "CUSTOMER_ADMIN" and cc["account_name"] == oe.data.cc_account_name
    for acc in oe.data.aweme_accounts:
        row = rows[acc.account_id]
        assert row["account_type"] == "PLATFORM_ROLE_AWEME"
        assert row["account_string_id"] == acc.aweme_sec_uid
        assert row["advertiser_role"] == 10
    for adv in oe.data.dpa_advertisers:
        assert rows[adv.advertiser_id]["account_type"] == "ADVERTISER"  # oauth2 enum
    for row in rows.values():
        assert row["is_valid"] is True and isinstance(row["company_list"], list)
        assert type(row["advertiser_id"]) is int and row["advertiser_id"] == row["account_id"]
        if row["account_type"] != "PLATFORM_ROLE_AWEME":
            assert "account_string_id" not in row


def test_advertiser_get_accepts_query_token_and_partial_grants(oe: OE) -> None:
    aweme = oe.data.aweme_accounts[0].account_id
    token = oe.login([aweme])["access_token"]
    r = oe.http.get(f"{oe.url}/open_api/oauth2/advertiser/get/", params={"access_token": token})
    rows = assert_envelope(r.json())["list"]
    assert [row["account_id"] for row in rows] == [aweme]
    # BUB also sends app_id + secret in the query: checked when present
    bad = oe.raw_get("oauth2/advertiser/get", token, app_id=oe.sim.app_id, secret="nope")
    assert bad.json()["code"] == 40101


def test_advertiser_get_header_only_is_40104_unless_the_knob_accepts_it(oe: OE) -> None:
    token = oe.login()["access_token"]
    url = f"{oe.url}/open_api/oauth2/advertiser/get/"
    header_only = oe.http.get(url, headers={"Access-Token": token}).json()
    assert header_only["code"] == 40104 and "data" not in header_only  # reference mode
    other = oe.http.get(url, headers={"Access-Token": token}, params={"access_token": "bogus"})
    assert other.json()["code"] == 40105  # the query wins: it is where the token is read
    oe.sim.knobs.advertiser_get_accepts_header = True
    try:
        assert oe.http.get(url, headers={"Access-Token": token}).json()["code"] == 0
    finally:
        oe.sim.knobs.advertiser_get_accepts_header = False
    # Every other endpoint reads the header only (official Go SDK middleware/auth.go).
    cc = oe.data.cc_account_id
    r = oe.http.get(
        f"{oe.url}/open_api/v3.0/customer_center/account/list/",
        params={"access_token": token, "account_id": cc, "filter": '{"account_type":"LOCAL"}'},
    )
    assert r.json()["code"] == 40104


def test_wrong_method_and_unknown_endpoint(oe: OE) -> None:
    assert oe.http.get(f"{oe.url}/open_api/oauth2/access_token/").status_code == 405
    assert oe.http.get(f"{oe.url}/open_api/v9/nothing/here/").status_code == 404
