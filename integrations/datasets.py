"""Dataset declarations: each dataset is stated once, next to its source; the rest is derived.

A :class:`Dataset` says what a dataset *is* — its name, source, primary key, load mode, typed
columns, its China-date and account columns, its Bitable table (default Chinese names) and which
monitor checks apply — in the spirit of dlt's ``@dlt.resource(primary_key=…,
write_disposition="merge", columns=…)``. Everything that used to be registered by hand per
dataset is derived from it:

- ``dataset.table(metadata)`` → the SQLAlchemy Core table (``integrations/database/tables.py``
  builds every dataset table this way; the frozen Alembic migrations must match it, which
  ``tests/database/test_migrate_cli.py`` checks with an autogenerate compare);
- ``dataset.polars_schema`` → the schema the pure transforms produce (the table minus
  ``updated_at``, in table order);
- ``dataset.bitable_spec`` → the Bitable ``TableSpec`` (``integrations/feishu/specs.py``);
- ``dataset.freshness`` → the monitor's freshness/volume spec
  (``integrations/monitoring/freshness.py``);
- ``dataset.date_column`` / ``account_column`` → the Bitable projection's window filter and the
  monitor's grouping; ``dataset.flow`` → the monitor's known flows and rerun hints.

Sources list their datasets in ``integrations/sources/<vendor>/datasets.py``; the registry
(``integrations/sources/registry.py``) collects them (``all_datasets()``, ``dataset(name)``).

Adding a dataset
----------------
1. Declare it once in ``integrations/sources/<vendor>/datasets.py`` and append it to that
   module's ``DATASETS``: name, ``flow`` (the deployment that loads it), ``key`` (primary key
   columns, in table order), ``columns`` with types from the vocabulary below (``Id`` for platform
   ids, ``Money`` for yuan, ...; ``keep_known=True`` on descriptive columns the API may omit),
   ``date_column`` / ``account_columns``, ``bitable=Bitable(...)`` if it is projected to Feishu
   (Chinese table and field names; a field's kind defaults to its column's), ``checks=Checks(...)``
   if the monitor should watch its freshness. A new source also adds its module to ``SOURCES`` in
   ``integrations/sources/registry.py``.
2. Add one migration in ``integrations/database/migrations/versions``, chained after the head
   (explicit ops, frozen). ``tests/database/test_migrate_cli.py`` compares the migrated schema
   with the declaration on SQLite, PostgreSQL and MariaDB and fails until they agree.
3. Write the pure polars transform in the source's ``transforms/``, producing
   ``dataset.polars_schema``, and the flow that fetches, transforms, upserts the rows and projects
   them to Bitable by the dataset's name (``flows/steps.py``).
4. Nothing else is registered by hand: the table, the polars schema, the Bitable spec, the
   ``[bitable_tables.<name>]`` setting, the Bitable CLIs' choices and the monitor's freshness,
   volume and rerun hints all follow from the declaration. Only the README's flow table is
   edited by hand (documentation).

Column types (the vocabulary): ``Id`` (BIGINT platform id; int64 in polars, text in Bitable — never
a float: ids exceed 2^53), ``BigInt`` / ``Int`` (counts), ``Text(n)`` (VARCHAR(n); no length:
TEXT), ``Json`` (TEXT holding JSON), ``Money`` (DECIMAL(18, 2) yuan, exact on every backend),
``Ratio`` (DECIMAL(20, 6)), ``Date`` (China date), ``DateTime`` (naive; see the column's
comment for its zone), ``Bool``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table
from sqlalchemy import Date as SqlDate
from sqlalchemy import DateTime as SqlDateTime
from sqlalchemy import Text as SqlText
from sqlalchemy.types import TypeEngine

from integrations.database.types import KEEP_KNOWN, ExactDecimal

if TYPE_CHECKING:  # the derived views import their modules lazily (no lark-oapi, no polars here)
    import polars as pl

    from integrations.feishu.specs import TableSpec


class ValueKind(StrEnum):
    """How a DB value becomes a Bitable cell (and a canonical string for hashing and keys)."""

    TEXT = "text"  # str
    ID = "id"  # int64 id → text (ids exceed 2^53: never a JSON number)
    INT = "int"  # count → JSON number
    MONEY = "money"  # Decimal yuan → JSON number (float only at the edge)
    RATIO = "ratio"  # Decimal ratio → JSON number
    DATE = "date"  # date → ms at 00:00 Asia/Shanghai
    DATETIME = "datetime"  # naive China-local datetime → ms


# --- the column-type vocabulary ------------------------------------------------------------


@dataclass(frozen=True)
class ColumnType:
    """One type of the vocabulary: its SQL type, polars dtype and default Bitable value kind."""

    name: str
    length: int | None = None  # Text(n)

    def sql(self) -> TypeEngine[Any] | type[TypeEngine[Any]]:
        if self.name in ("id", "bigint"):
            return BigInteger
        if self.name == "int":
            return Integer
        if self.name == "text":
            return String(self.length) if self.length else SqlText
        if self.name == "json":
            return SqlText
        if self.name == "money":
            return ExactDecimal(18, 2)
        if self.name == "ratio":
            return ExactDecimal(20, 6)
        if self.name == "date":
            return SqlDate
        if self.name == "datetime":
            return SqlDateTime
        if self.name == "bool":
            return Boolean
        raise ValueError(f"unknown column type {self.name!r}")

    def polars(self) -> pl.DataType:
        import polars as pl

        from integrations.exact import MONEY, RATIO

        by_name: dict[str, pl.DataType] = {
            "id": pl.Int64(),
            "bigint": pl.Int64(),
            "int": pl.Int64(),  # INTEGER in SQL; polars keeps every count as int64
            "text": pl.String(),
            "json": pl.String(),
            "money": MONEY,
            "ratio": RATIO,
            "date": pl.Date(),
            "datetime": pl.Datetime("us"),
            "bool": pl.Boolean(),
        }
        return by_name[self.name]

    @property
    def kind(self) -> ValueKind | None:
        """The Bitable value kind a field fed by this column has unless it says otherwise."""
        return {
            "id": ValueKind.ID,
            "bigint": ValueKind.INT,
            "int": ValueKind.INT,
            "text": ValueKind.TEXT,
            "json": ValueKind.TEXT,
            "money": ValueKind.MONEY,
            "ratio": ValueKind.RATIO,
            "date": ValueKind.DATE,
            "datetime": ValueKind.DATETIME,
        }.get(self.name)  # bool: no Bitable kind; a field must state one

    @property
    def is_integer(self) -> bool:
        return self.name in ("id", "bigint", "int")


Id = ColumnType("id")
BigInt = ColumnType("bigint")
Int = ColumnType("int")
Json = ColumnType("json")
Money = ColumnType("money")
Ratio = ColumnType("ratio")
Date = ColumnType("date")
DateTime = ColumnType("datetime")
Bool = ColumnType("bool")


def Text(length: int | None = None) -> ColumnType:  # noqa: N802 - reads like a type
    """VARCHAR(length); without a length, unbounded TEXT."""
    return ColumnType("text", length)


@dataclass(frozen=True)
class Col:
    """A column. ``keep_known``: an omitted (NULL) value never overwrites a stored one — for
    descriptive attributes the API may leave out (names, titles, parent ids)."""

    name: str
    type: ColumnType
    nullable: bool = True
    keep_known: bool = False


@dataclass(frozen=True)
class Idx:
    """A secondary index (the name as in the migration that created it)."""

    name: str
    columns: tuple[str, ...]


# --- Bitable and monitor settings ------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A Bitable field: its key (a row column, usually a DB column), default Chinese name, and
    value kind (default: from the column's type; required for fields that are not DB columns,
    e.g. ones joined or summed by the flow)."""

    key: str
    name: str
    kind: ValueKind | None = None
    # Text fields only: raw value → Chinese label shown in Bitable (integrations/feishu/labels.py)
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Bitable:
    """The dataset's Bitable table. Fields in display order (after the business-key field).
    ``key``: the columns joined into the business key (default: the dataset's key). The views'
    account-id field and the reconcile window's date field are the dataset's account and date
    columns; ``account_name_field`` names the account in view titles."""

    table_name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] | None = None
    account_name_field: str | None = None


@dataclass(frozen=True)
class Checks:
    """Monitor checks over the dataset's date and account columns (freshness, future rows).
    ``per_account``: also per-account disappearance/volume findings (grain tables only:
    aggregates of them would repeat each finding). ``account_type``: the ``ad_accounts`` type
    whose active accounts are expected to have rows (never-synced findings)."""

    per_account: bool = False
    account_type: str | None = None


@dataclass(frozen=True)
class FreshnessSpec:
    """What the monitor reads from a dataset (derived; see :attr:`Dataset.freshness`)."""

    name: str  # table name
    date_column: str
    account_column: str
    per_account_checks: bool
    account_type: str | None = None


# --- the declaration -----------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    name: str
    source: str  # the source package under integrations/sources/
    flow: str  # the flow (deployment) that loads it
    key: tuple[str, ...]  # primary key columns, in table order
    columns: tuple[Col, ...]
    load: Literal["merge"] = "merge"  # upsert by key; rows are never deleted by a load
    date_column: str | None = None  # China report date (DATE)
    account_columns: tuple[str, ...] = ()  # the account a row belongs to (first: the main one)
    indexes: tuple[Idx, ...] = ()
    bitable: Bitable | None = None
    checks: Checks | None = None
    _by_name: dict[str, Col] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.columns}
        object.__setattr__(self, "_by_name", by_name)
        where = f"dataset {self.name}"
        if len(by_name) != len(self.columns):
            raise ValueError(f"{where}: two columns share a name")
        if "updated_at" in by_name:
            raise ValueError(f"{where}: updated_at is added by the table; do not declare it")
        if not self.key:
            raise ValueError(f"{where}: a dataset needs a key")
        for what, names in (
            ("key", self.key),
            ("account_columns", self.account_columns),
            ("date_column", (self.date_column,) if self.date_column else ()),
            *(("index " + i.name, i.columns) for i in self.indexes),
        ):
            unknown = [n for n in names if n not in by_name]
            if unknown:
                raise ValueError(f"{where}: {what} names unknown column(s) {', '.join(unknown)}")
        in_table_order = tuple(c.name for c in self.columns if c.name in self.key)
        if in_table_order != self.key:
            raise ValueError(f"{where}: key must list its columns in table order")
        if self.date_column and by_name[self.date_column].type != Date:
            raise ValueError(f"{where}: date_column {self.date_column} is not a Date column")
        if self.checks and not (self.date_column and self.account_columns):
            raise ValueError(f"{where}: checks need a date column and an account column")
        if self.bitable:
            self._check_bitable(self.bitable)

    def _check_bitable(self, b: Bitable) -> None:
        where = f"dataset {self.name}: bitable"
        keys = [f.key for f in b.fields]
        names = [f.name for f in b.fields]
        if len(set(keys)) != len(keys) or len(set(names)) != len(names):
            raise ValueError(f"{where}: two fields share a key or a name")
        for f in b.fields:
            if f.kind is None and (
                f.key not in self._by_name or self.column(f.key).type.kind is None
            ):
                raise ValueError(f"{where}: field {f.key} needs a kind (not a typed DB column)")
        for n in b.key or ():
            if n not in self._by_name:
                raise ValueError(f"{where}: key names unknown column {n}")
        for n in (*self.account_columns[:1], b.account_name_field, self.date_column):
            if n and n not in keys:
                raise ValueError(f"{where}: {n} must be one of the fields")

    # -- lookups -------------------------------------------------------------------------------
    def column(self, name: str) -> Col:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"dataset {self.name}: no column {name!r}") from None

    @property
    def account_column(self) -> str | None:
        return self.account_columns[0] if self.account_columns else None

    # -- derived views -------------------------------------------------------------------------
    def table(self, metadata: MetaData) -> Table:
        """The SQLAlchemy Core table: declared columns in order (key columns primary, never
        autoincrementing ids), then the ``updated_at`` bookkeeping column, then the indexes."""
        cols: list[Any] = []
        for c in self.columns:
            kw: dict[str, Any] = {}
            if c.name in self.key:
                kw["primary_key"] = True
                if c.type.is_integer:
                    kw["autoincrement"] = False
            elif not c.nullable:
                kw["nullable"] = False
            if c.keep_known:
                kw["info"] = KEEP_KNOWN
            cols.append(Column(c.name, c.type.sql(), **kw))
        cols.append(Column("updated_at", SqlDateTime, nullable=False))
        cols.extend(Index(i.name, *i.columns) for i in self.indexes)
        return Table(self.name, metadata, *cols)

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        """The frame a transform produces for this dataset: the table minus ``updated_at``."""
        return {c.name: c.type.polars() for c in self.columns}

    @property
    def bitable_spec(self) -> TableSpec:
        """The Bitable table spec with the default (Chinese) names; raises when not projected."""
        from integrations.feishu.specs import spec_of

        return spec_of(self)

    @property
    def freshness(self) -> FreshnessSpec | None:
        if self.checks is None:
            return None
        assert self.date_column and self.account_column  # checked in __post_init__
        return FreshnessSpec(
            self.name,
            self.date_column,
            self.account_column,
            self.checks.per_account,
            self.checks.account_type,
        )
