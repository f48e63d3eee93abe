"""DOU+ endpoints (docs/contracts/oceanengine.md §4): order list and order report. Money is in
fen (int64).

The report has no date dimension: each row is one order's metrics summed over ``stat_time``,
so daily stats come from one call per day (as with the real API).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.oceanengine import hostile as hostile
from sandbox.oceanengine.ctx import Ctx, Endpoint
from sandbox.oceanengine.data import DOUPLUS_METRICS, AwemeAccount, DouplusOrder
from sandbox.oceanengine.errors import no_permission
from sandbox.oceanengine.params import int_list, page_slice, parse_date, str_list
from sandbox.oceanengine.params import page_info as _page_info

MAX_STAT_SPAN_DAYS = 180
STATUSES = (
    "UNPAID", "AUDITING", "OFFLINE_AUDIT", "TIME_NO_REACH", "DELIVERING", "UNDELIVERIED",
    "DELIVERIED", "AUDIT_PAUSE", "WAIT_TO_START",
)  # fmt: skip
GROUP_BY = ("GROUP_BY_AD_ID", "GROUP_BY_CREATIVE_ID")


MONEY_METRICS = ("stat_cost", "custom_convert_cost")


def _money(ctx: Ctx, fen: int) -> int | float:
    """An amount as the ``douplus_money_unit`` knob says the API sends it: int64 fen (official
    SDK typing, default) or yuan with decimals (float in other SDKs). Unit unconfirmed."""
    if ctx.knobs.douplus_money_unit == "fen":
        return fen
    return float(Decimal(fen) / 100)


def _money_metrics(ctx: Ctx, metrics: dict[str, Any]) -> dict[str, Any]:
    out = dict(metrics)
    for key in MONEY_METRICS:
        if isinstance(out.get(key), int):
            out[key] = _money(ctx, out[key])
    return out


def _aweme(ctx: Ctx) -> AwemeAccount:
    sec_uid = ctx.params.req_str("aweme_sec_uid")
    acc = ctx.data.aweme_account(sec_uid)
    if acc is None:
        raise no_permission(sec_uid)
    ctx.require_grant(acc.account_id)
    return acc


def page_info(ctx: Ctx, page: int, size: int, total: int) -> dict[str, int]:
    # OFF names the count total_num, BUB total_number; which one is live is unconfirmed.
    info = _page_info(page, size, total)
    mode = ctx.knobs.douplus_total_key
    if mode in ("both", "total_num"):
        info["total_num"] = total
    if mode == "total_num":
        del info["total_number"]
    return info


# --- v3.0/douplus/order/list -------------------------------------------------------------------


def order_list(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    flt = p.json("filter", dict) or {}
    order_ids = int_list(flt, "order_id", p.bad_code)
    task_ids = int_list(flt, "task_id", p.bad_code)
    statuses = str_list(flt, "status", p.bad_code)
    if statuses and any(s not in STATUSES for s in statuses):
        raise ctx.bad(f"filter.status: must be among {', '.join(STATUSES)}")
    scene = flt.get("scene_type")
    if scene is not None and scene not in ("LIVE", "VIDEO"):
        raise ctx.bad("filter.scene_type: must be LIVE or VIDEO")
    created = _time_range(ctx, flt.get("order_create_time"), "start_time", "end_time")
    by_field = p.str("order_by_field", default="CREATE_TIME")
    by_type = p.str("order_by_type", default="DESC")
    if by_field not in ("CREATE_TIME", "ORDER_ID") or by_type not in ("ASC", "DESC"):
        raise ctx.bad("order_by_field/order_by_type: CREATE_TIME|ORDER_ID and ASC|DESC")
    page, size = p.page(default_size=10, max_size=100, zero_is_first=True)
    acc = _aweme(ctx)

    orders = ctx.data.douplus_orders(acc.aweme_sec_uid)
    if order_ids is not None:
        orders = [o for o in orders if o.order_id in set(order_ids)]
    if task_ids is not None:
        orders = [o for o in orders if o.task_id in set(task_ids)]
    if statuses:
        orders = [o for o in orders if ctx.data.order_status(o) in statuses]
    if scene is not None:
        orders = [o for o in orders if o.scene_type == scene]
    if created is not None:
        orders = [o for o in orders if created[0] <= o.create_time <= created[1]]
    key = (lambda o: o.create_time) if by_field == "CREATE_TIME" else (lambda o: o.order_id)
    orders = sorted(orders, key=key, reverse=by_type == "DESC")
    rows = [_order_row(ctx, acc, o) for o in orders[page_slice(page, size)]]
    return {"order_list": rows, "page_info": page_info(ctx, page, size, len(orders))}


_TIME_FORMATS = {
    "datetime": ("%Y-%m-%d %H:%M:%S", "YYYY-MM-DD HH:MM:SS"),
    "date": ("%Y-%m-%d", "YYYY-MM-DD"),
}


def _time_range(ctx: Ctx, obj: Any, lo: str, hi: str) -> tuple[datetime, datetime] | None:
    """``filter.order_create_time`` in the ONE format the ``douplus_create_time_format`` knob
    names: "datetime" (default, the format the order's own order_create_time has) or "date"
    (whole days, end inclusive). The live API's format is unconfirmed (official Go SDK:
    plain strings); the other format is a parameter error, so a client must cope with both."""
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise ctx.bad("filter.order_create_time: must be an object")
    fmt, label = _TIME_FORMATS[ctx.knobs.douplus_create_time_format]
    try:
        start_raw = str(obj[lo]) if lo in obj else None
        end_raw = str(obj.get(hi)) if hi in obj else None
        for raw in (start_raw, end_raw):
            if raw is not None and len(raw) != len(label):
                raise ValueError(raw)
        start = datetime.strptime(start_raw, fmt) if start_raw else datetime(1970, 1, 1)
        end = datetime.strptime(end_raw, fmt) if end_raw else datetime(2999, 12, 31)
        if fmt == "%Y-%m-%d":
            end += timedelta(days=1, microseconds=-1)
    except ValueError:
        raise ctx.bad(f"filter.order_create_time: {lo}/{hi} must be {label}") from None
    return start, end


def _order_row(ctx: Ctx, acc: AwemeAccount, o: DouplusOrder) -> dict[str, Any]:
    status = ctx.data.order_status(o)
    live = o.scene_type == "LIVE"
    order: dict[str, Any] = {
        "order_id": o.order_id,
        "task_id": o.task_id,
        "scene_type": o.scene_type,
        "order_create_time": o.create_time.strftime("%Y-%m-%d %H:%M:%S"),
        "task_status": status,
        "budget": _money(ctx, o.budget_fen),
        "renew_count": 0,
        "rta_id": 0,
    }
    if live:
        order["live_scene"] = "直推直播间"
    ad: dict[str, Any] = {
        "ad_id": o.ad_id,
        "ad_status": status,
        "is_fans": False,
        "budget": _money(ctx, o.budget_fen),
        "external_action": 0,
        "external_action_text": "直播间人气" if live else "点赞评论",
        "delivery_time": float(o.delivery_hours),
        "bid_mode": "自动出价",
        "cpa_bid": 0,
        "audience": {
            "gender": "不限",
            "age": ["18-23", "24-30", "31-40"],
            "district": "PROVINCE",
            "city": [],
            "province": ["浙江"],
            "interest_categories": [],
            "author_pkgs": [],
            "delivery_type": "智能定向",
            "business": [],
            "platform": [],
        },
    }
    room_status = "FINISH" if status == "DELIVERIED" else "LIVING"
    row: dict[str, Any] = {
        "order": order,
        "ad_list": [ad],
        "live_room_info": {
            "room_id": o.room_id,
            "room_title": f"{acc.account_name}的直播间" if live else "",
            "room_cover": [],
            "room_status": room_status if live else "FINISH",
        },
        "item_info_list": []
        if live
        else [
            {
                "aweme_item_id": o.item_id,
                "aweme_item_title": o.item_title,
                "aweme_item_cover": [f"https://p9-sandbox.douyinpic.com/cover/{o.item_id}.jpeg"],
                "aweme_author_name": acc.account_name,
                "aweme_author_unique_id": acc.unique_id,
                "aweme_author_avatar": [f"https://p9-sandbox.douyinpic.com/avatar/{acc.unique_id}"],
            }
        ],
    }
    hostile.drop_optional(ctx, row["order"], ("renew_count", "rta_id"), o.order_id)
    for item in row["item_info_list"]:
        hostile.drop_optional(ctx, item, ("aweme_item_cover", "aweme_author_avatar"), o.order_id)
    return row


# --- v3.0/douplus/order/report -----------------------------------------------------------------


def order_report(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    stat_time = p.json("stat_time", dict, required=True)
    begin = parse_date(stat_time.get("begin_time"), "stat_time.begin_time", p.bad_code)
    end = parse_date(stat_time.get("end_time"), "stat_time.end_time", p.bad_code)
    if end < begin:
        raise ctx.bad("stat_time: end_time must not be earlier than begin_time")
    ctx.check_lookback(begin, "stat_time.begin_time")
    if (end - begin).days + 1 > MAX_STAT_SPAN_DAYS:
        raise ctx.bad(f"stat_time: the time span must be at most {MAX_STAT_SPAN_DAYS} days")
    group_by = p.json("group_by", list) or ["GROUP_BY_AD_ID"]
    if any(g not in GROUP_BY for g in group_by) or "GROUP_BY_AD_ID" not in group_by:
        raise ctx.bad('group_by: ["GROUP_BY_AD_ID"] or ["GROUP_BY_AD_ID","GROUP_BY_CREATIVE_ID"]')
    by_creative = "GROUP_BY_CREATIVE_ID" in group_by
    flt = p.json("filter", dict) or {}
    order_ids = int_list(flt, "order_ids", p.bad_code)
    if by_creative and not order_ids:
        raise ctx.bad("filter.order_ids: required when grouping by GROUP_BY_CREATIVE_ID")
    item_ids = int_list(flt, "item_ids", p.bad_code)
    room_ids = int_list(flt, "room_ids", p.bad_code)
    task_ids = int_list(flt, "task_ids", p.bad_code)
    authors = str_list(flt, "author_unique_ids", p.bad_code)
    page, size = p.page(default_size=10, max_size=100, zero_is_first=True)
    acc = _aweme(ctx)

    orders = ctx.data.douplus_orders(acc.aweme_sec_uid)
    for ids, attr in ((order_ids, "order_id"), (item_ids, "item_id"), (room_ids, "room_id")):
        if ids is not None:
            orders = [o for o in orders if getattr(o, attr) in set(ids)]
    if task_ids is not None:
        orders = [o for o in orders if o.task_id in set(task_ids)]
    if authors is not None and acc.unique_id not in authors:
        orders = []
    days = [begin + timedelta(days=i) for i in range((end - begin).days + 1)]
    rows = []
    for o in sorted(orders, key=lambda o: o.order_id):
        summed = _sum_days(ctx, o, days)
        if summed is not None:
            rows.append(_report_row(ctx, o, summed, by_creative))
    total = len(rows)
    if by_creative:  # no pagination for per-creative rows (BUB)
        return {"order_metrics": rows, "page_info": page_info(ctx, 1, max(total, 1), total)}
    return {
        "order_metrics": rows[page_slice(page, size)],
        "page_info": page_info(ctx, page, size, total),
    }


def _sum_days(ctx: Ctx, o: DouplusOrder, days: list[date]) -> dict[str, Any] | None:
    per_day = [m for d in days if (m := ctx.data.order_daily(o, d)) is not None]
    if not per_day:
        return None
    out: dict[str, Any] = {k: sum(m[k] for m in per_day) for k in DOUPLUS_METRICS}
    out["play_duration_5s_rank"] = round(
        sum(m["play_duration_5s_rank"] for m in per_day) / len(per_day), 4
    )
    conv = out["dp_target_convert_cnt"]
    out["custom_convert_cost"] = out["stat_cost"] // conv if conv else 0
    return out


def _report_row(
    ctx: Ctx, o: DouplusOrder, metrics: dict[str, Any], by_creative: bool
) -> dict[str, Any]:
    return {
        "dimension_data": {
            "order_id": o.order_id,
            "task_id": o.task_id,
            "advertiser_id": o.advertiser_id,
            "ad_id": o.ad_id,
            "is_fans": False,
            # Per-order rows leave item_id/room_id unfilled (BUB); per-creative rows fill them.
            "item_id": o.item_id if by_creative else 0,
            "room_id": o.room_id if by_creative else 0,
        },
        "metrics_data": _forced(
            ctx, hostile.metrics(ctx, _money_metrics(ctx, metrics), o.order_id), o.order_id
        ),
    }


def _forced(ctx: Ctx, metrics: dict[str, Any], order_id: int) -> dict[str, Any]:
    hostile.forced_values(ctx, metrics, order_id)
    return metrics


ROUTES: dict[str, Endpoint] = {
    "v3.0/douplus/order/list": Endpoint("GET", order_list),
    "v3.0/douplus/order/report": Endpoint("GET", order_report),
}
