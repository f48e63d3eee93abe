"""Supplier (海尔 open platform) → ``supplier_*`` tables → Bitable 供应商商品 / 价格 / 库存.

Three deployments, one module (prefect.yaml):

- ``supplier-daily`` (02:00 China time): procurable products (+ their images into
  ``ADSYNC_SUPPLIER_MEDIA_DIR``, stored once per content), then prices and stock; logistics of
  the ``orders`` given to a manual run;
- ``supplier-prices`` (hourly): prices of the stored products;
- ``supplier-stock`` (every 30 minutes): stock of the stored products per county; a change of at
  least ``ADSYNC_SUPPLIER_STOCK_ALERT_THRESHOLD`` units from the previous observation emits a
  Prefect event ``adsync.supplier.stock.changed`` (an automation can react to it).

Manual runs narrow by ``product_codes`` / ``category`` / ``brand`` / ``counties``; the API has
no history, so there is no backfill. The "accounts" of these runs are brands (the grouping of the
Bitable views, integrations/sources/supplier/datasets.py): one brand's failed fetch is named in
the run's state and the other brands are written (ARCHITECTURE.md rule 3). An item the API sends
broken is skipped and named on its brand (or on the product listing); the run ends PARTIAL.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from sqlalchemy import and_, select, tuple_

from flows import steps
from flows.context import RunContext
from flows.runtime import get_runtime
from flows.summary import RunSummary
from flows.sync_run import run_name
from flows.window import Window
from integrations.database import tables
from integrations.sources.supplier import endpoints as E
from integrations.sources.supplier import transforms as T
from integrations.sources.supplier.images import ImageStore, StoredImage
from integrations.sources.supplier.models import Parsed, Product

DAILY = "supplier-daily"
PRICES = "supplier-prices"
STOCK = "supplier-stock"
SOURCE = "supplier"
LISTING = "(products)"  # the outcome key of the product listing (not a brand)
FETCH_WORKERS = 4
CN_TZ = ZoneInfo("Asia/Shanghai")
STOCK_EVENT = "adsync.supplier.stock.changed"

log = logging.getLogger("adsync.flows")


@dataclass
class Catalogue:
    """The run's products (code → DB-shaped row) and the listing's skipped items."""

    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def by_brand(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for code, p in sorted(self.products.items()):
            out.setdefault(p.get("brand") or "", []).append(code)
        return out


def _client_and_codes() -> tuple[Any, E.Codes]:
    rt = get_runtime()
    return rt.client(SOURCE), E.Codes.from_settings(rt.settings)


def _named(parsed: Parsed[Any]) -> list[str]:
    return [f"{s.product_code}: {s.reason}" for s in parsed.skipped]


def _product_row(p: Product) -> dict[str, Any]:
    return {
        "product_code": p.product_code,
        "product_name": p.product_name,
        "brand": p.brand,
        "category": p.category,
        "model": p.model,
        "unit": p.unit,
        "procurable": p.procurable,
        "image_urls": json.dumps(list(p.image_urls), ensure_ascii=False),
        "image_paths": None,
    }


def _narrow(
    rows: dict[str, dict[str, Any]], brand: list[str] | None, category: list[str] | None
) -> dict[str, dict[str, Any]]:
    return {
        c: r
        for c, r in rows.items()
        if (not brand or r.get("brand") in brand)
        and (not category or r.get("category") in category)
    }


@task(name="list-supplier-products", **steps.API_TASK)
def list_products(
    product_codes: list[str] | None,
    brand: list[str] | None,
    category: list[str] | None,
    from_api: bool,
) -> Catalogue:
    """The run's products: from the API (supplier-daily, or codes given), else the stored
    procurable ones (falling back to the API when nothing is stored yet)."""
    rt = get_runtime()
    out = Catalogue()
    if not from_api and not product_codes:
        t = tables.DATASET_TABLES["supplier_products"]
        with rt.engine.connect() as conn:
            stored = [dict(r._mapping) for r in conn.execute(select(t).where(t.c.procurable))]
        out.products = {r["product_code"]: r for r in stored}
        if out.products:
            out.products = _narrowed(out.products, brand, category)
            return out
    client, codes = _client_and_codes()
    parsed = E.procurable_products(client, codes, product_codes or None)
    out.skipped = _named(parsed)
    rows = {p.product_code: _product_row(p) for p in parsed.items if p.procurable}
    # A code asked for by name that comes back unknown or not procurable is an item error.
    answered = {p.product_code: p for p in parsed.items}
    for code in dict.fromkeys(product_codes or ()):
        if code not in answered:
            out.skipped.append(f"{code}: not returned by the supplier (unknown code?)")
        elif not answered[code].procurable:
            out.skipped.append(f"{code}: not procurable for this customer")
    out.products = _narrowed(rows, brand, category)
    return out


def _narrowed(
    rows: dict[str, dict[str, Any]], brand: list[str] | None, category: list[str] | None
) -> dict[str, dict[str, Any]]:
    """``rows`` of the given brands/categories; a filter matching nothing is an error naming
    the values that do exist (a typo must not look like an empty, green run)."""
    out = _narrow(rows, brand, category)
    if rows and not out and (brand or category):
        brands = sorted({str(r.get("brand") or "") for r in rows.values()} - {""})
        categories = sorted({str(r.get("category") or "") for r in rows.values()} - {""})
        raise ValueError(
            f"no product matches brand {brand or 'any'} / category {category or 'any'}; "
            f"brands: {', '.join(brands)}; categories: {', '.join(categories)}"
        )
    return out


@task(name="fetch-supplier-prices", task_run_name="prices-{brand}", **steps.API_TASK)
def fetch_prices(brand: str, codes: list[str], today: date) -> steps.FetchResult:
    client, c = _client_and_codes()
    parsed = E.prices(client, c, codes)
    frame = T.prices_frame(parsed.items, today)
    rows = [{**r, "brand": brand} for r in frame.to_dicts()]
    return steps.FetchResult(brand, rows, _named(parsed))


@task(name="fetch-supplier-stock", task_run_name="stock-{brand}", **steps.API_TASK)
def fetch_stock(
    brand: str, codes: list[str], counties: list[str], observed_at: datetime
) -> steps.FetchResult:
    client, c = _client_and_codes()
    parsed = E.stock(client, c, codes, counties)
    frame = T.stock_frame(parsed.items, observed_at)
    rows = []
    for r in frame.to_dicts():
        bucket = r["observed_bucket"].replace(tzinfo=None)  # China local wall time (the column)
        rows.append(
            {**r, "observed_bucket": bucket, "observed_date": bucket.date(), "brand": brand}
        )
    return steps.FetchResult(brand, rows, _named(parsed))


@task(name="sync-supplier-images", **steps.API_TASK)
def sync_images(catalogue: Catalogue, summary: RunSummary) -> dict[str, str]:
    """Download new or changed product images (images.ImageStore) and store the mapping;
    returns each product's stored paths (JSON). A failed image is named on its brand."""
    rt = get_runtime()
    t = tables.DATASET_TABLES["supplier_images"]
    wanted = {
        code: json.loads(p.get("image_urls") or "[]") for code, p in catalogue.products.items()
    }
    hashes = {_url_key(u) for urls in wanted.values() for u in urls}
    known: dict[str, StoredImage] = {}
    with rt.engine.connect() as conn:
        for r in conn.execute(select(t).where(t.c.url_sha256.in_(sorted(hashes)))):
            m = dict(r._mapping)
            known[m["url"]] = StoredImage(
                url=m["url"],
                product_code=m["product_code"],
                sha256=m["sha256"],
                path=m["path"],
                content_type=m["content_type"],
                size=m["size"],
                etag=m["etag"],
                fetched_at=m["fetched_at"],
            )
    store = ImageStore(rt.settings.supplier_media_path, rt.client(SOURCE))
    res = store.sync(wanted, known)
    for f in res.failures:
        brand = catalogue.products.get(f.product_code, {}).get("brand") or ""
        summary.reject_row(brand, f"image of {f.product_code} ({f.url}): {f.reason}")
    rows = [
        {
            "url_sha256": _url_key(img.url),
            "url": img.url,
            "product_code": img.product_code,
            "sha256": img.sha256,
            "path": img.path,
            "content_type": img.content_type,
            "size": img.size,
            "etag": img.etag,
            "fetched_at": img.fetched_at.astimezone(UTC).replace(tzinfo=None)
            if img.fetched_at.tzinfo
            else img.fetched_at,
        }
        for img in res.images.values()
    ]
    steps.upsert_db(rt, t, rows, summary)
    log.info(
        "images: %d new file(s), %d unchanged, %d bodies fetched, %d failed",
        res.written,
        res.unchanged,
        res.bodies_fetched,
        len(res.failures),
    )
    return {
        code: json.dumps([res.images[u].path for u in urls if u in res.images])
        for code, urls in wanted.items()
    }


def _url_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


@task(name="write-db", cache_policy=NO_CACHE)
def write_rows(dataset: str, rows: list[dict], summary: RunSummary) -> None:
    rt = get_runtime()
    table = tables.DATASET_TABLES[dataset]
    rows = steps.screen_rows(summary, table, rows, "brand" if "brand" in table.c else None)
    if dataset == "supplier_stock":
        # Before the upsert: the events compare with what is stored (a rerun emits none).
        summary.sink("prefect:events").add(inserted=len(stock_events(rt, rows)))
    steps.upsert_db(rt, table, rows, summary)


def stock_events(rt: Any, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Emit ``adsync.supplier.stock.changed`` for each observation that differs from the
    previous bucket's by at least the threshold. Only for rows new or changed in their bucket:
    a rerun of the same bucket emits nothing again."""
    threshold = rt.settings.supplier_stock_alert_threshold
    if not rows:
        return []
    t = tables.DATASET_TABLES["supplier_stock"]
    pairs = sorted({(r["product_code"], r["county_code"]) for r in rows})
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    with rt.engine.connect() as conn:
        for r in conn.execute(
            select(t.c.product_code, t.c.county_code, t.c.observed_bucket, t.c.available_stock)
            .where(tuple_(t.c.product_code, t.c.county_code).in_(pairs))
            .where(and_(t.c.observed_bucket <= max(r["observed_bucket"] for r in rows)))
            .order_by(t.c.observed_bucket)
        ):
            latest.setdefault((r.product_code, r.county_code), {})[r.observed_bucket] = (
                r.available_stock
            )
    emitted = []
    for r in rows:
        seen = latest.get((r["product_code"], r["county_code"]), {})
        bucket = r["observed_bucket"]
        if seen.get(bucket) == r["available_stock"]:
            continue  # already stored as is: its event (if any) was emitted then
        earlier = [b for b in seen if b < bucket]
        if not earlier:
            continue  # a first observation is no change
        before = seen[max(earlier)]
        delta = int(r["available_stock"]) - int(before)
        if abs(delta) < threshold:
            continue
        payload = {
            "product_code": r["product_code"],
            "county_code": r["county_code"],
            "brand": r.get("brand") or "",
            "before": int(before),
            "after": int(r["available_stock"]),
            "delta": delta,
            "observed_bucket": bucket.isoformat(),
        }
        emit_event(
            event=STOCK_EVENT,
            resource={
                "prefect.resource.id": f"adsync.supplier.stock.{r['product_code']}.{r['county_code']}",
                "prefect.resource.name": r["product_code"],
            },
            payload=payload,
        )
        emitted.append(payload)
    if emitted:
        log.info("stock: %d change event(s) (threshold %d)", len(emitted), threshold)
    return emitted


@task(name="project-bitable", cache_policy=NO_CACHE)
def project_bitable(
    datasets: list[str],
    brands: list[str],
    window: Window | None,
    bucket: datetime | None,
    summary: RunSummary,
) -> None:
    rt = get_runtime()
    names = {b: b for b in brands if b}  # a product without a brand has rows but no view
    rows: dict[str, list[dict[str, Any]]] = {}
    for ds in datasets:
        t = tables.DATASET_TABLES[ds]
        q = select(t).where(t.c.brand.in_(sorted(brands)))
        if ds == "supplier_prices":
            if window is None:
                continue  # no price fetched: nothing to project
            q = q.where(t.c.price_date.between(window.start, window.end))
        if ds == "supplier_stock" and bucket is not None:
            q = q.where(t.c.observed_bucket == bucket)  # this run's observations only
        with rt.engine.connect() as conn:
            rows[ds] = [dict(r._mapping) for r in conn.execute(q)]
    steps.project_to_bitable(
        rt,
        summary,
        datasets=[ds for ds in datasets if ds in rows],
        window=window,
        account_names=names,
        account_field="brand",
        rows=rows,
    )


def _floor(observed_at: datetime) -> datetime:
    local = observed_at.astimezone(CN_TZ).replace(tzinfo=None)
    return local.replace(minute=local.minute - local.minute % 30, second=0, microsecond=0)


def _observed_at(as_of: datetime | str | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    value = datetime.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    if value.tzinfo is None:
        raise ValueError("as_of must carry a timezone (e.g. 2026-11-29T10:00:00+08:00)")
    return value


def run_supplier(
    flow_name: str,
    *,
    products: bool,
    prices: bool,
    stock: bool,
    product_codes: list[str] | None,
    brand: list[str] | None,
    category: list[str] | None,
    counties: list[str] | None,
    orders: list[str] | None = None,
    as_of: datetime | str | None = None,
) -> State:
    run = RunContext.today(flow_name)
    if isinstance(run, State):  # could not start: settings
        return run
    with run:
        observed_at = _observed_at(as_of)
        today = observed_at.astimezone(CN_TZ).date()
        cat = run.one(list_products, product_codes, brand, category, products)
        if cat.skipped:
            run.outcome(LISTING, "product listing").reject(*cat.skipped)
        by_brand = cat.by_brand()
        run.add_accounts({b: b or "(no brand)" for b in by_brand})
        if products:
            paths = run.one(sync_images, cat, run.summary)
            rows = [{**p, "image_paths": paths.get(code)} for code, p in cat.products.items()]
            run.write(write_rows, "supplier_products", rows, run.summary)
        price_dates: set[date] = set()
        if prices:
            for b, fetched in run.fan_out(
                fetch_prices, list(by_brand), args_of=lambda b: (b, by_brand[b], today)
            ):
                price_dates |= {r["price_date"] for r in fetched.rows}
                run.write(write_rows, "supplier_prices", run.record(b, fetched), run.summary)
        if stock:
            county_list = list(counties or [E.DEFAULT_COUNTY])
            for b, fetched in run.fan_out(
                fetch_stock,
                list(by_brand),
                args_of=lambda b: (b, by_brand[b], county_list, observed_at),
            ):
                run.write(write_rows, "supplier_stock", run.record(b, fetched), run.summary)
        for order in orders or []:
            client, c = _client_and_codes()
            parsed = E.logistics(client, c, order)
            if parsed.skipped:
                run.outcome(LISTING).reject(*_named(parsed))
            frame = T.logistics_frame(parsed.items)
            run.write(write_rows, "supplier_logistics", frame.to_dicts(), run.summary)
        datasets = [
            ds
            for ds, on in (
                ("supplier_products", products),
                ("supplier_prices", prices),
                ("supplier_stock", stock),
            )
            if on
        ]
        if run.rt.bitable_enabled:
            run.write(
                project_bitable,
                datasets,
                list(by_brand),
                # The dates the answers carried (priceDate, else the call's China date).
                Window(min(price_dates), max(price_dates)) if price_dates else None,
                _floor(observed_at) if stock else None,
                run.summary,
            )
        else:
            run.summary.warnings.append(run.rt.bitable_off_warning())
    return run.state


_RUNNER = {"task_runner": ThreadPoolTaskRunner(max_workers=FETCH_WORKERS), "log_prints": True}


@flow(
    name=DAILY,
    description="Supplier products (+ images), prices and stock → DB → Bitable.",
    flow_run_name=run_name("supplier-daily"),
    **_RUNNER,
)
def supplier_daily(
    product_codes: list[str] | None = None,
    brand: list[str] | None = None,
    category: list[str] | None = None,
    counties: list[str] | None = None,
    orders: list[str] | None = None,
    as_of: datetime | None = None,
):
    """Full supplier sync: procurable products and their images, prices, stock.

    Args:
        product_codes: Only these products (default: every procurable product).
        brand: Only products of these brands.
        category: Only products of these categories.
        counties: Stock of these county codes (default 110101).
        orders: Also fetch the logistics of these order codes.
        as_of: Observation time of the stock (default: now); one row per 30-minute bucket.
    """
    return run_supplier(
        DAILY,
        products=True,
        prices=True,
        stock=True,
        product_codes=product_codes,
        brand=brand,
        category=category,
        counties=counties,
        orders=orders,
        as_of=as_of,
    )


@flow(
    name=PRICES,
    description="Supplier prices of the stored products → DB → Bitable 供应商价格.",
    flow_run_name=run_name("supplier-prices"),
    **_RUNNER,
)
def supplier_prices(
    product_codes: list[str] | None = None,
    brand: list[str] | None = None,
    category: list[str] | None = None,
):
    """Prices (every price type's kinds) of the stored procurable products, or of those given."""
    return run_supplier(
        PRICES,
        products=False,
        prices=True,
        stock=False,
        product_codes=product_codes,
        brand=brand,
        category=category,
        counties=None,
    )


@flow(
    name=STOCK,
    description="Supplier stock per county of the stored products → DB → Bitable 供应商库存.",
    flow_run_name=run_name("supplier-stock"),
    **_RUNNER,
)
def supplier_stock(
    product_codes: list[str] | None = None,
    brand: list[str] | None = None,
    category: list[str] | None = None,
    counties: list[str] | None = None,
    as_of: datetime | None = None,
):
    """Available stock per county; a change above the threshold emits a Prefect event."""
    return run_supplier(
        STOCK,
        products=False,
        prices=False,
        stock=True,
        product_codes=product_codes,
        brand=brand,
        category=category,
        counties=counties,
        as_of=as_of,
    )
