"""Cross-process writer lease per Bitable base: bitable_base_lock.

Revision ID: i15_base_lock
Revises: 0100_i14
Create Date: 2026-11-29

Feishu processes a base's writes one at a time; several flows (laike 07:00, DOU+ 07:10, DPA,
backfills) may write one base from different processes or machines. A row per base holds the
current writer (``holder``) until ``expires_at`` (a lease, so a killed process blocks no one
for long). See integrations/feishu/base_lock.py.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "i15_base_lock"
down_revision: str | Sequence[str] | None = "0100_i14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "bitable_base_lock",
        sa.Column("app_token", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column(
            "expires_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("app_token", name=op.f("pk_bitable_base_lock")),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("bitable_base_lock")
