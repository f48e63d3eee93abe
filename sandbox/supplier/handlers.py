"""Request validation and answers of the supplier simulator's four data endpoints. Strict: a
missing or mistyped parameter is a business error (code "400") whose message names the key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sandbox.data import _h
from sandbox.supplier.data import DEFAULT_COUNTY, PRICE_TYPES, Product

if TYPE_CHECKING:
    from sandbox.supplier.app import SupplierSim

_COUNTY = re.compile(r"\d{6}")
_PRICE_KEYS = {
    "supply_price": "supplyPrice",
    "invoice_price": "invoicePrice",
    "stock_rebate": "stockRebate",
    "rebate_money": "rebateMoney",
    "price": "price",
}


class BusinessError(Exception):
    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


@dataclass
class Call:
    sim: SupplierSim
    body: dict[str, Any]
    base_url: str

    def string(self, key: str, *, required: bool = True, default: str | None = None) -> str:
        v = self.body.get(key)
        if v is None or v == "":
            if required:
                raise BusinessError("400", f"{key}: required")
            return default or ""
        if not isinstance(v, str):
            raise BusinessError("400", f"{key}: must be a string")
        return v

    def integer(self, key: str, default: int) -> int:
        v = self.body.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise BusinessError("400", f"{key}: must be an integer")
        return v

    def codes(self, *, required: bool) -> list[str]:
        v = self.body.get("productCodes")
        if v is None or v == []:
            if required:
                raise BusinessError("400", "productCodes: required")
            return []
        if not isinstance(v, list) or not all(isinstance(c, str) and c for c in v):
            raise BusinessError("400", "productCodes: must be a list of non-empty strings")
        limit = self.sim.knobs.max_codes_per_call
        if len(v) > limit:
            raise BusinessError("400", f"productCodes: at most {limit} per call")
        return v

    def expect(self, key: str, value: str) -> None:
        if self.string(key) != value:
            raise BusinessError("403", f"{key}: not authorised for this client")

    def hostile(self, p: Product, endpoint: str) -> bool:
        """Whether ``p``'s item on ``endpoint`` is broken (each endpoint picks its own share)."""
        k = self.sim.knobs
        return k.hostile_items and _h(self.sim.data.seed, "hostile", endpoint, p.code) % 1000 < (
            k.hostile_fraction * 1000
        )

    def forced(self, item: dict[str, Any], code: str) -> dict[str, Any]:
        for target, key, value in self.sim.knobs.hostile_values:
            if target is None or target == code:
                if value is None:
                    item.pop(key, None)
                else:
                    item[key] = value
        return item

    def money(self, v: Decimal) -> str | float:
        return f"{v:.2f}" if self.sim.knobs.money_as_strings else float(v)


def _product_item(call: Call, p: Product) -> dict[str, Any]:
    item: dict[str, Any] = {
        "productCode": p.code,
        "productName": p.name,
        "brandName": p.brand,
        "categoryName": p.category,
        "productModel": p.model,
        "unit": p.unit,
        "procurable": p.procurable,
        "imageUrls": [f"{call.base_url}/_media/{path}" for path in p.image_paths],
    }
    if call.hostile(p, "products"):
        del item["productCode"]  # a catalogue row without its code
    return call.forced(item, p.code)


def products(call: Call) -> Any:
    """Requested codes → one item per known code (``procurable`` true/false); no codes → every
    procurable product, paged (``pageNum`` from 1, ``pageSize`` ≤ ``knobs.max_page_size``)."""
    sim = call.sim
    call.expect("customerCode", sim.customer_code)
    call.expect("supplierCode", sim.supplier_code)
    codes = call.codes(required=False)
    if codes:
        found = [p for c in codes if (p := sim.data.product(c)) is not None]
        return [_product_item(call, p) for p in found]
    size_max = sim.knobs.max_page_size
    page = call.integer("pageNum", 1)
    size = call.integer("pageSize", size_max)
    if page < 1:
        raise BusinessError("400", "pageNum: must be >= 1")
    if not 1 <= size <= size_max:
        raise BusinessError("400", f"pageSize: must be between 1 and {size_max}")
    rows = sim.data.procurable()
    chunk = rows[(page - 1) * size : page * size]
    return {
        "list": [_product_item(call, p) for p in chunk],
        "total": len(rows),
        "pageNum": page,
        "pageSize": size,
    }


def prices(call: Call) -> Any:
    sim = call.sim
    call.expect("customerCode", sim.customer_code)
    codes = call.codes(required=True)
    price_type = call.string("priceType")
    if price_type not in PRICE_TYPES:
        raise BusinessError("400", f"priceType: must be one of {', '.join(PRICE_TYPES)}")
    day = sim.china_now().date()
    snake = sim.knobs.price_field_case == "snake"
    out = []
    for c in codes:
        p = sim.data.product(c)
        if p is None or not p.procurable:
            continue
        item: dict[str, Any] = {
            "productCode": p.code,
            "priceType": price_type,
            "priceDate": day.isoformat(),
        }
        for kind, value in sim.data.price(p, price_type, day).items():
            item[kind if snake else _PRICE_KEYS[kind]] = call.money(value)
        if call.hostile(p, "prices"):
            key = "supply_price" if snake else "supplyPrice"
            item[key] = ("暂无", "1,299.00", [1299])[_h(sim.data.seed, "bad", p.code) % 3]
        out.append(call.forced(item, p.code))
    return out


def stock(call: Call) -> Any:
    sim = call.sim
    call.expect("salesCode", sim.send_to_code)
    code = call.string("productCode")
    county = call.string("countyCode", required=False, default=DEFAULT_COUNTY)
    if not _COUNTY.fullmatch(county):
        raise BusinessError("400", "countyCode: must be a 6-digit county code")
    p = sim.data.product(code)
    if p is None:
        raise BusinessError("400", f"productCode: unknown product {code}")
    qty = sim.data.stock(p, county, sim.china_now())
    item: dict[str, Any] = {
        "productCode": p.code,
        "countyCode": county,
        "availableStock": qty,
        "stockStatus": "有货" if qty > 0 else "无货",
    }
    if call.hostile(p, "stock"):
        item["availableStock"] = [qty]
    return call.forced(item, p.code)


def logistics(call: Call) -> Any:
    sim = call.sim
    order = call.string("orderCode")
    call.expect("sellerCode", sim.customer_code)
    found = sim.data.logistics(order)
    if found is None:
        raise BusinessError("404", f"orderCode: no such order {order}")
    return found
