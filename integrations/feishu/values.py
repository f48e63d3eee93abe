"""DB values ↔ Bitable cells, canonical strings, business keys and row hashes (pure functions).

One canonical string per value is the pivot: it is what the row hash covers and what business-key
segments are made of, and it can be computed both from a DB row and from a record read back from
Bitable (read shapes differ from write shapes: text comes back as segments, dates as ms). So a
reconciled record whose content already equals the DB row hashes equal and costs no update.

- Money/ratios: canonical = the Decimal's plain string without trailing zeros ("12.5"), never a
  float repr; the JSON number sent to Bitable is the only float conversion.
- Dates: ms since epoch at 00:00 Asia/Shanghai (whatever the machine's timezone); canonical
  ``YYYY-MM-DD``. Adopted tables whose date field is text get the ``YYYY-MM-DD`` string itself.
- Ids: text (they exceed 2^53).
- Enums with a label map (``FieldSpec.labels``): the Chinese label is the cell and the canonical
  string; the DB keeps the raw value; an unknown value is shown raw.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from integrations.feishu.specs import KEY_SEPARATOR, FieldSpec, FieldType, TableSpec, ValueKind

CHINA = ZoneInfo("Asia/Shanghai")
_DATE_RE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})")


def date_ms(d: date) -> int:
    """ms since epoch of 00:00 on ``d`` in Asia/Shanghai."""
    return int(datetime(d.year, d.month, d.day, tzinfo=CHINA).timestamp() * 1000)


def ms_date(ms: int | float) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=CHINA).date()


def _decimal_str(v: Any) -> str:
    try:
        d = v if isinstance(v, Decimal) else Decimal(str(v))
    except InvalidOperation:
        return str(v)
    if d == 0:
        return "0"  # "-0", "0.00" → "0"
    return format(d.normalize(), "f")


def _as_date(v: Any) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, str):
        m = _DATE_RE.match(v.strip())
        if m:
            return date(int(m[1]), int(m[2]), int(m[3]))
    return None


def _canon_text(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def _canon_id(v: Any) -> str:
    return v.strip() if isinstance(v, str) else str(int(v))


def _canon_number(v: Any) -> str:
    if type(v) is int:  # the common case for counts: skip Decimal
        return str(v)
    return _decimal_str(v)


def _canon_date(v: Any) -> str:
    d = _as_date(v)
    return d.isoformat() if d else str(v)


def _canon_datetime(v: Any) -> str:
    if isinstance(v, datetime):
        return v.replace(tzinfo=None, second=0, microsecond=0).isoformat(" ")
    return str(v)


_CANON: dict[ValueKind, Callable[[Any], str]] = {
    ValueKind.TEXT: _canon_text,
    ValueKind.ID: _canon_id,
    ValueKind.INT: _canon_number,
    ValueKind.MONEY: _canon_number,
    ValueKind.RATIO: _canon_number,
    ValueKind.DATE: _canon_date,
    ValueKind.DATETIME: _canon_datetime,
}


def _labelled(labels: tuple[tuple[str, str], ...]) -> Callable[[Any], str]:
    """Raw enum value → its label; a value the map does not know is shown raw, never dropped."""
    table = dict(labels)

    def canon(v: Any) -> str:
        raw = _canon_text(v)
        return table.get(raw, raw)

    return canon


def _canon_of(f: FieldSpec) -> Callable[[Any], str]:
    # Labelled text shows (and hashes) the label: the cell read back then hashes equal.
    return _labelled(f.labels) if f.labels else _CANON[f.kind]


def canonical(f: FieldSpec, v: Any) -> str:
    """Canonical string of a DB value for ``f`` ("" for None); labelled fields give the label."""
    return "" if v is None else _canon_of(f)(v)


def _text_of(cell: Any) -> str:
    """Read-shape text: a list of segments ``[{"text": ..}, ..]`` (or a plain string)."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, list):
        return "".join(_text_of(x) for x in cell)
    if isinstance(cell, dict):
        return str(cell.get("text", ""))
    return str(cell)


def canonical_cell(f: FieldSpec, cell: Any) -> str:
    """Canonical string of a cell as read back from Bitable (search) for ``f``."""
    if cell is None:
        return ""
    match f.kind:
        case ValueKind.TEXT | ValueKind.ID:
            return _text_of(cell).strip() if f.kind == ValueKind.ID else _text_of(cell)
        case ValueKind.INT | ValueKind.MONEY | ValueKind.RATIO:
            if isinstance(cell, list | dict):
                return _decimal_str(_text_of(cell))
            return _decimal_str(repr(cell) if isinstance(cell, float) else cell)
        case ValueKind.DATE:
            if isinstance(cell, int | float):
                return ms_date(cell).isoformat()
            d = _as_date(_text_of(cell))
            return d.isoformat() if d else _text_of(cell)
        case ValueKind.DATETIME:
            if isinstance(cell, int | float):
                dt = datetime.fromtimestamp(cell / 1000, tz=CHINA).replace(tzinfo=None)
                return dt.replace(second=0, microsecond=0).isoformat(" ")
            return _text_of(cell)
    raise AssertionError(f.kind)


def to_cell(f: FieldSpec, v: Any, actual_type: int | None = None) -> Any:
    """The write-shape cell for DB value ``v`` (None → None: the caller omits it)."""
    if v is None:
        return None
    t = actual_type or f.type
    if t == FieldType.TEXT:
        return canonical(f, v)  # ids, text, and legacy text dates ("YYYY-MM-DD")
    match f.kind:
        case ValueKind.INT:
            return int(v)
        case ValueKind.MONEY | ValueKind.RATIO:
            return float(Decimal(str(v)))  # the one float conversion, for display
        case ValueKind.DATE:
            d = _as_date(v)
            if d is None:
                raise ValueError(f"{f.name}: not a date: {v!r}")
            return date_ms(d)
        case ValueKind.DATETIME:
            if not isinstance(v, datetime):
                raise ValueError(f"{f.name}: not a datetime: {v!r}")
            local = v.replace(tzinfo=CHINA) if v.tzinfo is None else v
            return int(local.timestamp() * 1000)
    raise ValueError(f"{f.name}: cannot write kind {f.kind} into a type {t} field")


def row_fields(
    spec: TableSpec, row: Mapping[str, Any], actual_types: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The ``fields`` object for a record: effective names → cells (key field included)."""
    types = actual_types or {}
    out: dict[str, Any] = {}
    for f in spec.written_fields:
        if f.column is None:
            out[f.name] = business_key(spec, row)
            continue
        cell = to_cell(f, row.get(f.column), types.get(f.key))
        if cell is None:
            # Clearing a non-text cell with null is unconfirmed (docs/contracts/feishu.md §9);
            # text clears to "".
            if (types.get(f.key) or f.type) == FieldType.TEXT:
                out[f.name] = ""
            continue
        out[f.name] = cell
    return out


def business_key(spec: TableSpec, row: Mapping[str, Any]) -> str:
    """The business key of a DB row: canonical segments joined by "|"."""
    if spec.key_from:
        return KEY_SEPARATOR.join(canonical(f, row.get(f.column or "")) for f in spec.key_parts())
    parts = []
    for col in spec.key_columns:
        v = row.get(col)
        if v is None:
            raise ValueError(f"{spec.dataset}: key column {col!r} is empty in {dict(row)!r}")
        f = next((x for x in spec.fields if x.column == col), None)
        parts.append(canonical(f, v) if f else str(v))
    return KEY_SEPARATOR.join(parts)


def record_key(spec: TableSpec, fields: Mapping[str, Any]) -> str:
    """The business key of a record read back from Bitable ("" when it has none)."""
    if spec.key_from:
        parts = [canonical_cell(f, fields.get(f.name)) for f in spec.key_parts()]
        return KEY_SEPARATOR.join(parts) if all(parts) else ""
    assert spec.key_field is not None
    return _text_of(fields.get(spec.key_field.name)).strip()


def _hash(pairs: Sequence[tuple[str, str]]) -> str:
    # Length-prefixed, so no value can forge a separator; names included (see row_hash).
    blob = "".join(f"{n}\x1f{len(v)}:{v}\x1e" for n, v in pairs)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_Compiled = tuple[tuple[str, str, Callable[[Any], str]], ...]
_COMPILED: dict[int, tuple[TableSpec, _Compiled]] = {}


def _compiled(spec: TableSpec) -> _Compiled:
    """(name, column, canonicaliser) per data field, cached per spec object (hot path)."""
    hit = _COMPILED.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    comp = tuple((f.name, f.column, _canon_of(f)) for f in spec.data_fields if f.column)
    _COMPILED[id(spec)] = (spec, comp)
    return comp


def row_hash(spec: TableSpec, row: Mapping[str, Any]) -> str:
    """Hash of the DB row as this table shows it (field names included: a renamed mapping
    rewrites the rows into the new columns)."""
    get = row.get
    return _hash([(n, "" if (v := get(c)) is None else fn(v)) for n, c, fn in _compiled(spec)])


def record_hash(spec: TableSpec, fields: Mapping[str, Any]) -> str:
    """Hash of a record read back from Bitable; equals ``row_hash`` when the content matches."""
    return _hash([(f.name, canonical_cell(f, fields.get(f.name))) for f in spec.data_fields])


def day_bounds_ms(d: date) -> tuple[int, int]:
    start = date_ms(d)
    return start, date_ms(d + timedelta(days=1))
