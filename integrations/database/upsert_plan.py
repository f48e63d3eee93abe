"""What an upsert writes: the column plan for one table and batch shape, row validation and value
normalisation, and the result counts. Dialect writers (``upsert_<dialect>.py``) consume it.

Values are normalised the way the database will store them, so "unchanged" is decided on the
stored value on every dialect: DECIMAL values are quantised to the column scale (ROUND_HALF_UP,
like PostgreSQL and MariaDB), and on MariaDB/MySQL (DATETIME without fractional seconds)
timestamps drop their microseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Dialect, Numeric, Table, and_, func, or_
from sqlalchemy.types import TypeDecorator

from integrations.database.tables import BOOKKEEPING_COLUMNS

# Bookkeeping columns written only when the row is first inserted.
INSERT_ONLY_COLUMNS = frozenset({"created_at", "first_seen_at"})
# Bookkeeping columns set to "now" on every insert or update, whatever the row says.
ALWAYS_NOW_COLUMNS = frozenset({"updated_at"})

Row = tuple[Any, ...]
Normalizer = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """Rows inserted, updated (some compared column changed) and left unchanged (not rewritten)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        if not isinstance(other, UpsertResult):
            return NotImplemented
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged}


@dataclass(frozen=True)
class UpsertPlan:
    """Column layout of one upsert call. Rows become tuples in ``columns`` order, key first."""

    table: Table
    key_columns: tuple[str, ...]
    columns: tuple[str, ...]  # key columns, then data columns, then bookkeeping columns
    compare_columns: tuple[str, ...]  # decide "changed": data columns except bookkeeping
    update_columns: tuple[str, ...]  # written when a row changed: all but key and insert-only
    input_columns: frozenset[str]  # the keys the caller's rows carry
    now_columns: tuple[str, ...]  # bookkeeping columns filled with "now" by us
    normalizers: tuple[Normalizer | None, ...]  # per input column (key + data), or None
    # Compared columns marked tables.KEEP_KNOWN: a NULL here never overwrites a stored value
    # (the API omitted it); dialects write COALESCE(new, stored) and ignore NULL when comparing.
    keep_known: tuple[str, ...] = ()

    @property
    def n_key(self) -> int:
        return len(self.key_columns)

    @classmethod
    def build(cls, table: Table, first_row: Mapping[str, Any], dialect: Dialect) -> UpsertPlan:
        key = tuple(c.name for c in table.primary_key.columns)
        if not key:
            raise ValueError(f"{table.name}: upsert needs a primary key")
        unknown = sorted(set(first_row) - set(table.c.keys()))
        if unknown:
            raise ValueError(f"{table.name}: unknown column {unknown[0]!r}")
        for k in key:
            if k not in first_row:
                raise ValueError(f"{table.name}: row is missing primary-key column {k!r}")

        table_bookkeeping = [c.name for c in table.columns if c.name in BOOKKEEPING_COLUMNS]
        data = tuple(
            c.name
            for c in table.columns
            if c.name in first_row and c.name not in key and c.name not in BOOKKEEPING_COLUMNS
        )
        given_bookkeeping = tuple(
            c for c in table_bookkeeping if c in first_row and c not in ALWAYS_NOW_COLUMNS
        )
        now_cols = tuple(c for c in table_bookkeeping if c not in given_bookkeeping)
        input_cols = key + data + given_bookkeeping
        columns = input_cols + now_cols
        return cls(
            table=table,
            key_columns=key,
            columns=columns,
            compare_columns=data,
            update_columns=tuple(
                c for c in columns if c not in key and c not in INSERT_ONLY_COLUMNS
            ),
            input_columns=frozenset(input_cols),
            now_columns=now_cols,
            normalizers=tuple(_normalizer(table, c, dialect) for c in input_cols),
            keep_known=tuple(c for c in data if table.c[c].info.get("keep_known")),
        )

    def prepare(self, chunk: Sequence[Mapping[str, Any]], now: datetime) -> list[Row]:
        """Validate and normalise ``chunk``; one tuple per distinct key (the last row wins).

        Works column by column (itemgetter, zip, list comprehensions): the per-row Python
        overhead here bounds the throughput of every dialect.
        """
        input_cols = self.columns[: len(self.columns) - len(self.now_columns)]
        n_in = len(input_cols)
        nk = self.n_key
        getter = itemgetter(*input_cols)
        try:
            picked = (
                [getter(r) for r in chunk] if n_in > 1 else [(r[input_cols[0]],) for r in chunk]
            )
        except KeyError as e:
            raise self._missing(e.args[0]) from None
        if any(len(r) != n_in for r in chunk):
            for r in chunk:
                self._check_extra(r)
        columns: list[Sequence[Any]] = list(zip(*picked, strict=True))
        for i, f in enumerate(self.normalizers):
            if f is not None:
                columns[i] = self._normalized(input_cols[i], f, columns[i])
        for name, col in zip(self.key_columns, columns[:nk], strict=True):
            if None in col:
                raise ValueError(f"{self.table.name}: primary-key column {name!r} is NULL")
        columns.extend([now] * len(chunk) for _ in self.now_columns)
        rows = list(zip(*columns, strict=True))
        by_key = dict(zip(zip(*columns[:nk], strict=True), rows, strict=True))
        return rows if len(by_key) == len(rows) else list(by_key.values())

    def _normalized(self, name: str, f: Normalizer, values: Sequence[Any]) -> list[Any]:
        try:
            return [None if v is None else f(v) for v in values]
        except (InvalidOperation, TypeError, ValueError):
            bad = next(v for v in values if v is not None and not _converts(f, v))
            raise ValueError(f"{self.table.name}.{name}: invalid value {bad!r}") from None

    def _missing(self, col: str) -> ValueError:
        kind = "primary-key column" if col in self.key_columns else "column"
        return ValueError(
            f"{self.table.name}: row is missing {kind} {col!r} (every row of one upsert call "
            "must carry the same columns)"
        )

    def _check_extra(self, row: Mapping[str, Any]) -> None:
        extra = sorted(set(row) - self.input_columns - ALWAYS_NOW_COLUMNS)
        if extra:
            raise ValueError(
                f"{self.table.name}: column {extra[0]!r} is not in the first row of this upsert "
                "call (every row must carry the same columns)"
                if extra[0] in self.table.c
                else f"{self.table.name}: unknown column {extra[0]!r}"
            )


def set_values(plan: UpsertPlan, new: Any) -> dict[str, Any]:
    """ON CONFLICT assignments: ``new.c``, or COALESCE(new.c, stored c) for keep-known columns.
    ``new`` is the dialect's proposed-row namespace (``excluded`` / ``inserted``)."""
    t = plan.table
    keep = set(plan.keep_known)
    return {c: func.coalesce(new[c], t.c[c]) if c in keep else new[c] for c in plan.update_columns}


def changed(plan: UpsertPlan, new: Any) -> ColumnElement[bool]:
    """ON CONFLICT WHERE: some compared column differs (a NULL keep-known value never does)."""
    t = plan.table
    keep = set(plan.keep_known)
    return or_(
        *(
            and_(new[c].is_not(None), t.c[c].is_distinct_from(new[c]))
            if c in keep
            else t.c[c].is_distinct_from(new[c])
            for c in plan.compare_columns
        )
    )


def _converts(f: Normalizer, v: Any) -> bool:
    try:
        f(v)
    except (InvalidOperation, TypeError, ValueError):
        return False
    return True


def utc_now(dialect: Dialect) -> datetime:
    """Naive UTC now (the schema stores UTC without zone); whole seconds on MariaDB/MySQL."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=0) if dialect.name in ("mysql", "mariadb") else now


def _normalizer(table: Table, name: str, dialect: Dialect) -> Normalizer | None:
    col_type = table.c[name].type
    if isinstance(col_type, TypeDecorator):  # tables.ExactDecimal: normalise as its Numeric
        col_type = col_type.impl_instance
    if isinstance(col_type, Numeric) and col_type.asdecimal and col_type.scale is not None:
        return _decimal_normalizer(col_type.scale)
    if isinstance(col_type, DateTime) and dialect.name in ("mysql", "mariadb"):
        return _drop_microseconds
    return None


def _decimal_normalizer(scale: int) -> Normalizer:
    quantum = Decimal(1).scaleb(-scale)

    def normalize(v: Any) -> Decimal:
        if isinstance(v, Decimal):
            d = v
        elif isinstance(v, bool):
            raise TypeError("bool is not a number")
        elif isinstance(v, float):
            # Shortest repr: 0.1 means Decimal("0.1"), not 0.1000000000000000055511...
            d = Decimal(repr(v))
        else:
            d = Decimal(v)  # int or numeric text
        return d.quantize(quantum, rounding=ROUND_HALF_UP)

    return normalize


def _drop_microseconds(v: Any) -> Any:
    return v.replace(microsecond=0) if isinstance(v, datetime) else v


def iter_chunks(
    rows: Iterable[Mapping[str, Any]], size: int
) -> Iterable[Sequence[Mapping[str, Any]]]:
    """Slices of a sequence, or lists of ``size`` rows from any iterable (streaming)."""
    if isinstance(rows, Sequence):
        for i in range(0, len(rows), size):
            yield rows[i : i + size]
        return
    chunk: list[Mapping[str, Any]] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
