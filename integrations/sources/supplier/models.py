"""Tolerant pydantic models of the supplier API's items.

Tolerant where it costs nothing: unknown fields are ignored, ids/codes may arrive as numbers
(kept as strings), money may arrive as JSON numbers or strings (→ exact ``Decimal``), price keys
as camelCase or snake_case. Strict where a guess would corrupt data: a money value that is not
a finite number with at most 2 decimal places, a stock quantity that is not a non-negative
integer, or an item without ``productCode`` fails that item. :func:`parse_items` reports each
failed item with its productCode (or its position when the code itself is missing) and skips it;
nothing is dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

logger = logging.getLogger("adsync.supplier")
CENT = Decimal("0.01")


def _code(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise ValueError(f"must be a string, got {type(v).__name__}")
    s = str(v).strip()
    if not s:
        raise ValueError("must not be empty")
    return s


def _money(v: Any) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (str, int, Decimal, float)):
        raise ValueError(f"not a number: {type(v).__name__}")
    try:
        d = Decimal(v.strip()) if isinstance(v, str) else Decimal(str(v))
    except InvalidOperation:
        raise ValueError(f"not a number: {v!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a finite number: {v!r}")
    if d != d.quantize(CENT):
        raise ValueError(f"more than 2 decimal places: {v!r}")
    return d.quantize(CENT)


def _count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (str, int, Decimal)):
        raise ValueError(f"not an integer: {type(v).__name__}")
    try:
        d = Decimal(v.strip()) if isinstance(v, str) else Decimal(v)
    except InvalidOperation:
        raise ValueError(f"not an integer: {v!r}") from None
    if not d.is_finite() or d != d.to_integral_value() or d < 0:
        raise ValueError(f"not a non-negative integer: {v!r}")
    return int(d)


Code = Annotated[str, BeforeValidator(_code)]
Money = Annotated[Decimal, BeforeValidator(_money)]
Count = Annotated[int, BeforeValidator(_count)]


def _f(camel: str, snake: str, default: Any = ...) -> Any:
    return Field(default, validation_alias=AliasChoices(camel, snake))


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Product(_Item):
    product_code: Code = _f("productCode", "product_code")
    product_name: str = _f("productName", "product_name", "")
    brand: str = _f("brandName", "brand_name", "")
    category: str = _f("categoryName", "category_name", "")
    model: str = _f("productModel", "product_model", "")
    unit: str = ""
    procurable: bool = True
    image_urls: list[str] = _f("imageUrls", "image_urls", [])


PRICE_KINDS = ("supply_price", "invoice_price", "stock_rebate", "rebate_money", "price")


class Price(_Item):
    product_code: Code = _f("productCode", "product_code")
    price_type: str = _f("priceType", "price_type", "")
    price_date: date | None = _f("priceDate", "price_date", None)
    supply_price: Money | None = _f("supplyPrice", "supply_price", None)  # 普通供价
    invoice_price: Money | None = _f("invoicePrice", "invoice_price", None)  # 开票价
    stock_rebate: Money | None = _f("stockRebate", "stock_rebate", None)  # 直扣
    rebate_money: Money | None = _f("rebateMoney", "rebate_money", None)  # 台返
    price: Money | None = None


class Stock(_Item):
    product_code: Code = _f("productCode", "product_code")
    county_code: Code = _f("countyCode", "county_code")
    available_stock: Count = _f("availableStock", "available_stock")


class LogisticsNode(_Item):
    node_time: datetime = _f("nodeTime", "node_time")
    node_desc: str = _f("nodeDesc", "node_desc", "")


class Logistics(_Item):
    order_code: Code = _f("orderCode", "order_code")
    logistics_company: str = _f("logisticsCompany", "logistics_company", "")
    waybill_no: str = _f("waybillNo", "waybill_no", "")
    status: str = ""
    product_code: str | None = _f("productCode", "product_code", None)
    nodes: list[LogisticsNode] = Field(default_factory=list)


M = TypeVar("M", bound=_Item)


@dataclass(frozen=True)
class Skipped:
    """One item that failed validation: ``product_code`` (or ``"#<index>"``) and why."""

    product_code: str
    reason: str


@dataclass
class Parsed(Generic[M]):
    items: list[M] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def extend(self, other: Parsed[M]) -> None:
        self.items.extend(other.items)
        self.skipped.extend(other.skipped)


def _name(raw: Any, index: int) -> str:
    if isinstance(raw, dict):
        for key in ("productCode", "product_code", "orderCode", "order_code"):
            v = raw.get(key)
            if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip():
                return str(v).strip()
    name = raw.get("productName") or raw.get("product_name") if isinstance(raw, dict) else None
    return f"#{index} (no productCode{f', productName {name}' if isinstance(name, str) else ''})"


def _reason(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:3]:
        loc = ".".join(str(p) for p in e.get("loc") or ()) or "item"
        parts.append(f"{loc}: {str(e.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_items(model: type[M], raw: Iterable[Any], what: str) -> Parsed[M]:
    """Validate each raw item; failures are logged (naming productCode and key) and returned."""
    out: Parsed[M] = Parsed()
    for i, item in enumerate(raw):
        try:
            if not isinstance(item, dict):
                raise TypeError(f"item is a {type(item).__name__}, not an object")
            out.items.append(model.model_validate(item))
        except (ValidationError, TypeError) as e:
            reason = _reason(e) if isinstance(e, ValidationError) else str(e)
            skipped = Skipped(_name(item, i), reason)
            out.skipped.append(skipped)
            logger.warning("supplier %s: skipped item %s: %s", what, skipped.product_code, reason)
    return out
