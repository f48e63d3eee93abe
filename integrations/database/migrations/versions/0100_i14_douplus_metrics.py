"""DOU+ metric parity: per order-day custom_convert_cost and play_duration_5s_rank; the video
aggregate's plays-weighted 5-second completion rate.

Revision ID: 0100_i14
Revises: 0002
Create Date: 2026-11-29

Nullable columns only (rows written before this revision have no value): no data rewrite.
Types as tables.Money() / tables.Ratio(): DECIMAL(18, 2) yuan and DECIMAL(20, 6).
SQLite gets batch mode (copy-and-move) from alembic; the servers an ALTER TABLE ADD COLUMN.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# As 0001: the type class (exact on every backend, TEXT on SQLite), precision/scale frozen here.
from integrations.database.tables import ExactDecimal

revision: str = "0100_i14"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("douplus_order_daily") as batch:
        batch.add_column(
            sa.Column("custom_convert_cost", ExactDecimal(precision=18, scale=2), nullable=True)
        )
        batch.add_column(
            sa.Column("play_duration_5s_rank", ExactDecimal(precision=20, scale=6), nullable=True)
        )
    with op.batch_alter_table("douplus_video_daily") as batch:
        batch.add_column(
            sa.Column("play_5s_rate", ExactDecimal(precision=20, scale=6), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("douplus_video_daily") as batch:
        batch.drop_column("play_5s_rate")
    with op.batch_alter_table("douplus_order_daily") as batch:
        batch.drop_column("play_duration_5s_rank")
        batch.drop_column("custom_convert_cost")
