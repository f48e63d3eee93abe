"""Supplier source: products, prices, stock, logistics and the product-image mapping.

Revision ID: i19_supplier
Revises: i20_tenants
Create Date: 2026-11-29

The tables of integrations/sources/supplier/datasets.py (frozen here; a test compares them with
the declarations). Codes are text (the supplier's codes are not numbers we may reorder or
parse); money is exact DECIMAL(18, 2) yuan; stock rows are keyed by their 30-minute China-time
bucket; image rows by the SHA-256 of the URL (URLs exceed an indexable key length on MariaDB).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from integrations.database.tables import ExactDecimal

revision: str = "i19_supplier"
down_revision: str | Sequence[str] | None = "i20_tenants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "supplier_products",
        sa.Column("product_code", sa.String(length=64), nullable=False),
        sa.Column("product_name", sa.String(length=255), nullable=True),
        sa.Column("brand", sa.String(length=128), nullable=True),
        sa.Column("category", sa.String(length=128), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("procurable", sa.Boolean(), nullable=True),
        sa.Column("image_urls", sa.Text(), nullable=True),
        sa.Column("image_paths", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("product_code", name=op.f("pk_supplier_products")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "supplier_prices",
        sa.Column("product_code", sa.String(length=64), nullable=False),
        sa.Column("price_type", sa.String(length=16), nullable=False),
        sa.Column("price_kind", sa.String(length=32), nullable=False),
        sa.Column("price_date", sa.Date(), nullable=False),
        sa.Column("brand", sa.String(length=128), nullable=True),
        sa.Column("amount", ExactDecimal(precision=18, scale=2), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "product_code",
            "price_type",
            "price_kind",
            "price_date",
            name=op.f("pk_supplier_prices"),
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "supplier_stock",
        sa.Column("product_code", sa.String(length=64), nullable=False),
        sa.Column("county_code", sa.String(length=16), nullable=False),
        sa.Column("observed_bucket", sa.DateTime(), nullable=False),
        sa.Column("observed_date", sa.Date(), nullable=True),
        sa.Column("brand", sa.String(length=128), nullable=True),
        sa.Column("available_stock", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "product_code", "county_code", "observed_bucket", name=op.f("pk_supplier_stock")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "supplier_logistics",
        sa.Column("order_code", sa.String(length=64), nullable=False),
        sa.Column("logistics_company", sa.String(length=128), nullable=True),
        sa.Column("waybill_no", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column("product_code", sa.String(length=64), nullable=True),
        sa.Column("last_node_time", sa.DateTime(), nullable=True),
        sa.Column("node_count", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_code", name=op.f("pk_supplier_logistics")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "supplier_images",
        sa.Column("url_sha256", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("product_code", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(length=255), nullable=True),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("url_sha256", name=op.f("pk_supplier_images")),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    for name in (
        "supplier_images",
        "supplier_logistics",
        "supplier_stock",
        "supplier_prices",
        "supplier_products",
    ):
        op.drop_table(name)
