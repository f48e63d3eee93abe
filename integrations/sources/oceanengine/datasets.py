"""The Ocean Engine datasets, each declared once (see :mod:`integrations.datasets`).

Money is yuan: 本地推 reports give yuan; DOU+ gives fen, converted exactly (÷100) at the API
boundary (``fields.MoneyUnit``). Ids are platform int64 ids (often above 2^53).
"""

from __future__ import annotations

from integrations.datasets import (
    BigInt,
    Bitable,
    Bool,
    Checks,
    Col,
    Dataset,
    Date,
    DateTime,
    Field,
    Id,
    Idx,
    Int,
    Json,
    Money,
    Ratio,
    Text,
    ValueKind,
)
from integrations.feishu.labels import DOUPLUS_PERIOD_LABELS, DOUPLUS_TASK_STATUS_LABELS

SOURCE = "oceanengine"

# --- 本地推 --------------------------------------------------------------------------------

local_promotion_daily = Dataset(
    name="local_promotion_daily",
    source=SOURCE,
    flow="laike-daily",
    key=("stat_date", "local_account_id", "promotion_id"),
    columns=(
        Col("stat_date", Date),
        Col("local_account_id", Id),
        Col("promotion_id", Id),
        Col("promotion_name", Text(255), keep_known=True),
        Col("project_id", Id, keep_known=True),
        Col("project_name", Text(255), keep_known=True),
        Col("cost", Money),  # stat_cost, yuan
        Col("show_cnt", BigInt),
        Col("click_cnt", BigInt),
        Col("convert_cnt", BigInt),
        Col("conversion_cost", Money),  # as reported by the API, yuan
        Col("clue_pay_order_cnt", BigInt),
    ),
    date_column="stat_date",
    account_columns=("local_account_id",),
    bitable=Bitable(
        table_name="本地推单元日报",
        fields=(
            Field("account_name", "账户名称", ValueKind.TEXT),  # joined from ad_accounts
            Field("stat_date", "日期"),
            Field("promotion_id", "单元ID"),
            Field("promotion_name", "单元名称"),
            Field("cost", "消耗(元)"),
            Field("show_cnt", "展示数"),
            Field("click_cnt", "点击数"),
            Field("convert_cnt", "转化数"),
            Field("conversion_cost", "转化成本(元)"),
            Field("clue_pay_order_cnt", "团购线索数"),
            Field("local_account_id", "账户ID"),
            Field("project_id", "项目ID"),
            Field("project_name", "项目名称"),
        ),
        account_name_field="account_name",
    ),
    checks=Checks(per_account=True, account_type="LOCAL"),
)

local_account_daily = Dataset(
    name="local_account_daily",
    source=SOURCE,
    flow="laike-daily",
    key=("stat_date", "local_account_id"),
    columns=(
        Col("stat_date", Date),
        Col("local_account_id", Id),
        Col("account_name", Text(255)),
        Col("promotion_count", Int, nullable=False),
        Col("cost", Money, nullable=False),
        Col("show_cnt", BigInt, nullable=False),
        Col("click_cnt", BigInt, nullable=False),
        Col("convert_cnt", BigInt, nullable=False),
        Col("clue_pay_order_cnt", BigInt, nullable=False),
        Col("ctr", Ratio),  # clicks / shows
        Col("cpc", Ratio),  # cost / clicks, yuan
        Col("cpm", Ratio),  # cost / shows * 1000, yuan
        Col("conversion_cost", Ratio),  # cost / conversions, yuan
    ),
    date_column="stat_date",
    account_columns=("local_account_id",),
    bitable=Bitable(
        table_name="本地推账户日报",
        fields=(
            Field("account_name", "账户名称"),
            Field("stat_date", "日期"),
            Field("promotion_count", "单元数"),
            Field("cost", "消耗(元)"),
            Field("show_cnt", "展示数"),
            Field("click_cnt", "点击数"),
            Field("convert_cnt", "转化数"),
            Field("clue_pay_order_cnt", "团购线索数"),
            Field("ctr", "点击率"),
            # Yuan ratios: shown like money (two places), stored at ratio scale in the DB.
            Field("cpc", "平均点击单价(元)", ValueKind.MONEY),
            Field("cpm", "千次展示费用(元)", ValueKind.MONEY),
            Field("conversion_cost", "转化成本(元)", ValueKind.MONEY),
            Field("local_account_id", "账户ID"),
        ),
        account_name_field="account_name",
    ),
    # An aggregate of local_promotion_daily: per-account findings would repeat the grain's.
    checks=Checks(per_account=False),
)

# --- DOU+ ----------------------------------------------------------------------------------

# The order's own numbers on its Bitable row: its stats summed over its days
# (flows/douplus_rows.py order_list_rows), not DB columns of douplus_orders.
_ORDER_TOTALS = (
    Field("cost", "消耗(元)", ValueKind.MONEY),
    Field("total_play", "播放数", ValueKind.INT),
    Field("custom_like", "点赞数", ValueKind.INT),
    Field("dy_comment", "评论数", ValueKind.INT),
    Field("dy_share", "分享数", ValueKind.INT),
    Field("dy_follow", "新增粉丝数", ValueKind.INT),
    Field("dp_target_convert_cnt", "转化数", ValueKind.INT),
    Field("last_stat_date", "数据截至", ValueKind.DATE),
)

douplus_orders = Dataset(
    name="douplus_orders",
    source=SOURCE,
    flow="douplus-daily",
    key=("order_id",),
    columns=(
        Col("order_id", Id),
        Col("task_id", Id, keep_known=True),
        Col("aweme_sec_uid", Text(128), nullable=False),
        Col("item_id", Id, keep_known=True),  # the promoted video (first item_info_list entry)
        Col("item_title", Text(512), keep_known=True),
        Col("author_name", Text(255), keep_known=True),
        Col("scene_type", Text(32), keep_known=True),
        Col("task_status", Text(32), keep_known=True),
        Col("budget", Money, keep_known=True),  # yuan (API: fen)
        Col("order_create_time", DateTime, keep_known=True),  # China local time, as the API
    ),
    account_columns=("aweme_sec_uid",),
    bitable=Bitable(
        table_name="DOU+订单",
        fields=(
            Field("author_name", "抖音号"),
            Field("order_id", "订单ID"),
            Field("task_id", "任务ID"),
            Field("item_id", "视频ID"),
            Field("item_title", "视频标题"),
            Field("scene_type", "投放场景"),
            Field("task_status", "订单状态", labels=DOUPLUS_TASK_STATUS_LABELS),
            Field("budget", "预算(元)"),
            Field("order_create_time", "下单时间"),
            *_ORDER_TOTALS,
            Field("aweme_sec_uid", "抖音号ID"),
        ),
        account_name_field="author_name",
    ),
)

douplus_order_daily = Dataset(
    name="douplus_order_daily",
    source=SOURCE,
    flow="douplus-daily",
    key=("order_id", "stat_date"),
    columns=(
        Col("order_id", Id),
        Col("stat_date", Date),
        Col("aweme_sec_uid", Text(128), nullable=False),
        Col("cost", Money),  # stat_cost, yuan (API: fen)
        Col("total_play", BigInt),
        Col("custom_like", BigInt),
        Col("dy_comment", BigInt),
        Col("dy_share", BigInt),
        Col("dy_follow", BigInt),
        Col("dp_target_convert_cnt", BigInt),
        Col("custom_convert_cost", Money),  # yuan (API: fen, like stat_cost)
        Col("play_duration_5s_rank", Ratio),  # the day's 5-second completion rate, 0..1
    ),
    date_column="stat_date",
    account_columns=("aweme_sec_uid",),
    # DOU+ stats exist only while an account has orders delivering: a 抖音号 without rows
    # yesterday is normal, so no per-account disappearance/volume findings for it.
    checks=Checks(per_account=False),
)

douplus_video_daily = Dataset(
    name="douplus_video_daily",
    source=SOURCE,
    flow="douplus-daily",
    key=("item_id", "stat_date"),
    columns=(
        Col("item_id", Id),
        Col("stat_date", Date),
        Col("aweme_sec_uid", Text(128), nullable=False),
        Col("order_count", Int, nullable=False),
        Col("total_cost", Money, nullable=False),
        Col("total_play", BigInt, nullable=False),
        Col("likes", BigInt, nullable=False),
        Col("shares", BigInt, nullable=False),
        Col("conversions", BigInt, nullable=False),
        Col("play_per_100_cost", Ratio),
        Col("like_rate", Ratio),
        Col("share_rate", Ratio),
        Col("conversion_cost", Ratio),
        # Σ(play_duration_5s_rank × total_play) / Σ total_play over the video's orders of the day
        Col("play_5s_rate", Ratio),
    ),
    date_column="stat_date",
    account_columns=("aweme_sec_uid",),
    bitable=Bitable(
        table_name="DOU+视频日报",
        fields=(
            Field("stat_date", "日期"),
            Field("item_id", "视频ID"),
            Field("order_count", "订单数"),
            Field("total_cost", "消耗(元)"),
            Field("total_play", "播放数"),
            Field("likes", "点赞数"),
            Field("shares", "分享数"),
            Field("conversions", "转化数"),
            Field("play_per_100_cost", "百元播放量"),
            Field("like_rate", "点赞率"),
            Field("share_rate", "分享率"),
            Field("conversion_cost", "转化成本(元)", ValueKind.MONEY),  # a yuan ratio
            Field("play_5s_rate", "5秒完播率"),
            Field("aweme_sec_uid", "抖音号ID"),
        ),
        key=("stat_date", "item_id"),  # date first, like the other daily tables
    ),
    checks=Checks(per_account=False),  # DOU+: see douplus_order_daily
)

# --- DOU+ periods (rankings over today / 7 / 30 days / all time) ---------------------------
#
# Key = (period, entity), ``as_of`` a column: the table holds the *current* ranking, one row per
# period and video (or 抖音号). Each run recomputes every period ending at its as_of
# (transforms/douplus_periods.py), upserts the rows, then deletes the rows of another as_of
# (an entity that left a period, e.g. a video that did not spend today): a rerun with unchanged
# stats writes nothing, and nobody reads a ranking mixed from two days. History stays in the
# order-day table, from which any past ranking can be recomputed.

_PERIOD_TOTALS = (
    Col("cost_rank", Int, nullable=False),  # 1 = highest cost in (period, 抖音号) / period
    Col("order_count", Int, nullable=False),
)
_PERIOD_SUMS = (
    Col("total_cost", Money, nullable=False),
    Col("total_play", BigInt, nullable=False),
    Col("likes", BigInt, nullable=False),
    Col("shares", BigInt, nullable=False),
    Col("conversions", BigInt, nullable=False),
    Col("play_per_100_yuan", Ratio),  # plays per ¥100 of cost
    Col("cost_per_100_play", Ratio),  # yuan per 100 plays
    Col("like_rate", Ratio),
    Col("share_rate", Ratio),
    Col("conversion_cost", Ratio),  # yuan per conversion
    Col("play_5s_rate", Ratio),  # 5-second completion rate weighted by plays
)
_PERIOD_FIELDS = (
    Field("total_cost", "消耗(元)"),
    Field("total_play", "播放数"),
    Field("likes", "点赞数"),
    Field("shares", "分享数"),
    Field("conversions", "转化数"),
    Field("play_per_100_yuan", "每百元播放量"),
    Field("cost_per_100_play", "百次播放成本(元)", ValueKind.MONEY),  # a yuan ratio
    Field("like_rate", "点赞率"),
    Field("share_rate", "分享率"),
    Field("conversion_cost", "转化成本(元)", ValueKind.MONEY),  # a yuan ratio
    Field("play_5s_rate", "5秒完播率"),
)

douplus_video_periods = Dataset(
    name="douplus_video_periods",
    source=SOURCE,
    flow="douplus-daily",
    key=("period", "item_id"),
    columns=(
        Col("period", Text(16)),  # today | last_7_days | last_30_days | all_time
        Col("as_of", Date, nullable=False),  # the period's last day (China)
        Col("item_id", Id),
        Col("aweme_sec_uid", Text(128), nullable=False),
        *_PERIOD_TOTALS,
        *_PERIOD_SUMS,
    ),
    date_column="as_of",
    account_columns=("aweme_sec_uid",),
    bitable=Bitable(
        table_name="DOU+视频排行",
        fields=(
            Field("account_name", "抖音号", ValueKind.TEXT),  # from the run's account names
            Field("period", "周期", labels=DOUPLUS_PERIOD_LABELS),
            Field("cost_rank", "消耗排名"),
            Field("item_id", "视频ID"),
            Field("order_count", "订单数"),
            *_PERIOD_FIELDS,
            Field("as_of", "数据截至"),
            Field("aweme_sec_uid", "抖音号ID"),
        ),
        account_name_field="account_name",
    ),
)

douplus_account_periods = Dataset(
    name="douplus_account_periods",
    source=SOURCE,
    flow="douplus-daily",
    key=("period", "aweme_sec_uid"),
    columns=(
        Col("period", Text(16)),
        Col("as_of", Date, nullable=False),
        Col("aweme_sec_uid", Text(128)),
        *_PERIOD_TOTALS,
        Col("video_count", Int, nullable=False),
        *_PERIOD_SUMS,
    ),
    date_column="as_of",
    account_columns=("aweme_sec_uid",),
    bitable=Bitable(
        table_name="DOU+账号日报",
        fields=(
            Field("account_name", "抖音号", ValueKind.TEXT),
            Field("period", "周期", labels=DOUPLUS_PERIOD_LABELS),
            Field("cost_rank", "消耗排名"),
            Field("order_count", "订单数"),
            Field("video_count", "视频数"),
            *_PERIOD_FIELDS,
            Field("as_of", "数据截至"),
            Field("aweme_sec_uid", "抖音号ID"),
        ),
        account_name_field="account_name",
    ),
)

# --- DPA -----------------------------------------------------------------------------------

dpa_products = Dataset(
    name="dpa_products",
    source=SOURCE,
    flow="dpa-daily",
    key=("product_platform_id", "product_id"),
    columns=(
        Col("product_platform_id", Id),
        Col("product_id", Id),
        Col("advertiser_id", Id, nullable=False),
        Col("name", Text(512), keep_known=True),
        Col("title", Text(512), keep_known=True),
        Col("outer_id", Text(255), keep_known=True),
        Col("status", Int, keep_known=True),
        Col("audit_status", Int, keep_known=True),
        Col("image_url", Text(), keep_known=True),
        Col("price", Money, keep_known=True),
        Col("album_id", Id),  # 短剧 album id (profession.album_id)
        Col("playlet_id", Text(128)),  # 漫剧 playlet id (query of profession.album_link)
        Col("profession_json", Json),  # the raw profession map
    ),
    account_columns=("advertiser_id",),
    indexes=(Idx("ix_dpa_products_playlet", ("playlet_id",)),),
    bitable=Bitable(
        table_name="DPA商品",
        fields=(
            Field("name", "商品名称"),
            Field("product_platform_id", "商品库ID"),
            Field("product_id", "商品ID"),
            Field("title", "标题"),
            Field("outer_id", "外部ID"),
            Field("status", "状态"),
            Field("audit_status", "审核状态"),
            Field("price", "价格(元)"),
            Field("album_id", "短剧ID"),
            Field("playlet_id", "漫剧ID"),
            Field("image_url", "图片链接"),
            Field("advertiser_id", "广告主ID"),
        ),
    ),
)

# --- accounts ------------------------------------------------------------------------------

ad_accounts = Dataset(
    name="ad_accounts",
    source=SOURCE,
    flow="accounts-hourly",
    key=("account_type", "account_id"),
    columns=(
        Col("account_type", Text(32)),  # LOCAL, AWEME, ADVERTISER, ...
        Col("account_id", Id),
        Col("account_name", Text(255)),
        Col("account_string_id", Text(128)),  # aweme_sec_uid for 抖音号 accounts
        Col("is_valid", Bool, nullable=False),
        Col("is_enabled", Bool),
        Col("removed", Bool, nullable=False),  # no longer listed by the API
        Col("first_seen_at", DateTime, nullable=False),  # UTC bookkeeping
        Col("last_seen_at", DateTime, nullable=False),
    ),
    account_columns=("account_id",),
)

# In registry order: tables, Bitable specs, settings and monitor lists follow it.
DATASETS: tuple[Dataset, ...] = (
    local_promotion_daily,
    local_account_daily,
    douplus_orders,
    douplus_order_daily,
    douplus_video_daily,
    douplus_video_periods,
    douplus_account_periods,
    dpa_products,
    ad_accounts,
)
