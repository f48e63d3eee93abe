from datetime import date, timedelta

import pytest

from integrations.sources.oceanengine.dates import days, split_range


def test_split_range_respects_limit_and_covers_range_without_overlap() -> None:
    start, end = date(2024, 1, 1), date(2025, 3, 10)  # 435 days
    chunks = split_range(start, end, 180)
    assert chunks[0][0] == start and chunks[-1][1] == end
    for lo, hi in chunks:
        assert (hi - lo).days + 1 <= 180
    for (_, hi), (lo, _) in zip(chunks, chunks[1:], strict=False):
        assert lo == hi + timedelta(days=1)
    assert sum((hi - lo).days + 1 for lo, hi in chunks) == (end - start).days + 1
    assert [(hi - lo).days + 1 for lo, hi in chunks] == [180, 180, 75]


def test_split_range_exact_multiple_and_single_day() -> None:
    assert split_range(date(2025, 1, 1), date(2025, 1, 1), 365) == [
        (date(2025, 1, 1), date(2025, 1, 1))
    ]
    chunks = split_range(date(2025, 1, 1), date(2025, 1, 10), 5)
    assert chunks == [(date(2025, 1, 1), date(2025, 1, 5)), (date(2025, 1, 6), date(2025, 1, 10))]


def test_split_range_rejects_reversed_range() -> None:
    with pytest.raises(ValueError):
        split_range(date(2025, 1, 2), date(2025, 1, 1), 10)
    assert days(date(2025, 2, 27), date(2025, 3, 1)) == [
        date(2025, 2, 27),
        date(2025, 2, 28),
        date(2025, 3, 1),
    ]
