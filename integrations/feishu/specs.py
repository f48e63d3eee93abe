"""Bitable table specs, declared in code per dataset (names configurable per deployment).

A spec says which Bitable fields a dataset's table has, their types and display formats, which DB
column feeds each field, and how the business key is built. The first field is the business key
(primary, text), e.g. ``2026-11-22|1854347260793866|7450…`` — date first, then ids, joined by "|".

Users adopting an existing table (docs/contracts/existing-setup.md) rename fields through
``settings.bitable_tables[dataset].fields`` (ours → theirs; "ours" is the field key or its default
Chinese name) and, when their table has no key field, set ``key_from`` to derive the key from
existing fields (e.g. ``["时间", "单元ID"]``). ``TableSpec.configured`` applies that config.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum
from typing import Any

from integrations.feishu.labels import DOUPLUS_TASK_STATUS_LABELS
from integrations.settings import BitableTableConfig, Settings

KEY_SEPARATOR = "|"


class FieldType(IntEnum):
    """Bitable field ``type`` numbers we use (docs/contracts/feishu.md §3)."""

    TEXT = 1
    NUMBER = 2
    DATE = 5


class ValueKind(StrEnum):
    """How a DB value becomes a cell (and a canonical string for hashing and keys)."""

    TEXT = "text"  # str
    ID = "id"  # int64 id → text (ids exceed 2^53: never a JSON number)
    INT = "int"  # count → JSON number
    MONEY = "money"  # Decimal yuan → JSON number (float only at the edge)
    RATIO = "ratio"  # Decimal ratio → JSON number
    DATE = "date"  # date → ms at 00:00 Asia/Shanghai
    DATETIME = "datetime"  # naive China-local datetime → ms


# Bitable type each kind is stored as.
KIND_TYPE: dict[ValueKind, FieldType] = {
    ValueKind.TEXT: FieldType.TEXT,
    ValueKind.ID: FieldType.TEXT,
    ValueKind.INT: FieldType.NUMBER,
    ValueKind.MONEY: FieldType.NUMBER,
    ValueKind.RATIO: FieldType.NUMBER,
    ValueKind.DATE: FieldType.DATE,
    ValueKind.DATETIME: FieldType.DATE,
}

MONEY_FORMAT = "0.00"
COUNT_FORMAT = "0"
DATE_FORMAT = "yyyy/MM/dd"  # the documented enum has no "yyyy-MM-dd"
DATETIME_FORMAT = "yyyy-MM-dd HH:mm"


@dataclass(frozen=True)
class FieldSpec:
    key: str  # stable identifier (also the config key), e.g. "cost"
    default_name: str  # Chinese default, e.g. "消耗(元)"
    kind: ValueKind
    column: str | None = None  # DB column feeding it (None: the business key field)
    property: dict[str, Any] | None = None  # formatter / date_formatter
    name: str = ""  # effective Bitable name (default_name unless configured)
    # Text fields only: raw DB value → Chinese label shown in Bitable (integrations/feishu/labels.py)
    labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.default_name)
        if self.labels and self.kind is not ValueKind.TEXT:
            raise ValueError(f"{self.key}: labels need a text field, not {self.kind}")

    @builtins.property
    def type(self) -> FieldType:
        return KIND_TYPE[self.kind]

    @builtins.property
    def accepted_types(self) -> frozenset[int]:
        """Types an existing field may have. Dates and numbers also accept text: the old
        scripts' tables hold every column as text (cost included); we write the canonical string
        there (``YYYY-MM-DD``, ``12.5``) and read the text segments back, never converting."""
        if self.type in (FieldType.DATE, FieldType.NUMBER):
            return frozenset({self.type, FieldType.TEXT})
        return frozenset({self.type})


KEY_FIELD = "business_key"


@dataclass(frozen=True)
class TableSpec:
    dataset: str
    default_name: str
    fields: tuple[FieldSpec, ...]  # fields[0] is the business-key field (primary, text)
    key_columns: tuple[str, ...]  # DB columns joined (canonical form) into the business key
    account_id_field: str | None = None  # field key of the account-id text field (views)
    account_name_field: str | None = None
    date_field: str | None = None  # field key used to scope reconcile to a window
    name: str = ""  # effective table name
    key_from: tuple[str, ...] | None = None  # Bitable names deriving the key (adopted tables)
    rotate: str = "none"  # none | month | week | day (capacity.py)
    retention_days: int | None = None  # rows older than this are deleted from Bitable only
    period: str | None = None  # set on a period table's spec ("2026-11"); name includes it

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.default_name)
        if self.fields[0].key != KEY_FIELD or self.fields[0].kind != ValueKind.TEXT:
            raise ValueError(f"{self.dataset}: the first field must be the text business key")

    # -- lookups -------------------------------------------------------------------------------
    def field(self, key: str) -> FieldSpec:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(f"{self.dataset}: no field {key!r}")

    def by_name(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def key_field(self) -> FieldSpec | None:
        """The Bitable field holding the business key; None when derived (``key_from``)."""
        return None if self.key_from else self.fields[0]

    @property
    def data_fields(self) -> tuple[FieldSpec, ...]:
        return self.fields[1:]

    @property
    def written_fields(self) -> tuple[FieldSpec, ...]:
        """Fields this sink writes (and requires) in Bitable, key field first when present."""
        return self.fields if self.key_field else self.data_fields

    def key_parts(self) -> tuple[FieldSpec, ...]:
        """Adopted tables: the fields (in ``key_from`` order) whose values form the key."""
        assert self.key_from is not None
        out = []
        for n in self.key_from:
            f = self.by_name(n)
            if f is None:
                raise ValueError(
                    f"bitable_tables.{self.dataset}.key_from: {n!r} is not one of this table's "
                    f"fields ({', '.join(x.name for x in self.data_fields)})"
                )
            out.append(f)
        return tuple(out)

    # -- configuration -------------------------------------------------------------------------
    def configured(self, cfg: BitableTableConfig | None) -> TableSpec:
        """This spec with the deployment's table name, field names and key derivation applied."""
        if cfg is None:
            return self
        mapping = dict(cfg.fields)
        known = {f.key for f in self.fields} | {f.default_name for f in self.fields}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(
                f"bitable_tables.{self.dataset}.fields: unknown field(s) {', '.join(unknown)}"
            )
        fields = tuple(
            replace(f, name=mapping.get(f.key) or mapping.get(f.default_name) or f.default_name)
            for f in self.fields
        )
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError(f"bitable_tables.{self.dataset}.fields: two fields share a name")
        spec = replace(
            self,
            fields=fields,
            name=cfg.name or self.default_name,
            key_from=tuple(cfg.key_from) if cfg.key_from else None,
            rotate=cfg.rotate,
            retention_days=cfg.retention_days,
        )
        if (spec.rotate != "none" or spec.retention_days) and spec.date_field is None:
            raise ValueError(
                f"bitable_tables.{self.dataset}: rotate/retention_days need a dated dataset; "
                f"{self.dataset} has no date field"
            )
        if spec.key_from:
            spec.key_parts()  # validate now: a typo must not surface mid-sync
        return spec


def _f(key: str, name: str, kind: ValueKind, column: str | None = None) -> FieldSpec:
    prop: dict[str, Any] | None = None
    if kind in (ValueKind.MONEY,):
        prop = {"formatter": MONEY_FORMAT}
    elif kind == ValueKind.INT:
        prop = {"formatter": COUNT_FORMAT}
    elif kind == ValueKind.RATIO:
        prop = {"formatter": "0.0000"}
    elif kind == ValueKind.DATE:
        prop = {"date_formatter": DATE_FORMAT}
    elif kind == ValueKind.DATETIME:
        prop = {"date_formatter": DATETIME_FORMAT}
    return FieldSpec(key=key, default_name=name, kind=kind, column=column or key, property=prop)


_KEY = FieldSpec(key=KEY_FIELD, default_name="业务键", kind=ValueKind.TEXT, column=None)
T, ID, INT, MONEY, RATIO, DATE = (
    ValueKind.TEXT,
    ValueKind.ID,
    ValueKind.INT,
    ValueKind.MONEY,
    ValueKind.RATIO,
    ValueKind.DATE,
)

LOCAL_PROMOTION_DAILY = TableSpec(
    dataset="local_promotion_daily",
    default_name="本地推单元日报",
    fields=(
        _KEY,
        _f("account_name", "账户名称", T),  # joined from ad_accounts by the caller
        _f("stat_date", "日期", DATE),
        _f("promotion_id", "单元ID", ID),
        _f("promotion_name", "单元名称", T),
        _f("cost", "消耗(元)", MONEY),
        _f("show_cnt", "展示数", INT),
        _f("click_cnt", "点击数", INT),
        _f("convert_cnt", "转化数", INT),
        _f("conversion_cost", "转化成本(元)", MONEY),
        _f("clue_pay_order_cnt", "团购线索数", INT),
        _f("local_account_id", "账户ID", ID),
        _f("project_id", "项目ID", ID),
        _f("project_name", "项目名称", T),
    ),
    key_columns=("stat_date", "local_account_id", "promotion_id"),
    account_id_field="local_account_id",
    account_name_field="account_name",
    date_field="stat_date",
)

LOCAL_ACCOUNT_DAILY = TableSpec(
    dataset="local_account_daily",
    default_name="本地推账户日报",
    fields=(
        _KEY,
        _f("account_name", "账户名称", T),
        _f("stat_date", "日期", DATE),
        _f("promotion_count", "单元数", INT),
        _f("cost", "消耗(元)", MONEY),
        _f("show_cnt", "展示数", INT),
        _f("click_cnt", "点击数", INT),
        _f("convert_cnt", "转化数", INT),
        _f("clue_pay_order_cnt", "团购线索数", INT),
        _f("ctr", "点击率", RATIO),
        _f("cpc", "平均点击单价(元)", MONEY),
        _f("cpm", "千次展示费用(元)", MONEY),
        _f("conversion_cost", "转化成本(元)", MONEY),
        _f("local_account_id", "账户ID", ID),
    ),
    key_columns=("stat_date", "local_account_id"),
    account_id_field="local_account_id",
    account_name_field="account_name",
    date_field="stat_date",
)

DOUPLUS_ORDERS = TableSpec(
    dataset="douplus_orders",
    default_name="DOU+订单",
    fields=(
        _KEY,
        _f("author_name", "抖音号", T),
        _f("order_id", "订单ID", ID),
        _f("task_id", "任务ID", ID),
        _f("item_id", "视频ID", ID),
        _f("item_title", "视频标题", T),
        _f("scene_type", "投放场景", T),
        replace(_f("task_status", "订单状态", T), labels=DOUPLUS_TASK_STATUS_LABELS),
        _f("budget", "预算(元)", MONEY),
        _f("order_create_time", "下单时间", ValueKind.DATETIME),
        # The order's own numbers (its stats summed over its days; flows/douplus_rows.py).
        _f("cost", "消耗(元)", MONEY),
        _f("total_play", "播放数", INT),
        _f("custom_like", "点赞数", INT),
        _f("dy_comment", "评论数", INT),
        _f("dy_share", "分享数", INT),
        _f("dy_follow", "新增粉丝数", INT),
        _f("dp_target_convert_cnt", "转化数", INT),
        _f("last_stat_date", "数据截至", DATE),
        _f("aweme_sec_uid", "抖音号ID", T),
    ),
    key_columns=("order_id",),
    account_id_field="aweme_sec_uid",
    account_name_field="author_name",
)

DOUPLUS_VIDEO_DAILY = TableSpec(
    dataset="douplus_video_daily",
    default_name="DOU+视频日报",
    fields=(
        _KEY,
        _f("stat_date", "日期", DATE),
        _f("item_id", "视频ID", ID),
        _f("order_count", "订单数", INT),
        _f("total_cost", "消耗(元)", MONEY),
        _f("total_play", "播放数", INT),
        _f("likes", "点赞数", INT),
        _f("shares", "分享数", INT),
        _f("conversions", "转化数", INT),
        _f("play_per_100_cost", "百元播放量", RATIO),
        _f("like_rate", "点赞率", RATIO),
        _f("share_rate", "分享率", RATIO),
        _f("conversion_cost", "转化成本(元)", MONEY),
        _f("play_5s_rate", "5秒完播率", RATIO),
        _f("aweme_sec_uid", "抖音号ID", T),
    ),
    key_columns=("stat_date", "item_id"),
    account_id_field="aweme_sec_uid",
    date_field="stat_date",
)

DPA_PRODUCTS = TableSpec(
    dataset="dpa_products",
    default_name="DPA商品",
    fields=(
        _KEY,
        _f("name", "商品名称", T),
        _f("product_platform_id", "商品库ID", ID),
        _f("product_id", "商品ID", ID),
        _f("title", "标题", T),
        _f("outer_id", "外部ID", T),
        _f("status", "状态", INT),
        _f("audit_status", "审核状态", INT),
        _f("price", "价格(元)", MONEY),
        _f("album_id", "短剧ID", ID),
        _f("playlet_id", "漫剧ID", T),
        _f("image_url", "图片链接", T),
        _f("advertiser_id", "广告主ID", ID),
    ),
    key_columns=("product_platform_id", "product_id"),
    account_id_field="advertiser_id",
)

SPECS: dict[str, TableSpec] = {
    s.dataset: s
    for s in (
        LOCAL_PROMOTION_DAILY,
        LOCAL_ACCOUNT_DAILY,
        DOUPLUS_ORDERS,
        DOUPLUS_VIDEO_DAILY,
        DPA_PRODUCTS,
    )
}


def table_spec(dataset: str, settings: Settings | None = None) -> TableSpec:
    """The spec for ``dataset`` with ``settings.bitable_tables[dataset]`` applied."""
    try:
        spec = SPECS[dataset]
    except KeyError:
        raise KeyError(f"no Bitable spec for dataset {dataset!r}; known: {sorted(SPECS)}") from None
    cfg = settings.bitable_tables.get(dataset) if settings is not None else None
    return spec.configured(cfg)
