"""DOU+ rows (pure): the order list carries each order's own numbers, exactly; keys deduplicated."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from flows.douplus_rows import (
    ORDER_LIST_SCHEMA,
    latest_by_key,
    order_list_rows,
    order_video_frame,
    stats_frame,
)
from integrations.sources.oceanengine.transforms import douplus as transform

D1, D2 = date(2026, 11, 23), date(2026, 11, 24)
VIDEO = 7_300_000_000_000_000_005  # > 2^53
O1, O2, O3 = 2**62 + 1, 2**62 + 2, 2**62 + 3
UID, UID2 = "MS4wLjABAAAA-a", "MS4wLjABAAAA-b"


def order(oid: int, item: int | None = VIDEO, uid: str = UID, author: str | None = "作者") -> dict:
    return {
        "order_id": oid,
        "task_id": oid + 1,
        "aweme_sec_uid": uid,
        "item_id": item,
        "item_title": "t",
        "author_name": author,
        "scene_type": "VIDEO" if item else "LIVE",
        "task_status": "DELIVERIED",
        "budget": Decimal("100.00"),
        "order_create_time": datetime(2026, 11, 22, 10, 0, 0),
    }


def stat(oid: int, day: date, cost: str | None, play: int | None = 0, uid: str = UID) -> dict:
    return {
        "order_id": oid,
        "stat_date": day,
        "aweme_sec_uid": uid,
        "cost": None if cost is None else Decimal(cost),
        "total_play": play,
        "custom_like": 1,
        "dy_comment": 0,
        "dy_share": 0,
        "dy_follow": 0,
        "dp_target_convert_cnt": 0,
    }


def test_each_order_shows_its_own_sums_and_only_the_video_ranking_adds_orders() -> None:
    orders = [order(O1), order(O2)]  # one video, two orders
    stats = stats_frame(
        [
            stat(O1, D1, "0.10", play=10),
            stat(O1, D2, "0.20", play=20),  # 0.1 + 0.2 exactly, not 0.30000000000000004
            stat(O2, D2, "5.05", play=500),
        ]
    )
    rows = {r["order_id"]: r for r in order_list_rows(orders, stats)}
    assert rows[O1]["cost"] == Decimal("0.30") and rows[O1]["total_play"] == 30
    assert rows[O1]["last_stat_date"] == D2 and rows[O1]["custom_like"] == 2
    assert rows[O2]["cost"] == Decimal("5.05") and rows[O2]["total_play"] == 500
    assert list(rows[O1]) == list(ORDER_LIST_SCHEMA)
    assert rows[O1]["order_id"] == O1  # int64 above 2^53 intact

    videos, unmapped = transform.video_daily(stats, order_video_frame(orders))
    by_day = {r["stat_date"]: r for r in videos.to_dicts()}
    assert by_day[D2]["total_cost"] == Decimal("5.25") and by_day[D2]["order_count"] == 2
    assert not unmapped


def test_order_without_stats_has_no_numbers_and_live_orders_get_the_account_name() -> None:
    rows = order_list_rows(
        [order(O1, uid=UID2), order(O3, item=None, author=None)],
        stats_frame([stat(O3, D1, None, play=None)]),
        {UID: "探店小鱼", UID2: "杭州吃货日记"},
    )
    assert [r["order_id"] for r in rows] == [O3, O1]  # by account, then order
    live, quiet = rows
    assert quiet["cost"] is None and quiet["total_play"] is None and quiet["last_stat_date"] is None
    assert quiet["author_name"] == "作者"  # the video's author is kept
    assert live["author_name"] == "探店小鱼"
    assert live["cost"] == Decimal("0.00") and live["total_play"] == 0  # "-" counts as 0


def test_latest_by_key_keeps_the_last_read() -> None:
    rows = latest_by_key(
        [stat(O1, D1, "1"), stat(O2, D1, "2"), stat(O1, D1, "3")], ("order_id", "stat_date")
    )
    assert [(r["order_id"], r["cost"]) for r in rows] == [(O1, Decimal("3")), (O2, Decimal("2"))]
    with pytest.raises(ValueError, match="null"):
        latest_by_key([{"order_id": None}], ("order_id",))


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="order_id"):
        stats_frame([stat(O1, D1, "1") | {"order_id": float(O1)}])
    with pytest.raises(TypeError, match="cost"):
        stats_frame([stat(O1, D1, "1") | {"cost": 0.1}])
    with pytest.raises(TypeError, match="order_create_time"):
        order_list_rows([order(O1) | {"order_create_time": "2026-11-22"}], stats_frame([]))


def test_money_unit_mismatch_spots_spend_100x_the_budget() -> None:
    from decimal import Decimal as D

    from flows.douplus_rows import money_unit_mismatch

    orders = [{"order_id": 1, "budget": D("100.00")}, {"order_id": 2, "budget": D("50.00")}]
    fine = [
        {"order_id": 1, "cost": D("60.00")},
        {"order_id": 1, "cost": D("40.00")},
        {"order_id": 2, "cost": None},
    ]
    assert money_unit_mismatch(orders, fine) is None
    off = [{"order_id": 2, "cost": D("3000.00")}, {"order_id": 2, "cost": D("2000.00")}]
    line = money_unit_mismatch(orders, off)
    assert line is not None and "\n" not in line
    assert line.startswith("ADSYNC_DOUPLUS_MONEY_UNIT:") and "order 2" in line and "100×" in line
