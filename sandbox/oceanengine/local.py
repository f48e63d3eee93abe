"""本地推 endpoints (docs/contracts/oceanengine.md §3): promotion list and the promotion report.

Report rows are computed only for the requested page (days × delivering promotions are counted
cheaply first), so a 365-day window over many promotions stays fast.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sandbox.oceanengine import hostile as hostile
from sandbox.oceanengine.ctx import Ctx, Endpoint
from sandbox.oceanengine.data import LOCAL_FLOAT_METRICS, LOCAL_METRICS, LocalAccount, Promotion
from sandbox.oceanengine.errors import no_permission
from sandbox.oceanengine.params import int_list, page_info, page_slice, str_list

DAILY = "TIME_GRANULARITY_DAILY"
HOURLY = "TIME_GRANULARITY_HOURLY"
TOTAL = "TIME_GRANULARITY_TOTAL"
REPORT_PAGE_SIZES = (10, 20, 50, 100)
MAX_SPAN_DAYS = {DAILY: 365, TOTAL: 365, HOURLY: 7}
STATUS_FIRST = (
    "PROMOTION_STATUS_ALL",
    "PROMOTION_STATUS_DELETED",
    "PROMOTION_STATUS_DISABLE",
    "PROMOTION_STATUS_DONE",
    "PROMOTION_STATUS_ENABLE",
    "PROMOTION_STATUS_FROZEN",
    "PROMOTION_STATUS_NOT_DELETE",
)
_SUMMED_FLOATS = {m for m in LOCAL_FLOAT_METRICS if m == "stat_cost" or "amount" in m}


def _local_account(ctx: Ctx, local_account_id: int) -> LocalAccount:
    """The account, if our consent reaches it (via the 工作台 or the 来客 account) and it grants
    us permission."""
    acc = ctx.data.local_account(local_account_id)
    if acc is None or acc.forbidden:
        raise no_permission(local_account_id)
    if ctx.grant is None or ctx.data.life_account_id not in ctx.grant.advertiser_ids:
        ctx.require_grant(ctx.data.cc_account_id)
    return acc


# --- v3.0/local/promotion/list -----------------------------------------------------------------


def promotion_list(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    local_account_id = p.req_int("local_account_id")
    flt = p.json("filtering", dict) or {}
    page, size = p.page(default_size=10, max_size=100)
    ids = int_list(flt, "promotion_ids", p.bad_code, max_len=100)
    status = flt.get("promotion_status_first", "PROMOTION_STATUS_NOT_DELETE")
    if status not in STATUS_FIRST:
        raise ctx.bad(f"filtering.promotion_status_first: must be one of {', '.join(STATUS_FIRST)}")
    _local_account(ctx, local_account_id)

    promos = ctx.data.promotions(local_account_id)
    if ids is not None:
        wanted = set(ids)
        promos = [x for x in promos if x.promotion_id in wanted]
    if status == "PROMOTION_STATUS_NOT_DELETE":
        promos = [x for x in promos if x.status_first != "PROMOTION_STATUS_DELETED"]
    elif status != "PROMOTION_STATUS_ALL":
        promos = [x for x in promos if x.status_first == status]
    if name := flt.get("promotion_name"):
        promos = [x for x in promos if str(name) in x.promotion_name]
    if (project_id := flt.get("project_id")) is not None:
        promos = [x for x in promos if str(x.project_id) == str(project_id)]
    for key in ("marketing_goal", "local_delivery_scene"):
        if (want := flt.get(key)) is not None:
            promos = [x for x in promos if getattr(x, key) == want]
    rows = [_promotion_row(ctx, x) for x in promos[page_slice(page, size)]]
    return {"promotion_list": rows, "page_info": page_info(page, size, len(promos))}


def _promotion_row(ctx: Ctx, x: Promotion) -> dict[str, Any]:
    row: dict[str, Any] = {
        "promotion_id": x.promotion_id,
        "promotion_name": x.promotion_name,
        "project_id": x.project_id,
        "local_account_id": x.local_account_id,
        "ad_type": x.ad_type,
        "aweme_id": x.aweme_id,
        "aweme_name": x.aweme_name,
        "learning_phase": "LEARNED" if x.promotion_id % 3 else "LEARNING",
        "local_delivery_scene": x.local_delivery_scene,
        "marketing_goal": x.marketing_goal,
        "opt_status": 0 if x.status_first == "PROMOTION_STATUS_ENABLE" else 1,
        "promotion_create_time": x.create_time.strftime("%Y-%m-%d %H:%M:%S"),
        "promotion_modify_time": x.modify_time.strftime("%Y-%m-%d %H:%M:%S"),
        "promotion_status_first": x.status_first,
        "promotion_status_second": list(x.status_second),
    }
    hostile.drop_optional(ctx, row, ("aweme_name", "learning_phase"), x.promotion_id)
    return row


# --- v3.0/local/report/promotion/get -----------------------------------------------------------


def promotion_report(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    local_account_id = p.req_int("local_account_id")
    start, end = p.date("start_date"), p.date("end_date")
    metrics = p.json("metrics", list, required=True)
    if not metrics:
        raise ctx.bad("metrics: must have at least 1 elements")
    unknown = [m for m in metrics if m not in LOCAL_METRICS]
    if unknown:
        raise ctx.bad(f"metrics: unknown metric {str(unknown[0])[:60]!r}")
    granularity = p.str("time_granularity", default=DAILY)
    if granularity not in MAX_SPAN_DAYS:
        raise ctx.bad(f"time_granularity: must be one of {', '.join(MAX_SPAN_DAYS)}")
    if end < start:
        raise ctx.bad("end_date: must not be earlier than start_date")
    ctx.check_lookback(start, "start_date")
    span = (end - start).days + 1
    if span > MAX_SPAN_DAYS[granularity]:
        raise ctx.bad(
            f"end_date - start_date: the time span must be at most "
            f"{MAX_SPAN_DAYS[granularity]} days for {granularity}"
        )
    if granularity == HOURLY:
        raise ctx.bad("time_granularity: TIME_GRANULARITY_HOURLY is not simulated by the sandbox")
    order_type = p.str("order_type", default="ASC")
    if order_type not in ("ASC", "DESC"):
        raise ctx.bad("order_type: must be ASC or DESC")
    order_field = p.str("order_field")
    if order_field is not None and order_field not in metrics:
        raise ctx.bad("order_field: must be one of the requested metrics")
    flt = p.json("filtering", dict) or {}
    ids = int_list(flt, "promotion_ids", p.bad_code)
    scenes = str_list(flt, "local_delivery_scene", p.bad_code)
    goals = str_list(flt, "marketing_goal", p.bad_code)
    page, size = p.page(default_size=10, allowed=REPORT_PAGE_SIZES)
    _local_account(ctx, local_account_id)

    def wanted(x: Promotion) -> bool:
        return (
            (ids is None or x.promotion_id in id_set)
            and (scenes is None or x.local_delivery_scene in scenes)
            and (goals is None or x.marketing_goal in goals)
        )

    id_set = set(ids or ())
    days = [start + timedelta(days=i) for i in range(span)]
    per_day = [
        (day, [x for x in ctx.data.delivering_promotions(local_account_id, day) if wanted(x)])
        for day in days
    ]
    if granularity == TOTAL or (ids is None and ctx.knobs.report_aggregates_without_promotion_ids):
        rows = _aggregated(ctx, per_day, by_promotion=granularity == TOTAL)
        total = len(rows)
        rows = _sorted(rows, order_field, order_type)[page_slice(page, size)]
    elif order_field is None:
        # Only build the rows of this page: ordered by day, then promotion id (ASC/DESC).
        keys = [(day, x) for day, xs in per_day for x in xs]
        if order_type == "DESC":
            keys.reverse()
        total = len(keys)
        rows = [ctx.data.promotion_row(x, day) for day, x in keys[page_slice(page, size)]]
    else:
        rows = [ctx.data.promotion_row(x, day) for day, xs in per_day for x in xs]
        total = len(rows)
        rows = _sorted(rows, order_field, order_type)[page_slice(page, size)]
    return {
        "promotion_list": [_shape(ctx, r, metrics) for r in rows],
        "page_info": page_info(page, size, total),
    }


def _sorted(rows: list[dict[str, Any]], field: str | None, order: str) -> list[dict[str, Any]]:
    if field is None:
        return rows if order == "ASC" else rows[::-1]
    return sorted(rows, key=lambda r: r[field], reverse=order == "DESC")


def _aggregated(
    ctx: Ctx, per_day: list[tuple[date, list[Promotion]]], *, by_promotion: bool
) -> list[dict[str, Any]]:
    """TOTAL rows (per promotion over the window) or account-level DAILY rows (no promotion)."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for day, xs in per_day:
        for x in xs:
            key = x.promotion_id if by_promotion else day
            groups.setdefault(key, []).append(ctx.data.promotion_row(x, day))
    out = []
    for key, rows in sorted(groups.items()):
        agg = _sum_rows(rows)
        if by_promotion:
            agg.update({k: rows[0][k] for k in ("promotion_id", "promotion_name")})
            agg.update({k: rows[0][k] for k in ("project_id", "project_name")})
        else:
            agg["stat_time_day"] = key.isoformat()
        out.append(agg)
    return out


def _sum_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in LOCAL_METRICS:
        if m in _SUMMED_FLOATS:
            out[m] = round(sum(r[m] for r in rows), 2)
        elif m in LOCAL_FLOAT_METRICS:  # rates and unit costs: averaged, then the main ones
            out[m] = round(sum(r[m] for r in rows) / len(rows), 2)
        else:
            out[m] = sum(r[m] for r in rows)
    cost, show, click, conv = (
        out["stat_cost"],
        out["show_cnt"],
        out["click_cnt"],
        out["convert_cnt"],
    )
    out["ctr"] = round(click / show * 100, 2) if show else 0.0
    out["cpc_platform"] = round(cost / click, 2) if click else 0.0
    out["cpm_platform"] = round(cost / show * 1000, 2) if show else 0.0
    out["conversion_rate"] = round(conv / click * 100, 2) if click else 0.0
    out["conversion_cost"] = round(cost / conv, 2) if conv else 0.0
    return out


_DIMENSIONS = ("promotion_id", "promotion_name", "project_id", "project_name", "stat_time_day")


def _shape(ctx: Ctx, row: dict[str, Any], metrics: list[str]) -> dict[str, Any]:
    """Dimensions + only the requested metrics (unrequested ones are omitted)."""
    key = (row.get("promotion_id"), row.get("stat_time_day"))
    out = {k: row[k] for k in _DIMENSIONS if k in row}
    out.update(hostile.metrics(ctx, {m: row[m] for m in metrics}, key))
    hostile.drop_optional(ctx, out, ("promotion_name", "project_name"), key)
    hostile.forced_values(ctx, out, row.get("promotion_id"))
    return out


ROUTES: dict[str, Endpoint] = {
    "v3.0/local/promotion/list": Endpoint("GET", promotion_list),
    "v3.0/local/report/promotion/get": Endpoint("GET", promotion_report),
}
