"""Pure polars transforms of validated supplier items into the datasets' frames (no I/O).

- ``supplier_products``: one row per product_code.
- ``supplier_prices``: long format, one row per (product_code, price_type, price_kind,
  price_date); ``amount`` is exact ``Decimal(18, 2)`` yuan. A kind the answer left out has no row
  (absent ≠ 0).
- ``supplier_stock``: one row per (product_code, county_code, observed_bucket), the bucket being
  the observation time floored to 30 minutes in Asia/Shanghai: the stock schedule runs every 30
  minutes, so a rerun inside the same half hour updates the same row instead of adding one.
- ``supplier_logistics``: one row per order_code.

Duplicates of a key keep the last item (the later answer wins), never a sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import polars as pl

from integrations.exact import MONEY
from integrations.sources.supplier.models import PRICE_KINDS, Logistics, Price, Product, Stock

CN_TZ = "Asia/Shanghai"
STOCK_BUCKET = "30m"

PRODUCT_SCHEMA = {
    "product_code": pl.String,
    "product_name": pl.String,
    "brand": pl.String,
    "category": pl.String,
    "model": pl.String,
    "unit": pl.String,
    "procurable": pl.Boolean,
    "image_urls": pl.List(pl.String),
}
PRICE_KEY = ("product_code", "price_type", "price_kind", "price_date")
PRICE_SCHEMA = {
    "product_code": pl.String,
    "price_type": pl.String,
    "price_kind": pl.Enum(PRICE_KINDS),
    "price_date": pl.Date,
    "amount": MONEY,
}
STOCK_KEY = ("product_code", "county_code", "observed_bucket")
STOCK_SCHEMA = {
    "product_code": pl.String,
    "county_code": pl.String,
    "observed_bucket": pl.Datetime("us", CN_TZ),
    "available_stock": pl.Int64,
}
LOGISTICS_SCHEMA = {
    "order_code": pl.String,
    "logistics_company": pl.String,
    "waybill_no": pl.String,
    "status": pl.String,
    "product_code": pl.String,
    "last_node_time": pl.Datetime("us"),  # China wall time as the API sends it
    "node_count": pl.Int64,
}


def products_frame(items: Sequence[Product]) -> pl.DataFrame:
    rows = [
        {
            "product_code": p.product_code,
            "product_name": p.product_name,
            "brand": p.brand,
            "category": p.category,
            "model": p.model,
            "unit": p.unit,
            "procurable": p.procurable,
            "image_urls": list(p.image_urls),
        }
        for p in items
    ]
    df = pl.DataFrame(rows, schema=PRODUCT_SCHEMA)
    return df.unique("product_code", keep="last", maintain_order=True).sort("product_code")


def prices_frame(items: Sequence[Price], default_date: date) -> pl.DataFrame:
    """Long format; ``default_date`` (the China date of the call) when an item has no priceDate."""
    rows = [
        {
            "product_code": p.product_code,
            "price_type": p.price_type,
            "price_kind": kind,
            "price_date": p.price_date or default_date,
            "amount": amount,
        }
        for p in items
        for kind in PRICE_KINDS
        if (amount := getattr(p, kind)) is not None
    ]
    df = pl.DataFrame(rows, schema=PRICE_SCHEMA)
    return df.unique(list(PRICE_KEY), keep="last", maintain_order=True).sort(list(PRICE_KEY))


def stock_bucket(observed_at: pl.Expr) -> pl.Expr:
    """A timezone-aware datetime → its 30-minute bucket start in Asia/Shanghai."""
    return observed_at.dt.convert_time_zone(CN_TZ).dt.truncate(STOCK_BUCKET)


def stock_frame(items: Sequence[Stock], observed_at: datetime) -> pl.DataFrame:
    if observed_at.tzinfo is None:
        raise ValueError("observed_at must be timezone-aware (a naive time has no China bucket)")
    rows = [
        {
            "product_code": s.product_code,
            "county_code": s.county_code,
            "available_stock": s.available_stock,
        }
        for s in items
    ]
    df = pl.DataFrame(
        rows,
        schema={k: v for k, v in STOCK_SCHEMA.items() if k != "observed_bucket"},
    ).with_columns(
        stock_bucket(pl.lit(observed_at.astimezone(UTC), dtype=pl.Datetime("us", "UTC"))).alias(
            "observed_bucket"
        )
    )
    df = df.select(list(STOCK_SCHEMA))
    return df.unique(list(STOCK_KEY), keep="last", maintain_order=True).sort(list(STOCK_KEY))


def logistics_frame(items: Sequence[Logistics]) -> pl.DataFrame:
    rows = [
        {
            "order_code": lg.order_code,
            "logistics_company": lg.logistics_company,
            "waybill_no": lg.waybill_no,
            "status": lg.status,
            "product_code": lg.product_code,
            "last_node_time": max((n.node_time for n in lg.nodes), default=None),
            "node_count": len(lg.nodes),
        }
        for lg in items
    ]
    df = pl.DataFrame(rows, schema=LOGISTICS_SCHEMA)
    return df.unique("order_code", keep="last", maintain_order=True).sort("order_code")
