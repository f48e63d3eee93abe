"""Expected storage rows computed from the sandbox's own data (the source of truth in tests)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.oceanengine.data import SandboxData

METRIC_COLS = ("show_cnt", "click_cnt", "convert_cnt", "clue_pay_order_cnt")


def _yuan(v: float) -> Decimal:
    return Decimal(str(v)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def local_rows(data: SandboxData, account_id: int, day: date) -> dict[tuple, dict[str, Any]]:
    out = {}
    for r in data.promotion_daily(account_id, day):
        row = {
            "stat_date": day,
            "local_account_id": account_id,
            "promotion_id": r["promotion_id"],
            "promotion_name": r["promotion_name"],
            "project_id": r["project_id"],
            "project_name": r["project_name"],
            "cost": _yuan(r["stat_cost"]),
            "conversion_cost": _yuan(r["conversion_cost"]),
            **{k: r[k] for k in METRIC_COLS},
        }
        out[(day, account_id, r["promotion_id"])] = row
    return out


OPTIONAL_NAMES = ("promotion_name", "project_name")


def same_modulo_blanks(
    actual: dict[str, Any], expected: dict[str, Any], optional: tuple[str, ...] = ()
) -> list[str]:
    """Column names that differ. A zero metric the API sent as "-" is None; so is a field in
    ``optional`` that the API left out (hostile data)."""
    bad = []
    for k, v in expected.items():
        a = actual.get(k)
        if a == v:
            continue
        if a is None and (v in (0, "", None) or (isinstance(v, Decimal) and v == 0)):
            continue
        if a is None and k in optional:
            continue
        bad.append(f"{k}: {a!r} != {v!r}")
    return bad
