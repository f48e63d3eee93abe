"""Deterministic data of the Ocean Engine simulator: accounts, promotions, DOU+ orders, DPA
products and their daily metrics.

Nothing is stored in tables: every record and every metric is derived from a hash of ``(seed, kind,
key...)`` (``sandbox.data._h``), so 10,000 accounts × N promotions cost nothing until asked for, and
the same seed (and ``today``) always gives the same answers. No I/O.

Time model: ``today`` is a China date (Asia/Shanghai). A day's metrics keep growing while the day
is less than ``SETTLE_DAYS`` old (late conversions, billing attribution) and are final afterwards;
set ``data.today`` forward to watch them settle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sandbox.data import CN_TZ, _h, _rng, china_today

SETTLE_DAYS = 3
# Fraction of the final value visible at age 0 (today), 1, 2, 3 days; older days are settled.
_SETTLE_FACTORS = (0.42, 0.88, 0.95, 0.985)

# The two motion-comic (漫剧) DPA advertisers of the demo data (README "Sandbox"); real-looking
# 16-digit advertiser ids (below 2^53), the library/product ids under them are above it.
MOTION_COMIC_ADVERTISER_IDS = (1854347260793866, 1854528518086986)
OTHER_DPA_ADVERTISER_ID = 1853906671532036

_CITIES = ("杭州", "上海", "成都", "深圳", "北京", "广州", "武汉", "西安", "长沙", "重庆", "南京")
_SHOPS = ("老王火锅", "小蛮腰烤肉", "茶百道", "一点点奶茶", "星空KTV", "悦己美甲", "元气健身",
          "喜乐宠物医院", "蜀香小面", "海底捞", "好利来", "瑞幸咖啡")  # fmt: skip
_BRANCHES = ("西湖店", "万象城店", "春熙路店", "总店", "旗舰店", "二店", "大学城店")
_EMOJI = ("🔥", "🎉", "✨", "🍲", "☕", "💅", "🐶")
_PROMO_THEMES = ("门店引流", "团购爆品", "直播间引流", "新店开业", "会员日", "周末特惠", "线索收集")
_SCENES = ("POI_CUSTOMER", "PURCHASE", "CONTENT_HEATING", "CLUE")
_STATUS_SECOND = ("AUDIT", "DISABLED", "OFFLINE_BUDGET", "PROMOTION_OFFLINE_BUDGET")
_AWEME_NAMES = ("探店小鱼🐟", "杭州吃货日记", "阿喵的vlog✨", "老周讲装修", "成都美食地图")
_VIDEO_TITLES = ("这家火锅我愿称之为杭州第一", "人均50吃到扶墙出", "周末去哪儿｜宝藏小店",
                 "装修避坑指南第3期", "挑战一天只花20元", "打工人的快乐早餐")  # fmt: skip
_COMIC_TITLES = ("重生之我在漫剧当总裁", "龙王殿", "闪婚后傅先生宠上天", "修仙从打卡开始",
                 "我的师父是神级大佬", "逆天狂妃", "开局签到荒古圣体", "穿书后我成了团宠")  # fmt: skip


def settle_factor(day: date, today: date) -> float:
    """How much of a day's final metrics is visible on ``today`` (0 for future days)."""
    age = (today - day).days
    if age < 0:
        return 0.0
    return _SETTLE_FACTORS[age] if age < len(_SETTLE_FACTORS) else 1.0


def _div(a: float, b: float, scale: float = 1.0, nd: int = 2) -> float:
    return round(a / b * scale, nd) if b else 0.0


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalAccount:
    id: int
    name: str
    forbidden: bool = False  # our grant lacks permission: its data calls answer 40002


@dataclass(frozen=True, slots=True)
class Promotion:
    promotion_id: int
    promotion_name: str
    project_id: int
    project_name: str
    local_account_id: int
    ad_type: str
    marketing_goal: str
    local_delivery_scene: str
    aweme_id: int
    aweme_name: str
    create_time: datetime  # China time, naive
    modify_time: datetime
    status_first: str  # PROMOTION_STATUS_ENABLE / DISABLE / DONE / DELETED
    status_second: tuple[str, ...]
    end_date: date | None  # last day with delivery (DONE / DELETED promotions)

    def active_on(self, day: date) -> bool:
        return self.create_time.date() <= day and (self.end_date is None or day <= self.end_date)


@dataclass(frozen=True, slots=True)
class AwemeAccount:
    account_id: int
    account_name: str
    aweme_sec_uid: str  # = account_string_id in oauth2/advertiser/get
    unique_id: str  # 抖音号 shown to users


@dataclass(frozen=True, slots=True)
class DouplusOrder:
    order_id: int
    task_id: int
    ad_id: int
    aweme_sec_uid: str
    advertiser_id: int
    scene_type: str  # VIDEO / LIVE
    item_id: int  # 0 for LIVE orders
    item_title: str
    room_id: int  # 0 for VIDEO orders
    create_time: datetime  # China time, naive
    delivery_hours: int
    budget_fen: int
    spend_ratio: float  # share of the budget actually spent when finished

    @property
    def end_time(self) -> datetime:
        return self.create_time + timedelta(hours=self.delivery_hours)

    def days(self) -> list[date]:
        d, last = self.create_time.date(), self.end_time.date()
        return [d + timedelta(days=i) for i in range((last - d).days + 1)]


@dataclass(frozen=True, slots=True)
class DpaPlatform:
    platform_id: int
    name: str
    advertiser_id: int
    product_industry: str
    n_products: int


@dataclass(frozen=True, slots=True)
class DpaAdvertiser:
    advertiser_id: int
    name: str
    motion_comic: bool
    platforms: tuple[DpaPlatform, ...]


# --- local report metrics ------------------------------------------------------------------------

# Every metric the local promotion report accepts (OFF names, docs/contracts/oceanengine.md §3.1).
LOCAL_INT_METRICS = (
    "show_cnt", "click_cnt", "convert_cnt", "attribution_convert_cnt",
    "form_cnt", "clue_pay_order_cnt", "clue_message_count", "phone_confirm_cnt",
    "phone_connect_cnt", "message_action_cnt", "intention_form_cnt", "intention_phone_cnt",
    "intention_message_clue_cnt", "attribution_form_cnt", "attribution_clue_pay_order_cnt",
    "attribution_clue_message_cnt", "attribution_phone_confirm_cnt",
    "attribution_phone_connect_cnt", "attribution_message_action_cnt",
    "attribution_intention_form_cnt", "attribution_intention_phone_cnt",
    "attribution_intention_message_clue_cnt", "attribution_clue_confirm",
    "attribution_clue_high_intention", "attribution_conversion_class_count",
    "dy_like", "dy_comment", "dy_share", "dy_collect", "dy_follow", "dy_home_visited",
    "total_play", "play_duration_3s", "play_duration_5s", "play_25_feed_break",
    "play_50_feed_break", "play_75_feed_break", "play_over",
    "luban_live_enter_cnt", "live_watch_one_minute_count", "luban_live_comment_cnt",
    "luban_live_share_cnt", "oto_pay_order_count", "live_oto_pay_order_count",
    "live_groupon_product_click_count", "video_oto_pay_order_count",
    "video_oto_pay_order_count_7d", "poi_recommend_count",
)  # fmt: skip
LOCAL_FLOAT_METRICS = (
    "stat_cost", "ctr", "cpc_platform", "cpm_platform", "conversion_rate", "conversion_cost",
    "attribution_conversion_rate", "attribution_convert_cost",
    "attribution_intention_message_clue_cost", "attribution_clue_confirm_cost",
    "attribution_clue_high_intention_cost", "attribution_conversion_class_cost",
    "play_duration_5s_show_cnt_rate", "play_over_rate", "dy_like_rate",
    "oto_pay_order_amount", "oto_pay_order_roi", "live_oto_pay_order_stat_amount",
    "live_oto_pay_order_roi", "video_oto_pay_order_stat_amount",
    "video_oto_pay_order_stat_amount_7d", "video_oto_pay_order_roi",
    "video_oto_pay_order_roi_7d", "cost_per_video_oto_pay_order_7d",
)  # fmt: skip
LOCAL_METRICS = frozenset(LOCAL_INT_METRICS + LOCAL_FLOAT_METRICS)

# DOU+ order report metrics (OFF names; money in fen as int64, docs/contracts/oceanengine.md §4.2).
DOUPLUS_METRICS = (
    "stat_cost", "total_play", "custom_like", "dy_comment", "dy_share", "dy_follow",
    "dy_home_visited", "play_duration_5s_rank", "dp_target_convert_cnt", "custom_convert_cost",
    "show_cnt", "live_click_source_cnt", "live_gift_uv", "live_gift_amount", "live_comment_cnt",
    "douplus_live_follow_count", "live_gift_cnt",
)  # fmt: skip


# --- the data set ----------------------------------------------------------------------------------


@dataclass
class SandboxData:
    """All simulated Ocean Engine data, derived from ``seed``. ``today`` may be moved forward."""

    seed: int
    today: date
    cc_account_id: int
    cc_account_name: str
    local_accounts: list[LocalAccount]
    aweme_accounts: list[AwemeAccount]
    dpa_advertisers: list[DpaAdvertiser]
    promotions_per_account: int
    orders_per_aweme: int
    _local_index: dict[int, int] = field(default_factory=dict, repr=False)
    # Test hook: accounts oauth2/advertiser/get reports with is_valid=false (management rights
    # lost). Names are plain fields of the account records: rename with dataclasses.replace.
    invalid_account_ids: set[int] = field(default_factory=set)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def generate(
        cls,
        seed: int = 42,
        n_local_accounts: int = 7,
        promotions_per_account: int = 20,
        n_aweme_accounts: int = 3,
        orders_per_aweme: int = 12,
        n_dpa_products: int = 250,
        today: date | None = None,
        n_forbidden: int = 1,
    ) -> SandboxData:
        if n_local_accounts < 1 or promotions_per_account < 0 or n_local_accounts > 999_999:
            raise ValueError("n_local_accounts must be 1..999999, promotions_per_account >= 0")
        if promotions_per_account > 99_999:
            raise ValueError("promotions_per_account must be < 100000")
        today = today or china_today()
        salt = _h(seed, "salt") % 10**6
        # Ids well above 2^53 (9.007e15) and below 2^63: JSON clients that parse to double lose
        # digits, which is exactly what the sandbox must expose.
        cc_account_id = 1_760_000_000_000_000_000 + salt * 10**9 + 1
        local_base = 1_790_000_000_000_000_000 + salt * 10**9
        forbidden: set[int] = set()
        if n_forbidden > 0:
            first = _h(seed, "forbidden") % n_local_accounts
            forbidden = {(first + k) % n_local_accounts for k in range(n_forbidden)}
        locals_ = [
            LocalAccount(
                id=local_base + i * 7 + 3, name=_local_name(seed, i), forbidden=i in forbidden
            )
            for i in range(n_local_accounts)
        ]
        aweme = [_aweme_account(seed, i) for i in range(n_aweme_accounts)]
        dpa = _dpa_advertisers(seed, n_dpa_products)
        data = cls(
            seed=seed,
            today=today,
            cc_account_id=cc_account_id,
            cc_account_name="本地推工作台-总部📊",
            local_accounts=locals_,
            aweme_accounts=aweme,
            dpa_advertisers=dpa,
            promotions_per_account=promotions_per_account,
            orders_per_aweme=orders_per_aweme,
        )
        data._local_index = {a.id: i for i, a in enumerate(locals_)}
        return data

    def __post_init__(self) -> None:
        # Per-instance caches (a module-level cache would pin every SandboxData forever).
        self.promotions = lru_cache(maxsize=1024)(self._promotions)  # type: ignore[method-assign]
        self.douplus_orders = lru_cache(maxsize=256)(self._douplus_orders)  # type: ignore[method-assign]

    # -- lookups --------------------------------------------------------------------------------
    def local_account(self, local_account_id: int) -> LocalAccount | None:
        i = self._local_index.get(local_account_id)
        return None if i is None else self.local_accounts[i]

    def aweme_account(self, aweme_sec_uid: str) -> AwemeAccount | None:
        return next((a for a in self.aweme_accounts if a.aweme_sec_uid == aweme_sec_uid), None)

    def dpa_advertiser(self, advertiser_id: int) -> DpaAdvertiser | None:
        return next((a for a in self.dpa_advertisers if a.advertiser_id == advertiser_id), None)

    # A 来客 account (oauth2 account_type PLATFORM_ROLE_LIFE) over the same local accounts: a
    # consent may tick it instead of the 工作台. Not in the default consent (all_account_ids).
    @property
    def life_account_id(self) -> int:
        return self.cc_account_id + 2

    @property
    def life_account_name(self) -> str:
        return "抖音来客-门店总店🏪"

    def all_account_ids(self) -> list[int]:
        """Ids that an auth grant can name: the 工作台, the 抖音号 and the DPA advertisers."""
        return [
            self.cc_account_id,
            *(a.account_id for a in self.aweme_accounts),
            *(a.advertiser_id for a in self.dpa_advertisers),
        ]

    # -- 本地推 -----------------------------------------------------------------------------------
    def _promotions(self, local_account_id: int) -> list[Promotion]:
        i = self._local_index.get(local_account_id)
        if i is None:
            return []
        return [self._promotion(i, local_account_id, p) for p in range(self.promotions_per_account)]

    def promotions(self, local_account_id: int) -> list[Promotion]:  # replaced by a cache
        return self._promotions(local_account_id)

    def _promotion(self, acc_index: int, local_account_id: int, p: int) -> Promotion:
        s = self.seed
        r = _rng(s, "promo", local_account_id, p)
        salt = _h(s, "promo-salt") % 10**6
        pid = 7_300_000_000_000_000_000 + salt * 10**11 + acc_index * 100_000 + p
        proj = p // 5
        project_id = 7_200_000_000_000_000_000 + salt * 10**11 + acc_index * 100_000 + proj
        scene = _SCENES[_h(s, "scene", local_account_id, proj) % len(_SCENES)]
        created = datetime.combine(
            self.today - timedelta(days=r.randint(5, 420)), time(r.randint(8, 22), r.randint(0, 59))
        )
        roll = r.random()
        end: date | None = None
        if roll < 0.70:
            status, second = "PROMOTION_STATUS_ENABLE", ()
        elif roll < 0.82:
            status, second = "PROMOTION_STATUS_DISABLE", (r.choice(_STATUS_SECOND),)
        elif roll < 0.94:
            status, second = "PROMOTION_STATUS_DONE", ()
            end = min(self.today - timedelta(days=1), created.date() + timedelta(r.randint(3, 60)))
        else:  # deleted: hidden from promotion/list by default, still has report history
            status, second = "PROMOTION_STATUS_DELETED", ()
            end = min(self.today - timedelta(days=1), created.date() + timedelta(r.randint(1, 30)))
        emoji = _EMOJI[p % len(_EMOJI)] if p % 4 == 1 else ""
        theme = _PROMO_THEMES[_h(s, "theme", pid) % len(_PROMO_THEMES)]
        modified = created + timedelta(days=r.randint(0, 4), minutes=r.randint(0, 600))
        return Promotion(
            promotion_id=pid,
            promotion_name=f"{theme}-{p + 1:02d}{emoji}",
            project_id=project_id,
            project_name=f"项目{chr(ord('A') + proj % 26)}-{scene.lower()}",
            local_account_id=local_account_id,
            ad_type="SEARCHING" if p % 9 == 8 else "GENERAL",
            marketing_goal="LIVE" if p % 7 == 6 else "VIDEO_IMAGE",
            local_delivery_scene=scene,
            aweme_id=3_000_000_000_000_000_000 + _h(s, "aweme-of", local_account_id) % 10**15,
            aweme_name=self.local_accounts[acc_index].name[:12],
            create_time=created,
            modify_time=modified,
            status_first=status,
            status_second=second,
            end_date=end,
        )

    def promotion_daily(self, local_account_id: int, day: date) -> list[dict[str, Any]]:
        """Report rows (dimensions + every metric) for promotions that delivered on ``day``.

        Values seen today are ``settle_factor(day, today)`` of the final ones, so a day keeps
        changing for ``SETTLE_DAYS`` days and is stable afterwards.
        """
        rows = []
        for promo in self.delivering_promotions(local_account_id, day):
            rows.append(self.promotion_row(promo, day))
        return rows

    def delivering_promotions(self, local_account_id: int, day: date) -> list[Promotion]:
        """Promotions with a report row on ``day`` (active, not a no-delivery day, not future)."""
        if day > self.today:
            return []
        return [
            p
            for p in self.promotions(local_account_id)
            if p.active_on(day) and _h(self.seed, "gap", p.promotion_id, day.toordinal()) % 10
        ]

    def promotion_row(self, promo: Promotion, day: date) -> dict[str, Any]:
        f = settle_factor(day, self.today)
        r = _rng(self.seed, "pday", promo.promotion_id, day.toordinal())
        scale = 1 + _h(self.seed, "acct-scale", promo.local_account_id) % 5
        show = int(r.randint(300, 12000) * scale * f)
        click = int(show * r.uniform(0.01, 0.07))
        convert = int(click * r.uniform(0.03, 0.25))
        cost_fen = int(show * r.uniform(20, 90) / 10)  # CPM 20–90 元 → fen per show / 10
        cost = cost_fen / 100
        plays = int(show * r.uniform(0.5, 0.9))
        pay_orders = int(convert * r.uniform(0.1, 0.6))
        pay_amount = round(pay_orders * r.uniform(29, 199), 2)
        ints: dict[str, int] = {
            "show_cnt": show,
            "click_cnt": click,
            "convert_cnt": convert,
            "attribution_convert_cnt": int(convert * r.uniform(0.85, 1.1)),
            "total_play": plays,
            "play_duration_3s": int(plays * 0.7),
            "play_duration_5s": int(plays * 0.55),
            "play_25_feed_break": int(plays * 0.45),
            "play_50_feed_break": int(plays * 0.3),
            "play_75_feed_break": int(plays * 0.2),
            "play_over": int(plays * 0.12),
            "oto_pay_order_count": pay_orders,
            "video_oto_pay_order_count": int(pay_orders * 0.8),
            "video_oto_pay_order_count_7d": int(pay_orders * 0.95),
        }
        for name in LOCAL_INT_METRICS:  # the long tail: small fractions of clicks / shows
            if name not in ints:
                base = show if name.startswith(("dy_", "luban", "live", "poi")) else click
                ints[name] = int(base * (_h(self.seed, name, promo.promotion_id) % 50) / 1000)
        if promo.marketing_goal != "LIVE":
            for name in ("luban_live_enter_cnt", "live_watch_one_minute_count",
                         "luban_live_comment_cnt", "luban_live_share_cnt",
                         "live_oto_pay_order_count", "live_groupon_product_click_count"):  # fmt: skip
                ints[name] = 0
        floats: dict[str, float] = {
            "stat_cost": round(cost, 2),
            "ctr": _div(click, show, 100),  # percent (unconfirmed, sandbox/QUIRKS.md)
            "cpc_platform": _div(cost, click),
            "cpm_platform": _div(cost, show, 1000),
            "conversion_rate": _div(convert, click, 100),
            "conversion_cost": _div(cost, convert),
            "attribution_conversion_rate": _div(ints["attribution_convert_cnt"], click, 100),
            "attribution_convert_cost": _div(cost, ints["attribution_convert_cnt"]),
            "play_duration_5s_show_cnt_rate": _div(ints["play_duration_5s"], show, 100),
            "play_over_rate": _div(ints["play_over"], plays, 100),
            "dy_like_rate": _div(ints["dy_like"], plays, 100),
            "oto_pay_order_amount": pay_amount,
            "oto_pay_order_roi": _div(pay_amount, cost),
            "live_oto_pay_order_stat_amount": 0.0,
            "live_oto_pay_order_roi": 0.0,
            "video_oto_pay_order_stat_amount": round(pay_amount * 0.8, 2),
            "video_oto_pay_order_stat_amount_7d": round(pay_amount * 0.95, 2),
            "video_oto_pay_order_roi": _div(pay_amount * 0.8, cost),
            "video_oto_pay_order_roi_7d": _div(pay_amount * 0.95, cost),
            "cost_per_video_oto_pay_order_7d": _div(cost, ints["video_oto_pay_order_count_7d"]),
        }
        for name in LOCAL_FLOAT_METRICS:
            if name not in floats:  # *_cost of an attribution count
                count = ints.get(name.removesuffix("_cost"), convert)
                floats[name] = _div(cost, count)
        return {
            "promotion_id": promo.promotion_id,
            "promotion_name": promo.promotion_name,
            "project_id": promo.project_id,
            "project_name": promo.project_name,
            "stat_time_day": day.isoformat(),
            **ints,
            **floats,
        }

    # -- DOU+ -----------------------------------------------------------------------------------
    def _douplus_orders(self, aweme_sec_uid: str) -> list[DouplusOrder]:
        acc = self.aweme_account(aweme_sec_uid)
        if acc is None:
            return []
        ai = self.aweme_accounts.index(acc)
        n_videos = max(1, self.orders_per_aweme // 3)  # several orders per video
        out = []
        for k in range(self.orders_per_aweme):
            r = _rng(self.seed, "order", aweme_sec_uid, k)
            live = k % 6 == 5
            v = _h(self.seed, "video-of", aweme_sec_uid, k) % n_videos
            base = 7_400_000_000_000_000_000 + (_h(self.seed, "order-salt") % 10**6) * 10**11
            oid = base + ai * 10**7 + k * 10
            created = datetime.combine(
                self.today - timedelta(days=r.randint(1, 40)),
                time(r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)),
            )
            out.append(
                DouplusOrder(
                    order_id=oid,
                    task_id=oid + 1,
                    ad_id=oid + 2,
                    aweme_sec_uid=aweme_sec_uid,
                    advertiser_id=acc.account_id,
                    scene_type="LIVE" if live else "VIDEO",
                    item_id=0 if live else 7_300_000_000_000_000_000 + ai * 10**6 + v * 17 + 5,
                    item_title="" if live else _VIDEO_TITLES[(ai + v) % len(_VIDEO_TITLES)],
                    room_id=7_390_000_000_000_000_000 + ai * 10**6 + k if live else 0,
                    create_time=created,
                    delivery_hours=r.choice((6, 12, 24, 24, 48, 72)),
                    budget_fen=r.choice((10000, 20000, 50000, 100000, 300000)),
                    spend_ratio=round(r.uniform(0.6, 1.0), 3),
                )
            )
        return out

    def douplus_orders(self, aweme_sec_uid: str) -> list[DouplusOrder]:  # replaced by a cache
        return self._douplus_orders(aweme_sec_uid)

    def now_china(self) -> datetime:
        """'Now' on the simulated calendar: the real China time of day on ``today``."""
        return datetime.combine(self.today, datetime.now(CN_TZ).time().replace(tzinfo=None))

    def order_status(self, order: DouplusOrder) -> str:
        now = self.now_china()
        if order.create_time > now:
            return "WAIT_TO_START"
        if order.end_time > now:
            return "DELIVERING"
        return "DELIVERIED"

    def order_daily(self, order: DouplusOrder, day: date) -> dict[str, int | float] | None:
        """One order's metrics for ``day`` (money in fen), or None if it did not deliver."""
        days = order.days()
        if day not in days or day > self.today:
            return None
        weights = [1 + _h(self.seed, "ow", order.order_id, d.toordinal()) % 5 for d in days]
        share = weights[days.index(day)] / sum(weights)
        f = settle_factor(day, self.today)
        r = _rng(self.seed, "oday", order.order_id, day.toordinal())
        cost = int(order.budget_fen * order.spend_ratio * share * f)
        live = order.scene_type == "LIVE"
        plays = 0 if live else int(cost * r.uniform(1.5, 4.0))
        shows = int(cost * r.uniform(1.0, 3.0)) if live else 0
        convert = int((plays or shows) * r.uniform(0.01, 0.04))
        return {
            "stat_cost": cost,
            "total_play": plays,
            "custom_like": int(plays * r.uniform(0.01, 0.05)),
            "dy_comment": int(plays * r.uniform(0.0005, 0.003)),
            "dy_share": int(plays * r.uniform(0.0005, 0.004)),
            "dy_follow": int((plays or shows) * r.uniform(0.001, 0.006)),
            "dy_home_visited": int(plays * r.uniform(0.003, 0.01)),
            "play_duration_5s_rank": round(r.uniform(0.2, 0.6), 4) if plays else 0.0,
            "dp_target_convert_cnt": convert,
            "custom_convert_cost": cost // convert if convert else 0,
            "show_cnt": shows,
            "live_click_source_cnt": int(shows * 0.2),
            "live_gift_uv": int(shows * 0.003),
            "live_gift_amount": int(shows * 0.05),
            "live_comment_cnt": int(shows * 0.01),
            "douplus_live_follow_count": int(shows * 0.004),
            "live_gift_cnt": int(shows * 0.006),
        }

    # -- DPA ------------------------------------------------------------------------------------
    def dpa_platform(self, platform_id: int) -> DpaPlatform | None:
        for adv in self.dpa_advertisers:
            for p in adv.platforms:
                if p.platform_id == platform_id:
                    return p
        return None

    def dpa_products(self, platform_id: int) -> list[dict[str, Any]]:
        plat = self.dpa_platform(platform_id)
        if plat is None:
            return []
        adv = self.dpa_advertiser(plat.advertiser_id)
        comic = bool(adv and adv.motion_comic)
        return [_dpa_product(self.seed, plat, i, comic) for i in range(plat.n_products)]


# --- generators ------------------------------------------------------------------------------------


def _local_name(seed: int, i: int) -> str:
    h = _h(seed, "local-name", i)
    city = _CITIES[h % len(_CITIES)]
    shop = _SHOPS[(h >> 8) % len(_SHOPS)]
    branch = _BRANCHES[(h >> 16) % len(_BRANCHES)]
    emoji = _EMOJI[(h >> 24) % len(_EMOJI)] if i % 3 == 1 else ""
    return f"{city}·{shop}({branch}){emoji}-{i + 1}"


def _aweme_account(seed: int, i: int) -> AwemeAccount:
    h = _h(seed, "aweme", i)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    tail = "".join(alphabet[(_h(seed, "sec", i, k)) % 64] for k in range(43))
    return AwemeAccount(
        account_id=1_780_000_000_000_000_000 + (h % 10**12) * 10 + i,
        account_name=_AWEME_NAMES[i % len(_AWEME_NAMES)] + (f"{i + 1}" if i >= 5 else ""),
        aweme_sec_uid="MS4wLjABAAAA" + tail,
        unique_id=f"dy{h % 10**9:09d}",
    )


def _dpa_advertisers(seed: int, n_products: int) -> list[DpaAdvertiser]:
    # 40% / 40% of the products to the two motion-comic advertisers, the rest to an e-commerce one.
    a = n_products * 2 // 5
    b = n_products * 2 // 5
    c = n_products - a - b
    specs = (
        # product_industry: the official enum (DpaProductAvailablesV2DataListProductIndustry).
        (MOTION_COMIC_ADVERTISER_IDS[0], "漫剧出海-星河传媒", True, "PLAYLET", a),
        (MOTION_COMIC_ADVERTISER_IDS[1], "动态漫-青柠互娱🍋", True, "PLAYLET", b),
        (OTHER_DPA_ADVERTISER_ID, "好物优选旗舰店", False, "ECOMMERCE", c),
    )
    out = []
    for k, (adv_id, name, comic, industry, n) in enumerate(specs):
        pid = 7_100_000_000_000_000_000 + (_h(seed, "platform", adv_id) % 10**12) * 10 + k
        platform = DpaPlatform(pid, f"{name}-商品库", adv_id, industry, n)
        out.append(DpaAdvertiser(adv_id, name, comic, (platform,)))
    return out


def _dpa_product(seed: int, plat: DpaPlatform, i: int, comic: bool) -> dict[str, Any]:
    r = _rng(seed, "product", plat.platform_id, i)
    product_id = 7_000_000_000_000_000_000 + (plat.platform_id % 10**9) * 10**4 + i
    if comic:
        title = f"{_COMIC_TITLES[i % len(_COMIC_TITLES)]}第{i // len(_COMIC_TITLES) + 1}部"
        album_id = 7_400_000_000_000_000_000 + (_h(seed, "album", product_id) % 10**15)
        link = (
            f"https://www.douyin.com/playlet?playlet_id={album_id}"
            f"&enter_from=dpa&ad_carrier=micro_app&sid={r.randint(1000, 9999)}"
        )
        # A few malformed links (≈4% plus index 3): what real product feeds contain.
        bad = _h(seed, "bad-link", product_id) % 25 == 0 or i == 3
        if bad:
            link = r.choice(
                (
                    "暂无",
                    f"https://www.douyin.com/playlet?playletid={album_id}",
                    "https://www.douyin.com/playlet?playlet_id=&enter_from=dpa",
                    f"www.douyin.com/playlet/{album_id}",
                )
            )
        profession = {
            "album_id": str(album_id),
            "album_link": link,
            "ad_carrier": "字节小程序",
            "micro_app_link": f"sslocal://microapp?app_id=tt{album_id % 10**8:08d}",
            "platform": "抖音",
            "chapter": str(r.randint(40, 120)),
            "starting_unlock_episode": str(r.randint(5, 12)),
        }
        category = ("文化娱乐", "短剧", "漫剧")
        price = round(r.uniform(9.9, 99), 2)
    else:
        title = (
            f"{r.choice(('夏季', '新款', '爆款'))}{r.choice(('T恤', '咖啡豆', '保温杯', '帆布包'))}"
        )
        profession = {"store_name": "好物优选旗舰店", "store_ID": str(r.randint(10**6, 10**7))}
        category = ("服饰鞋包", "男装", "T恤")
        price = round(r.uniform(19, 299), 2)
    online = int(datetime(2025, 1, 1, tzinfo=CN_TZ).timestamp()) + r.randint(0, 300) * 86400
    return {
        "product_id": product_id,
        "platform_id": plat.platform_id,
        "name": title,
        "title": title,
        "titles": [title],
        "description": f"{title}｜精彩不停",
        "outer_id": f"sku-{i:05d}",
        "spu_id": "",
        "spu_source": "WITHOUT_SPU",
        "image_url": f"https://p3-sandbox.byteimg.com/product/{product_id}.jpg",
        "image_urls": [{"url": f"https://p3-sandbox.byteimg.com/product/{product_id}.jpg"}],
        "has_video": 0,
        "status": 0 if i % 17 == 16 else 1,
        "audit_status": 1 if i % 23 else 2,
        "stock": 1,
        "online_time": online,
        "offline_time": online + 365 * 86400,
        "first_category": category[0],
        "sub_category": category[1],
        "third_category": category[2],
        "first_category_id": str(1000 + _h(seed, category[0]) % 9000),
        "sub_category_id": str(100000 + _h(seed, category[1]) % 900000),
        "third_category_id": str(10**7 + _h(seed, category[2]) % (9 * 10**7)),
        "price_info": {"value": price, "price": price, "price_unit": "元"},
        "landing_info": {"target_url": f"https://sandbox.example.com/p/{product_id}"},
        "profession": profession,
    }
