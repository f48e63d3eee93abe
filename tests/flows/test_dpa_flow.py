"""dpa-daily end to end: sandbox over real HTTP, real lark-oapi sink, the session Prefect server.

Pagination across many pages (counted by the sandbox), malformed album links (logged, stored with
null ids, run green), per-advertiser views, the playlet lookup on what the flow wrote, and a
rerun that writes nothing.
"""

from __future__ import annotations

import logging
import math

import pytest
import sqlalchemy as sa

from flows.dpa import dpa_daily
from flows.summary import RunStatus, RunSummary
from flows.sync_run import summary_of
from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.database.lookups import products_by_playlet_ids
from integrations.feishu.specs import DPA_PRODUCTS
from integrations.settings import get_settings
from sandbox.server import Sandbox
from tests.flows.sandboxed import bitable_snapshot, db_snapshot, point_at

N_PRODUCTS = 600  # 240 / 240 / 120 over the three sandbox advertisers → 3 + 3 + 2 pages


def expected_ids(product: dict) -> tuple[int | None, str | None]:
    """What the sandbox means: the well-formed link carries playlet_id=<album_id>."""
    prof = product["profession"]
    album = prof["album_id"]
    good = f"https://www.douyin.com/playlet?playlet_id={album}&enter_from=dpa&"
    return (int(album), album) if prof.get("album_link", "").startswith(good) else (None, None)


def _views(sb: Sandbox, table_name: str) -> dict[str, str]:
    """view name → the account id its filter selects (grid views with one condition)."""
    fs = sb.fs
    tid = next(t["table_id"] for t in fs.tables(fs.app_token) if t["name"] == table_name)
    out = {}
    for v in fs.views(fs.app_token, tid):
        conds = ((v.get("property") or {}).get("filter_info") or {}).get("conditions") or []
        if conds:
            out[v["view_name"]] = conds[0]["value"]
    return out


def _summary(state) -> RunSummary:
    s = summary_of(state)
    assert isinstance(s, RunSummary), state
    return s


@pytest.mark.timeout(120)
def test_dpa_pages_ids_views_lookup_and_idempotent_rerun(
    prefect_server, tmp_path, monkeypatch, caplog
) -> None:
    with Sandbox(profile="fast", n_dpa_products=N_PRODUCTS) as sb:
        point_at(sb, tmp_path / "data", monkeypatch)
        db_url = get_settings().db_url
        sb.reset_counters()

        with caplog.at_level(logging.WARNING, logger="adsync.flows"):
            state = dpa_daily(return_state=True)
        summary = _summary(state)
        assert state.is_completed(), summary.text()  # malformed links never turn the run red
        assert summary.status is RunStatus.SUCCESS

        # Pagination: one detail/get call per page of 100, for every library.
        libraries = [p for a in sb.data.dpa_advertisers for p in a.platforms]
        assert len(libraries) == 3
        pages = sum(math.ceil(p.n_products / 100) for p in libraries)
        assert pages == 8
        oe = sb.counters()["oceanengine"]
        assert oe["requests"]["2/dpa/detail/get"] == pages
        assert oe["requests"]["2/dpa/product/availables"] == 3

        # DB: every product, exact int64 ids, motion-comic ids as the sandbox means them.
        expected: dict[tuple[int, int], tuple[int | None, str | None]] = {}
        comic = set(get_settings().motion_comic_advertiser_ids)
        for adv in sb.data.dpa_advertisers:
            for pl in adv.platforms:
                for p in sb.data.dpa_products(pl.platform_id):
                    ids = expected_ids(p) if adv.advertiser_id in comic else (None, None)
                    expected[(pl.platform_id, p["product_id"])] = ids
        engine = make_engine(db_url)
        t = tables.dpa_products
        with engine.connect() as conn:
            got = {
                (r.product_platform_id, r.product_id): (r.album_id, r.playlet_id)
                for r in conn.execute(sa.select(t))
            }
        assert got == expected
        malformed = [k for k, ids in expected.items() if ids == (None, None) and k[0] in
                     {pl.platform_id for a in sb.data.dpa_advertisers if a.motion_comic
                      for pl in a.platforms}]  # fmt: skip
        assert len(malformed) >= 2  # index 3 of each comic library, plus the random ones
        # Each malformed product is logged with its id; nothing else is.
        logged = [
            r.getMessage() for r in caplog.records if "no album/playlet ids" in r.getMessage()
        ]
        assert len(logged) == len(malformed)
        for _, pid in malformed:
            assert any(str(pid) in line for line in logged), pid
        assert any("stored without album/playlet ids" in w for w in summary.warnings)

        # The downstream lookup finds what the flow stored.
        some = next(ids for ids in expected.values() if ids[1] is not None)
        hits = products_by_playlet_ids(engine, [some[1]])
        assert [h.album_id for h in hits] == [some[0]]

        # Bitable: one record per product, one view per advertiser, named after it.
        keys, records = bitable_snapshot(sb, DPA_PRODUCTS.name)
        assert len(records) == N_PRODUCTS and set(keys.values()) == {1}
        views = _views(sb, DPA_PRODUCTS.name)
        assert views == {a.name: f'["{a.advertiser_id}"]' for a in sb.data.dpa_advertisers}

        # Statuses stored in their canonical (official int) form.
        truth = {
            (pl.platform_id, p["product_id"]): (p["status"], p["audit_status"])
            for a in sb.data.dpa_advertisers
            for pl in a.platforms
            for p in sb.data.dpa_products(pl.platform_id)
        }
        with engine.connect() as conn:
            stored = {
                (r.product_platform_id, r.product_id): (r.status, r.audit_status)
                for r in conn.execute(sa.select(t))
            }
        assert stored == truth

        # Rerun with the API serving enum strings (STATUS_ONLINE, AUDIT_STATUS_APPROVE…): they
        # land as the same canonical ints, so nothing new anywhere.
        sb.oe.knobs.dpa_status_strings = True
        before = db_snapshot(db_url, t)
        sb.reset_counters()
        state2 = dpa_daily(return_state=True)
        s2 = _summary(state2)
        assert state2.is_completed(), s2.text()
        db = s2.sinks["db:dpa_products"]
        assert (db.inserted, db.updated, db.unchanged) == (0, 0, N_PRODUCTS)
        bt = s2.sinks["bitable:dpa_products"]
        assert (bt.inserted, bt.updated, bt.unchanged) == (0, 0, N_PRODUCTS)
        assert sb.counters()["feishu"]["writes"] == 0
        assert db_snapshot(db_url, t) == before
        engine.dispose()
