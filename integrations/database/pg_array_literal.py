"""Encode a column of Python values as one PostgreSQL array literal (``{1,2,NULL}``).

The PostgreSQL upsert sends a chunk as one array per column. psycopg's list dumpers encode
arrays element by element in Python (text format with a regex per element, binary format with a
struct call per element); building the literal here with ``str.join`` over C-level conversions
is several times faster and is what lets the upsert keep up with the server
(bench/db_upsert.py). The literal is passed as text and cast to ``type[]`` by the server.

Quoting follows the array input syntax: elements are double-quoted with ``\\`` and ``"``
backslash-escaped; unquoted ``NULL`` is SQL NULL (a quoted "NULL" is the string).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Integer, LargeBinary, Numeric
from sqlalchemy.types import TypeDecorator, TypeEngine

ArrayEncoder = Callable[[Sequence[Any]], str]


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(values: Sequence[Any]) -> str:
    # Numbers: their str() is valid element syntax and needs no quoting.
    if None in values:
        return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"
    return "{" + ",".join(map(str, values)) + "}"


def _text(values: Sequence[Any]) -> str:
    return "{" + ",".join("NULL" if v is None else _quote(str(v)) for v in values) + "}"


def _date(values: Sequence[Any]) -> str:
    if None in values:
        return "{" + ",".join("NULL" if v is None else v.isoformat() for v in values) + "}"
    return "{" + ",".join([v.isoformat() for v in values]) + "}"


def _timestamp(values: Sequence[Any]) -> str:
    return "{" + ",".join("NULL" if v is None else f'"{v.isoformat(" ")}"' for v in values) + "}"


def _bool(values: Sequence[Any]) -> str:
    return "{" + ",".join("NULL" if v is None else ("t" if v else "f") for v in values) + "}"


def _bytea(values: Sequence[Any]) -> str:
    # bytea hex input "\x0102", with the backslash escaped inside a quoted array element.
    return "{" + ",".join("NULL" if v is None else f'"\\\\x{bytes(v).hex()}"' for v in values) + "}"


def encoder_for(col_type: TypeEngine[Any]) -> ArrayEncoder:
    """The array-literal encoder for a column of ``col_type``."""
    if isinstance(col_type, TypeDecorator):  # e.g. tables.ExactDecimal: NUMERIC on PostgreSQL
        col_type = col_type.impl_instance
    if isinstance(col_type, Boolean):
        return _bool
    if isinstance(col_type, Integer | Numeric):
        return _plain
    if isinstance(col_type, DateTime):
        return _timestamp
    if isinstance(col_type, Date):
        return _date
    if isinstance(col_type, LargeBinary):
        return _bytea
    return _text
