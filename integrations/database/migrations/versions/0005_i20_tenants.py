"""Tenants: sync_runs.tenant; per-process shares of an Ocean Engine app's QPS.

Revision ID: i20_tenants
Revises: i16_ledger_text
Create Date: 2026-11-29

``sync_runs.tenant`` names the tenant a run belonged to (integrations/tenants.py). Existing rows
were written by the only setup there was, so the server default 'default' is their tenant.
Dataset tables get no tenant column: Ocean Engine ids are global and an account belongs to one
tenant (config rejects one account in two tenants), so a key cannot collide across tenants, and
a tenant in the key would let the same account's rows be stored twice.

``oceanengine_rate_share``: one heartbeat row per (app, process) pacing that app; the live rows
divide the app's QPS (integrations/sources/oceanengine/shared_ratelimit.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "i20_tenants"
down_revision: str | Sequence[str] | None = "i16_ledger_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(
            sa.Column("tenant", sa.String(length=64), nullable=False, server_default="default")
        )
        batch.create_index("ix_sync_runs_tenant_started", ["tenant", "started_at"], unique=False)
    op.create_table(
        "oceanengine_rate_share",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column(
            "expires_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("app_id", "holder", name=op.f("pk_oceanengine_rate_share")),
        **MYSQL_TABLE_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("oceanengine_rate_share")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_index("ix_sync_runs_tenant_started")
        batch.drop_column("tenant")
