"""Sync windows: China dates whatever the server timezone, backfill parameters, span splitting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from flows.window import (
    Window,
    china_today,
    daily_window,
    parse_date,
    resolve_window,
    split_window,
)

D = date.fromisoformat
TODAY = D("2026-11-25")


# --- china_today ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        ("2026-11-24T15:59:59", "2026-11-24"),  # 23:59:59 in Shanghai
        ("2026-11-24T16:00:00", "2026-11-25"),  # 00:00:00 in Shanghai, still the 24th in UTC
        ("2026-11-24T23:30:00", "2026-11-25"),
        ("2026-12-31T16:00:00", "2027-01-01"),  # year boundary
    ],
)
def test_china_today_around_1600_utc(utc: str, expected: str) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert china_today(now=now) == D(expected)


def test_china_today_accepts_any_aware_zone() -> None:
    # 2026-11-24 20:00 in New York (UTC-5) = 2026-11-25 09:00 in Shanghai.
    ny = datetime(2026, 11, 24, 20, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert china_today(now=ny) == D("2026-11-25")
    assert china_today("America/New_York", now=ny) == D("2026-11-24")


def test_china_today_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        china_today(now=datetime(2026, 11, 24, 16, 0))


@pytest.mark.parametrize("server_tz", ["UTC", "America/Los_Angeles", "Pacific/Kiritimati"])
def test_china_today_ignores_server_timezone(server_tz: str) -> None:
    """Run in a subprocess with TZ set: the result is the Shanghai date, not the server's."""
    code = (
        "import time, datetime as d; from flows.window import china_today; "
        "print(china_today().isoformat(), d.date.today().isoformat())"
    )
    env = {**os.environ, "TZ": server_tz}
    for _ in range(3):  # retry if the check straddles a midnight somewhere
        before = datetime.now(UTC)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        after = datetime.now(UTC)
        want = china_today(now=before)
        if want == china_today(now=after):
            break
    assert out[0] == want.isoformat()


def test_china_today_under_tz_env_in_process() -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset not available")
    old = os.environ.get("TZ")
    try:
        os.environ["TZ"] = "America/Los_Angeles"
        time.tzset()
        now = datetime(2026, 11, 24, 16, 0, 1, tzinfo=UTC)  # 08:00 in LA, 00:00 next day in CN
        assert china_today(now=now) == D("2026-11-25")
        assert daily_window(3, today=china_today(now=now)) == Window(
            D("2026-11-21"), D("2026-11-24")
        )
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


# --- Window --------------------------------------------------------------------------------


def test_window_len_iter_contains_str() -> None:
    w = Window(D("2026-02-27"), D("2026-03-02"))
    assert len(w) == 4
    assert list(w) == [D("2026-02-27"), D("2026-02-28"), D("2026-03-01"), D("2026-03-02")]
    assert w.days == list(w)
    assert D("2026-03-01") in w and D("2026-03-03") not in w and "2026-03-01" not in w
    assert str(w) == "2026-02-27..2026-03-02"
    assert str(Window.single(D("2026-03-01"))) == "2026-03-01"
    assert len(Window.single(D("2026-03-01"))) == 1


def test_window_validates() -> None:
    with pytest.raises(ValueError, match="after end"):
        Window(D("2026-11-25"), D("2026-11-24"))
    with pytest.raises(TypeError, match="datetime.date"):
        Window(datetime(2026, 11, 24), D("2026-11-24"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Window("2026-11-24", D("2026-11-24"))  # type: ignore[arg-type]


def test_window_is_hashable_and_frozen() -> None:
    w = Window(D("2026-11-21"), D("2026-11-24"))
    assert {w: 1}[Window(D("2026-11-21"), D("2026-11-24"))] == 1
    with pytest.raises(AttributeError):
        w.start = D("2026-11-20")  # type: ignore[misc]


# --- daily_window --------------------------------------------------------------------------


def test_daily_window_example_from_the_spec() -> None:
    assert daily_window(3, today=TODAY) == Window(D("2026-11-21"), D("2026-11-24"))


def test_daily_window_zero_lookback_is_yesterday() -> None:
    assert daily_window(0, today=TODAY) == Window.single(D("2026-11-24"))


def test_daily_window_crosses_month_and_year() -> None:
    assert daily_window(3, today=D("2027-01-02")) == Window(D("2026-12-29"), D("2027-01-01"))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_daily_window_rejects_bad_lookback(bad: object) -> None:
    with pytest.raises(ValueError, match="lookback_days"):
        daily_window(bad, today=TODAY)  # type: ignore[arg-type]


def test_daily_window_default_today_is_china() -> None:
    w = daily_window(3)
    assert w.end == china_today() - timedelta(days=1) and len(w) == 4


# --- resolve_window ------------------------------------------------------------------------


def test_resolve_default_is_daily_window() -> None:
    assert resolve_window(lookback_days=3, today=TODAY) == Window(D("2026-11-21"), D("2026-11-24"))
    assert resolve_window(lookback_days=1, today=TODAY) == Window(D("2026-11-23"), D("2026-11-24"))


def test_resolve_empty_strings_mean_not_given() -> None:
    assert resolve_window("", "", "", lookback_days=0, today=TODAY) == Window.single(
        D("2026-11-24")
    )


def test_resolve_single_date() -> None:
    assert resolve_window(date="2026-11-01", today=TODAY) == Window.single(D("2026-11-01"))
    assert resolve_window(date=D("2026-11-25"), today=TODAY) == Window.single(TODAY)


def test_resolve_backfill_strings_and_dates() -> None:
    w = resolve_window(start="2026-10-01", end=D("2026-10-31"), today=TODAY)
    assert w == Window(D("2026-10-01"), D("2026-10-31")) and len(w) == 31


def test_resolve_start_alone_runs_to_yesterday() -> None:
    assert resolve_window(start="2026-11-20", today=TODAY) == Window(
        D("2026-11-20"), D("2026-11-24")
    )
    with pytest.raises(ValueError, match="after yesterday"):
        resolve_window(start="2026-11-25", today=TODAY)


def test_resolve_today_as_aware_datetime_uses_china_date() -> None:
    just_after = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 2026-11-25 00:00 in Shanghai
    just_before = datetime(2026, 11, 24, 15, 59, tzinfo=UTC)
    assert resolve_window(lookback_days=0, today=just_after) == Window.single(D("2026-11-24"))
    assert resolve_window(lookback_days=0, today=just_before) == Window.single(D("2026-11-23"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"date": "2026-11-20", "start": "2026-11-19"}, "either date or start/end"),
        ({"date": "2026-11-20", "end": "2026-11-21"}, "either date or start/end"),
        ({"end": "2026-11-20"}, "without start"),
        ({"start": "2026-11-22", "end": "2026-11-21"}, "start 2026-11-22 is after end 2026-11-21"),
        ({"start": "2026-11-20", "end": "2026-11-26"}, "end 2026-11-26 is in the future"),
        ({"date": "2026-11-26"}, "date 2026-11-26 is in the future"),
        ({"date": "2026/11/20"}, "date: expected YYYY-MM-DD"),
        ({"start": "20261120", "end": "2026-11-21"}, "start: expected YYYY-MM-DD"),
        ({"start": "2026-11-20", "end": "2026-13-01"}, "end: expected YYYY-MM-DD"),
    ],
)
def test_resolve_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_window(**kwargs, today=TODAY)


def test_resolve_rejects_naive_today_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_window(today=datetime(2026, 11, 25, 1, 0))


def test_parse_date() -> None:
    assert parse_date(" 2026-11-01 ") == D("2026-11-01")
    with pytest.raises(TypeError, match="not a datetime"):
        parse_date(datetime(2026, 11, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_date(20261101)  # type: ignore[arg-type]


# --- split_window / progress ---------------------------------------------------------------


def test_split_window_covers_exactly_in_order() -> None:
    w = Window(D("2026-01-01"), D("2026-03-31"))  # 90 days
    chunks = split_window(w, 30)
    assert [len(c) for c in chunks] == [30, 30, 30]
    assert chunks[0].start == w.start and chunks[-1].end == w.end
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start == a.end + timedelta(days=1)
    assert [d for c in chunks for d in c] == list(w)


def test_split_window_remainder_and_small_windows() -> None:
    w = Window(D("2026-11-01"), D("2026-11-10"))
    assert [len(c) for c in split_window(w, 4)] == [4, 4, 2]
    assert split_window(w, 10) == [w]
    assert split_window(w, 365) == [w]
    assert [len(c) for c in split_window(w, 1)] == [1] * 10


@pytest.mark.parametrize("bad", [0, -3, 2.0, True])
def test_split_window_rejects_bad_span(bad: object) -> None:
    with pytest.raises(ValueError, match="max_days"):
        split_window(Window.single(TODAY), bad)  # type: ignore[arg-type]
