"""Tolerant field types for API payloads (docs/contracts/oceanengine.md §1.5) and money conversion.

- Ids are int64 and often above 2^53: accepted as JSON integers or digit strings, never as a
  float/decimal (a float id has already lost digits somewhere, so it is rejected, not rounded).
- Metrics: ``"-"``, ``""`` and missing → None; ``"123"`` → 123; ``"12.50"`` → Decimal("12.50").
- Money goes to the storage convention (DECIMAL yuan, scale 2): local reports are yuan,
  DOU+ amounts are fen (``douplus_money_unit`` setting) and are converted exactly.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from integrations.settings import ConfigError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INT_RE = re.compile(r"[+-]?\d+")
_BLANK = {"", "-", "--", "null", "None"}
CENT = Decimal("0.01")
MAX_DIGITS = 20  # integer digits a metric may have (the widest column is DECIMAL(20, 6))

MoneyUnit = Literal["fen", "yuan"]


def _is_blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() in _BLANK)


def parse_id(v: Any) -> int:
    """A required int64 id from an int or a digit string."""
    if isinstance(v, bool):
        raise ValueError("id is a boolean")
    if isinstance(v, int):
        n = v
    elif isinstance(v, str) and _INT_RE.fullmatch(v.strip()):
        n = int(v.strip())
    else:
        raise ValueError(f"id must be an integer or digit string, got {type(v).__name__} {v!r}")
    if not INT64_MIN <= n <= INT64_MAX:
        raise ValueError(f"id {n} outside int64")
    return n


def parse_opt_id(v: Any) -> int | None:
    return None if _is_blank(v) else parse_id(v)


def parse_count(v: Any) -> int | None:
    """A counter metric: int, digit string, or an integral decimal ("12.0")."""
    if _is_blank(v):
        return None
    if isinstance(v, bool):
        raise ValueError("count is a boolean")
    if isinstance(v, int):
        return v
    d = parse_decimal(v)
    assert d is not None
    if d != d.to_integral_value():
        raise ValueError(f"count is not integral: {v!r}")
    return int(d)


def parse_decimal(v: Any) -> Decimal | None:
    """A decimal metric. Floats go through ``str`` (shortest repr) so 0.1 stays 0.1."""
    if _is_blank(v):
        return None
    if isinstance(v, bool):
        raise ValueError("number is a boolean")
    if isinstance(v, Decimal):
        d = v
    elif isinstance(v, int | float):
        d = Decimal(str(v))
    elif isinstance(v, str):
        try:
            d = Decimal(v.strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"not a number: {v!r}") from None
    else:
        raise ValueError(f"not a number: {type(v).__name__}")
    if not d.is_finite():
        raise ValueError(f"not a finite number: {v!r}")
    if d and d.adjusted() >= MAX_DIGITS:
        # Beyond any column (DECIMAL(20, 6) at most); rounding it would raise InvalidOperation.
        raise ValueError(f"number out of range: {v!r}")
    return d


def parse_opt_str(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, int | Decimal) and not isinstance(v, bool):
        return str(v)
    raise ValueError(f"expected a string, got {type(v).__name__}")


def parse_day(v: Any) -> date:
    """``2025-01-01`` or ``2025-01-01 00:00:00`` → date."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, str) and len(v.strip()) >= 10:
        try:
            return date.fromisoformat(v.strip()[:10])
        except ValueError:
            pass
    raise ValueError(f"not a date: {v!r}")


def parse_opt_datetime(v: Any) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` (China local, kept naive) or unix seconds → naive datetime."""
    if _is_blank(v):
        return None
    if isinstance(v, datetime):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        from zoneinfo import ZoneInfo

        return datetime.fromtimestamp(v, ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v.strip())
        except ValueError:
            pass
    raise ValueError(f"not a datetime: {v!r}")


# DPA product status / audit_status: int32 in the official Go SDK
# (model_dpa_detail_get_v2_response_data_list_inner.go), enum strings in the community SDK
# bububa/oceanengine (enum/product_status.go: STATUS_OFFLINE=0 / STATUS_ONLINE=1;
# enum/product_audit_status.go: AUDIT_STATUS_APPROVE / _INIT / _REJECT, no numbers). Canonical
# form stored: the official int. The audit strings' numbers follow the official filter values
# (-1 | 1 | 2); which number is which state is unconfirmed (QUIRKS.md).
DPA_STATUS_CODES: dict[str, int] = {"STATUS_OFFLINE": 0, "STATUS_ONLINE": 1}
DPA_AUDIT_STATUS_CODES: dict[str, int] = {
    "AUDIT_STATUS_APPROVE": 1,
    "AUDIT_STATUS_INIT": 2,
    "AUDIT_STATUS_REJECT": -1,
}


def _enum_or_int(names: dict[str, int], what: str) -> Any:
    def parse(v: Any) -> int | None:
        if isinstance(v, str) and not _is_blank(v) and not v.strip().lstrip("-").isdigit():
            code = names.get(v.strip().upper())
            if code is None:
                raise ValueError(f"{what} {v!r} is not one of {', '.join(names)} or an int")
            return code
        return parse_count(v)

    return parse


Id = Annotated[int, BeforeValidator(parse_id)]
OptId = Annotated[int | None, BeforeValidator(parse_opt_id)]
Count = Annotated[int | None, BeforeValidator(parse_count)]
Num = Annotated[Decimal | None, BeforeValidator(parse_decimal)]
OptStr = Annotated[str | None, BeforeValidator(parse_opt_str)]
Day = Annotated[date, BeforeValidator(parse_day)]
OptDateTime = Annotated[datetime | None, BeforeValidator(parse_opt_datetime)]
DpaStatus = Annotated[int | None, BeforeValidator(_enum_or_int(DPA_STATUS_CODES, "status"))]
DpaAuditStatus = Annotated[
    int | None, BeforeValidator(_enum_or_int(DPA_AUDIT_STATUS_CODES, "audit_status"))
]


def yuan(v: Decimal | None) -> Decimal | None:
    """A yuan amount at storage scale (2 places, half-up)."""
    return None if v is None else v.quantize(CENT, rounding=ROUND_HALF_UP)


MONEY_UNIT_SETTING = "ADSYNC_DOUPLUS_MONEY_UNIT"


class MoneyUnitMismatch(ConfigError):
    """DOU+ amounts are not in the configured unit. Not a row problem (every row would be 100×
    off or rejected): the run fails once, with one line naming the setting."""


def money_from(v: Decimal | None, unit: MoneyUnit, *, what: str = "amount") -> Decimal | None:
    """Convert an API amount in ``unit`` to yuan. Fen must be integral: fen → yuan is exact; a
    non-whole "fen" amount means the API answers in yuan (:class:`MoneyUnitMismatch`)."""
    if v is None:
        return None
    if unit == "yuan":
        return yuan(v)
    if v != v.to_integral_value():
        raise MoneyUnitMismatch(
            f"{MONEY_UNIT_SETTING}=fen, but DOU+ sent {what} {v}, not a whole number of fen: "
            f"the API answers in yuan; set {MONEY_UNIT_SETTING}=yuan"
        )
    return (v / 100).quantize(CENT)
