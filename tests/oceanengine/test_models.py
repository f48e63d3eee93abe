"""Tolerant parsing at the API boundary: ids, "-", strings, money units, rejections."""

import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from integrations.sources.oceanengine.models import (
    AdvertiserAccount,
    DouplusOrder,
    DouplusReportRow,
    DpaProduct,
    LocalPromotionReportRow,
    PageInfo,
)
from integrations.sources.oceanengine.pagination import parse_items, raw_key


def _loads(text: str):
    # Exactly how the client decodes bodies.
    return json.loads(text, parse_float=Decimal)


BIG = 7300000000000000123  # > 2^53: a float would turn it into ...0000128


def test_local_row_keeps_int64_ids_and_converts_money_and_blanks() -> None:
    raw = _loads(
        '{"promotion_id": 7300000000000000123, "promotion_name": "团购🔥", '
        '"project_id": "7200000000000000001", "project_name": "项目A", '
        '"stat_time_day": "2025-01-02", "stat_cost": 123.456, "show_cnt": "10234", '
        '"click_cnt": 321, "convert_cnt": "-", "conversion_cost": "10.295", "extra": 1}'
    )
    row = LocalPromotionReportRow.model_validate(raw).to_row(1790000000000000003)
    assert row == {
        "stat_date": date(2025, 1, 2),
        "local_account_id": 1790000000000000003,
        "promotion_id": BIG,
        "promotion_name": "团购🔥",
        "project_id": 7200000000000000001,
        "project_name": "项目A",
        "cost": Decimal("123.46"),
        "show_cnt": 10234,
        "click_cnt": 321,
        "convert_cnt": None,
        "conversion_cost": Decimal("10.30"),
        "clue_pay_order_cnt": None,
    }
    assert row["cost"].as_tuple().exponent == -2


@pytest.mark.parametrize("bad_id", [7.3e18, Decimal("7300000000000000123"), True, "73e17", None])
def test_ids_never_accepted_as_float_or_non_integer(bad_id) -> None:
    with pytest.raises(ValidationError):
        LocalPromotionReportRow.model_validate(
            {"promotion_id": bad_id, "stat_time_day": "2025-01-01"}
        )


def test_float_stat_cost_goes_through_str_not_binary() -> None:
    row = LocalPromotionReportRow.model_validate(
        {"promotion_id": 1, "stat_time_day": "2025-01-01", "stat_cost": 0.1 + 0.2}
    ).to_row(5)
    assert row["cost"] == Decimal("0.30")


def test_row_from_another_account_is_refused() -> None:
    m = LocalPromotionReportRow.model_validate(
        {"promotion_id": 1, "stat_time_day": "2025-01-01", "local_account_id": 9}
    )
    with pytest.raises(ValueError, match="belongs to account 9"):
        m.to_row(5)


def test_bad_rows_become_keyed_rejections_and_the_rest_of_the_page_survives() -> None:
    items = _loads(
        '[{"promotion_id": 1, "stat_time_day": "2025-01-01", "stat_cost": 1.5},'
        ' {"promotion_id": 2.5, "stat_time_day": "2025-01-01"},'
        ' {"promotion_id": 3, "stat_time_day": "not a date"},'
        ' "garbage",'
        ' {"promotion_id": 4, "stat_time_day": "2025-01-01", "show_cnt": "12.5"}]'
    )
    rows, rejections = parse_items(
        items,
        lambda raw: LocalPromotionReportRow.model_validate(raw).to_row(77),
        raw_key("v3.0/local/report/promotion/get", 77, "promotion_id", "stat_time_day"),
    )
    assert [r["promotion_id"] for r in rows] == [1]
    assert len(rejections) == 4
    assert rejections[0].key == (
        "v3.0/local/report/promotion/get|account=77|promotion_id=2.5|stat_time_day=2025-01-01"
    )
    assert "promotion_id" in rejections[0].reason
    assert "stat_time_day" in rejections[1].reason
    assert "not an object" in rejections[2].reason
    assert "not integral" in rejections[3].reason


ORDER = """{"order": {"order_id": 7400000000000000001, "task_id": "7400000000000000002",
  "scene_type": "VIDEO", "order_create_time": "2025-01-01 10:00:00", "task_status": "DELIVERIED",
  "budget": 10050},
 "ad_list": [{"ad_id": 1}],
 "item_info_list": [{"aweme_item_id": 7300000000000000009, "aweme_item_title": "火锅",
                     "aweme_author_name": "小鱼"}]}"""


def test_douplus_order_budget_fen_to_yuan_exactly_and_first_item() -> None:
    row = DouplusOrder.model_validate(_loads(ORDER)).to_row("sec-uid", "fen")
    assert row == {
        "order_id": 7400000000000000001,
        "task_id": 7400000000000000002,
        "aweme_sec_uid": "sec-uid",
        "item_id": 7300000000000000009,
        "item_title": "火锅",
        "author_name": "小鱼",
        "scene_type": "VIDEO",
        "task_status": "DELIVERIED",
        "budget": Decimal("100.50"),
        "order_create_time": datetime(2025, 1, 1, 10, 0),
    }
    assert DouplusOrder.model_validate(_loads(ORDER)).to_row("s", "yuan")["budget"] == Decimal(
        "10050.00"
    )


def test_douplus_fractional_fen_is_a_unit_mismatch_naming_the_setting() -> None:
    from integrations.settings import ConfigError
    from integrations.sources.oceanengine.fields import MoneyUnitMismatch

    raw = _loads(ORDER.replace("10050", "100.5"))
    with pytest.raises(MoneyUnitMismatch, match="whole number of fen") as ei:
        DouplusOrder.model_validate(raw).to_row("s", "fen")
    msg = str(ei.value)
    assert isinstance(ei.value, ConfigError) and not isinstance(ei.value, ValueError)
    assert "\n" not in msg and "ADSYNC_DOUPLUS_MONEY_UNIT=yuan" in msg and "100.5" in msg


def test_douplus_report_row_uses_requested_day_and_fen() -> None:
    raw = _loads(
        '{"dimension_data": {"order_id": "7400000000000000001", "ad_id": 3},'
        ' "metrics_data": {"stat_cost": 12345, "total_play": "52000", "custom_like": 830,'
        ' "dy_comment": "-", "dy_share": 35, "dy_follow": 40, "dp_target_convert_cnt": 8,'
        ' "play_duration_5s_rank": 0.41}}'
    )
    row = DouplusReportRow.model_validate(raw).to_row("s", "fen", date(2025, 1, 3))
    assert row["order_id"] == 7400000000000000001
    assert row["stat_date"] == date(2025, 1, 3)
    assert row["cost"] == Decimal("123.45")
    assert row["total_play"] == 52000 and row["dy_comment"] is None


def test_dpa_product_profession_values_become_strings() -> None:
    raw = _loads(
        '{"product_id": 1780000000000000001, "platform_id": "1770000000000000001", "name": "短剧A",'
        ' "status": 1, "audit_status": "1", "price_info": {"price": "9.9"},'
        ' "profession": {"album_id": "7300000000000000000", "starting_unlock_episode": 10,'
        ' "album_link": "https://x/y?playlet_id=abc"}}'
    )
    p = DpaProduct.model_validate(raw)
    assert p.profession == {
        "album_id": "7300000000000000000",
        "starting_unlock_episode": "10",
        "album_link": "https://x/y?playlet_id=abc",
    }
    row = p.to_row(1854347260793866, 1770000000000000001)
    assert row["price"] == Decimal("9.90") and row["audit_status"] == 1
    assert json.loads(row["profession_json"])["album_id"] == "7300000000000000000"
    with pytest.raises(ValueError, match="platform"):
        p.to_row(1, 1)


def test_advertiser_account_prefers_new_fields_and_normalises_type() -> None:
    a = AdvertiserAccount.model_validate(
        {"advertiser_id": 1, "account_id": 2, "account_type": "PLATFORM_ROLE_AWEME",
         "account_string_id": "MS4w", "advertiser_name": "old", "account_name": "new"}
    )  # fmt: skip
    assert a.to_row() == {
        "account_type": "AWEME",
        "account_id": 2,
        "account_name": "new",
        "account_string_id": "MS4w",
        "is_valid": True,
        "is_enabled": None,
    }
    with pytest.raises(ValidationError):
        AdvertiserAccount.model_validate({"account_name": "no id"})


def test_page_info_reads_total_num_or_total_number() -> None:
    assert PageInfo.model_validate({"total_num": "245", "total_page": 3}).total == 245
    assert PageInfo.model_validate({"total_number": 7}).total == 7
