"""The supplier client against the simulator over loopback: auth, renewal, 401, faults, secrets."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from pydantic import SecretStr

from integrations.retry import RetryPolicy
from integrations.sources.supplier import endpoints as ep
from integrations.sources.supplier.client import SupplierClient
from integrations.sources.supplier.errors import ApiError, AuthError, Transient
from integrations.sources.supplier.tokens import TokenSource, memory_tokens
from sandbox.supplier.knobs import FaultRule
from tests.supplier.conftest import FAST_RETRY
from token_store.client_credentials import ClientCredentialsRejected
from token_store.models import NO_REFRESH_EXPIRY, TokenSet, utcnow

STOCK_EP = ep.STOCK.strip("/")
PRODUCTS_EP = ep.PRODUCTS.strip("/")


def test_token_cached_and_reused(served, make_client) -> None:
    client = make_client()
    codes = served.codes
    ep.stock(client, codes, [served.sim.data.products[0].code])
    ep.prices(client, codes, [served.sim.data.products[0].code])
    assert served.sim.tokens_issued == 1
    assert served.sim.counters_snapshot()["requests"]["oauth2/auth"] == 1


def _tokens(served):
    return memory_tokens(
        f"{served.url}/oauth2/auth", served.sim.client_id, served.sim.client_secret
    )


def _put(provider, token: str, valid_for: timedelta) -> None:
    """A token set in the store as if obtained earlier (the simulator never issued it)."""
    provider.store.put(
        provider.key,
        TokenSet(
            access_token=SecretStr(token),
            refresh_token=None,
            access_expires_at=utcnow() + valid_for,
            refresh_expires_at=NO_REFRESH_EXPIRY,
        ),
    )


def test_renewed_before_expiry(served, make_client) -> None:
    """A stored token inside the renewal margin (60 s) is replaced before it is used: the
    simulator never sees it (it would answer 401)."""
    provider = _tokens(served)
    client = make_client(tokens=provider)
    code = served.sim.data.products[0].code
    _put(provider, "about-to-expire", timedelta(seconds=30))
    ep.stock(client, served.codes, [code])
    ep.stock(client, served.codes, [code])
    assert served.sim.tokens_issued == 1
    assert served.sim.counters_snapshot()["codes"][STOCK_EP] == {"200": 2}  # never a 401


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
    assert served.sim.tokens_issued == 2
    assert served.sim.counters_snapshot()["codes"][STOCK_EP] == {"200": 4, "401": 1}


def test_token_expired_fault_mid_run(served, make_client) -> None:
    served.sim.knobs.fault_schedule = [FaultRule(STOCK_EP, 2, "token_expired")]
    client = make_client()
    codes = [p.code for p in served.sim.data.products[:4]]
    out = ep.stock(client, served.codes, codes)
    assert len(out.items) == 4 and not out.skipped
    assert served.sim.tokens_issued == 2


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
    assert served.sim.tokens_issued == 2  # re-authenticated exactly once


def test_bad_credentials_name_the_settings_not_the_secret(served) -> None:
    secret = "wrong-secret-abcdef123456"
    client = SupplierClient(
        base_url=served.url, client_id=served.sim.client_id, client_secret=secret, retry=FAST_RETRY
    )
    with pytest.raises(ClientCredentialsRejected) as e:
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
    assert served.sim.counters_snapshot()["requests"][STOCK_EP] == FAST_RETRY.max_attempts


def test_rate_limit_throttling_retried(served, make_client) -> None:
    served.sim.knobs.rate_limit = 2
    # Every retry waits at least 1.05 s: the simulator's one-second window is clear by then
    # however slow the machine is.
    client = make_client(
        retry=RetryPolicy(max_attempts=3, base_delay_s=1.05, max_delay_s=2.0, jitter=(1.0, 1.0))
    )
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


def test_token_store_is_shared_by_clients(served, make_client) -> None:
    """Two clients on one store (e.g. two processes on the app database) share one token."""
    provider = _tokens(served)
    assert isinstance(provider, TokenSource)
    first = make_client(tokens=provider)
    second = make_client(tokens=provider.store.provider(provider.key))
    code = served.sim.data.products[0].code
    ep.stock(first, served.codes, [code])
    ep.stock(second, served.codes, [code])
    assert served.sim.tokens_issued == 1
    assert str(provider.key) == f"supplier:{served.sim.client_id}:default"


def test_expired_stored_token_is_not_used(served, make_client) -> None:
    provider = _tokens(served)
    client = make_client(tokens=provider)
    _put(provider, "stale-token", timedelta(seconds=-1))
    ep.stock(client, served.codes, [served.sim.data.products[0].code])
    assert served.sim.tokens_issued == 1
    assert served.sim.counters_snapshot()["codes"][STOCK_EP] == {"200": 1}


def test_secret_and_token_never_logged_or_raised(served, make_client, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # httpx/httpcore debug logs included
    served.sim.knobs.fault_schedule = [(STOCK_EP, 1, "http_500"), (STOCK_EP, 2, "token_expired")]
    client = make_client()
    code = served.sim.data.products[0].code
    ep.stock(client, served.codes, [code])
    store, key = client.tokens.store, client.tokens.key
    tokens = [store.get(key).access_token.get_secret_value()]
    served.sim.reset_counters()
    served.sim.knobs.fault_schedule = [
        (STOCK_EP, 1, "token_expired"),
        (STOCK_EP, 2, "token_expired"),
    ]
    with pytest.raises(AuthError) as e:
        ep.stock(client, served.codes, [code])
    tokens.append(store.get(key).access_token.get_secret_value())
    text = caplog.text + str(e.value) + repr(e.value) + repr(client) + repr(store.get(key))
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
