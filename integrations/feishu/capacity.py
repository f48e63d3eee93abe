"""Feishu's record cap per table, as a design input: rotation, retention, and a fit check.

Every Bitable error table documents ``1254103 RecordExceedLimit``: a table holds at most
20,000 records (the exact cap depends on the tenant's plan). At 1,000 accounts × ~15
promotions a day one table is full within two days, so the cap is checked *before* writing:

- ``rotate`` (month | week | day) splits a dataset into period tables, ``<name> <period>``;
- ``retention_days`` deletes rows older than that from Bitable (the DB keeps everything);
- a write that would not fit stops that table with one line naming it, the rows per day
  measured and a policy that would fit (``TableFull``); nothing is written to it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from integrations.feishu.errors import FeishuError

DEFAULT_RECORD_CAP = 20_000
RECORD_EXCEED_LIMIT = 1254103
CHINA = ZoneInfo("Asia/Shanghai")
_PERIOD_DAYS = (("month", 31), ("week", 7), ("day", 1))
# The labels period_label gives: month, ISO week, day (any of them: tables left by an earlier
# ``rotate`` setting are still the dataset's).
PERIOD_LABEL = re.compile(r"(\d{4})-(?:(\d{2})|W(\d{2})|(\d{2})-(\d{2}))")


def period_label(rotate: str, d: date) -> str:
    """The period a date belongs to: ``2026-11``, ``2026-W48`` (ISO week) or ``2026-11-22``."""
    if rotate == "month":
        return f"{d:%Y-%m}"
    if rotate == "week":
        y, w, _ = d.isocalendar()
        return f"{y}-W{w:02d}"
    if rotate == "day":
        return d.isoformat()
    raise ValueError(f"rotate must be none, month, week or day, not {rotate!r}")


def period_of(name: str, table_name: str) -> str | None:
    """The period label of ``table_name`` when it is a period table of ``name``, else None."""
    if not table_name.startswith(name + " "):
        return None
    label = table_name[len(name) + 1 :]
    return label if PERIOD_LABEL.fullmatch(label) and period_range(label) else None


def period_range(label: str) -> tuple[date, date] | None:
    """First and last day of a period label (None when it names no real period)."""
    m = PERIOD_LABEL.fullmatch(label)
    if m is None:
        return None
    year, month, week, m2, day = m.groups()
    try:
        if month is not None:
            first = date(int(year), int(month), 1)
            nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return first, nxt - timedelta(days=1)
        if week is not None:
            first = date.fromisocalendar(int(year), int(week), 1)
            return first, first + timedelta(days=6)
        d = date(int(year), int(m2), int(day))
        return d, d
    except ValueError:
        return None


def china_today() -> date:
    return datetime.now(CHINA).date()


def retention_cutoff(retention_days: int, today: date | None = None) -> date:
    """The oldest date kept in Bitable: today − retention_days (China dates)."""
    return (today or china_today()) - timedelta(days=retention_days)


def suggestion(dataset: str, per_day: float, cap: int) -> str:
    """A policy that fits ``per_day`` rows a day under ``cap`` (one short clause)."""
    key = f"bitable_tables.{dataset}"
    keep = int(cap // per_day) - 1 if per_day > 0 else 0
    for period, days in _PERIOD_DAYS:
        if per_day * days <= cap:
            out = f'set {key}.rotate = "{period}" (≈{round(per_day * days):,} a table)'
            if keep >= 1:
                out += f" or {key}.retention_days = {keep}"
            return out
    return "even one day exceeds the cap: split the accounts over several bases"


class TableFull(FeishuError):
    """The table would exceed Feishu's record cap; nothing was written to it."""

    def __init__(
        self, table: str, dataset: str, held: int, adding: int, per_day: float, cap: int
    ) -> None:
        self.table, self.held, self.adding, self.cap = table, held, adding, cap
        if held < 0:  # Feishu said 1254103 first: the tenant's cap is below ours
            super().__init__(
                f"Bitable table {table!r} is full (Feishu answered {RECORD_EXCEED_LIMIT}; this "
                f"tenant's cap is below the {cap:,} assumed): set bitable_tables.{dataset}."
                "rotate or retention_days; nothing more was written to this table"
            )
            return
        super().__init__(
            f"Bitable table {table!r} would exceed Feishu's cap of {cap:,} records "
            f"({RECORD_EXCEED_LIMIT}): it holds {held:,} and this run adds {adding:,}; "
            f"measured {per_day:,.0f} rows/day; {suggestion(dataset, per_day, cap)}; "
            "nothing was written to this table"
        )
