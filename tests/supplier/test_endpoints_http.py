"""Endpoints against the simulator: paging, both shapes of every knob, hostile items named."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from integrations.sources.supplier import endpoints as ep
from integrations.sources.supplier.models import PRICE_KINDS
from integrations.sources.supplier.transforms import prices_frame, stock_frame

PRODUCTS_EP = ep.PRODUCTS.strip("/")
CN = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("page_size", [7, 50])
def test_procurable_products_paged(served, make_client, page_size) -> None:
    client = make_client()
    out = ep.procurable_products(client, served.codes, page_size=page_size)
    expected = [p.code for p in served.sim.data.procurable()]
    assert [p.product_code for p in out.items] == expected
    assert not out.skipped
    calls = served.sim.counters_snapshot()["requests"][PRODUCTS_EP]
    assert calls == len(expected) // page_size + 1
    first = out.items[0]
    src = served.sim.data.product(first.product_code)
    assert (first.brand, first.category, first.product_name) == (src.brand, src.category, src.name)
    assert len(first.image_urls) == len(src.image_paths)


def test_page_size_above_the_limit_is_refused(served, make_client) -> None:
    client = make_client()
    served.sim.knobs.max_page_size = 20
    with pytest.raises(ep.ApiError) as e:
        ep.procurable_products(client, served.codes, page_size=21)
    assert "pageSize" in str(e.value)


def test_products_by_code_carry_the_procurable_flag(served, make_client) -> None:
    served.sim.knobs.max_codes_per_call = 4
    client = make_client()
    all_codes = [p.code for p in served.sim.data.products]
    with pytest.raises(ep.ApiError, match="productCodes: at most 4"):
        ep.procurable_products(client, served.codes, all_codes)  # 50 per call: refused
    served.sim.reset_counters()
    out = ep.procurable_products(client, served.codes, all_codes + ["UNKNOWN1"], codes_per_call=4)
    assert [p.product_code for p in out.items] == all_codes  # unknown codes: no item
    flags = {p.product_code: p.procurable for p in out.items}
    assert flags == {p.code: p.procurable for p in served.sim.data.products}
    assert False in flags.values()
    assert served.sim.counters_snapshot()["requests"][PRODUCTS_EP] == -(-(len(all_codes) + 1) // 4)


@pytest.mark.parametrize("case", ["camel", "snake"])
@pytest.mark.parametrize("as_strings", [True, False])
def test_prices_in_every_shape(served, make_client, case, as_strings) -> None:
    served.sim.knobs.price_field_case = case
    served.sim.knobs.money_as_strings = as_strings
    client = make_client()
    codes = [p.code for p in served.sim.data.procurable()[:5]]
    out = ep.prices(client, served.codes, codes, "PT")
    assert not out.skipped
    day = served.sim.china_now().date()
    frame = prices_frame(out.items, day)
    assert frame.height == 5 * len(PRICE_KINDS)
    for p in out.items:
        expected = served.sim.data.price(served.sim.data.product(p.product_code), "PT", day)
        for kind in PRICE_KINDS:
            assert getattr(p, kind) == expected[kind]
            assert isinstance(getattr(p, kind), Decimal)


def test_unknown_price_type_names_the_key(served, make_client) -> None:
    client = make_client()
    with pytest.raises(ep.ApiError) as e:
        ep.prices(client, served.codes, [served.sim.data.products[0].code], "XX")
    assert "priceType" in str(e.value)


def test_stock_default_county_and_buckets(served, make_client) -> None:
    client = make_client()
    codes = [p.code for p in served.sim.data.products[:3]]
    before = datetime.now(UTC)
    out = ep.stock(client, served.codes, codes, ["110101", "330106"])
    after = datetime.now(UTC)
    assert [(s.product_code, s.county_code) for s in out.items] == [
        (c, county) for c in codes for county in ("110101", "330106")
    ]
    frame = stock_frame(out.items, after)
    assert frame.height == 6
    local = after.astimezone(CN)
    bucket = local.replace(minute=local.minute // 30 * 30, second=0, microsecond=0)
    assert frame["observed_bucket"].unique().to_list() == [bucket]
    if stock_frame(out.items, before)["observed_bucket"][0] == bucket:
        # The whole call fell in one bucket: the quantities are that bucket's.
        expected = [
            served.sim.data.stock(served.sim.data.product(s.product_code), s.county_code, after)
            for s in out.items
        ]
        assert [s.available_stock for s in out.items] == expected
    # Without countyCode the API answers for 110101.
    raw = client.post(ep.STOCK, {"salesCode": served.codes.send_to_code, "productCode": codes[0]})
    assert raw["countyCode"] == ep.DEFAULT_COUNTY


def test_hostile_items_are_named_and_skipped(served, make_client, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="adsync.supplier")
    k = served.sim.knobs
    k.hostile_items = True
    k.hostile_fraction = 0.3
    client = make_client()
    data = served.sim.data
    codes = [p.code for p in data.procurable()]
    hostile = [c for c in codes if _is_hostile(served, c, "prices")]
    assert hostile, "the seed must give some hostile items"
    prices = ep.prices(client, served.codes, codes)
    assert sorted(s.product_code for s in prices.skipped) == sorted(hostile)
    assert all("supply" in s.reason for s in prices.skipped)
    assert len(prices.items) == len(codes) - len(hostile)
    hostile = [c for c in codes if _is_hostile(served, c, "stock")]
    stock = ep.stock(client, served.codes, codes)
    assert sorted(s.product_code for s in stock.skipped) == sorted(hostile)
    assert all(s.reason.startswith("available") for s in stock.skipped)
    products = ep.procurable_products(client, served.codes)
    # A product without its code is named by its position and name (there is no code to name).
    broken = [p for p in data.procurable() if _is_hostile(served, p.code, "products")]
    assert [s.product_code.split(", productName ")[1][:-1] for s in products.skipped] == [
        p.name for p in broken
    ]
    assert all("no productCode" in s.product_code for s in products.skipped)
    for code in hostile:
        assert f"skipped item {code}" in caplog.text


def _is_hostile(served, code: str, endpoint: str) -> bool:
    from sandbox.data import _h

    return _h(served.sim.data.seed, "hostile", endpoint, code) % 1000 < 300


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("12.345", "more than 2 decimal places"),
        ("NaN", "not a finite number"),
        ({"v": 1}, "not a number"),
        (True, "not a number"),
    ],
)
def test_forced_bad_money_is_named(served, make_client, value, reason) -> None:
    target = served.sim.data.procurable()[1].code
    served.sim.knobs.hostile_values = [(target, "invoicePrice", value)]
    client = make_client()
    codes = [p.code for p in served.sim.data.procurable()[:3]]
    out = ep.prices(client, served.codes, codes)
    assert [s.product_code for s in out.skipped] == [target]
    assert reason in out.skipped[0].reason and "invoice" in out.skipped[0].reason
    assert len(out.items) == 2


def test_numeric_codes_become_strings_and_unknown_fields_are_ignored(served, make_client) -> None:
    target = served.sim.data.products[0].code
    served.sim.knobs.hostile_values = [(target, "countyCode", 110101), (target, "extra", [1])]
    client = make_client()
    out = ep.stock(client, served.codes, [target])
    assert out.items[0].county_code == "110101" and not out.skipped


def test_hostile_requests_are_refused_naming_the_key(served, make_client) -> None:
    client = make_client()
    with pytest.raises(ep.ApiError) as e:
        client.post(ep.STOCK, {"salesCode": served.codes.send_to_code})
    assert "productCode: required" in str(e.value)
    with pytest.raises(ep.ApiError) as e:
        client.post(ep.PRICES, {"customerCode": served.codes.customer_code, "productCodes": "A1"})
    assert "productCodes" in str(e.value)
    body = {**_products_body(served), "pageNum": "2"}
    with pytest.raises(ep.ApiError) as e:
        client.post(ep.PRODUCTS, body)
    assert "pageNum: must be an integer" in str(e.value)


def _products_body(served) -> dict:
    return {"customerCode": served.codes.customer_code, "supplierCode": served.codes.supplier_code}


@pytest.mark.parametrize("style", ["wrapped", "bare"])
def test_both_envelopes_give_the_same_items(served, make_client, style) -> None:
    served.sim.knobs.envelope_style = style
    client = make_client()
    out = ep.procurable_products(client, served.codes)
    assert [p.product_code for p in out.items] == [p.code for p in served.sim.data.procurable()]
