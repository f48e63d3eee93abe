"""Every table of the app database (SQLAlchemy Core). The schema contract for all flows.

The dataset tables are built from the dataset declarations (``integrations/sources/*/datasets.py``,
see :mod:`integrations.datasets`); this module declares only the infrastructure tables (sync
ledger, OAuth tokens, Bitable record/view maps and base lock). The column types live in
:mod:`integrations.database.types` and are re-exported here.

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

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql

# Re-exported: the frozen migrations and many callers import the types from here.
from integrations.database.types import (
    BOOKKEEPING_COLUMNS as BOOKKEEPING_COLUMNS,
)
from integrations.database.types import (
    KEEP_KNOWN as KEEP_KNOWN,
)
from integrations.database.types import (
    ExactDecimal as ExactDecimal,
)
from integrations.database.types import (
    Money as Money,
)
from integrations.database.types import (
    PreciseDateTime,
)
from integrations.database.types import (
    Ratio as Ratio,
)
from integrations.sources.registry import all_datasets

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


# --- dataset tables: derived from the declarations (integrations/sources/*/datasets.py) -------

# Dataset tables by name, registry order (used by upsert callers and the monitor).
DATASET_TABLES: dict[str, Table] = {d.name: d.table(metadata) for d in all_datasets()}

# Module attributes for importers (``tables.local_promotion_daily``).
local_promotion_daily = DATASET_TABLES["local_promotion_daily"]
local_account_daily = DATASET_TABLES["local_account_daily"]
douplus_orders = DATASET_TABLES["douplus_orders"]
douplus_order_daily = DATASET_TABLES["douplus_order_daily"]
douplus_video_daily = DATASET_TABLES["douplus_video_daily"]
douplus_video_periods = DATASET_TABLES["douplus_video_periods"]
douplus_account_periods = DATASET_TABLES["douplus_account_periods"]
dpa_products = DATASET_TABLES["dpa_products"]
ad_accounts = DATASET_TABLES["ad_accounts"]

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
