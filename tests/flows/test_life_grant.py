"""A 来客 grant (account_type PLATFORM_ROLE_LIFE, no 工作台 in the consent) syncs its local
accounts end to end: discovery through v3.0/local/life/advertiser/list, then laike-daily's
reports into the DB, and accounts-hourly's ad_accounts."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from flows.accounts import accounts_hourly
from flows.laike import laike_daily
from flows.run_cli import execute
from flows.runtime import reset_runtime
from flows.summary import RunStatus, RunSummary
from flows.sync_run import summary_of
from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.settings import get_settings
from sandbox.server import Sandbox
from tests.flows.sandboxed import point_at
from token_store.api import build_token_store

LIFE_LIST = "v3.0/local/life/advertiser/list"
CC_LIST = "v3.0/customer_center/account/list"


@pytest.mark.timeout(180)
def test_life_grant_syncs_its_local_accounts(prefect_server, tmp_path, monkeypatch) -> None:
    with Sandbox(
        state_dir=tmp_path / "sb", profile="fast", n_local_accounts=5, promotions_per_account=4
    ) as sb:
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        point_at(sb, tmp_path / "data", monkeypatch, db_url)
        monkeypatch.delenv("ADSYNC_OCEANENGINE_CC_ACCOUNT_ID", raising=False)  # no 工作台
        get_settings.cache_clear()
        # The consent ticks only the 来客 account (replaces the default grant).
        build_token_store(get_settings()).exchange_auth_code(
            sb.oe.issue_auth_code([sb.data.life_account_id])
        )
        reset_runtime()
        sb.reset_counters()

        summary = execute(laike_daily)
        assert isinstance(summary, RunSummary)
        forbidden = {a.id for a in sb.data.local_accounts if a.forbidden}
        everyone = {a.id for a in sb.data.local_accounts}
        assert {int(a.account_id) for a in summary.accounts} == everyone
        assert {int(a.account_id) for a in summary.failed_accounts} == forbidden
        assert summary.status is (RunStatus.PARTIAL if forbidden else RunStatus.SUCCESS)
        requests = sb.counters()["oceanengine"]["requests"]
        assert requests[LIFE_LIST] >= 1 and CC_LIST not in requests  # no 工作台 involved

        eng = make_engine(db_url)
        try:
            with eng.connect() as conn:
                t = tables.local_promotion_daily
                stored = set(conn.execute(sa.select(t.c.local_account_id).distinct()).scalars())
            assert stored and stored <= everyone - forbidden

            state = accounts_hourly(return_state=True)
            acc = summary_of(state)
            assert isinstance(acc, RunSummary) and acc.status is RunStatus.SUCCESS, acc.text()
            with eng.connect() as conn:
                rows = conn.execute(sa.select(tables.ad_accounts)).mappings().all()
            by_type: dict[str, set[int]] = {}
            for r in rows:
                by_type.setdefault(r["account_type"], set()).add(r["account_id"])
            assert by_type["LOCAL"] == everyone
            assert by_type["LIFE"] == {sb.data.life_account_id}
        finally:
            eng.dispose()
            reset_runtime()
