"""Initial schema: every table in integrations/database/tables.py.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Generated with Alembic autogenerate against an empty database, then reviewed: explicit ops (no
metadata.create_all) so later revisions diff against a frozen starting point. On MariaDB/MySQL
every table is InnoDB, utf8mb4 (Chinese and emoji names) with the binary collation, so keys and
comparisons are exact and case-sensitive like on PostgreSQL and SQLite (Feishu app tokens and
table ids are case-sensitive).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Money/ratio columns: DECIMAL on PostgreSQL and MariaDB, canonical decimal TEXT on SQLite (exact
# everywhere; see integrations/database/tables.py). The type class is referenced, not the
# Money()/Ratio() helpers, so precision and scale stay frozen here.
from integrations.database.tables import ExactDecimal

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Ignored by SQLite and PostgreSQL.
MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "ad_accounts",
        sa.Column("account_type", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_name", sa.String(length=255), nullable=True),
        sa.Column("account_string_id", sa.String(length=128), nullable=True),
        sa.Column("is_valid", sa.Boolean(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=True),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_type", "account_id", name=op.f("pk_ad_accounts")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "bitable_record_map",
        sa.Column("app_token", sa.String(length=64), nullable=False),
        sa.Column("table_id", sa.String(length=64), nullable=False),
        sa.Column("business_key", sa.String(length=255), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "app_token", "table_id", "business_key", name=op.f("pk_bitable_record_map")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "douplus_order_daily",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("stat_date", sa.Date(), nullable=False),
        sa.Column("aweme_sec_uid", sa.String(length=128), nullable=False),
        sa.Column("cost", ExactDecimal(precision=18, scale=2), nullable=True),
        sa.Column("total_play", sa.BigInteger(), nullable=True),
        sa.Column("custom_like", sa.BigInteger(), nullable=True),
        sa.Column("dy_comment", sa.BigInteger(), nullable=True),
        sa.Column("dy_share", sa.BigInteger(), nullable=True),
        sa.Column("dy_follow", sa.BigInteger(), nullable=True),
        sa.Column("dp_target_convert_cnt", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "stat_date", name=op.f("pk_douplus_order_daily")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "douplus_orders",
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("aweme_sec_uid", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=True),
        sa.Column("item_title", sa.String(length=512), nullable=True),
        sa.Column("author_name", sa.String(length=255), nullable=True),
        sa.Column("scene_type", sa.String(length=32), nullable=True),
        sa.Column("task_status", sa.String(length=32), nullable=True),
        sa.Column("budget", ExactDecimal(precision=18, scale=2), nullable=True),
        sa.Column("order_create_time", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_douplus_orders")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "douplus_video_daily",
        sa.Column("item_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("stat_date", sa.Date(), nullable=False),
        sa.Column("aweme_sec_uid", sa.String(length=128), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("total_cost", ExactDecimal(precision=18, scale=2), nullable=False),
        sa.Column("total_play", sa.BigInteger(), nullable=False),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("play_per_100_cost", ExactDecimal(precision=20, scale=6), nullable=True),
        sa.Column("like_rate", ExactDecimal(precision=20, scale=6), nullable=True),
        sa.Column("share_rate", ExactDecimal(precision=20, scale=6), nullable=True),
        sa.Column("conversion_cost", ExactDecimal(precision=20, scale=6), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("item_id", "stat_date", name=op.f("pk_douplus_video_daily")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "dpa_products",
        sa.Column("product_platform_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("product_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("advertiser_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=True),
        sa.Column("title", sa.String(length=512), nullable=True),
        sa.Column("outer_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("audit_status", sa.Integer(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("price", ExactDecimal(precision=18, scale=2), nullable=True),
        sa.Column("album_id", sa.BigInteger(), nullable=True),
        sa.Column("playlet_id", sa.String(length=128), nullable=True),
        sa.Column("profession_json", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("product_platform_id", "product_id", name=op.f("pk_dpa_products")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_dpa_products_playlet", "dpa_products", ["playlet_id"], unique=False)

    op.create_table(
        "local_account_daily",
        sa.Column("stat_date", sa.Date(), nullable=False),
        sa.Column("local_account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("account_name", sa.String(length=255), nullable=True),
        sa.Column("promotion_count", sa.Integer(), nullable=False),
        sa.Column("cost", ExactDecimal(precision=18, scale=2), nullable=False),
        sa.Column("show_cnt", sa.BigInteger(), nullable=False),
        sa.Column("click_cnt", sa.BigInteger(), nullable=False),
        sa.Column("convert_cnt", sa.BigInteger(), nullable=False),
        sa.Column("clue_pay_order_cnt", sa.BigInteger(), nullable=False),
        sa.Column("ctr", ExactDecimal(precision=20, scale=6), nullable=True),
        sa.Column("cpc", ExactDecimal(precision=20, scale=6), nullable=True),
        sa.Column("cpm", ExactDecimal(precision=20, scale=6), nullable=True),
        sa.Column("conversion_cost", ExactDecimal(precision=20, scale=6), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "stat_date", "local_account_id", name=op.f("pk_local_account_daily")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "local_promotion_daily",
        sa.Column("stat_date", sa.Date(), nullable=False),
        sa.Column("local_account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("promotion_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("promotion_name", sa.String(length=255), nullable=True),
        sa.Column("project_id", sa.BigInteger(), nullable=True),
        sa.Column("project_name", sa.String(length=255), nullable=True),
        sa.Column("cost", ExactDecimal(precision=18, scale=2), nullable=True),
        sa.Column("show_cnt", sa.BigInteger(), nullable=True),
        sa.Column("click_cnt", sa.BigInteger(), nullable=True),
        sa.Column("convert_cnt", sa.BigInteger(), nullable=True),
        sa.Column("conversion_cost", ExactDecimal(precision=18, scale=2), nullable=True),
        sa.Column("clue_pay_order_cnt", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "stat_date", "local_account_id", "promotion_id", name=op.f("pk_local_promotion_daily")
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "oauth_tokens",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("access_expires_at", sa.DateTime(), nullable=False),
        sa.Column("refresh_expires_at", sa.DateTime(), nullable=False),
        sa.Column("account_ids", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_oauth_tokens")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("window_start", sa.Date(), nullable=True),
        sa.Column("window_end", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accounts_ok", sa.Integer(), nullable=False),
        sa.Column("accounts_failed", sa.Integer(), nullable=False),
        sa.Column("failed_accounts", sa.Text(), nullable=True),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("api_calls", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_sync_runs_flow_started", "sync_runs", ["flow", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sync_runs_flow_started", table_name="sync_runs")

    op.drop_table("sync_runs")
    op.drop_table("oauth_tokens")
    op.drop_table("local_promotion_daily")
    op.drop_table("local_account_daily")
    op.drop_index("ix_dpa_products_playlet", table_name="dpa_products")

    op.drop_table("dpa_products")
    op.drop_table("douplus_video_daily")
    op.drop_table("douplus_orders")
    op.drop_table("douplus_order_daily")
    op.drop_table("bitable_record_map")
    op.drop_table("ad_accounts")
