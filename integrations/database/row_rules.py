"""Row-level rules applied before any batch conversion (polars frames, upserts): one bad row is
rejected or normalised by name, the rest of the batch is written. Same rules on every backend.

The rules derive from the table's column types (``integrations/database/tables.py``), never
from hand lists, and they make the three databases agree where they would otherwise differ:

- integers: BIGINT is int64, INTEGER int32, SMALLINT int16; outside → the row is **rejected**
  (a count of 2^63 fails PostgreSQL/MariaDB and polars' Int64 alike);
- DECIMAL(p, s): a finite number whose value, rounded half-up to ``s`` places, has at most
  ``p - s`` integer digits; else **rejected** (``stat_cost`` 1e16 overflows DECIMAL(18, 2),
  ``"1e400"`` is not finite in range). Floats are rejected (money is never a float here);
- text: NUL and the other C0 control characters except tab/LF/CR, and DEL, are **removed**;
  lone surrogates (invalid UTF-8) become U+FFFD — **normalised** (PostgreSQL refuses NUL,
  SQLite/MariaDB keep it);
- text longer than the limit — ``String(n)``: n characters; ``Text``: :data:`TEXT_MAX_CHARS` —
  is **truncated** to the limit with :data:`TRUNCATION_MARKER` as its last character
  (normalised). One limit for all three databases: MariaDB would refuse the row (1406),
  PostgreSQL refuse it too, SQLite keep it whole. Key columns and ``*_json`` columns are
  never truncated (a different key or broken JSON would be wrong data): those rows are rejected;
- dates and timestamps must be ``date`` / ``datetime`` values; a NOT NULL (or key) column
  holding None → rejected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.types import TypeDecorator

from integrations.database.tables import BOOKKEEPING_COLUMNS

# MariaDB's TEXT holds 65,535 bytes; utf8mb4 needs up to 4 bytes a character.
TEXT_MAX_CHARS = 16_383
TRUNCATION_MARKER = "…"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_INT_RANGES: tuple[tuple[type, int], ...] = ((BigInteger, 64), (SmallInteger, 16), (Integer, 32))

Action = Literal["rejected", "normalised"]


class _Reject(Exception):
    """One column's value breaks a rule that only rejecting the row can honour."""


@dataclass(frozen=True)
class RowIssue:
    """What a rule did to one row: ``key`` names the row (table|col=value|...)."""

    key: str
    column: str
    reason: str
    action: Action

    def __str__(self) -> str:
        return f"{self.key}: {self.column} {self.reason} ({self.action})"


@dataclass
class Screened:
    rows: list[dict[str, Any]] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)

    @property
    def rejected(self) -> list[RowIssue]:
        return [i for i in self.issues if i.action == "rejected"]

    @property
    def normalised(self) -> list[RowIssue]:
        return [i for i in self.issues if i.action == "normalised"]


# A column rule: the value (never None) → None when it passes as is, or (value to store, why it
# was normalised); raises _Reject when only rejecting the row honours it. Fast paths first: the
# rules run on every row of every batch.
Rule = Callable[[Any], tuple[Any, str] | None]


def _int_rule(bits: int) -> Rule:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(v: Any) -> None:
        if type(v) is int and lo <= v <= hi:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Reject(f"is not an integer: {_show(v)}")
        raise _Reject(f"{v} is outside the {bits}-bit integer range")

    def all_ok(values: list[Any]) -> bool:
        return _types(values) <= {int} and (not values or lo <= min(values) and max(values) <= hi)

    check.all_ok = all_ok  # type: ignore[attr-defined]
    return check


def _decimal_rule(precision: int, scale: int) -> Rule:
    quantum = Decimal(1).scaleb(-scale)
    int_digits = precision - scale

    def check(v: Any) -> None:
        # Fast path: a finite Decimal two digits inside the range cannot round out of it.
        if type(v) is Decimal and v.is_finite() and (not v or v.adjusted() < int_digits - 1):
            return None
        if isinstance(v, bool | float) or not isinstance(v, Decimal | int | str):
            raise _Reject(f"is not an exact number: {_show(v)}")
        try:
            d = v if isinstance(v, Decimal) else Decimal(str(v).strip())
            q = d.quantize(quantum, rounding=ROUND_HALF_UP) if d.is_finite() else None
        except InvalidOperation:
            q = None
        if q is None or (q and q.adjusted() >= int_digits):
            raise _Reject(f"{_show(v)} is outside DECIMAL({precision}, {scale})")
        return None

    def all_ok(values: list[Any]) -> bool:
        return (
            _types(values) <= {Decimal}
            and all(map(Decimal.is_finite, values))
            and (not values or max(map(Decimal.adjusted, values)) < int_digits - 1)
        )

    check.all_ok = all_ok  # type: ignore[attr-defined]
    return check


def _text_rule(limit: int, *, truncate: bool) -> Rule:
    def check(v: Any) -> tuple[Any, str] | None:
        if type(v) is not str:
            raise _Reject(f"is not text: {_show(v)}")
        if len(v) <= limit and not _BAD_TEXT.search(v):
            return None
        reasons: list[str] = []
        if _CONTROL.search(v):
            v = _CONTROL.sub("", v)
            reasons.append("had control characters (removed)")
        if _SURROGATE.search(v):
            v = _SURROGATE.sub("\ufffd", v)
            reasons.append("had invalid UTF-16 surrogates (replaced by U+FFFD)")
        if len(v) > limit:
            if not truncate:
                raise _Reject(f"is {len(v)} characters, over the {limit}-character limit")
            reasons.append(f"was {len(v)} characters (truncated to {limit})")
            v = v[: limit - 1] + TRUNCATION_MARKER
        return (v, "; ".join(reasons)) if reasons else None

    def all_ok(values: list[Any]) -> bool:
        return (
            _types(values) <= {str}
            and (not values or max(map(len, values)) <= limit)
            and not _BAD_TEXT.search("".join(values))
        )

    check.all_ok = all_ok  # type: ignore[attr-defined]
    return check


def _type_rule(kind: type, what: str) -> Rule:
    def check(v: Any) -> None:
        if type(v) is kind:
            return None
        if not isinstance(v, kind) or (kind is date and isinstance(v, datetime)):
            raise _Reject(f"is not a {what}: {_show(v)}")
        return None

    def all_ok(values: list[Any]) -> bool:
        return _types(values) <= {kind}

    check.all_ok = all_ok  # type: ignore[attr-defined]
    return check


def _types(values: list[Any]) -> set[type]:
    return set(map(type, values))


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def column_rule(col: Column) -> Rule | None:
    """The rule for one column's values, from its SQL type (None: nothing to check)."""
    t = col.type
    if isinstance(t, TypeDecorator):  # tables.ExactDecimal
        t = t.impl_instance
    if isinstance(t, Boolean):
        return None
    for kind, bits in _INT_RANGES:
        if isinstance(t, kind):
            return _int_rule(bits)
    if isinstance(t, Numeric) and t.precision is not None and t.scale is not None:
        return _decimal_rule(t.precision, t.scale)
    if isinstance(t, String):  # String(n) and Text
        limit = t.length or TEXT_MAX_CHARS
        return _text_rule(limit, truncate=not col.primary_key and not col.name.endswith("_json"))
    if isinstance(t, DateTime):
        return _type_rule(datetime, "datetime")
    if isinstance(t, Date):
        return _type_rule(date, "date")
    return None


@dataclass(frozen=True)
class TableRules:
    table: Table
    rules: Mapping[str, Rule | None]
    required: frozenset[str]  # key and NOT NULL data columns
    key_columns: tuple[str, ...]

    @classmethod
    def of(cls, table: Table) -> TableRules:
        cols = [c for c in table.columns if c.name not in BOOKKEEPING_COLUMNS]
        return cls(
            table=table,
            rules={c.name: column_rule(c) for c in cols},
            required=frozenset(c.name for c in cols if c.primary_key or not c.nullable),
            key_columns=tuple(c.name for c in table.primary_key.columns),
        )

    def key_of(self, row: Mapping[str, Any]) -> str:
        return "|".join([self.table.name, *(f"{k}={row.get(k)}" for k in self.key_columns)])

    def suspects(self, rows: list[Mapping[str, Any]]) -> set[str]:
        """Columns some value of which may break a rule: a whole-column check first (min/max,
        one regex over the joined text), so clean batches cost no per-row work."""
        names = {name for r in rows[:1] for name in r} | {
            name for r in rows[1:] for name in r if name not in rows[0]
        }
        out = set()
        for name in names:
            try:
                values = list(map(itemgetter(name), rows))
            except KeyError:
                values = [r.get(name) for r in rows]
            present = [v for v in values if v is not None]
            if len(present) < len(values) and name in self.required:
                out.add(name)
                continue
            rule = self.rules.get(name)
            if rule is not None and not rule.all_ok(present):  # type: ignore[attr-defined]
                out.add(name)
        return out

    def screen_row(
        self, row: Mapping[str, Any], columns: Collection[str] | None = None
    ) -> tuple[dict[str, Any] | None, list[RowIssue]]:
        """One row against the rules of ``columns`` (default: all of its columns)."""
        out: dict[str, Any] | None = None
        issues: list[RowIssue] = []
        items = row.items() if columns is None else ((c, row.get(c)) for c in columns)
        for name, v in items:
            if v is None:
                if name in self.required:
                    return None, [RowIssue(self.key_of(row), name, "is required", "rejected")]
                continue
            rule = self.rules.get(name)
            if rule is None:
                continue
            try:
                fixed = rule(v)
            except _Reject as e:  # the row is not written: earlier normalisations are moot
                return None, [RowIssue(self.key_of(row), name, str(e), "rejected")]
            if fixed is not None:
                out = dict(row) if out is None else out
                out[name] = fixed[0]
                issues.append(RowIssue(self.key_of(row), name, fixed[1], "normalised"))
        return (row if out is None else out), issues  # type: ignore[return-value]


_CACHE: dict[str, TableRules] = {}


def rules_for(table: Table) -> TableRules:
    key = f"{id(table.metadata)}:{table.fullname}"
    if key not in _CACHE:
        _CACHE[key] = TableRules.of(table)
    return _CACHE[key]


def screen(table: Table, rows: Iterable[Mapping[str, Any]]) -> Screened:
    """Rows that pass (normalised where a rule says so) and the issues, each naming its row."""
    rules = rules_for(table)
    rows = list(rows)
    suspects = rules.suspects(rows)
    if not suspects:
        return Screened(rows=rows)  # type: ignore[arg-type]
    order = [c for c in (*rules.key_columns, *rules.rules) if c in suspects]  # stable order
    out = Screened()
    for row in rows:
        good, issues = rules.screen_row(row, order)
        out.issues.extend(issues)
        if good is not None:
            out.rows.append(good)
    return out
