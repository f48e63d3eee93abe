"""A run under faults and hostile items equals the fault-free run and names the same skips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.retry import RetryPolicy
from integrations.sources.supplier import endpoints as ep
from integrations.sources.supplier.errors import AuthError
from integrations.sources.supplier.transforms import prices_frame, products_frame, stock_frame


def _run(served, client):
    products = ep.procurable_products(client, served.codes, page_size=10)
    codes = [p.product_code for p in products.items]
    prices = ep.prices(client, served.codes, codes, codes_per_call=10)
    stock = ep.stock(client, served.codes, codes)
    day = served.sim.china_now().date()
    at = datetime.now(UTC).replace(minute=0)  # one fixed bucket for both runs
    return (
        products_frame(products.items),
        prices_frame(prices.items, day),
        stock_frame(stock.items, at),
        [products.skipped, prices.skipped, stock.skipped],
    )


def test_chaos_equals_fault_free(served, make_client) -> None:
    k = served.sim.knobs
    k.hostile_items = True
    k.hostile_fraction = 0.15
    clean = _run(served, make_client())
    assert all(clean[3]), "the seed must give skipped items on every dataset"
    served.sim.reset_counters()
    # Seeded faults on a single-threaded client: the same sequence every time.
    k.fault_seed = 11
    k.fault_rate = {"http_500": 0.05, "html_502": 0.05, "throttle": 0.05, "token_expired": 0.02}
    chaos_client = make_client(
        retry=RetryPolicy(max_attempts=8, base_delay_s=0.005, max_delay_s=0.02)
    )
    # Stock quantities move per 30-minute bucket: compare only runs inside one bucket.
    before = served.sim.china_now()
    issued = served.sim.tokens_issued
    chaos = _run(served, chaos_client)
    after = served.sim.china_now()
    faults = served.sim.counters_snapshot()["faults"]
    assert set(faults) == {"http_500", "html_502", "throttle", "token_expired"}
    # One first token, one more per token killed mid-run (refreshed once, then retried).
    assert served.sim.tokens_issued - issued == 1 + faults["token_expired"]
    assert chaos_client.stats.snapshot()["token_refreshes"] == faults["token_expired"]
    for a, b in zip(clean[:2], chaos[:2], strict=True):
        assert a.equals(b)
    if (before.hour, before.minute // 30) == (after.hour, after.minute // 30):
        assert clean[2].equals(chaos[2])
    assert clean[3] == chaos[3]


def test_token_endpoint_faults_are_retried_and_requests_strict(served, make_client) -> None:
    import httpx

    served.sim.knobs.fault_schedule = [
        ("oauth2/auth", 1, "http_500"),
        ("oauth2/auth", 2, "html_502"),
    ]
    client = make_client()
    assert client.token()
    assert served.sim.counters_snapshot()["codes"]["oauth2/auth"] == {"500": 1, "502": 1, "200": 1}
    creds = {
        "grant_type": "client_credentials",
        "client_id": served.sim.client_id,
        "client_secret": served.sim.client_secret,
    }
    as_json = httpx.post(served.url + "/oauth2/auth", json=creds)
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    wrong = httpx.post(served.url + "/oauth2/auth", data={**creds, "grant_type": "password"})
    assert (wrong.status_code, wrong.json()["error"]) == (400, "unsupported_grant_type")
    bad = httpx.post(served.url + "/oauth2/auth", data={**creds, "client_secret": "nope"})
    assert bad.status_code == 401 and "nope" not in bad.text
    raw = httpx.post(served.url + ep.STOCK, json={}, headers={"Authorization": "Token x"})
    assert raw.status_code == 401


def test_two_expiries_in_one_call_fail_loudly(served, make_client) -> None:
    stock_ep = ep.STOCK.strip("/")
    served.sim.knobs.fault_schedule = [
        (stock_ep, 1, "token_expired"),
        (stock_ep, 2, "token_expired"),
    ]
    with pytest.raises(AuthError, match="fresh token was refused"):
        ep.stock(make_client(), served.codes, [served.sim.data.products[0].code])
