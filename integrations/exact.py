"""Exact money and ratio arithmetic in polars (shared by the transforms).

Ratios are computed as ``round_half_up(numerator / denominator, 6)`` on *integers* (Int128, so
``numerator * 10**6`` cannot overflow), then turned into an exact ``Decimal(20, 6)``. polars'
own Decimal division rounds (and truncates on construction) in version-dependent ways, so it is
not used for anything that is not exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import polars as pl

MONEY_SCALE = 2
RATIO_SCALE = 6
MONEY = pl.Decimal(18, MONEY_SCALE)  # tables.Money()
RATIO = pl.Decimal(20, RATIO_SCALE)  # tables.Ratio()
CENT = Decimal(1).scaleb(-MONEY_SCALE)

_INTEGER_DTYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)


def ratio(
    numerator: pl.Expr, denominator: pl.Expr, scale: int = RATIO_SCALE, *, strict: bool = True
) -> pl.Expr:
    """``numerator / denominator`` of two integer expressions, rounded half-up (away from zero)
    to ``scale`` places, as ``Decimal(20, scale)``; null when the denominator is 0 or null.
    ``strict=False``: a result beyond Decimal(20, scale) is null (for the row rules to name)
    instead of failing the whole frame."""
    n = numerator.cast(pl.Int128)
    d = denominator.cast(pl.Int128)
    d = pl.when(d != 0).then(d)  # 0 → null, so nothing below ever divides by zero
    unit = 10**scale
    # half-up on magnitudes: floor((2|n|·10^s + |d|) / 2|d|), then the sign back
    q = (n.abs() * (2 * unit) + d.abs()) // (d.abs() * 2) * (n.sign() * d.sign())
    return (q.cast(pl.Decimal(38, scale)) / pl.lit(unit, dtype=pl.Decimal(38, 0))).cast(
        pl.Decimal(20, scale), strict=strict
    )


def fen_to_yuan(fen: pl.Expr, *, strict: bool = True) -> pl.Expr:
    """Integer fen → exact ``Decimal(18, 2)`` yuan (``strict=False``: null beyond it)."""
    return (fen.cast(pl.Decimal(38, MONEY_SCALE)) / pl.lit(100, dtype=pl.Decimal(38, 0))).cast(
        MONEY, strict=strict
    )


def yuan_to_fen(yuan: pl.Expr) -> pl.Expr:
    """``Decimal(·, 2)`` yuan → Int64 fen (exact: the value has at most 2 places)."""
    return (yuan.cast(pl.Decimal(38, MONEY_SCALE)) * 100).cast(pl.Int64)


def money_to_fen(schema: Mapping[str, pl.DataType], column: str, unit: str) -> pl.Expr:
    """An expression turning a money column into Int64 fen, checked against its dtype.

    ``unit="yuan"``: Decimal with scale <= 2 (the DB's Money) or an integer (whole yuan).
    ``unit="fen"``: an integer column. Floats are refused: money is never a float here.
    """
    dtype = schema[column]
    col = pl.col(column)
    if unit not in ("yuan", "fen"):
        raise ValueError(f"money unit must be 'yuan' or 'fen', got {unit!r}")
    if dtype.is_float():
        raise TypeError(f"{column}: money must not be a float column ({dtype}); use Decimal/fen")
    if isinstance(dtype, pl.Decimal):
        if unit == "fen":
            raise TypeError(f"{column}: unit 'fen' expects an integer column, got {dtype}")
        if dtype.scale > MONEY_SCALE:
            raise TypeError(f"{column}: yuan with more than 2 places ({dtype}) is not exact fen")
        return yuan_to_fen(col)
    if dtype in _INTEGER_DTYPES or dtype == pl.Null:
        return col.cast(pl.Int64) * (100 if unit == "yuan" else 1)
    raise TypeError(f"{column}: money must be Decimal or integer, got {dtype}")


def quantize_money(value: Any, field: str) -> Decimal | None:
    """A money value from a row → Decimal yuan at scale 2 (half-up), or None.

    Accepts Decimal, int and numeric strings. A float is refused (it is not exact money).
    Done in Python because polars silently truncates extra places when building a Decimal column.
    """
    if value is None:
        return None
    if isinstance(value, bool | float):
        raise TypeError(f"{field}: money must be Decimal, int or str, got {type(value).__name__}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int | str):
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{field}: not an amount: {value!r}") from None
    else:
        raise TypeError(f"{field}: money must be Decimal, int or str, got {type(value).__name__}")
    if not d.is_finite():
        raise ValueError(f"{field}: not a finite amount: {value!r}")
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def to_rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    """Frame → list of row dicts for the DB upsert: Decimal columns come out as Decimals at the
    column's scale (e.g. ``Decimal('0.30')``), Date as ``datetime.date``, Int64 as int."""
    return df.to_dicts()
