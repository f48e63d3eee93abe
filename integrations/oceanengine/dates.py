"""Split an inclusive date range into chunks no longer than an endpoint's span limit."""

from __future__ import annotations

from datetime import date, timedelta

# Span limits in days, inclusive of both ends (contracts/oceanengine.md §3.1, §4.2).
LOCAL_REPORT_MAX_DAYS = 365  # DAILY / TOTAL granularity (HOURLY would be 7)
DOUPLUS_REPORT_MAX_DAYS = 180


def split_range(start: date, end: date, max_days: int) -> list[tuple[date, date]]:
    """``[start, end]`` as consecutive inclusive chunks of at most ``max_days`` days."""
    if max_days < 1:
        raise ValueError("max_days must be >= 1")
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    chunks: list[tuple[date, date]] = []
    cur = start
    while cur <= end:
        stop = min(end, cur + timedelta(days=max_days - 1))
        chunks.append((cur, stop))
        cur = stop + timedelta(days=1)
    return chunks


def days(start: date, end: date) -> list[date]:
    """Every day of ``[start, end]``."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
