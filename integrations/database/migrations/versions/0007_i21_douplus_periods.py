"""DOU+ period rankings: douplus_video_periods, douplus_account_periods.

Revision ID: i21_douplus_periods
Revises: i19_supplier
Create Date: 2026-11-29

One row per (period, video) and (period, 抖音号): the current ranking over today / 7 days /
30 days / all time ending at ``as_of`` (integrations/sources/oceanengine/datasets.py). New tables
only: no data rewrite; the first douplus-daily run after the upgrade fills them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from integrations.database.tables import ExactDecimal

revision: str = "i21_douplus_periods"
down_revision: str | Sequence[str] | None = "i19_supplier"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def _sums() -> list[sa.Column]:
    money, ratio = ExactDecimal(precision=18, scale=2), ExactDecimal(precision=20, scale=6)
    return [
        sa.Column("total_cost", money, nullable=False),
        sa.Column("total_play", sa.BigInteger(), nullable=False),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("play_per_100_yuan", ratio, nullable=True),
        sa.Column("cost_per_100_play", ratio, nullable=True),
        sa.Column("like_rate", ratio, nullable=True),
        sa.Column("share_rate", ratio, nullable=True),
        sa.Column("conversion_cost", ratio, nullable=True),
        sa.Column("play_5s_rate", ratio, nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "douplus_video_periods",
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("aweme_sec_uid", sa.String(length=128), nullable=False),
        sa.Column("cost_rank", sa.Integer(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("period", "item_id", name=op.f("pk_douplus_video_periods")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "douplus_account_periods",
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("aweme_sec_uid", sa.String(length=128), nullable=False),
        sa.Column("cost_rank", sa.Integer(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("video_count", sa.Integer(), nullable=False),
        *_sums(),
        sa.PrimaryKeyConstraint("period", "aweme_sec_uid", name=op.f("pk_douplus_account_periods")),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("douplus_account_periods")
    op.drop_table("douplus_video_periods")
