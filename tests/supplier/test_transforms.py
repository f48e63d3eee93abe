"""Pure transforms and tolerant models (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest

from integrations.exact import MONEY
from integrations.sources.supplier.models import (
    Logistics,
    Price,
    Product,
    Stock,
    parse_items,
)
from integrations.sources.supplier.transforms import (
    logistics_frame,
    prices_frame,
    products_frame,
    stock_frame,
)

DAY = date(2026, 11, 30)


def test_prices_long_format_exact_money() -> None:
    parsed = parse_items(
        Price,
        [
            {"productCode": "A1", "priceType": "PT", "supplyPrice": "1299.00", "price": 1599},
            {"product_code": 77, "price_type": "PT", "rebate_money": Decimal("0.10")},
            {"productCode": "A1", "priceType": "ACT", "priceDate": "2026-11-29", "price": "9.9"},
        ],
        "prices",
    )
    assert not parsed.skipped
    df = prices_frame(parsed.items, DAY)
    assert df.schema["amount"] == MONEY
    assert df.rows() == [
        ("77", "PT", "rebate_money", DAY, Decimal("0.10")),
        ("A1", "ACT", "price", date(2026, 11, 29), Decimal("9.90")),
        ("A1", "PT", "supply_price", DAY, Decimal("1299.00")),
        ("A1", "PT", "price", DAY, Decimal("1599.00")),
    ]


def test_duplicate_keys_keep_the_last_answer() -> None:
    items = parse_items(
        Price,
        [
            {"productCode": "A", "priceType": "PT", "price": "1"},
            {"productCode": "A", "priceType": "PT", "price": "2"},
        ],
        "prices",
    ).items
    assert prices_frame(items, DAY)["amount"].to_list() == [Decimal("2.00")]


@pytest.mark.parametrize(
    ("utc_time", "bucket"),
    [
        (datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC), datetime(2026, 11, 30, 23, 30)),
        (datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC), datetime(2026, 12, 1, 0, 0)),
        (
            datetime(2026, 12, 1, 0, 29, tzinfo=timezone(timedelta(hours=8))),
            datetime(2026, 12, 1, 0, 0),
        ),
    ],
)
def test_stock_bucket_is_30_minutes_china_time(utc_time, bucket) -> None:
    items = parse_items(
        Stock,
        [
            {"productCode": "A", "countyCode": "110101", "availableStock": "3"},
            {"productCode": "A", "countyCode": 110101, "availableStock": 4},
            {"productCode": "A", "countyCode": "310104", "availableStock": 0},
        ],
        "stock",
    ).items
    df = stock_frame(items, utc_time)
    assert df.schema["observed_bucket"] == pl.Datetime("us", "Asia/Shanghai")
    assert df.select("county_code", "available_stock").rows() == [("110101", 4), ("310104", 0)]
    assert [b.replace(tzinfo=None) for b in df["observed_bucket"]] == [bucket, bucket]


def test_stock_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        stock_frame([], datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([3], "not an integer"),
        ("-1", "non-negative"),
        ("2.5", "non-negative integer"),
        (True, "not an integer"),
    ],
)
def test_bad_stock_quantities_are_named(value, reason) -> None:
    parsed = parse_items(
        Stock, [{"productCode": "BAD", "countyCode": "110101", "availableStock": value}], "stock"
    )
    assert [s.product_code for s in parsed.skipped] == ["BAD"]
    assert reason in parsed.skipped[0].reason


def test_non_objects_and_missing_codes_are_named_by_position() -> None:
    parsed = parse_items(Product, [{"productName": "x"}, "junk", {"productCode": "OK"}], "products")
    assert [p.product_code for p in parsed.items] == ["OK"]
    assert [s.product_code for s in parsed.skipped] == [
        "#0 (no productCode, productName x)",
        "#1 (no productCode)",
    ]
    assert "productCode" in parsed.skipped[0].reason
    assert "not an object" in parsed.skipped[1].reason


def test_products_and_logistics_frames() -> None:
    products = parse_items(
        Product,
        [
            {
                "productCode": "B",
                "brandName": "卡萨帝",
                "categoryName": "冰箱",
                "imageUrls": ["u"],
                "x": 1,
            },
            {"productCode": "A", "brandName": "海尔", "procurable": False},
        ],
        "products",
    ).items
    df = products_frame(products)
    assert df.select("product_code", "brand", "procurable").rows() == [
        ("A", "海尔", False),
        ("B", "卡萨帝", True),
    ]
    lg = parse_items(
        Logistics,
        [
            {
                "orderCode": "SO1",
                "nodes": [
                    {"nodeTime": "2026-11-29 08:00:00", "nodeDesc": "已出库"},
                    {"nodeTime": "2026-11-29 18:30:00", "nodeDesc": "运输中"},
                ],
            }
        ],
        "logistics",
    ).items
    assert logistics_frame(lg).select("order_code", "last_node_time", "node_count").rows() == [
        ("SO1", datetime(2026, 11, 29, 18, 30), 2)
    ]


def test_empty_inputs_give_typed_empty_frames() -> None:
    assert prices_frame([], DAY).schema["amount"] == MONEY
    assert stock_frame([], datetime.now(UTC)).height == 0
    assert products_frame([]).columns[0] == "product_code"
