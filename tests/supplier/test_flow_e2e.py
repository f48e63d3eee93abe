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
    mtimes = {p: p.stat().st_mtime_ns for p in files}

    sb.supplier.reset_counters()
    again = execute(supplier_daily, as_of=AS_OF)
    assert again is not None and again.status is RunStatus.SUCCESS, again.text()
    for name, counts in again.sinks.items():
        assert counts.inserted == counts.updated == counts.deleted == 0, (name, counts)
    assert _db(db_url) == db
    assert _bitable(sb) == bitable
    assert {p: p.stat().st_mtime_ns for p in _media_files(media)} == mtimes  # not re-written
    print(sb.supplier.counters_snapshot())


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
