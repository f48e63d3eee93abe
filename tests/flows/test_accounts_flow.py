"""accounts-hourly end to end: sandbox over real HTTP, events read back from the Prefect server,
and the renamed account's Bitable view renamed by the next DPA sink run."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from prefect import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

from flows.accounts import accounts_hourly
from flows.dpa import dpa_daily
from flows.summary import RunSummary
from flows.sync_run import summary_of
from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.events import DEFAULT_POLICY
from integrations.feishu.specs import DPA_PRODUCTS
from integrations.settings import get_settings
from sandbox.server import Sandbox
from tests.flows.sandboxed import db_snapshot, point_at
from tests.flows.test_dpa_flow import _views
from tests.ops.receiver import SECRET, Receiver

EVENTS_TIMEOUT_S = 240  # polled; returns as soon as they are in (a loaded server persists late)


def read_account_events(since: datetime, expect: int) -> list:
    """adsync.account.* events since ``since``, read through the Prefect API (polled: the
    server persists events asynchronously)."""
    flt = EventFilter(
        event=EventNameFilter(prefix=["adsync.account."]),
        occurred=EventOccurredFilter(since=since, until=datetime.now(UTC) + timedelta(hours=1)),
    )
    deadline = time.monotonic() + EVENTS_TIMEOUT_S
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_events(filter=flt, limit=50)
            events = list(page.events)
            while page.next_page is not None:
                page = client.read_events_page(page.next_page)
                events.extend(page.events)
            if len(events) >= expect or time.monotonic() > deadline:
                return events
            time.sleep(0.5)


def _summary(state) -> RunSummary:
    s = summary_of(state)
    assert isinstance(s, RunSummary), state
    return s


def _accounts(db_url: str) -> dict[tuple[str, int], dict]:
    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.select(tables.ad_accounts)).mappings()
            return {(r["account_type"], r["account_id"]): dict(r) for r in rows}
    finally:
        eng.dispose()


@pytest.mark.timeout(600)  # a loaded machine slows the Prefect server, not the logic
def test_account_changes_emit_events_and_rename_views(prefect_server, tmp_path, monkeypatch):
    with Sandbox(profile="fast", n_dpa_products=30) as sb:
        point_at(sb, tmp_path / "data", monkeypatch)
        db_url = get_settings().db_url
        data = sb.data

        # First run: every account is new.
        t0 = datetime.now(UTC) - timedelta(seconds=1)
        state = accounts_hourly(return_state=True)
        s = _summary(state)
        assert state.is_completed(), s.text()
        n_oauth = 1 + len(data.aweme_accounts) + len(data.dpa_advertisers)
        n_local = len(data.local_accounts)
        stored = _accounts(db_url)
        assert len(stored) == n_oauth + n_local
        local0 = data.local_accounts[0]
        assert stored[("LOCAL", local0.id)]["account_name"] == local0.name
        aweme0 = data.aweme_accounts[0]
        assert stored[("AWEME", aweme0.account_id)]["account_string_id"] == aweme0.aweme_sec_uid
        assert not any(r["removed"] for r in stored.values())
        added = read_account_events(t0, n_oauth + n_local)
        assert {e.event for e in added} == {"adsync.account.added"}
        assert len(added) == n_oauth + n_local

        # The DPA flow creates one view per advertiser.
        assert dpa_daily(return_state=True).is_completed()
        adv0 = data.dpa_advertisers[0]
        assert _views(sb, DPA_PRODUCTS.name)[adv0.name] == f'["{adv0.advertiser_id}"]'

        # Upstream changes between two runs: renames, a lost grant, a vanished local account.
        data.dpa_advertisers[0] = replace(adv0, name="漫剧出海-星河传媒(新)")
        data.local_accounts[0] = replace(local0, name=local0.name + "·改名")
        data.invalid_account_ids.add(aweme0.account_id)
        gone = data.local_accounts.pop()  # the last one: no index shifts for the others
        time.sleep(0.01)
        t1 = datetime.now(UTC)
        state = accounts_hourly(return_state=True)
        s = _summary(state)
        assert state.is_completed(), s.text()
        assert s.sinks["prefect:events"].inserted == 4

        events = read_account_events(t1, 4)
        got = {(e.event, e.resource.id): e for e in events}
        assert set(got) == {
            ("adsync.account.renamed", f"adsync.account.ADVERTISER.{adv0.advertiser_id}"),
            ("adsync.account.renamed", f"adsync.account.LOCAL.{local0.id}"),
            ("adsync.account.disabled", f"adsync.account.AWEME.{aweme0.account_id}"),
            ("adsync.account.removed", f"adsync.account.LOCAL.{gone.id}"),
        }
        ren = got[("adsync.account.renamed", f"adsync.account.ADVERTISER.{adv0.advertiser_id}")]
        assert ren.resource.name == "漫剧出海-星河传媒(新)"
        assert ren.resource["adsync.account.id"] == str(adv0.advertiser_id)
        assert ren.payload["old"] == {"account_name": adv0.name}
        assert ren.payload["new"] == {"account_name": "漫剧出海-星河传媒(新)"}
        # The event is tied to the flow run that saw the change.
        assert any(r.id.startswith("prefect.flow-run.") for r in ren.related)

        after = _accounts(db_url)
        a0 = after[("ADVERTISER", adv0.advertiser_id)]
        assert a0["account_name"] == "漫剧出海-星河传媒(新)"
        assert a0["first_seen_at"] == stored[("ADVERTISER", adv0.advertiser_id)]["first_seen_at"]
        assert after[("AWEME", aweme0.account_id)]["is_valid"] is False
        g = after[("LOCAL", gone.id)]
        assert (
            g["removed"] is True and g["last_seen_at"] == stored[("LOCAL", gone.id)]["last_seen_at"]
        )
        assert a0["last_seen_at"] > stored[("ADVERTISER", adv0.advertiser_id)]["last_seen_at"]

        # The next sink run renames the advertiser's view (found by its filter), nothing else.
        sb.reset_counters()
        assert dpa_daily(return_state=True).is_completed()
        views = _views(sb, DPA_PRODUCTS.name)
        assert views["漫剧出海-星河传媒(新)"] == f'["{adv0.advertiser_id}"]'
        assert adv0.name not in views and len(views) == len(data.dpa_advertisers)
        fs = sb.counters()["feishu"]
        assert (fs["views.patch"], fs["views.create"]) == (1, 0)

        # Rerun: no changes, no events, DB unchanged.
        before = db_snapshot(db_url, tables.ad_accounts)
        t2 = datetime.now(UTC)
        state = accounts_hourly(return_state=True)
        s = _summary(state)
        assert state.is_completed(), s.text()
        db = s.sinks["db:ad_accounts"]
        assert (db.inserted, db.updated) == (0, 0)
        assert s.sinks["prefect:events"].inserted == 0
        assert db_snapshot(db_url, tables.ad_accounts) == before
        time.sleep(2)
        assert read_account_events(t2, 0) == []


@pytest.mark.timeout(600)  # a loaded machine slows the Prefect server, not the logic
def test_a_failing_events_webhook_never_fails_the_sync(
    prefect_server, tmp_path, monkeypatch, caplog
):
    """Account events also go to ADSYNC_EVENTS_WEBHOOK_URL: a receiver that keeps failing costs
    a bounded number of retries and a warning, never the sync; a healthy one gets each event."""
    with Receiver() as recv, Sandbox(profile="fast", n_dpa_products=5) as sb:
        recv.statuses = [500] * 1000
        monkeypatch.setenv("ADSYNC_EVENTS_WEBHOOK_URL", recv.url)
        point_at(sb, tmp_path / "data", monkeypatch)
        data = sb.data
        state = accounts_hourly(return_state=True)
        s = _summary(state)
        assert state.is_completed(), s.text()
        n = len(_accounts(get_settings().db_url))
        assert n == 1 + len(data.aweme_accounts) + len(data.dpa_advertisers) + len(
            data.local_accounts
        )
        warned = [w for w in s.warnings if w.startswith("events webhook:")]
        assert warned == [
            f"events webhook: {n} of {n} account event(s) not forwarded "
            f"(HTTP 500 after {DEFAULT_POLICY.max_attempts} attempt(s)); "
            "the sync itself is unaffected"
        ]
        assert len(recv.bodies) == DEFAULT_POLICY.max_attempts  # bounded retries, then given up

        # The receiver recovers: the next change is delivered once, nothing is re-sent.
        recv.statuses, recv.bodies = [], []
        local0 = data.local_accounts[0]
        data.local_accounts[0] = replace(local0, name=local0.name + "·改名")
        state = accounts_hourly(return_state=True)
        s = _summary(state)
        assert state.is_completed() and not s.warnings, s.text()
        (body,) = recv.bodies
        assert [(e["event"], e["resource"]["prefect.resource.id"]) for e in body["events"]] == [
            ("adsync.account.renamed", f"adsync.account.LOCAL.{local0.id}")
        ]
        assert SECRET not in caplog.text and SECRET not in s.text()
