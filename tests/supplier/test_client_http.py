"""The supplier client against the simulator over loopback: auth, renewal, 401, faults, secrets."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from integrations.sources.supplier import endpoints as ep
from integrations.sources.supplier.client import RetryPolicy, SupplierClient
from integrations.sources.supplier.errors import ApiError, AuthError, Transient
from integrations.sources.supplier.tokens import CachedToken, MemoryTokenCache, TokenCache
from sandbox.supplier.knobs import FaultRule
from tests.supplier.conftest import FAST_RETRY, Clock

STOCK_EP = ep.STOCK.strip("/")
PRODUCTS_EP = ep.PRODUCTS.strip("/")


def test_token_cached_and_reused(served, make_client) -> None:
    client = make_client()
    codes = served.codes
    ep.stock(client, codes, [served.sim.data.products[0].code])
    ep.prices(client, codes, [served.sim.data.products[0].code])
    assert client.grants == 1
    assert served.sim.counters_snapshot()["requests"]["oauth2/auth"] == 1


def test_renewed_before_expiry(served, make_client) -> None:
    served.sim.knobs.token_ttl_s = 600
    clock = Clock()
    client = make_client(clock=clock, renew_margin_s=60)
    code = served.sim.data.products[0].code
    ep.stock(client, served.codes, [code])
    clock.advance(500)  # 100 s left: more than the margin, still used
    ep.stock(client, served.codes, [code])
    assert client.grants == 1
    clock.advance(50)  # 50 s left: inside the margin, renewed before the server expires it
    ep.stock(client, served.codes, [code])
    assert client.grants == 2
    codes = served.sim.counters_snapshot()["codes"][STOCK_EP]
    assert codes == {"200": 3}  # never a 401: renewal happened before expiry


@pytest.mark.parametrize("how", ["lifetime", "revoked"])
def test_expired_mid_run_reauthenticates_once(served, make_client, how) -> None:
    client = make_client()
    codes = [p.code for p in served.sim.data.products[:3]]
    ep.stock(client, served.codes, codes[:1])
    if how == "lifetime":
        served.sim.advance_time(8000)  # past the 7200 s lifetime, the client does not know
    else:
        served.sim.expire_tokens()
    out = ep.stock(client, served.codes, codes)
    assert [s.product_code for s in out.items] == codes
    assert client.grants == 2
    assert served.sim.counters_snapshot()["codes"][STOCK_EP] == {"200": 4, "401": 1}


def test_token_expired_fault_mid_run(served, make_client) -> None:
    served.sim.knobs.fault_schedule = [FaultRule(STOCK_EP, 2, "token_expired")]
    client = make_client()
    codes = [p.code for p in served.sim.data.products[:4]]
    out = ep.stock(client, served.codes, codes)
    assert len(out.items) == 4 and not out.skipped
    assert client.grants == 2


def test_second_401_is_an_auth_error(served, make_client) -> None:
    # The server kills the token on both the first call and the retry after re-authenticating.
    served.sim.knobs.fault_schedule = [
        (STOCK_EP, 1, "token_expired"),
        (STOCK_EP, 2, "token_expired"),
    ]
    client = make_client()
    with pytest.raises(AuthError) as e:
        ep.stock(client, served.codes, [served.sim.data.products[0].code])
    assert e.value.code == 401
    assert client.grants == 2  # re-authenticated exactly once


def test_bad_credentials_name_the_settings_not_the_secret(served) -> None:
    secret = "wrong-secret-abcdef123456"
    client = SupplierClient(
        base_url=served.url, client_id=served.sim.client_id, client_secret=secret, retry=FAST_RETRY
    )
    with pytest.raises(AuthError) as e:
        client.token()
    assert "ADSYNC_SUPPLIER_CLIENT_SECRET" in str(e.value)
    assert secret not in str(e.value) and secret not in repr(e.value)
    client.close()


@pytest.mark.parametrize(
    ("kind", "throttle_style"),
    [
        ("http_500", "http_429"),
        ("html_502", "http_429"),
        ("timeout", "http_429"),
        ("throttle", "http_429"),
        ("throttle", "envelope"),
    ],
)
def test_faults_are_retried(served, make_client, kind, throttle_style) -> None:
    if kind == "timeout":
        served.sim.knobs.timeout_sleep_s = 2.0
    served.sim.knobs.throttle_style = throttle_style
    served.sim.knobs.fault_schedule = [(STOCK_EP, 1, kind), (STOCK_EP, 2, kind)]
    client = make_client(timeout_s=0.5)
    code = served.sim.data.products[0].code
    out = ep.stock(client, served.codes, [code])
    assert [s.product_code for s in out.items] == [code]
    snap = served.sim.counters_snapshot()
    assert snap["requests"][STOCK_EP] == 3
    assert snap["faults"] == {kind: 2}


def test_faults_beyond_the_budget_raise(served, make_client) -> None:
    served.sim.knobs.fault_schedule = [(STOCK_EP, n, "http_500") for n in range(1, 10)]
    client = make_client()
    with pytest.raises(Transient):
        ep.stock(client, served.codes, [served.sim.data.products[0].code])
    assert served.sim.counters_snapshot()["requests"][STOCK_EP] == FAST_RETRY.attempts


def test_rate_limit_throttling_retried(served, make_client) -> None:
    served.sim.knobs.rate_limit = 2
    # Every retry waits at least 1.05 s: the simulator's one-second window is clear by then
    # however slow the machine is.
    client = make_client(retry=RetryPolicy(attempts=3, initial_wait_s=1.05, max_wait_s=2.0))
    codes = [p.code for p in served.sim.data.products[:6]]
    out = ep.stock(client, served.codes, codes)
    assert [s.product_code for s in out.items] == codes
    assert served.sim.counters_snapshot()["codes"][STOCK_EP]["200"] == 6


@pytest.mark.parametrize("style", ["wrapped", "bare"])
def test_business_error_is_final_in_both_envelopes(served, make_client, style) -> None:
    served.sim.knobs.envelope_style = style
    client = make_client()
    with pytest.raises(ApiError) as e:
        ep.stock(client, served.codes, ["NO-SUCH-CODE"])
    assert "productCode" in str(e.value)
    assert served.sim.counters_snapshot()["requests"][STOCK_EP] == 1  # not retried
    out = ep.logistics(client, served.codes, served.sim.data.order_codes()[0])
    assert out.items[0].order_code == served.sim.data.order_codes()[0]


def test_wrong_codes_are_refused(served, make_client) -> None:
    client = make_client()
    bad = ep.Codes("0000000000", served.codes.send_to_code, served.codes.supplier_code)
    with pytest.raises(ApiError) as e:
        ep.procurable_products(client, bad)
    assert "customerCode" in str(e.value)


class RecordingCache:
    """A TokenCache that records its calls (a second implementation of the protocol)."""

    def __init__(self) -> None:
        self.inner = MemoryTokenCache()
        self.calls: list[str] = []

    def get(self, key: str) -> CachedToken | None:
        self.calls.append(f"get {key}")
        return self.inner.get(key)

    def put(self, key: str, token: CachedToken) -> None:
        self.calls.append(f"put {key}")
        self.inner.put(key, token)


def test_token_cache_is_injectable_and_shared(served, make_client) -> None:
    cache = RecordingCache()
    assert isinstance(cache, TokenCache)
    first = make_client(token_cache=cache)
    second = make_client(token_cache=cache)  # e.g. another process reading the same store
    code = served.sim.data.products[0].code
    ep.stock(first, served.codes, [code])
    ep.stock(second, served.codes, [code])
    assert first.grants == 1 and second.grants == 0
    key = first.token_key
    assert key == f"supplier:{served.sim.client_id}@{served.url}/oauth2/auth"
    assert cache.calls.count(f"put {key}") == 1


def test_expired_cached_token_is_not_used(served, make_client) -> None:
    cache = MemoryTokenCache()
    client = make_client(token_cache=cache)
    stale = CachedToken(SecretStr("stale-token"), datetime.now(UTC) - timedelta(seconds=1))
    cache.put(client.token_key, stale)
    ep.stock(client, served.codes, [served.sim.data.products[0].code])
    assert client.grants == 1
    assert served.sim.counters_snapshot()["codes"][STOCK_EP] == {"200": 1}


def test_secret_and_token_never_logged_or_raised(served, make_client, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # httpx/httpcore debug logs included
    served.sim.knobs.fault_schedule = [(STOCK_EP, 1, "http_500"), (STOCK_EP, 2, "token_expired")]
    client = make_client()
    code = served.sim.data.products[0].code
    ep.stock(client, served.codes, [code])
    tokens = [client.cache.get(client.token_key).access_token.get_secret_value()]
    served.sim.reset_counters()
    served.sim.knobs.fault_schedule = [
        (STOCK_EP, 1, "token_expired"),
        (STOCK_EP, 2, "token_expired"),
    ]
    with pytest.raises(AuthError) as e:
        ep.stock(client, served.codes, [code])
    tokens.append(client.cache.get(client.token_key).access_token.get_secret_value())
    text = (
        caplog.text
        + str(e.value)
        + repr(e.value)
        + repr(client)
        + repr(client.cache.get(client.token_key))
    )
    assert "retry" in caplog.text  # the log did record the retries
    for secret in [served.sim.client_secret, *tokens]:
        assert secret not in text


def test_latency_knob_delays_answers(served, make_client) -> None:
    import time

    client = make_client()
    client.token()
    served.sim.knobs.latency_ms = 300.0
    started = time.monotonic()
    ep.stock(client, served.codes, [served.sim.data.products[0].code])
    assert time.monotonic() - started >= 0.3  # a lower bound: load only adds to it
