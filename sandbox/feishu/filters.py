"""Record search filters and sorts (docs/contracts/feishu.md §3 R1 and the record-filter guide).

A filter compiles to a predicate over stored records. Search conditions name fields by
``field_name`` with ``value: string[]``; view filters name them by ``field_id`` with ``value`` as a
JSON-encoded string. Both compile through :func:`compile_filter`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.feishu.errors import FeishuError, field_not_found
from sandbox.feishu.state import Field, Record, Table
from sandbox.feishu.values import (
    AUTO_NUMBER,
    CHECKBOX,
    CREATED_TIME,
    DATE,
    FORMULA,
    LOOKUP,
    MODIFIED_TIME,
    MULTI,
    NUMBER,
    SELECT,
    display,
)

BASE_TZ = ZoneInfo("Asia/Shanghai")  # the base's timezone: ExactDate truncates to its midnight
OPERATORS = {
    "is", "isNot", "contains", "doesNotContain", "isEmpty", "isNotEmpty",
    "isGreater", "isGreaterEqual", "isLess", "isLessEqual",
}  # fmt: skip
DATE_OPERATORS = {"is", "isEmpty", "isNotEmpty", "isGreater", "isLess"}
MAX_CONDITIONS = 50
MAX_VALUES = 10
MAX_SORTS = 100

Predicate = Callable[[Record], bool]


def _bad(message: str) -> FeishuError:
    return FeishuError(1254018, message)


def day_of(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, BASE_TZ).date()


def _date_range(values: list[str], today: date) -> tuple[date, date]:
    """Inclusive day range a date filter value denotes."""
    kind = values[0] if values else ""
    if kind == "ExactDate":
        if len(values) != 2 or not values[1].lstrip("-").isdigit():
            raise _bad('a date filter needs ["ExactDate", "<ms>"]')
        d = day_of(int(values[1]))
        return d, d
    week_start = today - timedelta(days=today.weekday())
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    ranges = {
        "Today": (today, today),
        "Yesterday": (today - timedelta(days=1),) * 2,
        "Tomorrow": (today + timedelta(days=1),) * 2,
        "CurrentWeek": (week_start, week_start + timedelta(days=6)),
        "LastWeek": (week_start - timedelta(days=7), week_start - timedelta(days=1)),
        "CurrentMonth": (month_start, next_month - timedelta(days=1)),
        "LastMonth": (last_month_end.replace(day=1), last_month_end),
        "TheLastWeek": (today - timedelta(days=7), today - timedelta(days=1)),
        "TheNextWeek": (today + timedelta(days=1), today + timedelta(days=7)),
        "TheLastMonth": (today - timedelta(days=30), today - timedelta(days=1)),
        "TheNextMonth": (today + timedelta(days=1), today + timedelta(days=30)),
    }
    if kind not in ranges:
        raise _bad(f"unsupported date filter value {values!r}")
    return ranges[kind]


def _cell(rec: Record, f: Field) -> Any:
    if f.type == CREATED_TIME:
        return rec.created_time
    if f.type == MODIFIED_TIME:
        return rec.last_modified_time
    return rec.fields.get(f.field_id)


def _condition(f: Field, op: str, values: list[str], today: date) -> Predicate:
    if op not in OPERATORS:
        raise _bad(f"unsupported operator {op!r}")
    if len(values) > MAX_VALUES:
        raise _bad(f"at most {MAX_VALUES} values per condition")
    if f.type in (FORMULA, LOOKUP):
        raise _bad(f"field '{f.field_name}' ({f.type}) cannot be a filter target")
    if op in ("isEmpty", "isNotEmpty"):
        if values:
            raise _bad(f'{op} needs "value": []')
        want_empty = op == "isEmpty"
        return lambda r: (_cell(r, f) in (None, [], "", False)) == want_empty
    if not values:
        raise _bad(f"{op} needs a value")

    if f.type in (DATE, CREATED_TIME, MODIFIED_TIME):
        if op not in DATE_OPERATORS:
            raise _bad(f"operator {op!r} is not supported on date fields")
        lo, hi = _date_range(values, today)

        def on_date(r: Record) -> bool:
            v = _cell(r, f)
            if v is None:
                return False
            d = day_of(v)
            return {"is": lo <= d <= hi, "isGreater": d > hi, "isLess": d < lo}[op]

        return on_date

    if f.type in (NUMBER, AUTO_NUMBER):
        if op in ("contains", "doesNotContain"):
            raise _bad(f"operator {op!r} is not supported on number fields")
        try:
            target = float(values[0])
        except ValueError:
            raise _bad(f"number filter value {values[0]!r} is not a number") from None
        cmp: dict[str, Callable[[float], bool]] = {
            "is": lambda x: x == target,
            "isNot": lambda x: x != target,
            "isGreater": lambda x: x > target,
            "isGreaterEqual": lambda x: x >= target,
            "isLess": lambda x: x < target,
            "isLessEqual": lambda x: x <= target,
        }
        test = cmp[op]

        def on_number(r: Record) -> bool:
            v = _cell(r, f)
            return op == "isNot" if v is None else test(float(v))

        return on_number

    if op in ("isGreater", "isGreaterEqual", "isLess", "isLessEqual"):
        raise _bad(f"operator {op!r} needs a number or date field")

    if f.type == CHECKBOX:
        if op != "is" or values[0] not in ("true", "false"):
            raise _bad('checkbox filters take operator "is" and value ["true"] or ["false"]')
        want = values[0] == "true"
        return lambda r: bool(_cell(r, f)) == want

    if f.type == MULTI:
        wanted = set(values)

        def on_multi(r: Record) -> bool:
            cell = set(_cell(r, f) or [])
            return {
                "is": cell == wanted,
                "isNot": cell != wanted,
                "contains": bool(cell & wanted),
                "doesNotContain": not (cell & wanted),
            }[op]

        return on_multi

    if f.type == SELECT:
        return lambda r: {
            "is": _cell(r, f) == values[0],
            "isNot": _cell(r, f) != values[0],
            "contains": _cell(r, f) in values,
            "doesNotContain": _cell(r, f) not in values,
        }[op]

    # Text-like: compare the plain text of the cell.
    def on_text(r: Record) -> bool:
        text = display(f.type, _cell(r, f))
        return {
            "is": text == values[0],
            "isNot": text != values[0],
            "contains": any(v in text for v in values),
            "doesNotContain": not any(v in text for v in values),
        }[op]

    return on_text


def compile_filter(
    table: Table, spec: dict[str, Any] | None, *, by_id: bool = False, today: date | None = None
) -> Predicate:
    """Compile ``{conjunction, conditions, children}`` into a record predicate.

    ``by_id`` selects the view-filter dialect (``field_id`` + JSON-string ``value``).
    """
    if not spec:
        return lambda r: True
    today = today or datetime.now(BASE_TZ).date()
    count = 0

    def group(g: dict[str, Any], allow_children: bool) -> Predicate:
        nonlocal count
        conj = g.get("conjunction") or "and"
        if conj not in ("and", "or"):
            raise _bad(f"conjunction must be 'and' or 'or', got {conj!r}")
        preds: list[Predicate] = []
        for c in g.get("conditions") or []:
            count += 1
            if not isinstance(c, dict):
                raise _bad("each condition must be an object")
            if by_id:
                f = table.field_by_id(str(c.get("field_id")))
                if f is None:
                    raise FeishuError(1254044, f"field_id {c.get('field_id')!r} not found")
                raw = c.get("value")
                try:
                    values = json.loads(raw) if raw not in (None, "") else []
                except (TypeError, ValueError):
                    raise _bad("view filter value must be a JSON-encoded array") from None
            else:
                f = table.field_by_name(str(c.get("field_name")))
                if f is None:
                    raise field_not_found(str(c.get("field_name")))
                values = c.get("value") if c.get("value") is not None else []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise _bad("condition value must be an array of strings")
            preds.append(_condition(f, str(c.get("operator")), values, today))
        for child in g.get("children") or []:
            if not allow_children:
                raise _bad("filters nest at most one level of children")
            preds.append(group(child, allow_children=False))
        if conj == "and":
            return lambda r: all(p(r) for p in preds)
        return lambda r: any(p(r) for p in preds) if preds else True

    pred = group(spec, allow_children=True)
    if count > MAX_CONDITIONS:
        raise _bad(f"at most {MAX_CONDITIONS} conditions")
    return pred


def sort_records(table: Table, records: list[Record], sorts: list[dict[str, Any]]) -> list[Record]:
    """Stable multi-key sort; empty cells last in either direction."""
    if len(sorts) > MAX_SORTS:
        raise FeishuError(1254016, f"at most {MAX_SORTS} sort keys")
    resolved: list[tuple[Field, bool]] = []
    for s in sorts:
        f = table.field_by_name(str(s.get("field_name")))
        if f is None:
            raise field_not_found(str(s.get("field_name")))
        resolved.append((f, bool(s.get("desc"))))
    out = list(records)
    for f, desc in reversed(resolved):
        present = [r for r in out if _cell(r, f) not in (None, [])]
        empty = [r for r in out if _cell(r, f) in (None, [])]

        def key(r: Record, f: Field = f) -> Any:
            v = _cell(r, f)
            return v if isinstance(v, int | float) else display(f.type, v)

        present.sort(key=key, reverse=desc)
        out = present + empty
    return out
