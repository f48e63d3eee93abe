"""Split an inclusive date range into chunks no longer than an endpoint's span limit."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

CN_TZ = ZoneInfo("Asia/Shanghai")
logger = logging.getLogger("adsync.oceanengine")

# Span limits in days, inclusive of both ends (docs/contracts/oceanengine.md §3.1, §4.2).
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


def china_today() -> date:
    return datetime.now(CN_TZ).date()


def clamp_to_lookback(
    endpoint: str,
    account: object,
    start: date,
    end: date,
    max_lookback_days: int | None,
    today: date | None = None,
) -> date | None:
    """``start`` moved up to the oldest day the report serves (``today - max_lookback_days``),
    with a warning naming the days left out; None when the whole range is older."""
    if max_lookback_days is None:
        return start
    earliest = (today or china_today()) - timedelta(days=max_lookback_days)
    if start >= earliest:
        return start
    last_skipped = min(end, earliest - timedelta(days=1))
    n = (last_skipped - start).days + 1
    logger.warning(
        "%s (account %s): the API serves at most %d days back; %d day(s) %s..%s left out "
        "(start clamped to %s; setting ADSYNC_OCEANENGINE_REPORT_MAX_LOOKBACK_DAYS)",
        endpoint,
        account,
        max_lookback_days,
        n,
        start,
        last_skipped,
        earliest if end >= earliest else "nothing",
    )
    return earliest if end >= earliest else None
