"""Exact ratio and money helpers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest

from integrations.exact import fen_to_yuan, money_to_fen, quantize_money, ratio


def _ratio(n: list[int | None], d: list[int | None]) -> list[Decimal | None]:
    df = pl.DataFrame({"n": n, "d": d}, schema={"n": pl.Int64, "d": pl.Int64})
    return df.select(ratio(pl.col("n"), pl.col("d"))).to_series().to_list()


def test_ratio_matches_python_decimal_half_up() -> None:
    pairs = [(1, 3), (2, 3), (1, 2_000_000), (3, 2_000_000), (-1, 2_000_000), (7, -3), (10**14, 7)]
    got = _ratio([n for n, _ in pairs], [d for _, d in pairs])
    want = [
        (Decimal(n) / Decimal(d)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
        for n, d in pairs
    ]
    assert got == want


def test_ratio_too_large_for_the_column_is_an_error_not_a_wrong_value() -> None:
    with pytest.raises(pl.exceptions.InvalidOperationError):
        _ratio([10**15], [1])


def test_ratio_null_on_zero_or_null_denominator() -> None:
    assert _ratio([5, 5, None], [0, None, 3]) == [None, None, None]


def test_fen_to_yuan_exact() -> None:
    s = pl.DataFrame({"f": [1, 10, 12345, -5, 0]})
    got = s.select(fen_to_yuan(pl.col("f"))).to_series().to_list()
    assert got == [Decimal(x) for x in ("0.01", "0.10", "123.45", "-0.05", "0.00")]


def test_money_to_fen_by_dtype() -> None:
    df = pl.DataFrame(
        {"y": [Decimal("1.23")], "i": [5], "f": [1.0]},
        schema={"y": pl.Decimal(18, 2), "i": pl.Int64, "f": pl.Float64},
    )
    assert df.select(money_to_fen(df.schema, "y", "yuan")).item() == 123
    assert df.select(money_to_fen(df.schema, "i", "yuan")).item() == 500
    assert df.select(money_to_fen(df.schema, "i", "fen")).item() == 5
    with pytest.raises(TypeError):
        money_to_fen(df.schema, "f", "yuan")
    with pytest.raises(ValueError):
        money_to_fen(df.schema, "i", "dollars")


def test_quantize_money() -> None:
    assert quantize_money(Decimal("0.125"), "c") == Decimal("0.13")
    assert quantize_money("7", "c") == Decimal("7.00")
    assert quantize_money(None, "c") is None
    with pytest.raises(TypeError):
        quantize_money(0.1, "c")
    with pytest.raises(ValueError):
        quantize_money("abc", "c")
    with pytest.raises(ValueError):
        quantize_money(Decimal("NaN"), "c")
