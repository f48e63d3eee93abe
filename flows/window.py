"""Sync windows: which China dates a run covers.

A window is an inclusive range of China dates (Asia/Shanghai by default), whatever the server's
timezone: "today" is always computed from an aware UTC instant converted to the configured zone.

- Daily runs: yesterday plus the trailing ``lookback_days`` (reports settle late), e.g. today
  2026-11-25 with lookback 3 → 2026-11-21..2026-11-24.
- Backfills: ``start``/``end`` (inclusive) or a single ``date``; split by each API's span limit
  with :func:`split_window`.
- ``end`` may be today (same-day numbers are partial and get corrected by the next daily run's
  lookback) but never in the future.

Pure functions: no I/O, no Prefect.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_LOOKBACK_DAYS = 3
ONE_DAY = timedelta(days=1)

DateLike = date | str


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def china_today(tz: str | tzinfo = DEFAULT_TZ, now: datetime | None = None) -> date:
    """Today's date in ``tz`` (default Asia/Shanghai) at the instant ``now`` (default: now).

    ``now`` must be timezone-aware: a naive datetime has no instant, and guessing the server's
    zone is exactly the bug this function exists to avoid.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    return now.astimezone(_zone(tz)).date()


def _check_day(name: str, value: object) -> date:
    # datetime is a subclass of date; a datetime here is almost always a timezone bug.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name} must be a datetime.date, got {type(value).__name__} {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Window:
    """An inclusive range of China dates, ``start <= end``. Iterates its days in order."""

    start: date
    end: date

    def __post_init__(self) -> None:
        _check_day("start", self.start)
        _check_day("end", self.end)
        if self.start > self.end:
            raise ValueError(f"window start {self.start} is after end {self.end}")

    @classmethod
    def single(cls, day: date) -> Window:
        return cls(day, day)

    def __len__(self) -> int:
        return (self.end - self.start).days + 1

    def __iter__(self) -> Iterator[date]:
        day = self.start
        while day <= self.end:
            yield day
            day += ONE_DAY

    def __contains__(self, day: object) -> bool:
        if isinstance(day, datetime) or not isinstance(day, date):
            return False
        return self.start <= day <= self.end

    @property
    def days(self) -> list[date]:
        return list(self)

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def parse_date(value: DateLike, name: str = "date") -> date:
    """A ``date`` or an ISO ``YYYY-MM-DD`` string → date; ValueError naming the parameter."""
    if isinstance(value, datetime):
        raise TypeError(f"{name} must be a date, not a datetime ({value.isoformat()})")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) != 10:
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{name}: expected YYYY-MM-DD, got {value!r}") from None
    raise TypeError(f"{name} must be a date or a YYYY-MM-DD string, got {type(value).__name__}")


def _opt_date(value: DateLike | None, name: str) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # Prefect UI forms send "" for an untouched optional parameter
    return parse_date(value, name)


def daily_window(
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    today: date | None = None,
    tz: str | tzinfo = DEFAULT_TZ,
) -> Window:
    """Yesterday (China) plus the ``lookback_days`` days before it."""
    if isinstance(lookback_days, bool) or not isinstance(lookback_days, int) or lookback_days < 0:
        raise ValueError(f"lookback_days must be an integer >= 0, got {lookback_days!r}")
    today = china_today(tz) if today is None else _check_day("today", today)
    end = today - ONE_DAY
    return Window(end - timedelta(days=lookback_days), end)


def resolve_window(
    date: DateLike | None = None,
    start: DateLike | None = None,
    end: DateLike | None = None,
    *,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    today: datetime | date | None = None,
    tz: str | tzinfo = DEFAULT_TZ,
) -> Window:
    """The window for a flow run's parameters.

    - nothing: :func:`daily_window` (yesterday plus ``lookback_days``);
    - ``date``: that single day;
    - ``start`` and ``end``: that inclusive range (a backfill);
    - ``start`` alone: ``start`` .. yesterday.

    ValueError (one line, naming the parameters) for: ``date`` together with ``start``/``end``,
    ``end`` without ``start``, ``start`` after ``end``, and any day after today (China).
    ``today`` is for tests; a datetime must be aware and is converted to ``tz``.
    """
    if isinstance(today, datetime):
        today = china_today(tz, now=today)
    elif today is None:
        today = china_today(tz)
    else:
        _check_day("today", today)

    day = _opt_date(date, "date")
    first = _opt_date(start, "start")
    last = _opt_date(end, "end")

    if day is not None:
        if first is not None or last is not None:
            raise ValueError("give either date or start/end, not both")
        first = last = day
    elif first is None and last is None:
        return daily_window(lookback_days, today=today)
    elif first is None:
        raise ValueError(f"end {last} given without start; give start too (or date for one day)")
    elif last is None:
        last = today - ONE_DAY
        if first > last:
            raise ValueError(
                f"start {first} is after yesterday ({last}, China time); give end, or date"
            )

    assert first is not None and last is not None
    if last > today:
        what = "date" if day is not None else "end"
        raise ValueError(f"{what} {last} is in the future (today is {today}, China time)")
    if first > last:
        raise ValueError(f"start {first} is after end {last}")
    return Window(first, last)


def split_window(window: Window, max_days: int) -> list[Window]:
    """Consecutive sub-windows of at most ``max_days`` days covering ``window``, in order."""
    if isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 1:
        raise ValueError(f"max_days must be an integer >= 1, got {max_days!r}")
    chunks: list[Window] = []
    start = window.start
    step = timedelta(days=max_days - 1)
    while start <= window.end:
        end = min(start + step, window.end)
        chunks.append(Window(start, end))
        start = end + ONE_DAY
    return chunks
