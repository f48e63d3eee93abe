"""Typed reads of the endpoints adsync uses: every page, every date chunk, rows + rejections.

Each ``iter_*`` yields ``(rows, rejections)`` per page; each ``fetch_*`` collects them into a
:class:`~integrations.sources.oceanengine.pagination.Fetched`. Rows are storage-shaped dicts (see
:mod:`.models`). API errors propagate as :mod:`.errors` exceptions: one account's failure is the
caller's to record (rule 3 of ARCHITECTURE.md), never swallowed here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

from integrations.sources.oceanengine.client import OceanEngineClient
from integrations.sources.oceanengine.dates import (
    DOUPLUS_REPORT_MAX_DAYS,
    LOCAL_REPORT_MAX_DAYS,
    clamp_to_lookback,
    days,
    split_range,
)
from integrations.sources.oceanengine.errors import InvalidParams
from integrations.sources.oceanengine.fields import MoneyUnit
from integrations.sources.oceanengine.models import (
    LOCAL_REPORT_METRICS,
    AdvertiserAccount,
    CustomerCenterAccount,
    DouplusOrder,
    DouplusReportRow,
    DpaAvailable,
    DpaProduct,
    LifeLocalAccount,
    LocalPromotion,
    LocalPromotionReportRow,
    PageInfo,
)
from integrations.sources.oceanengine.pagination import (
    Fetched,
    Rejection,
    iter_pages,
    parse_items,
    raw_key,
)

Page = tuple[list[Any], list[Rejection]]
logger = logging.getLogger("adsync.oceanengine")

EP_ADVERTISER_GET = "oauth2/advertiser/get"
EP_CC_ACCOUNT_LIST = "v3.0/customer_center/account/list"
EP_LIFE_ADVERTISER_LIST = "v3.0/local/life/advertiser/list"
EP_LOCAL_PROMOTION_LIST = "v3.0/local/promotion/list"
EP_LOCAL_REPORT = "v3.0/local/report/promotion/get"
EP_DOUPLUS_ORDER_LIST = "v3.0/douplus/order/list"
EP_DOUPLUS_REPORT = "v3.0/douplus/order/report"
EP_DPA_AVAILABLES = "2/dpa/product/availables"
EP_DPA_DETAIL = "2/dpa/detail/get"

# customer_center/account/list only serves the first 10,000 rows (page × page_size ≤ 10000).
CC_MAX_ROWS = 10_000
# Ids per filtering.promotion_ids (the promotion list documents ≤ 100; we use it for the report).
PROMOTION_IDS_PER_REQUEST = 100


def collect(pages: Iterable[Page]) -> Fetched[Any]:
    out: Fetched[Any] = Fetched()
    for rows, rejections in pages:
        out.add(rows, rejections)
    return out


def _chunks(seq: Sequence[int], n: int) -> Iterator[list[int]]:
    for i in range(0, len(seq), n):
        yield list(seq[i : i + n])


# --- accounts --------------------------------------------------------------------------------


def fetch_authorized_accounts(client: OceanEngineClient) -> Fetched[AdvertiserAccount]:
    """Accounts the token's consent covers (``oauth2/advertiser/get``; no paging)."""
    data = client.get(EP_ADVERTISER_GET, {})
    rows, rej = parse_items(
        data.get("list"),
        AdvertiserAccount.model_validate,
        raw_key(EP_ADVERTISER_GET, "-", "account_id", "advertiser_id"),
    )
    return Fetched(rows, rej)


def iter_customer_center_accounts(
    client: OceanEngineClient, cc_account_id: int, account_type: str = "LOCAL"
) -> Iterator[tuple[list[CustomerCenterAccount], list[Rejection]]]:
    """Accounts under a 工作台 (``v3.0/customer_center/account/list``), e.g. LOCAL accounts.

    The API serves only the first 10,000 rows. The listing is reported incomplete (a final
    Rejection) only when ``page_info.total_number`` says there are MORE than 10,000: a 工作台 of
    exactly 10,000 accounts is complete, and its removed accounts must still be flagged. Without
    a total (never seen, defensive), reaching the cap counts as truncated.
    """
    total: dict[str, int | None] = {}

    def note(raw: Any) -> None:
        try:
            total["n"] = PageInfo.model_validate(raw).total if raw is not None else None
        except ValueError:
            total["n"] = None

    pages = iter_pages(
        client,
        EP_CC_ACCOUNT_LIST,
        {"account_id": cc_account_id, "filter": {"account_type": account_type}},
        list_key="accounts",
        parse=CustomerCenterAccount.model_validate,
        key_of=raw_key(EP_CC_ACCOUNT_LIST, cc_account_id, "account_id"),
        page_size=100,
        # Every run waits for this listing before its first report call: 1000 accounts are
        # 10 pages, so fetch four at a time rather than one after another (the rate limiter
        # paces them; bench/RESULTS.md, "Customer-center listing").
        parallel=4,
        max_pages=CC_MAX_ROWS // 100,
        on_page_info=note,
    )
    served = 0
    for rows, rejections in pages:
        served += len(rows) + len(rejections)
        yield rows, rejections
    n = total.get("n")
    if (n is not None and n > CC_MAX_ROWS) or (n is None and served >= CC_MAX_ROWS):
        # The API refuses deeper pages; say so instead of silently truncating.
        yield (
            [],
            [
                Rejection(
                    f"{EP_CC_ACCOUNT_LIST}|account={cc_account_id}",
                    f"listing capped at {CC_MAX_ROWS} rows by the API "
                    f"(total_number {n if n is not None else 'unknown'}); narrow the filter",
                )
            ],
        )


def iter_life_local_accounts(
    client: OceanEngineClient, life_account_id: int
) -> Iterator[tuple[list[LifeLocalAccount], list[Rejection]]]:
    """Local accounts of a 来客 account (``account_type`` PLATFORM_ROLE_LIFE in
    ``oauth2/advertiser/get``): ``v3.0/local/life/advertiser/list``, all roles, 100 per page."""
    return iter_pages(
        client,
        EP_LIFE_ADVERTISER_LIST,
        {"life_account_id": life_account_id, "filtering": {"local_account_role": "ALL"}},
        list_key="adv_list",
        parse=LifeLocalAccount.model_validate,
        key_of=raw_key(EP_LIFE_ADVERTISER_LIST, life_account_id, "local_account_id"),
        page_size=100,
        parallel=4,
    )


# --- 本地推 -------------------------------------------------------------------------------------


def iter_local_promotions(
    client: OceanEngineClient,
    local_account_id: int,
    *,
    status_first: str = "PROMOTION_STATUS_ALL",
) -> Iterator[tuple[list[LocalPromotion], list[Rejection]]]:
    """Promotions of a local account. ALL statuses by default: a promotion deleted today still
    has yesterday's spend (the API's default filter NOT_DELETE would hide it)."""
    return iter_pages(
        client,
        EP_LOCAL_PROMOTION_LIST,
        {
            "local_account_id": local_account_id,
            "filtering": {"promotion_status_first": status_first},
        },
        list_key="promotion_list",
        parse=LocalPromotion.model_validate,
        key_of=raw_key(EP_LOCAL_PROMOTION_LIST, local_account_id, "promotion_id"),
        page_size=100,
    )


class _AggregatedReport(Exception):
    """The report answered with account-level rows (no promotion_id): ids must be passed."""


def iter_local_promotion_report(
    client: OceanEngineClient,
    local_account_id: int,
    start: date,
    end: date,
    *,
    promotion_ids: Sequence[int] | None = None,
) -> Iterator[Page]:
    """Daily per-promotion rows (``local_promotion_daily`` shape) for ``[start, end]``.

    The range is split by the 365-day span limit. ``promotion_id`` is a report *dimension*
    (docs/contracts/oceanengine.md §3.1) and public sources disagree on whether it is implied:
    the older production scripts get per-promotion rows without any filter, while the official
    SDK comment says the unfiltered report is aggregated per account. So:

    - ``promotion_ids`` given → sent as ``filtering.promotion_ids`` in chunks of 100;
    - not given → one unfiltered walk (1 call per 100 rows, the cheap common case); if its first
      row has no ``promotion_id`` (aggregated answer) we list the account's promotions (all
      statuses) once and re-ask with their ids. Nothing has been yielded for that chunk yet, so
      nothing is duplicated.
    """
    listed: list[int] | None = None
    clamped = clamp_to_lookback(
        EP_LOCAL_REPORT, local_account_id, start, end, client.report_max_lookback_days
    )
    if clamped is None:
        return
    start = clamped
    for lo, hi in split_range(start, end, LOCAL_REPORT_MAX_DAYS):
        if promotion_ids is not None:
            yield from _local_report_filtered(client, local_account_id, lo, hi, promotion_ids)
            continue
        if listed is not None:  # an earlier chunk showed the API aggregates: keep using ids
            yield from _local_report_filtered(client, local_account_id, lo, hi, listed)
            continue
        try:
            yield from _local_report_pages(client, local_account_id, lo, hi, None)
        except _AggregatedReport:
            logger.warning(
                "%s answers account-level rows without filtering.promotion_ids (account %s); "
                "listing promotions and asking per promotion",
                EP_LOCAL_REPORT,
                local_account_id,
            )
            listed = [
                p.promotion_id
                for p in collect(iter_local_promotions(client, local_account_id)).rows
            ]
            yield from _local_report_filtered(client, local_account_id, lo, hi, listed)


def _local_report_filtered(
    client: OceanEngineClient, local_account_id: int, lo: date, hi: date, ids: Sequence[int]
) -> Iterator[Page]:
    for chunk in _chunks(list(ids), PROMOTION_IDS_PER_REQUEST):
        yield from _local_report_pages(client, local_account_id, lo, hi, chunk)


def _local_report_pages(
    client: OceanEngineClient,
    local_account_id: int,
    lo: date,
    hi: date,
    ids: list[int] | None,
) -> Iterator[Page]:
    first_row = True

    def parse(raw: Any) -> dict[str, Any]:
        nonlocal first_row
        if first_row and ids is None and "promotion_id" not in raw:
            raise _AggregatedReport
        first_row = False
        row = LocalPromotionReportRow.model_validate(raw).to_row(local_account_id)
        if not lo <= row["stat_date"] <= hi:
            raise ValueError(
                f"stat_time_day {row['stat_date']} is outside the requested {lo}..{hi}"
            )
        return row

    params: dict[str, Any] = {
        "local_account_id": local_account_id,
        "start_date": lo,
        "end_date": hi,
        "time_granularity": "TIME_GRANULARITY_DAILY",
        "metrics": list(LOCAL_REPORT_METRICS),
    }
    if ids is not None:
        params["filtering"] = {"promotion_ids": ids}
    return iter_pages(
        client,
        EP_LOCAL_REPORT,
        params,
        list_key="promotion_list",
        parse=parse,
        key_of=raw_key(EP_LOCAL_REPORT, local_account_id, "promotion_id", "stat_time_day"),
        page_size=100,
    )


def fetch_local_promotion_report(
    client: OceanEngineClient,
    local_account_id: int,
    start: date,
    end: date,
    *,
    promotion_ids: Sequence[int] | None = None,
) -> Fetched[dict[str, Any]]:
    return collect(
        iter_local_promotion_report(
            client, local_account_id, start, end, promotion_ids=promotion_ids
        )
    )


# --- DOU+ ------------------------------------------------------------------------------------


def iter_douplus_orders(
    client: OceanEngineClient,
    aweme_sec_uid: str,
    *,
    money_unit: MoneyUnit,
    filter: dict[str, Any] | None = None,  # noqa: A002 - the API's parameter name
) -> Iterator[Page]:
    """Orders of a 抖音号 (``douplus_orders`` shape), budget converted to yuan."""

    def parse(raw: Any) -> dict[str, Any]:
        return DouplusOrder.model_validate(raw).to_row(aweme_sec_uid, money_unit)

    params: dict[str, Any] = {"aweme_sec_uid": aweme_sec_uid, "filter": filter}
    return iter_pages(
        client,
        EP_DOUPLUS_ORDER_LIST,
        params,
        list_key="order_list",
        parse=parse,
        key_of=raw_key(EP_DOUPLUS_ORDER_LIST, aweme_sec_uid, "order.order_id"),
        page_size=100,
    )


# filter.order_create_time format: the official SDK types start_time/end_time as plain strings;
# the order's own order_create_time is "YYYY-MM-DD HH:MM:SS". Tried in this order; a parameter
# error naming the field switches to the other one, remembered on the client for the run.
CREATE_TIME_FORMATS = ("datetime", "date")
_CREATE_TIME_KEY = "douplus.order_create_time"


def created_filter(fmt: str, since: date, until: date) -> dict[str, dict[str, str]]:
    """The order list's ``filter`` for orders created on ``since``..``until`` (China days)."""
    if fmt == "date":
        span = {"start_time": since.isoformat(), "end_time": until.isoformat()}
    else:
        span = {"start_time": f"{since} 00:00:00", "end_time": f"{until} 23:59:59"}
    return {"order_create_time": span}


def iter_douplus_orders_created(
    client: OceanEngineClient,
    aweme_sec_uid: str,
    since: date,
    until: date,
    *,
    money_unit: MoneyUnit,
) -> Iterator[Page]:
    """Orders created ``since``..``until``, in whichever order_create_time format the API takes."""
    learned = client.conventions.get(_CREATE_TIME_KEY)
    formats = [learned] if learned else list(CREATE_TIME_FORMATS)
    for i, fmt in enumerate(formats):
        pages = iter_douplus_orders(
            client, aweme_sec_uid, money_unit=money_unit, filter=created_filter(fmt, since, until)
        )
        try:
            first = next(pages)
        except StopIteration:
            return
        except InvalidParams as e:
            if "order_create_time" not in str(e) or i == len(formats) - 1:
                raise
            logger.warning(
                "%s refuses filter.order_create_time as %s (%s); using the %s format",
                EP_DOUPLUS_ORDER_LIST,
                fmt,
                e.api_message,
                formats[i + 1],
            )
            continue
        client.conventions[_CREATE_TIME_KEY] = fmt
        yield first
        yield from pages
        return


def iter_douplus_report(
    client: OceanEngineClient,
    aweme_sec_uid: str,
    start: date,
    end: date,
    *,
    money_unit: MoneyUnit,
    order_ids: Sequence[int] | None = None,
) -> Iterator[Page]:
    """Per-order DAILY rows (``douplus_order_daily`` shape) for ``[start, end]``.

    The API has no date dimension (a row is the order's total over ``stat_time``), so daily
    rows need one request (per page) per day; ranges are also kept within the 180-day limit.
    """
    clamped = clamp_to_lookback(
        EP_DOUPLUS_REPORT, aweme_sec_uid, start, end, client.report_max_lookback_days
    )
    if clamped is None:
        return
    for lo, hi in split_range(clamped, end, DOUPLUS_REPORT_MAX_DAYS):
        for day in days(lo, hi):
            yield from _douplus_report_pages(client, aweme_sec_uid, day, money_unit, order_ids)


def _douplus_report_pages(
    client: OceanEngineClient,
    aweme_sec_uid: str,
    day: date,
    money_unit: MoneyUnit,
    order_ids: Sequence[int] | None,
) -> Iterator[Page]:
    def parse(raw: Any) -> dict[str, Any]:
        row = DouplusReportRow.model_validate(raw).to_row(aweme_sec_uid, money_unit, day)
        if row["stat_date"] != day:
            raise ValueError(f"row dated {row['stat_date']}, the request asked for {day}")
        return row

    params: dict[str, Any] = {
        "aweme_sec_uid": aweme_sec_uid,
        "stat_time": {"begin_time": day.isoformat(), "end_time": day.isoformat()},
        "group_by": ["GROUP_BY_AD_ID"],
    }
    if order_ids:
        params["filter"] = {"order_ids": list(order_ids)}
    return iter_pages(
        client,
        EP_DOUPLUS_REPORT,
        params,
        list_key="order_metrics",
        parse=parse,
        key_of=raw_key(
            EP_DOUPLUS_REPORT,
            aweme_sec_uid,
            "dimension_data.order_id",
            "dimension_data.ad_id",
            f"day={day}",
        ),
        page_size=100,
    )


# --- DPA -------------------------------------------------------------------------------------


def fetch_dpa_availables(client: OceanEngineClient, advertiser_id: int) -> Fetched[DpaAvailable]:
    """商品库 of an advertiser (``2/dpa/product/availables``; no paging)."""
    data = client.get(EP_DPA_AVAILABLES, {"advertiser_id": advertiser_id})
    rows, rej = parse_items(
        data.get("list"),
        DpaAvailable.model_validate,
        raw_key(EP_DPA_AVAILABLES, advertiser_id, "platform_id"),
    )
    return Fetched(rows, rej)


def iter_dpa_products(
    client: OceanEngineClient, advertiser_id: int, product_platform_id: int
) -> Iterator[Page]:
    """Products of one 商品库 (``dpa_products`` shape; profession kept as JSON of str→str)."""

    def parse(raw: Any) -> dict[str, Any]:
        return DpaProduct.model_validate(raw).to_row(advertiser_id, product_platform_id)

    return iter_pages(
        client,
        EP_DPA_DETAIL,
        {"advertiser_id": advertiser_id, "product_platform_id": product_platform_id},
        list_key="list",
        parse=parse,
        key_of=raw_key(EP_DPA_DETAIL, advertiser_id, "product_id"),
        page_size=100,
    )
