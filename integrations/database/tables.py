"""Every table of the app database (SQLAlchemy Core). The schema contract for all flows.

Conventions (documented in README "Data conventions"):
- Money is DECIMAL(18, 2) yuan (``Money``). Local reports give yuan; DOU+ gives fen, converted
  exactly (÷100) at the API boundary. Never a float in storage, on any backend.
- Ratios (CTR, CPC, ...) are DECIMAL(20, 6) (``Ratio``), computed from sums.
- Both are ``ExactDecimal``: NUMERIC/DECIMAL(p, s) on PostgreSQL and MariaDB/MySQL. SQLite has no
  exact decimal (a NUMERIC column stores REAL, a binary float), so there the column is TEXT holding
  the canonical decimal string: quantised to the scale (ROUND_HALF_UP), plain notation, no
  exponent, no negative zero ('12.30', '0.10', '-5.00'). One value has exactly one spelling, so
  SQL equality (the upsert's IS DISTINCT FROM) is exact; reads give ``Decimal`` on every backend.
  Caveat on SQLite: ordering, <, > and SUM/AVG on these columns *in SQL* would be textual or
  float; compare, order and sum money in Python (Decimal) or CAST explicitly. Nothing does today.
- Ocean Engine ids are BIGINT (int64; often above 2^53).
- Dates are China dates (DATE); timestamps are stored in UTC (naive, timezone-less columns).
- ``updated_at`` is bookkeeping: the upsert ignores it when deciding "unchanged".
- Columns marked ``info=KEEP_KNOWN`` (descriptive attributes the API may omit: names, titles,
  parent ids) are never overwritten with NULL by the upsert: an omitted value keeps the stored
  one, an explicit value (including "") still updates it. See
  integrations/sources/oceanengine/QUIRKS.md, row 32 ("Optional fields omitted").
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

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
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class ExactDecimal(TypeDecorator[Decimal]):
    """DECIMAL(precision, scale) that is exact on every backend; values are ``Decimal``.

    PostgreSQL, MariaDB/MySQL: plain ``Numeric(precision, scale)`` (the driver sends and returns
    Decimal; no extra processing). SQLite: a TEXT column storing the canonical decimal string (see
    the module docstring); binds accept Decimal, int, numeric text or float (by its shortest
    repr, like the upsert's normaliser) and reject NaN/infinity and values that exceed the
    precision, as the servers do. Legacy REAL/INTEGER cells (a SQLite file created before this
    type) still read back as Decimal quantised to the scale.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision, scale)
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return self.impl_instance

    # The processors are chosen per dialect once (not per value): servers get the Numeric impl's
    # own processors untouched, SQLite gets the text conversions below.
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _decimal_to_text(self.precision, self.scale)
        return self.impl_instance.bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _text_to_decimal(self.scale)
        return self.impl_instance.result_processor(dialect, coltype)

    # Used for literal rendering (literal_binds) and by anyone calling them directly.
    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return _decimal_to_text(self.precision, self.scale)(value)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if dialect.name == "sqlite":
            return _text_to_decimal(self.scale)(value)
        return value


def _decimal_to_text(precision: int, scale: int) -> Callable[[Any], str | None]:
    quantum = Decimal(1).scaleb(-scale)
    int_digits = precision - scale
    # str() of a value quantised to scale <= 6 is always plain notation (and ~3x faster than
    # format(d, "f")): Decimal uses an exponent only when adjusted() < -6.
    spell: Callable[[Decimal], str] = str if scale <= 6 else (lambda d: format(d, "f"))

    def to_text(v: Any) -> str | None:
        if v is None:
            return None
        if type(v) is not Decimal:
            if isinstance(v, bool):
                raise TypeError(f"DECIMAL({precision}, {scale}): bool is not a number: {v!r}")
            v = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        try:
            d = v.quantize(quantum, ROUND_HALF_UP)
        except InvalidOperation:  # infinity, or more digits than the context holds
            d = None
        if d is None or not d.is_finite():
            raise ValueError(f"DECIMAL({precision}, {scale}): not a finite number in range: {v}")
        if d.adjusted() >= int_digits:
            raise ValueError(f"DECIMAL({precision}, {scale}): numeric field overflow: {v}")
        text = spell(d)
        if text[0] == "-" and not d:
            return text[1:]  # one spelling for zero: '0.00', never '-0.00'
        return text

    return to_text


def _text_to_decimal(scale: int) -> Callable[[Any], Decimal | None]:
    quantum = Decimal(1).scaleb(-scale)

    def to_decimal(v: Any) -> Decimal | None:
        if v is None:
            return None
        if type(v) is str:
            return Decimal(v)  # stored canonical: already at the scale
        # Legacy cell stored by a NUMERIC-affinity column: REAL or INTEGER.
        d = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        return d.quantize(quantum, rounding=ROUND_HALF_UP)

    return to_decimal


def Money() -> ExactDecimal:  # noqa: N802 - reads like a type
    """Yuan, DECIMAL(18, 2)."""
    return ExactDecimal(18, 2)


def Ratio() -> ExactDecimal:  # noqa: N802
    """DECIMAL(20, 6)."""
    return ExactDecimal(20, 6)


def PreciseDateTime() -> TypeEngine[Any]:  # noqa: N802
    """DateTime with microseconds on every backend (MariaDB/MySQL DATETIME(6); plain DATETIME
    there keeps whole seconds). SQLite and PostgreSQL keep microseconds anyway."""
    return DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


# Marks a column whose NULL never overwrites a stored value (see the module docstring).
KEEP_KNOWN: dict[str, Any] = {"keep_known": True}

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
    Column("promotion_name", String(255), info=KEEP_KNOWN),
    Column("project_id", BigInteger, info=KEEP_KNOWN),
    Column("project_name", String(255), info=KEEP_KNOWN),
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
    Column("task_id", BigInteger, info=KEEP_KNOWN),
    Column("aweme_sec_uid", String(128), nullable=False),
    Column(
        "item_id", BigInteger, info=KEEP_KNOWN
    ),  # the promoted video (first item_info_list entry)
    Column("item_title", String(512), info=KEEP_KNOWN),
    Column("author_name", String(255), info=KEEP_KNOWN),
    Column("scene_type", String(32), info=KEEP_KNOWN),
    Column("task_status", String(32), info=KEEP_KNOWN),
    Column("budget", Money(), info=KEEP_KNOWN),  # yuan (API: fen)
    Column("order_create_time", DateTime, info=KEEP_KNOWN),  # China local time as given by the API
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
    Column("custom_convert_cost", Money()),  # yuan (API: fen, like stat_cost)
    Column("play_duration_5s_rank", Ratio()),  # the day's 5-second completion rate, 0..1
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
    # Σ(play_duration_5s_rank × total_play) / Σ total_play over the video's orders of the day
    Column("play_5s_rate", Ratio()),
    *_bookkeeping(),
)

# --- DPA -----------------------------------------------------------------------------------

dpa_products = Table(
    "dpa_products",
    metadata,
    Column("product_platform_id", BigInteger, primary_key=True, autoincrement=False),
    Column("product_id", BigInteger, primary_key=True, autoincrement=False),
    Column("advertiser_id", BigInteger, nullable=False),
    Column("name", String(512), info=KEEP_KNOWN),
    Column("title", String(512), info=KEEP_KNOWN),
    Column("outer_id", String(255), info=KEEP_KNOWN),
    Column("status", Integer, info=KEEP_KNOWN),
    Column("audit_status", Integer, info=KEEP_KNOWN),
    Column("image_url", Text, info=KEEP_KNOWN),
    Column("price", Money(), info=KEEP_KNOWN),
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

# Per-account view cache for integrations/feishu/views.py: what each view filtered on when its
# filter was last read with views.get. An optimisation only; rows are re-verified in rotation.
bitable_view_map = Table(
    "bitable_view_map",
    metadata,
    Column("app_token", String(64), primary_key=True),
    Column("table_id", String(64), primary_key=True),
    Column("view_id", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False),  # "" = the filter is not one of ours
    Column("view_name", String(255), nullable=False),
    # Microseconds on MariaDB/MySQL too (plain DATETIME is whole seconds there): the rotation
    # orders views by this column, and runs within the same second must not tie.
    Column("verified_at", PreciseDateTime(), nullable=False),
)

# One writer per Bitable base across processes: a lease (integrations/feishu/base_lock.py).
bitable_base_lock = Table(
    "bitable_base_lock",
    metadata,
    Column("app_token", String(64), primary_key=True),
    Column("holder", String(64), nullable=True),  # NULL = free
    Column("expires_at", PreciseDateTime(), nullable=True),
)

# Each process pacing an Ocean Engine app holds a share of its QPS: a heartbeat row per
# (app, process); the live rows divide the app's rate (integrations/sources/oceanengine/
# shared_ratelimit.py).
oceanengine_rate_share = Table(
    "oceanengine_rate_share",
    metadata,
    Column("app_id", String(64), primary_key=True),
    Column("holder", String(64), primary_key=True),
    Column("expires_at", PreciseDateTime(), nullable=False),
)


LEDGER_TEXT = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("flow", String(64), nullable=False),
    # integrations/tenants.py; rows written before tenants existed are the tenant "default".
    Column("tenant", String(64), nullable=False, server_default="default"),
    Column("run_id", String(64)),  # Prefect flow-run id when run under Prefect
    Column("window_start", Date),
    Column("window_end", Date),
    Column("status", String(16), nullable=False),  # PENDING/RUNNING/SUCCESS/PARTIAL/FAILED
    Column("accounts_ok", Integer, nullable=False, default=0),
    Column("accounts_failed", Integer, nullable=False, default=0),
    # MEDIUMTEXT on MySQL/MariaDB (16 MB): TEXT holds 64 KB, which a run with a few hundred
    # failed accounts and their full reasons outgrows (the run then could not be closed).
    Column("failed_accounts", LEDGER_TEXT),  # JSON: [{"account_id": ..., "reason": ...}]
    Column("counts", LEDGER_TEXT),  # JSON: {"db:<table>": {"inserted":..}, "bitable:..": {..}}
    Column("api_calls", Integer),
    Column("error", LEDGER_TEXT),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Index("ix_sync_runs_flow_started", "flow", "started_at"),
    Index("ix_sync_runs_tenant_started", "tenant", "started_at"),
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
