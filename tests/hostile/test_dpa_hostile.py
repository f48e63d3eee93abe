"""The same row rules in the DPA flow (under the session Prefect server): a price beyond
DECIMAL(18, 2) rejects that product by name, a title over String(512) is truncated with the
marker; every other product is written and the run/ledger say so."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flows.dpa import dpa_daily
from flows.summary import RunStatus, RunSummary
from flows.sync_run import summary_of
from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.database.ledger import recent_runs
from integrations.database.row_rules import TRUNCATION_MARKER
from integrations.settings import get_settings
from sandbox.server import Sandbox
from tests.flows.sandboxed import point_at


@pytest.mark.timeout(180)
def test_dpa_bad_price_rejected_long_title_truncated(prefect_server, tmp_path, monkeypatch):
    with Sandbox(profile="fast", n_dpa_products=150) as sb:
        lib = sb.data.dpa_advertisers[0].platforms[0]
        products = sb.data.dpa_products(lib.platform_id)
        bad, long_ = products[3]["product_id"], products[4]["product_id"]
        all_ids = {
            p["product_id"]
            for a in sb.data.dpa_advertisers
            for x in a.platforms
            for p in sb.data.dpa_products(x.platform_id)
        }
        sb.oe.knobs.hostile_values = [
            (bad, "price_info", {"price": "1e16"}),
            (long_, "title", "标" * 600),
        ]
        point_at(sb, tmp_path / "data", monkeypatch)
        db_url = get_settings().db_url
        state = dpa_daily(return_state=True)
    summary = summary_of(state)
    assert isinstance(summary, RunSummary), state
    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            t = tables.dpa_products
            stored = {r.product_id: r for r in conn.execute(sa.select(t))}
        ledger = recent_runs(eng, flow="dpa-daily", limit=1)[0]
    finally:
        eng.dispose()
    assert set(stored) == all_ids - {bad}
    assert stored[long_].title == "标" * 511 + TRUNCATION_MARKER
    assert summary.status is RunStatus.PARTIAL
    (named,) = summary.rejected_named()
    assert f"product_id={bad}" in named and "price" in named and "DECIMAL(18, 2)" in named
    assert any(f"product_id={long_}" in n and "truncated to 512" in n for n in summary.normalised)
    assert ledger.status.value == "PARTIAL" and f"product_id={bad}" in (ledger.error or "")
