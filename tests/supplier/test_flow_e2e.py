"""Supplier flows end to end: the sandbox over loopback, the real lark-oapi client, a Prefect
server, SQLite. A daily run lands products (+ images), prices and stock in the DB and Bitable;
a rerun writes nothing and fetches no image body again."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from flows.run_cli import execute
from flows.runtime import reset_runtime
from flows.summary import RunStatus
from flows.supplier import supplier_daily, supplier_stock
from integrations.database import tables
from integrations.database.engine import make_engine
from sandbox.server import Sandbox
from tests.flows.sandboxed import bitable_snapshot, db_snapshot, point_at
from tests.flows.test_dpa_flow import _views

AS_OF = datetime(2026, 11, 29, 10, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
DATASETS = ("supplier_products", "supplier_prices", "supplier_stock", "supplier_images")
BITABLE = ("供应商商品", "供应商价格", "供应商库存")


def _media_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file() and not p.name.startswith("."))


def _db(db_url: str) -> dict[str, set[tuple[Any, ...]]]:
    return {name: db_snapshot(db_url, tables.DATASET_TABLES[name]) for name in DATASETS}


def _bitable(sb: Sandbox) -> dict[str, dict[str, Any]]:
    out = {}
    for name in BITABLE:
        keys, records = bitable_snapshot(sb, name)
        assert keys, f"{name}: no records"
        assert not {k: n for k, n in keys.items() if n > 1}, f"{name}: duplicate keys"
        out[name] = {
            json.dumps(r["fields"].get("业务键"), ensure_ascii=False): r["fields"] for r in records
        }
    return out


@pytest.fixture
def sandboxed(prefect_server, tmp_path, monkeypatch):
    with Sandbox(state_dir=tmp_path / "sandbox", profile="fast") as sb:
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        point_at(sb, tmp_path / "data", monkeypatch, db_url)
        media = tmp_path / "media"
        monkeypatch.setenv("ADSYNC_SUPPLIER_MEDIA_DIR", str(media))
        from integrations.settings import get_settings

        get_settings.cache_clear()
        reset_runtime()
        try:
            yield sb, db_url, media
        finally:
            reset_runtime()


def test_daily_lands_products_prices_stock_and_rerun_writes_nothing(sandboxed) -> None:
    sb, db_url, media = sandboxed
    summary = execute(supplier_daily, as_of=AS_OF)
    assert summary is not None
    assert summary.status is RunStatus.SUCCESS, summary.text()
    db = _db(db_url)
    procurable = {p.code for p in sb.supplier.data.procurable()}
    assert {r[0] for r in db["supplier_products"]} == procurable
    assert {r[0] for r in db["supplier_prices"]} <= procurable and db["supplier_prices"]
    assert {r[0] for r in db["supplier_stock"]} == procurable  # default county 110101
    bucket = datetime(2026, 11, 29, 10, 0)
    assert {r[2] for r in db["supplier_stock"]} == {bucket}
    assert db["supplier_images"]
    files = _media_files(media)
    assert len(files) == len({r[3] for r in db["supplier_images"]})  # one file per content
    bitable = _bitable(sb)
    assert len(bitable["供应商商品"]) == len(procurable)
    assert len(bitable["供应商库存"]) == len(db["supplier_stock"])
    brands = {r[2] for r in db["supplier_products"]}
    assert {b for b in brands if b} and summary.sinks["bitable:supplier_prices"].inserted > 0
    for name in ("db:supplier_products", "db:supplier_prices", "db:supplier_stock"):
        assert summary.sinks[name].inserted > 0, name
    # One view per brand on each table, filtered on the brand field (the "account" of a view).
    for name in BITABLE:
        views = _views(sb, name)
        assert views == {b: json.dumps([b], ensure_ascii=False) for b in brands if b}, name
    mtimes = {p: p.stat().st_mtime_ns for p in files}

    sb.supplier.reset_counters()
    again = execute(supplier_daily, as_of=AS_OF)
    assert again is not None and again.status is RunStatus.SUCCESS, again.text()
    for name, counts in again.sinks.items():
        assert counts.inserted == counts.updated == counts.deleted == 0, (name, counts)
    assert _db(db_url) == db
    assert _bitable(sb) == bitable
    assert {p: p.stat().st_mtime_ns for p in _media_files(media)} == mtimes  # not re-written
    # Images: every stored one asked again with its ETag, none sent again (304).
    media = sb.supplier.counters_snapshot()["codes"]["_media"]
    assert media == {"304": len(db["supplier_images"])}, media


def test_images_without_etags_are_compared_by_hash_and_stored_once(sandboxed) -> None:
    sb, db_url, media = sandboxed
    sb.supplier.knobs.image_etags = False
    assert execute(supplier_daily, as_of=AS_OF).status is RunStatus.SUCCESS
    first = _db(db_url)["supplier_images"]
    files = {p: p.stat().st_mtime_ns for p in _media_files(media)}
    assert len(files) == len({r[3] for r in first})
    sb.supplier.reset_counters()
    again = execute(supplier_daily, as_of=AS_OF)
    assert again.status is RunStatus.SUCCESS
    # Bodies are fetched (no validator) but the same content writes no file and no row.
    assert sb.supplier.counters_snapshot()["codes"]["_media"] == {"200": len(first)}
    assert {p: p.stat().st_mtime_ns for p in _media_files(media)} == files
    assert _db(db_url)["supplier_images"] == first
    assert again.sinks["db:supplier_images"].updated == 0


def test_stock_run_adds_a_bucket_and_emits_no_event_for_a_rerun(sandboxed) -> None:
    sb, db_url, _ = sandboxed
    assert execute(supplier_daily, as_of=AS_OF).status is RunStatus.SUCCESS
    later = AS_OF.replace(hour=11, minute=40)
    s = execute(supplier_stock, as_of=later, counties=["110101"])
    assert s is not None and s.status is RunStatus.SUCCESS, s.text()
    eng = make_engine(db_url)
    t = tables.DATASET_TABLES["supplier_stock"]
    with eng.connect() as conn:
        buckets = {r[0] for r in conn.execute(sa.select(t.c.observed_bucket).distinct())}
    eng.dispose()
    assert buckets == {datetime(2026, 11, 29, 10, 0), datetime(2026, 11, 29, 11, 30)}


def _stock_events(since: datetime, expect: int) -> list:
    """adsync.supplier.stock.* events since ``since`` (polled: the server stores them async)."""
    import time

    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

    flt = EventFilter(
        event=EventNameFilter(prefix=["adsync.supplier.stock."]),
        occurred=EventOccurredFilter(since=since),
    )
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_events(filter=flt, limit=50)
            events = list(page.events)
            while page.next_page:
                page = client.read_events_page(page.next_page)
                events.extend(page.events)
            if len(events) >= expect or time.monotonic() > deadline:
                return events
            time.sleep(0.2)


def test_stock_change_above_threshold_emits_an_event_once(sandboxed, monkeypatch) -> None:
    from datetime import UTC, timedelta

    from integrations.settings import get_settings

    sb, db_url, _ = sandboxed
    monkeypatch.setenv("ADSYNC_SUPPLIER_STOCK_ALERT_THRESHOLD", "3")
    get_settings.cache_clear()
    reset_runtime()
    assert execute(supplier_daily, as_of=AS_OF).status is RunStatus.SUCCESS
    before = {
        (r[0], r[1]): r[5] for r in db_snapshot(db_url, tables.DATASET_TABLES["supplier_stock"])
    }
    sb.supplier.advance_time(1800)  # the simulator's stock moves per half hour
    t0 = datetime.now(UTC) - timedelta(seconds=1)
    later = AS_OF + timedelta(minutes=30)
    s = execute(supplier_stock, as_of=later)
    assert s is not None and s.status is RunStatus.SUCCESS, s.text()
    bucket = datetime(2026, 11, 29, 10, 30)
    after = {
        (r[0], r[1]): r[5]
        for r in db_snapshot(db_url, tables.DATASET_TABLES["supplier_stock"])
        if r[2] == bucket
    }
    moved = {k for k, v in after.items() if abs(v - before[k]) >= 3}
    assert moved and len(moved) < len(after)  # the threshold separates the two
    assert s.sinks["prefect:events"].inserted == len(moved)
    events = _stock_events(t0, len(moved))
    got = {(e.payload["product_code"], e.payload["county_code"]) for e in events}
    assert got == moved
    e = events[0]
    key = (e.payload["product_code"], e.payload["county_code"])
    assert e.payload["before"] == before[key] and e.payload["after"] == after[key]
    # The same half hour again: nothing changed, nothing emitted.
    again = execute(supplier_stock, as_of=later)
    assert again.sinks["prefect:events"].inserted == 0
    assert (
        again.sinks["db:supplier_stock"].inserted == again.sinks["db:supplier_stock"].updated == 0
    )


def test_manual_runs_narrow_by_codes_brand_category_and_fetch_logistics(sandboxed) -> None:
    from flows.supplier import supplier_prices

    sb, db_url, _ = sandboxed
    data = sb.supplier.data
    one = data.procurable()[0]
    order = data.order_codes()[0]
    s = execute(supplier_daily, product_codes=[one.code], orders=[order], as_of=AS_OF)
    assert s is not None and s.status is RunStatus.SUCCESS, s.text()
    db = _db(db_url)
    assert {r[0] for r in db["supplier_products"]} == {one.code}
    assert {r[0] for r in db["supplier_prices"]} == {one.code}
    assert {r[0] for r in db["supplier_stock"]} == {one.code}
    logistics = db_snapshot(db_url, tables.DATASET_TABLES["supplier_logistics"])
    assert {r[0] for r in logistics} == {order}

    # Full catalogue, then prices of one brand and category only (from the stored products).
    assert execute(supplier_daily, as_of=AS_OF).status is RunStatus.SUCCESS
    brand, category = one.brand, one.category
    sb.supplier.reset_counters()
    p = execute(supplier_prices, brand=[brand], category=[category])
    assert p is not None and p.status is RunStatus.SUCCESS, p.text()
    assert [a.account_id for a in p.accounts] == [brand]
    products = sb.supplier.counters_snapshot()["requests"].get(
        "product-info/procurable-products-out/check-procurable-products", 0
    )
    assert products == 0  # the stored catalogue, not the API


@pytest.mark.parametrize("db", ["postgres_url", "mysql_url"])
def test_daily_rerun_and_stock_events_on_server_databases(
    db, request, prefect_server, tmp_path, monkeypatch
) -> None:
    """The same upserts, row-value lookups (stock events) and exact money on PostgreSQL and
    MariaDB. The session database is shared: the supplier tables and the tokens are emptied first."""
    from datetime import timedelta

    from integrations.database.migrate import upgrade
    from integrations.settings import get_settings

    db_url = request.getfixturevalue(db)
    upgrade(db_url)
    eng = make_engine(db_url)
    with eng.begin() as conn:
        for name in (*DATASETS, "supplier_logistics"):
            conn.execute(sa.delete(tables.DATASET_TABLES[name]))
        # and the token store: each test has its own encryption key (tests/flows/sandboxed.py)
        conn.execute(sa.delete(tables.oauth_tokens))
    eng.dispose()
    with Sandbox(state_dir=tmp_path / "sandbox", profile="fast") as sb:
        point_at(sb, tmp_path / "data", monkeypatch, db_url)
        monkeypatch.setenv("ADSYNC_SUPPLIER_MEDIA_DIR", str(tmp_path / "media"))
        monkeypatch.setenv("ADSYNC_SUPPLIER_STOCK_ALERT_THRESHOLD", "3")
        get_settings.cache_clear()
        reset_runtime()
        try:
            first = execute(supplier_daily, as_of=AS_OF)
            assert first is not None and first.status is RunStatus.SUCCESS, first.text()
            state = _db(db_url)
            again = execute(supplier_daily, as_of=AS_OF)
            assert again is not None and again.status is RunStatus.SUCCESS, again.text()
            for name, counts in again.sinks.items():
                assert counts.inserted == counts.updated == 0, (name, counts)
            assert _db(db_url) == state
            sb.supplier.advance_time(1800)
            s = execute(supplier_stock, as_of=AS_OF + timedelta(minutes=30))
            assert s is not None and s.status is RunStatus.SUCCESS, s.text()
            assert s.sinks["prefect:events"].inserted > 0
        finally:
            reset_runtime()


def test_unknown_codes_are_named_and_a_filter_matching_nothing_fails(sandboxed) -> None:
    sb, db_url, _ = sandboxed
    one = sb.supplier.data.procurable()[0]
    s = execute(supplier_daily, product_codes=[one.code, "NO-SUCH-CODE"], as_of=AS_OF)
    assert s is not None and s.status is RunStatus.PARTIAL, s.text()
    assert any(r.startswith("NO-SUCH-CODE: ") for r in s.rejected_named()), s.rejected_named()
    assert {r[0] for r in _db(db_url)["supplier_products"]} == {one.code}  # the rest is written

    bad = execute(supplier_daily, brand=["海尔X"], as_of=AS_OF)
    assert bad is not None and bad.status is RunStatus.FAILED
    assert "no product matches brand ['海尔X']" in bad.error and one.brand in bad.error
