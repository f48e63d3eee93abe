"""Column types shared by every table: exact money and ratios, precise timestamps, markers.

- Money is DECIMAL(18, 2) yuan (``Money``); ratios (CTR, CPC, ...) are DECIMAL(20, 6) (``Ratio``).
  Both are ``ExactDecimal``: NUMERIC/DECIMAL(p, s) on PostgreSQL and MariaDB/MySQL. SQLite has no
  exact decimal (a NUMERIC column stores REAL, a binary float), so there the column is TEXT holding
  the canonical decimal string: quantised to the scale (ROUND_HALF_UP), plain notation, no
  exponent, no negative zero ('12.30', '0.10', '-5.00'). One value has exactly one spelling, so
  SQL equality (the upsert's IS DISTINCT FROM) is exact; reads give ``Decimal`` on every backend.
  Caveat on SQLite: ordering, <, > and SUM/AVG on these columns *in SQL* would be textual or
  float; compare, order and sum money in Python (Decimal) or CAST explicitly. Nothing does today.
- ``KEEP_KNOWN`` marks a column whose NULL never overwrites a stored value (the upsert).
- ``BOOKKEEPING_COLUMNS`` are never compared by the upsert when deciding "unchanged".

Kept apart from :mod:`integrations.database.tables` so the dataset declarations
(:mod:`integrations.datasets`) can use them while ``tables`` builds its tables from those
declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import DateTime, Numeric, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


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
