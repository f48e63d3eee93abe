"""pydantic models of the Ocean Engine payloads we read, and their storage-shaped rows.

Each model parses ONE list element of one endpoint, tolerantly (see :mod:`.fields`); ``to_row``
returns a plain dict whose keys are the columns of the matching table in
``integrations/database/tables.py`` (minus the ``updated_at`` bookkeeping column).
Unknown fields are ignored (the API adds fields over time); fields we store are validated.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from integrations.sources.oceanengine.fields import (
    Count,
    Day,
    DpaAuditStatus,
    DpaStatus,
    Id,
    MoneyUnit,
    Num,
    OptDateTime,
    OptId,
    OptStr,
    money_from,
    yuan,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# --- envelope pieces -------------------------------------------------------------------------


class PageInfo(_Model):
    """``page_info``; DOU+ may say ``total_num`` instead of ``total_number``
    (docs/contracts/oceanengine.md §1.4)."""

    page: Count = None
    page_size: Count = None
    total_number: Count = None
    total_num: Count = None
    total_page: Count = None

    @property
    def total(self) -> int | None:
        return self.total_number if self.total_number is not None else self.total_num


# --- accounts --------------------------------------------------------------------------------


class AdvertiserAccount(_Model):
    """``oauth2/advertiser/get`` element. New fields (account_*) win over the deprecated ones."""

    account_id: OptId = None
    account_name: OptStr = None
    account_type: OptStr = None
    account_string_id: OptStr = None  # aweme_sec_uid for 抖音号 accounts (DOU+)
    advertiser_id: OptId = None
    advertiser_name: OptStr = None
    advertiser_role: Count = None
    account_role: OptStr = None
    is_valid: bool | None = None

    @model_validator(mode="after")
    def _has_id(self) -> AdvertiserAccount:
        if self.account_id is None and self.advertiser_id is None:
            raise ValueError("neither account_id nor advertiser_id")
        return self

    @property
    def id(self) -> int:
        return self.account_id if self.account_id is not None else self.advertiser_id  # type: ignore[return-value]

    @property
    def kind(self) -> str:
        """``PLATFORM_ROLE_AWEME`` → ``AWEME``; role 10 (抖音号) without a type → ``AWEME``."""
        t = self.account_type or self.account_role
        if t:
            return t.removeprefix("PLATFORM_ROLE_")
        return {1: "ADVERTISER", 2: "CUSTOMER_ADMIN", 10: "AWEME"}.get(
            self.advertiser_role or 0, "ADVERTISER"
        )

    def to_row(self) -> dict[str, Any]:
        return {
            "account_type": self.kind,
            "account_id": self.id,
            "account_name": self.account_name or self.advertiser_name,
            "account_string_id": self.account_string_id,
            "is_valid": True if self.is_valid is None else self.is_valid,
            "is_enabled": None,
        }


class CustomerCenterAccount(_Model):
    """``v3.0/customer_center/account/list`` element (``data.accounts``)."""

    account_id: Id
    account_name: OptStr = None
    account_type: OptStr = None  # AD, QIANCHUAN, LOCAL, DOU+
    is_enabled: bool | None = None

    def to_row(self) -> dict[str, Any]:
        return {
            "account_type": self.account_type or "LOCAL",
            "account_id": self.account_id,
            "account_name": self.account_name,
            "account_string_id": None,
            "is_valid": True,
            "is_enabled": self.is_enabled,
        }


class LifeLocalAccount(_Model):
    """``v3.0/local/life/advertiser/list`` element (``data.adv_list``): a local account under a
    来客 account (official Go SDK model_local_life_advertiser_list_v3_0_*). No name is sent."""

    local_account_id: Id
    local_account_role: OptStr = None  # DIRECT_ACCOUNT | VIRTUAL_ACCOUNT
    account_main_copy_tag: OptStr = None  # MAIN_ACCOUNT | COPY_ACCOUNT

    def to_row(self) -> dict[str, Any]:
        return {
            "account_type": "LOCAL",
            "account_id": self.local_account_id,
            "account_name": None,
            "account_string_id": None,
            "is_valid": True,
            "is_enabled": None,
        }


# --- 本地推 -------------------------------------------------------------------------------------


class LocalPromotion(_Model):
    """``v3.0/local/promotion/list`` element (``data.promotion_list``)."""

    promotion_id: Id
    promotion_name: OptStr = None
    project_id: OptId = None
    local_account_id: OptId = None
    promotion_status_first: OptStr = None
    promotion_create_time: OptDateTime = None
    promotion_modify_time: OptDateTime = None


class LocalPromotionReportRow(_Model):
    """``v3.0/local/report/promotion/get`` element (``data.promotion_list``), DAILY granularity.

    ``stat_cost`` and ``conversion_cost`` are yuan; stored at scale 2.
    """

    promotion_id: Id
    promotion_name: OptStr = None
    project_id: OptId = None
    project_name: OptStr = None
    local_account_id: OptId = None  # BUB has it on the row; OFF does not
    stat_time_day: Day
    stat_cost: Num = None
    show_cnt: Count = None
    click_cnt: Count = None
    convert_cnt: Count = None
    conversion_cost: Num = None
    clue_pay_order_cnt: Count = None

    def to_row(self, local_account_id: int) -> dict[str, Any]:
        if self.local_account_id is not None and self.local_account_id != local_account_id:
            raise ValueError(
                f"row belongs to account {self.local_account_id}, asked for {local_account_id}"
            )
        return {
            "stat_date": self.stat_time_day,
            "local_account_id": local_account_id,
            "promotion_id": self.promotion_id,
            "promotion_name": self.promotion_name,
            "project_id": self.project_id,
            "project_name": self.project_name,
            "cost": yuan(self.stat_cost),
            "show_cnt": self.show_cnt,
            "click_cnt": self.click_cnt,
            "convert_cnt": self.convert_cnt,
            "conversion_cost": yuan(self.conversion_cost),
            "clue_pay_order_cnt": self.clue_pay_order_cnt,
        }


# The metrics we request and store (the report needs at least one; we need exactly these).
LOCAL_REPORT_METRICS: tuple[str, ...] = (
    "stat_cost",
    "show_cnt",
    "click_cnt",
    "convert_cnt",
    "conversion_cost",
    "clue_pay_order_cnt",
)


# --- DOU+ ------------------------------------------------------------------------------------


class DouplusOrderCore(_Model):
    order_id: Id
    task_id: OptId = None
    scene_type: OptStr = None
    order_create_time: OptDateTime = None
    task_status: OptStr = None
    budget: Num = None  # fen (docs/contracts/oceanengine.md §4.1)


class DouplusItemInfo(_Model):
    aweme_item_id: OptId = None
    aweme_item_title: OptStr = None
    aweme_author_name: OptStr = None
    aweme_author_unique_id: OptStr = None


class DouplusOrder(_Model):
    """``v3.0/douplus/order/list`` element (``data.order_list``): order + promoted item(s)."""

    order: DouplusOrderCore
    item_info_list: list[DouplusItemInfo] = Field(default_factory=list)

    @field_validator("item_info_list", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return [] if v is None else v

    def to_row(self, aweme_sec_uid: str, money_unit: MoneyUnit) -> dict[str, Any]:
        item = self.item_info_list[0] if self.item_info_list else None
        o = self.order
        return {
            "order_id": o.order_id,
            "task_id": o.task_id,
            "aweme_sec_uid": aweme_sec_uid,
            "item_id": item.aweme_item_id if item else None,
            "item_title": item.aweme_item_title if item else None,
            "author_name": item.aweme_author_name if item else None,
            "scene_type": o.scene_type,
            "task_status": o.task_status,
            "budget": money_from(o.budget, money_unit, what=f"budget of order {o.order_id}"),
            "order_create_time": o.order_create_time,
        }


class DouplusDimensions(_Model):
    order_id: Id
    task_id: OptId = None
    ad_id: OptId = None
    item_id: OptId = None
    room_id: OptId = None
    # Not in the public models; accepted if a server adds a date dimension.
    stat_time: OptStr = None
    stat_date: OptStr = None


class DouplusMetrics(_Model):
    stat_cost: Num = None
    total_play: Count = None
    custom_like: Count = None
    dy_comment: Count = None
    dy_share: Count = None
    dy_follow: Count = None
    dp_target_convert_cnt: Count = None
    custom_convert_cost: Num = None  # money, same unit as stat_cost (OFF int64)
    play_duration_5s_rank: Num = None  # 5s完播率, a ratio 0..1 (OFF float)


class DouplusReportRow(_Model):
    """``v3.0/douplus/order/report`` element (``data.order_metrics``).

    The public models have no date dimension: a row is the order's total over ``stat_time``.
    Daily rows therefore come from one-day requests; ``stat_date`` is that day unless the row
    itself names its date.
    """

    dimension_data: DouplusDimensions
    metrics_data: DouplusMetrics = Field(default_factory=DouplusMetrics)

    def row_date(self, requested_day: date | None) -> date:
        raw = self.dimension_data.stat_date or self.dimension_data.stat_time
        if raw:
            return date.fromisoformat(raw.strip()[:10])
        if requested_day is None:
            raise ValueError("row has no date and the request spanned several days")
        return requested_day

    def to_row(
        self, aweme_sec_uid: str, money_unit: MoneyUnit, requested_day: date | None
    ) -> dict[str, Any]:
        m = self.metrics_data
        return {
            "order_id": self.dimension_data.order_id,
            "stat_date": self.row_date(requested_day),
            "aweme_sec_uid": aweme_sec_uid,
            "cost": money_from(
                m.stat_cost, money_unit, what=f"stat_cost of order {self.dimension_data.order_id}"
            ),
            "total_play": m.total_play,
            "custom_like": m.custom_like,
            "dy_comment": m.dy_comment,
            "dy_share": m.dy_share,
            "dy_follow": m.dy_follow,
            "dp_target_convert_cnt": m.dp_target_convert_cnt,
            "custom_convert_cost": money_from(
                m.custom_convert_cost,
                money_unit,
                what=f"custom_convert_cost of order {self.dimension_data.order_id}",
            ),
            "play_duration_5s_rank": _rate(m.play_duration_5s_rank),
        }


def _rate(v: Decimal | None) -> Decimal | None:
    """A 0..1 ratio at storage scale (DECIMAL(20, 6), half-up); outside 0..1 is a bad row."""
    if v is None:
        return None
    if not Decimal(0) <= v <= Decimal(1):
        raise ValueError(f"play_duration_5s_rank {v} is not a ratio between 0 and 1")
    return v.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


# --- DPA -------------------------------------------------------------------------------------


class DpaAvailable(_Model):
    """``2/dpa/product/availables`` element: one 商品库 (product platform)."""

    platform_id: Id
    name: OptStr = None
    account_id: OptId = None
    account_type: OptStr = None
    product_industry: OptStr = None


class DpaPriceInfo(_Model):
    value: Num = None
    price: Num = None


class DpaProduct(_Model):
    """``2/dpa/detail/get`` element (``data.list``). ``profession`` stays a str→str map; the DPA
    flow extracts album/playlet ids from it."""

    product_id: Id
    platform_id: OptId = None
    name: OptStr = None
    title: OptStr = None
    outer_id: OptStr = None
    status: DpaStatus = None  # canonical: the official int (strings mapped, fields.py)
    audit_status: DpaAuditStatus = None
    image_url: OptStr = None
    price_info: DpaPriceInfo | None = None
    profession: dict[str, str] = Field(default_factory=dict)

    @field_validator("profession", mode="before")
    @classmethod
    def _profession_as_strings(cls, v: Any) -> Any:
        # Documented as map<string,string>, but some keys (starting_unlock_episode) come as ints.
        if v is None or v == "":
            return {}
        if not isinstance(v, dict):
            raise ValueError(f"profession is not an object ({type(v).__name__})")
        out: dict[str, str] = {}
        for k, val in v.items():
            if val is None:
                continue
            if isinstance(val, dict | list):
                out[str(k)] = json.dumps(val, ensure_ascii=False, separators=(",", ":"))
            elif isinstance(val, bool):
                out[str(k)] = "true" if val else "false"
            else:
                out[str(k)] = str(val)
        return out

    @property
    def price(self) -> Decimal | None:
        if self.price_info is None:
            return None
        return yuan(
            self.price_info.price if self.price_info.price is not None else self.price_info.value
        )

    def to_row(self, advertiser_id: int, product_platform_id: int) -> dict[str, Any]:
        if self.platform_id is not None and self.platform_id != product_platform_id:
            raise ValueError(
                f"product is in platform {self.platform_id}, asked for {product_platform_id}"
            )
        return {
            "product_platform_id": product_platform_id,
            "product_id": self.product_id,
            "advertiser_id": advertiser_id,
            "name": self.name,
            "title": self.title,
            "outer_id": self.outer_id,
            "status": self.status,
            "audit_status": self.audit_status,
            "image_url": self.image_url,
            "price": self.price,
            "profession_json": json.dumps(self.profession, ensure_ascii=False, sort_keys=True),
        }
