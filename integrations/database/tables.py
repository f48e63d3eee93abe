"""Every table of the app database (SQLAlchemy Core). The schema contract for all flows.

Conventions (documented in README "Data conventions"):
- Money is DECIMAL yuan, scale 2 (``Money``). Local reports give yuan; DOU+ gives fen, converted
  exactly (÷100) at the API boundary. Never a float in storage.
- Ratios (CTR, CPC, ...) are DECIMAL with scale 6 (``Ratio``), computed from sums.
- Ocean Engine ids are BIGINT (int64; often above 2^53).
- Dates are China dates (DATE); timestamps are stored in UTC (naive, timezone-less columns).
- ``updated_at`` is bookkeeping: the upsert ignores it when deciding "unchanged".
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


def Money() -> Numeric:  # noqa: N802 - reads like a type
    return Numeric(18, 2)


def Ratio() -> Numeric:  # noqa: N802
    return Numeric(20, 6)


# Columns never compared by the upsert ("unchanged" means: all other columns equal).
BOOKKEEPING_COLUMNS = frozenset({"updated_at", "created_at", "first_seen_at", "last_seen_at"})


def _bookkeeping() -> list[Column]:
    return [Column("updated_at", DateTime, nullable=False)]


# --- 本地推 --------------------------------------------------------------------------------

local_promotion_daily = Table(
    "local_promotion_daily",
    metadata,
    Column("stat_date", Date, primary_key=True),
    Column("local_account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("promotion_id", BigInteger, primary_key=True, autoincrement=False),
    Column("promotion_name", String(255)),
    Column("project_id", BigInteger),
    Column("project_name", String(255)),
    Column("cost", Money()),  # stat_cost, yuan
    Column("show_cnt", BigInteger),
    Column("click_cnt", BigInteger),
    Column("convert_cnt", BigInteger),
    Column("conversion_cost", Money()),  # as reported by the API, yuan
    Column("clue_pay_order_cnt", BigInteger),
    *_bookkeeping(),
)

local_account_daily = Table(
    "local_account_daily",
    metadata,
    Column("stat_date", Date, primary_key=True),
    Column("local_account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_name", String(255)),
    Column("promotion_count", Integer, nullable=False),
    Column("cost", Money(), nullable=False),
    Column("show_cnt", BigInteger, nullable=False),
    Column("click_cnt", BigInteger, nullable=False),
    Column("convert_cnt", BigInteger, nullable=False),
    Column("clue_pay_order_cnt", BigInteger, nullable=False),
    Column("ctr", Ratio()),  # clicks / shows
    Column("cpc", Ratio()),  # cost / clicks, yuan
    Column("cpm", Ratio()),  # cost / shows * 1000, yuan
    Column("conversion_cost", Ratio()),  # cost / conversions, yuan
    *_bookkeeping(),
)

# --- DOU+ ----------------------------------------------------------------------------------

douplus_orders = Table(
    "douplus_orders",
    metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("task_id", BigInteger),
    Column("aweme_sec_uid", String(128), nullable=False),
    Column("item_id", BigInteger),  # the promoted video (first item_info_list entry)
    Column("item_title", String(512)),
    Column("author_name", String(255)),
    Column("scene_type", String(32)),
    Column("task_status", String(32)),
    Column("budget", Money()),  # yuan (API: fen)
    Column("order_create_time", DateTime),  # China local time as given by the API
    *_bookkeeping(),
)

douplus_order_daily = Table(
    "douplus_order_daily",
    metadata,
    Column("order_id", BigInteger, primary_key=True, autoincrement=False),
    Column("stat_date", Date, primary_key=True),
    Column("aweme_sec_uid", String(128), nullable=False),
    Column("cost", Money()),  # stat_cost, yuan (API: fen)
    Column("total_play", BigInteger),
    Column("custom_like", BigInteger),
    Column("dy_comment", BigInteger),
    Column("dy_share", BigInteger),
    Column("dy_follow", BigInteger),
    Column("dp_target_convert_cnt", BigInteger),
    *_bookkeeping(),
)

douplus_video_daily = Table(
    "douplus_video_daily",
    metadata,
    Column("item_id", BigInteger, primary_key=True, autoincrement=False),
    Column("stat_date", Date, primary_key=True),
    Column("aweme_sec_uid", String(128), nullable=False),
    Column("order_count", Integer, nullable=False),
    Column("total_cost", Money(), nullable=False),
    Column("total_play", BigInteger, nullable=False),
    Column("likes", BigInteger, nullable=False),
    Column("shares", BigInteger, nullable=False),
    Column("conversions", BigInteger, nullable=False),
    Column("play_per_100_cost", Ratio()),
    Column("like_rate", Ratio()),
    Column("share_rate", Ratio()),
    Column("conversion_cost", Ratio()),
    *_bookkeeping(),
)

# --- DPA -----------------------------------------------------------------------------------

dpa_products = Table(
    "dpa_products",
    metadata,
    Column("product_platform_id", BigInteger, primary_key=True, autoincrement=False),
    Column("product_id", BigInteger, primary_key=True, autoincrement=False),
    Column("advertiser_id", BigInteger, nullable=False),
    Column("name", String(512)),
    Column("title", String(512)),
    Column("outer_id", String(255)),
    Column("status", Integer),
    Column("audit_status", Integer),
    Column("image_url", Text),
    Column("price", Money()),
    Column("album_id", BigInteger),  # 短剧 album id (profession.album_id)
    Column("playlet_id", String(128)),  # 漫剧 playlet id (query of profession.album_link)
    Column("profession_json", Text),  # the raw profession map, JSON
    *_bookkeeping(),
    Index("ix_dpa_products_playlet", "playlet_id"),
)

# --- accounts ------------------------------------------------------------------------------

ad_accounts = Table(
    "ad_accounts",
    metadata,
    Column("account_type", String(32), primary_key=True),  # LOCAL, AWEME, ADVERTISER, ...
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_name", String(255)),
    Column("account_string_id", String(128)),  # aweme_sec_uid for 抖音号 accounts
    Column("is_valid", Boolean, nullable=False),
    Column("is_enabled", Boolean),
    Column("removed", Boolean, nullable=False),  # no longer listed by the API
    Column("first_seen_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    *_bookkeeping(),
)

# --- sync bookkeeping ----------------------------------------------------------------------

bitable_record_map = Table(
    "bitable_record_map",
    metadata,
    Column("app_token", String(64), primary_key=True),
    Column("table_id", String(64), primary_key=True),
    Column("business_key", String(255), primary_key=True),
    Column("record_id", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
    Column("synced_at", DateTime, nullable=False),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow", String(64), nullable=False),
    Column("run_id", String(64)),  # Prefect flow-run id when run under Prefect
    Column("window_start", Date),
    Column("window_end", Date),
    Column("status", String(16), nullable=False),  # PENDING/RUNNING/SUCCESS/PARTIAL/FAILED
    Column("accounts_ok", Integer, nullable=False, default=0),
    Column("accounts_failed", Integer, nullable=False, default=0),
    Column("failed_accounts", Text),  # JSON: [{"account_id": ..., "reason": ...}]
    Column("counts", Text),  # JSON: {"db:<table>": {"inserted":..}, "bitable:<table>": {...}}
    Column("api_calls", Integer),
    Column("error", Text),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Index("ix_sync_runs_flow_started", "flow", "started_at"),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("key", String(255), primary_key=True),  # provider:app_id:principal
    Column("ciphertext", LargeBinary, nullable=False),  # Fernet(token set JSON)
    Column("access_expires_at", DateTime, nullable=False),  # UTC, non-secret, for status
    Column("refresh_expires_at", DateTime, nullable=False),
    Column("account_ids", Text),  # JSON list of authorised ids (non-secret)
    Column("version", Integer, nullable=False),  # bumped on every write
    Column("updated_at", DateTime, nullable=False),
)

# Dataset tables with their business keys (used by upsert callers and monitor).
DATASET_TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        local_promotion_daily,
        local_account_daily,
        douplus_orders,
        douplus_order_daily,
        douplus_video_daily,
        dpa_products,
        ad_accounts,
    )
}
