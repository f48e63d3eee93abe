"""Per-account view cache: bitable_view_map.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

What each Bitable view filtered on when integrations/feishu/views.py last read it, so a warm run
re-reads only a rotating slice of the views instead of every one. ``verified_at`` keeps
microseconds on MariaDB/MySQL (DATETIME(6)): views are re-verified oldest first, and whole
seconds would tie runs made within the same second.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Ignored by SQLite and PostgreSQL (same as 0001).
MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "bitable_view_map",
        sa.Column("app_token", sa.String(length=64), nullable=False),
        sa.Column("table_id", sa.String(length=64), nullable=False),
        sa.Column("view_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("view_name", sa.String(length=255), nullable=False),
        sa.Column(
            "verified_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint(
            "app_token", "table_id", "view_id", name=op.f("pk_bitable_view_map")
        ),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("bitable_view_map")
