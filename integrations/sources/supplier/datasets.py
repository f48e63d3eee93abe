"""The supplier datasets, each declared once (see :mod:`integrations.datasets`).

Views per brand: a person's natural grouping of a supplier catalogue is the brand, so ``brand``
is the "account" of these datasets (``account_columns``): the Bitable sink makes one view per
brand, filtered on the brand field, exactly as it makes one per ad account elsewhere
(integrations/feishu/views.py). Prices and stock carry the product's brand (joined from
``supplier_products`` by the flow) for that reason.

Money is exact yuan (``Money``). Stock observations are keyed by their 30-minute bucket in China
time (transforms.stock_frame), with the bucket's China date for the monitor and the Bitable
window.
"""

from __future__ import annotations

from integrations.datasets import (
    BigInt,
    Bitable,
    Bool,
    Checks,
    Col,
    Dataset,
    Date,
    DateTime,
    Field,
    Int,
    Json,
    Money,
    Text,
)
from integrations.sources.supplier.models import PRICE_KINDS

SOURCE = "supplier"

# price_kind → the supplier's Chinese name (QUIRKS.md #9); the DB keeps the raw kind.
PRICE_KIND_LABELS: tuple[tuple[str, str], ...] = (
    ("supply_price", "普通供价"),
    ("invoice_price", "开票价"),
    ("stock_rebate", "直扣"),
    ("rebate_money", "台返"),
    ("price", "价格"),
)
assert tuple(k for k, _ in PRICE_KIND_LABELS) == PRICE_KINDS

supplier_products = Dataset(
    name="supplier_products",
    source=SOURCE,
    flow="supplier-daily",
    key=("product_code",),
    columns=(
        Col("product_code", Text(64)),
        Col("product_name", Text(255), keep_known=True),
        Col("brand", Text(128), keep_known=True),
        Col("category", Text(128), keep_known=True),
        Col("model", Text(128), keep_known=True),
        Col("unit", Text(32), keep_known=True),
        Col("procurable", Bool),
        Col("image_urls", Json),  # JSON list of the API's image URLs (supplier_images maps them)
        Col("image_paths", Json),  # JSON list of stored files (relative to the media dir)
    ),
    account_columns=("brand",),
    bitable=Bitable(
        table_name="供应商商品",
        fields=(
            Field("brand", "品牌"),
            Field("product_code", "商品编码"),
            Field("product_name", "商品名称"),
            Field("category", "品类"),
            Field("model", "型号"),
            Field("unit", "单位"),
            Field("image_paths", "图片文件"),
        ),
        account_name_field="brand",
    ),
)

supplier_prices = Dataset(
    name="supplier_prices",
    source=SOURCE,
    flow="supplier-prices",
    key=("product_code", "price_type", "price_kind", "price_date"),
    columns=(
        Col("product_code", Text(64)),
        Col("price_type", Text(16)),
        Col("price_kind", Text(32)),
        Col("price_date", Date),  # China date the price applies to
        Col("brand", Text(128), keep_known=True),  # the product's, for per-brand views
        Col("amount", Money, nullable=False),  # yuan, exact
    ),
    date_column="price_date",
    account_columns=("brand",),
    bitable=Bitable(
        table_name="供应商价格",
        fields=(
            Field("brand", "品牌"),
            Field("price_date", "日期"),
            Field("product_code", "商品编码"),
            Field("price_type", "价格类型"),
            Field("price_kind", "价格项", labels=PRICE_KIND_LABELS),
            Field("amount", "金额(元)"),
        ),
        account_name_field="brand",
    ),
    checks=Checks(per_account=False),
)

supplier_stock = Dataset(
    name="supplier_stock",
    source=SOURCE,
    flow="supplier-stock",
    key=("product_code", "county_code", "observed_bucket"),
    columns=(
        Col("product_code", Text(64)),
        Col("county_code", Text(16)),
        Col("observed_bucket", DateTime),  # China local time, floored to 30 minutes
        Col("observed_date", Date),  # the bucket's China date
        Col("brand", Text(128), keep_known=True),  # the product's, for per-brand views
        Col("available_stock", BigInt, nullable=False),
    ),
    date_column="observed_date",
    account_columns=("brand",),
    bitable=Bitable(
        table_name="供应商库存",
        fields=(
            Field("brand", "品牌"),
            Field("observed_bucket", "观测时间"),
            Field("product_code", "商品编码"),
            Field("county_code", "区县编码"),
            Field("available_stock", "可用库存"),
            Field("observed_date", "日期"),
        ),
        account_name_field="brand",
    ),
    checks=Checks(per_account=False),
)

supplier_logistics = Dataset(
    name="supplier_logistics",
    source=SOURCE,
    flow="supplier-daily",  # manual runs with order codes (supplier-daily --orders)
    key=("order_code",),
    columns=(
        Col("order_code", Text(64)),
        Col("logistics_company", Text(128), keep_known=True),
        Col("waybill_no", Text(128), keep_known=True),
        Col("status", Text(64), keep_known=True),
        Col("product_code", Text(64), keep_known=True),
        Col("last_node_time", DateTime),  # China local time, as the API sends it
        Col("node_count", Int),
    ),
)

# The image mapping: URL → the file stored once per content (images.ImageStore).
supplier_images = Dataset(
    name="supplier_images",
    source=SOURCE,
    flow="supplier-daily",
    key=("url_sha256",),  # URLs can exceed an indexable key length (MariaDB: 3072 bytes)
    columns=(
        Col("url_sha256", Text(64)),
        Col("url", Text(), nullable=False),
        Col("product_code", Text(64), nullable=False),
        Col("sha256", Text(64), nullable=False),  # of the content
        Col("path", Text(255), nullable=False),  # relative to ADSYNC_SUPPLIER_MEDIA_DIR
        Col("content_type", Text(64), nullable=False),
        Col("size", BigInt, nullable=False),
        Col("etag", Text(255)),
        Col("fetched_at", DateTime, nullable=False),  # UTC, when the content was fetched
    ),
)

DATASETS = (
    supplier_products,
    supplier_prices,
    supplier_stock,
    supplier_logistics,
    supplier_images,
)
