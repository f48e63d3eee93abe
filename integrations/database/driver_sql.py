"""Run a Core statement as one DBAPI ``executemany`` over positional tuples.

SQLAlchemy's own executemany builds and processes a parameter dict per row; for the bulk upsert
that per-row overhead dominates. Here the statement is compiled once for the connection's
dialect, each column's bind processor (e.g. on SQLite: DATE -> ISO text, money/ratio Decimal ->
canonical decimal text via tables.ExactDecimal) is looked up once, and rows go to the driver as
tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True)
class DriverStatement:
    sql: str
    order: tuple[int, ...]  # for each placeholder, the index of its value in a row tuple
    processors: tuple[Callable[[Any], Any] | None, ...]  # per placeholder
    names: tuple[str, ...] | None  # placeholder names for named paramstyles (PyMySQL), else None

    @classmethod
    def compile(
        cls, conn: Connection, stmt: Executable, table: Table, columns: Sequence[str]
    ) -> DriverStatement:
        """``stmt`` must bind each of ``columns`` as ``bindparam(<column name>)``."""
        dialect = conn.dialect
        compiled = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        if compiled.positional:  # qmark/format/numeric: placeholder order matters
            names = tuple(compiled.positiontup or ())
        else:  # named/pyformat (PyMySQL): each distinct name once
            names = tuple(n for n in compiled.binds if n in columns)
        index = {c: i for i, c in enumerate(columns)}
        procs = tuple(table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        order = tuple(index[n] for n in names)
        return cls(str(compiled), order, procs, None if compiled.positional else names)

    def params(self, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Driver parameters for ``rows``: tuples (positional styles) or dicts (named styles)."""
        if not rows:
            return []
        # Column-wise: transpose once, convert each column with map(), zip back (C loops).
        columns = list(zip(*rows, strict=True))
        out = [
            columns[i] if p is None else [None if v is None else p(v) for v in columns[i]]
            for i, p in zip(self.order, self.processors, strict=True)
        ]
        if self.names is None:
            return list(zip(*out, strict=True))
        names = self.names
        return [dict(zip(names, values, strict=True)) for values in zip(*out, strict=True)]

    def executemany(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
        """Execute for every row; return the driver's summed rowcount."""
        if not rows:
            return 0
        result = conn.exec_driver_sql(self.sql, self.params(rows))
        return result.rowcount
