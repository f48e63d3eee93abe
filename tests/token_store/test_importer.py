from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.token_store.conftest import LeakGuard
from token_store.importer import ImportFormatError, parse_token_json

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
A, R = "acc-" + "1" * 28, "ref-" + "2" * 28


@pytest.fixture(autouse=True)
def _secrets(leak_guard: LeakGuard) -> None:
    leak_guard.secret(A, R)


def test_our_own_format() -> None:
    doc = {
        "access_token": A,
        "refresh_token": R,
        "access_expires_at": "2026-11-26T12:00:00+00:00",
        "refresh_expires_at": "2026-12-20T12:00:00Z",
        "account_ids": [1854347260793866],
    }
    res = parse_token_json(json.dumps(doc), now=NOW)
    assert res.estimated == []
    assert res.token_set.refresh_expires_at == datetime(2026, 12, 20, 12, tzinfo=UTC)
    assert res.token_set.account_ids == [1854347260793866]


def test_old_script_cache_nested_under_data_with_saved_time() -> None:
    saved = int((NOW - timedelta(hours=2)).timestamp())
    doc = {
        "data": {
            "access_token": A,
            "refresh_token": R,
            "expires_in": 86399,
            "refresh_token_expires_in": 2591999,
            "advertiser_ids": ["1600000000002", 1600000000003],
        },
        "timestamp": saved,  # outside "data": ignored, and ...
    }
    res = parse_token_json(json.dumps(doc), now=NOW)
    # ... without a saved-at time inside, the access token counts as expired (first use
    # refreshes) and the refresh lifetime is counted from now.
    assert res.estimated == ["access_expires_at", "refresh_expires_at"]
    assert res.token_set.access_expires_at == NOW
    assert res.token_set.refresh_expires_at == NOW + timedelta(seconds=2591999)
    assert res.token_set.account_ids == [1600000000002, 1600000000003]

    doc["data"]["create_time"] = saved * 1000  # epoch milliseconds
    res = parse_token_json(json.dumps(doc), now=NOW)
    assert res.estimated == []
    assert res.token_set.access_expires_at == NOW - timedelta(hours=2) + timedelta(seconds=86399)


def test_expires_at_epoch_and_single_advertiser_id() -> None:
    doc = {"access_token": A, "refresh_token": R, "expires_at": 1795000000, "advertiser_id": 7}
    res = parse_token_json(json.dumps(doc), now=NOW)
    assert res.token_set.access_expires_at == datetime.fromtimestamp(1795000000, UTC)
    assert res.estimated == ["refresh_expires_at"]
    assert res.token_set.account_ids == [7]


@pytest.mark.parametrize(
    "text, match",
    [
        ("not json", "not JSON"),
        (json.dumps([A, R]), "JSON object"),
        (json.dumps({"access_token": A}), "missing 'refresh_token'"),
        (json.dumps({"access_token": A, "refresh_token": R, "expires_at": "soon"}), "not a time"),
    ],
)
def test_bad_input_names_fields_never_values(leak_guard: LeakGuard, text: str, match: str) -> None:
    with pytest.raises(ImportFormatError, match=match) as e:
        parse_token_json(text, now=NOW)
    leak_guard.text(e.value)
