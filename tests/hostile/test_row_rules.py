"""Row rules derived from the column types (no database needed): each value is checked the way
the strictest backend would, so all three behave the same."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from integrations.database import tables
from integrations.database.row_rules import TEXT_MAX_CHARS, TRUNCATION_MARKER, screen

T = tables.local_promotion_daily


def _row(**kw) -> dict:
    return {
        "stat_date": date(2026, 11, 1),
        "local_account_id": 1,
        "promotion_id": 2,
        "promotion_name": "ok",
        "cost": Decimal("1.00"),
        "show_cnt": 1,
    } | kw


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"cost": Decimal("1e16")}, "outside DECIMAL(18, 2)"),
        ({"cost": Decimal("9999999999999999.995")}, "outside DECIMAL(18, 2)"),  # rounds up
        ({"cost": "1e400"}, "outside DECIMAL(18, 2)"),
        ({"cost": Decimal("Infinity")}, "outside DECIMAL(18, 2)"),
        ({"cost": 1.5}, "not an exact number"),
        ({"show_cnt": 2**63}, "outside the 64-bit integer range"),
        ({"show_cnt": -(2**63) - 1}, "outside the 64-bit integer range"),
        ({"show_cnt": True}, "not an integer"),
        ({"stat_date": datetime(2026, 11, 1)}, "not a date"),
        ({"promotion_id": None}, "is required"),
    ],
)
def test_out_of_range_values_reject_the_row_by_name(kw, reason) -> None:
    out = screen(T, [_row(promotion_id=5), _row(promotion_id=2) | kw, _row(promotion_id=6)])
    assert [r["promotion_id"] for r in out.rows] == [5, 6]
    (issue,) = out.rejected
    assert issue.action == "rejected" and reason in issue.reason
    assert issue.column == next(iter(kw))
    assert str(issue).startswith("local_promotion_daily|stat_date=")


def test_edges_of_the_ranges_pass() -> None:
    rows = [
        _row(cost=Decimal("9999999999999999.99"), show_cnt=2**63 - 1),
        _row(promotion_id=3, cost=Decimal("-9999999999999999.99"), show_cnt=-(2**63)),
        _row(promotion_id=4, cost="12.345", show_cnt=0),  # text and extra places: the DB rounds
    ]
    out = screen(T, rows)
    assert out.rows == rows and not out.issues


def test_text_is_normalised_the_same_for_every_backend() -> None:
    rows = [
        _row(promotion_id=1, promotion_name="A\x00B\x1f\x7fC\tD\nE"),
        _row(promotion_id=2, promotion_name="x" * 256),
        _row(promotion_id=3, promotion_name="y" * 255),
        _row(promotion_id=4, promotion_name="bad\ud800"),
    ]
    out = screen(T, rows)
    names = [r["promotion_name"] for r in out.rows]
    assert names == ["ABC\tD\nE", "x" * 254 + TRUNCATION_MARKER, "y" * 255, "bad\ufffd"]
    assert [i.action for i in out.issues] == ["normalised"] * 3
    assert rows[0]["promotion_name"] == "A\x00B\x1f\x7fC\tD\nE"  # the input is not mutated


def test_key_and_json_columns_are_never_truncated() -> None:
    acc = {
        "account_type": "L" * 33,
        "account_id": 1,
        "is_valid": True,
        "removed": False,
        "first_seen_at": datetime(2026, 1, 1),
        "last_seen_at": datetime(2026, 1, 1),
    }
    assert screen(tables.ad_accounts, [acc]).rejected[0].column == "account_type"
    product = {
        "product_platform_id": 1,
        "product_id": 2,
        "advertiser_id": 3,
        "profession_json": "[" * (TEXT_MAX_CHARS + 1),
        "image_url": "h" * (TEXT_MAX_CHARS + 1),
    }
    out = screen(tables.dpa_products, [product])
    assert [(i.column, i.action) for i in out.issues] == [("profession_json", "rejected")]
    product.pop("profession_json")
    out = screen(tables.dpa_products, [product])
    assert len(out.rows[0]["image_url"]) == TEXT_MAX_CHARS
