"""The supplier API's four data endpoints: request bodies, paging and item validation.

Each function returns :class:`~.models.Parsed` (valid items + the skipped ones, named). The
request codes (customer / send-to / supplier) are per deployment; :class:`Codes` carries them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integrations.sources.supplier.client import SupplierClient
from integrations.sources.supplier.errors import ApiError
from integrations.sources.supplier.models import (
    Logistics,
    Parsed,
    Price,
    Product,
    Stock,
    parse_items,
)

if TYPE_CHECKING:
    from integrations.settings import Settings

PRODUCTS = "/product-info/procurable-products-out/check-procurable-products"
PRICES = "/goods-price/price-daily-sales/price-query/pt-out-list-price"
STOCK = "/stock/get-available-stock-open"
LOGISTICS = "/logistics/sass/get-thirdparty-logistics-info-by-order-code-auth"

DEFAULT_COUNTY = "110101"  # the API's default county (东城区), per the old system
DEFAULT_PRICE_TYPE = "PT"  # 普通价 (assumption, QUIRKS.md)
# Codes per call and page size: the simulator's defaults (the live limits are unknown).
CODES_PER_CALL = 50
PAGE_SIZE = 50
MAX_PAGES = 10_000  # a paging loop that never ends is a bug upstream, not a catalogue


@dataclass(frozen=True)
class Codes:
    customer_code: str
    send_to_code: str
    supplier_code: str

    @classmethod
    def from_settings(cls, s: Settings) -> Codes:
        from integrations.settings import require_supplier

        require_supplier(s)
        assert s.supplier_customer_code and s.supplier_send_to_code and s.supplier_code
        return cls(s.supplier_customer_code, s.supplier_send_to_code, s.supplier_code)


def _chunks(codes: Sequence[str], size: int) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(codes))  # same code twice = one call, one row
    for i in range(0, len(unique), size):
        yield unique[i : i + size]


def _as_list(data: Any, path: str, key: str | None = None) -> list[Any]:
    if key is not None:
        if not isinstance(data, dict):
            raise ApiError(
                f"expected an object with {key!r}, got {type(data).__name__}", endpoint=path
            )
        data = data.get(key)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ApiError(f"expected a list, got {type(data).__name__}", endpoint=path)
    return data


def procurable_products(
    client: SupplierClient,
    codes: Codes,
    product_codes: Sequence[str] | None = None,
    *,
    page_size: int = PAGE_SIZE,
    codes_per_call: int = CODES_PER_CALL,
) -> Parsed[Product]:
    """The given products (with their ``procurable`` flag), or every procurable one (paged)."""
    base = {"customerCode": codes.customer_code, "supplierCode": codes.supplier_code}
    out: Parsed[Product] = Parsed()
    if product_codes:
        for chunk in _chunks(product_codes, codes_per_call):
            data = client.post(PRODUCTS, {**base, "productCodes": chunk})
            out.extend(parse_items(Product, _as_list(data, PRODUCTS), "products"))
        return out
    seen = 0
    for page in range(1, MAX_PAGES + 1):
        data = client.post(PRODUCTS, {**base, "pageNum": page, "pageSize": page_size})
        rows = _as_list(data, PRODUCTS, "list")
        total = data.get("total") if isinstance(data, dict) else None
        out.extend(parse_items(Product, rows, "products"))
        seen += len(rows)
        # Stop on a short page, or once the announced total is reached.
        if len(rows) < page_size or (isinstance(total, int) and seen >= total):
            return out
    raise ApiError(f"more than {MAX_PAGES} pages", endpoint=PRODUCTS)


def prices(
    client: SupplierClient,
    codes: Codes,
    product_codes: Sequence[str],
    price_type: str = DEFAULT_PRICE_TYPE,
    *,
    codes_per_call: int = CODES_PER_CALL,
) -> Parsed[Price]:
    out: Parsed[Price] = Parsed()
    for chunk in _chunks(product_codes, codes_per_call):
        body = {"customerCode": codes.customer_code, "productCodes": chunk, "priceType": price_type}
        out.extend(parse_items(Price, _as_list(client.post(PRICES, body), PRICES), "prices"))
    return out


def stock(
    client: SupplierClient,
    codes: Codes,
    product_codes: Sequence[str],
    county_codes: Sequence[str] = (DEFAULT_COUNTY,),
) -> Parsed[Stock]:
    """One call per (product, county): the endpoint takes a single productCode."""
    out: Parsed[Stock] = Parsed()
    for code in dict.fromkeys(product_codes):
        for county in dict.fromkeys(county_codes):
            body = {"salesCode": codes.send_to_code, "productCode": code, "countyCode": county}
            data = client.post(STOCK, body)
            out.extend(parse_items(Stock, [data], "stock"))
    return out


def logistics(client: SupplierClient, codes: Codes, order_code: str) -> Parsed[Logistics]:
    body = {"orderCode": order_code, "sellerCode": codes.customer_code}
    return parse_items(Logistics, [client.post(LOGISTICS, body)], "logistics")
