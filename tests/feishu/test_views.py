"""Per-account views: create, rename, patch a wrong filter, the 200-view cap, the view cache."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa

from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from integrations.feishu import view_map
from integrations.feishu.client import CallStats
from integrations.feishu.schema import TableHandle
from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY as SPEC
from integrations.feishu.views import ViewsResult, ensure_views, sanitize_view_name, view_names
from tests.feishu.conftest import Feishu, promotion_rows, table_id

BASE_ID = 1854347260793866


def _filters(feishu: Feishu, tid: str) -> dict[str, str]:
    out = {}
    for v in feishu.sim.views(feishu.sim.app_token, tid):
        conds = ((v.get("property") or {}).get("filter_info") or {}).get("conditions") or []
        if conds:
            out[v["view_name"]] = json.loads(conds[0]["value"])[0]
    return out


def test_250_accounts_give_200_views_a_warning_and_all_records(
    feishu: Feishu, sink: BitableSink, caplog: pytest.LogCaptureFixture
) -> None:
    rows = promotion_rows(500, accounts=250)
    assert sink.upsert(SPEC, rows).created == 500
    accounts = {BASE_ID + i: f"账户{(BASE_ID + i) % 1000}" for i in range(250)}
    h = sink.ensure_table(SPEC)
    with caplog.at_level(logging.WARNING):
        res = ensure_views(sink.api, h, accounts)
    views = feishu.sim.views(feishu.sim.app_token, h.table_id)
    assert len(views) == 200  # the default view + 199 account views
    assert res.created == 199 and len(res.without_view) == 51
    assert str(BASE_ID + 249) in res.without_view[-1]
    # One short line: the count and the first few accounts, never all 51 (issue 20).
    (line,) = [r.getMessage() for r in caplog.records if "cap of 200 views" in r.getMessage()]
    assert "51 account(s) have no view" in line and res.without_view[0] in line
    assert str(BASE_ID + 249) not in line and line.endswith("…")
    assert len(feishu.sim.records(feishu.sim.app_token, h.table_id)) == 500
    # Each view filters on the account-id text field with its own id.
    f = _filters(feishu, h.table_id)
    assert f[accounts[BASE_ID]] == str(BASE_ID)
    account_field = h.fields["local_account_id"].field_id
    v0 = next(v for v in views if v["view_name"] == accounts[BASE_ID])
    assert v0["property"]["filter_info"]["conditions"][0]["field_id"] == account_field
    # The business-key column is hidden in every view we made, the default view included.
    key_field = h.fields["business_key"].field_id
    assert all(v["property"]["hidden_fields"] == [key_field] for v in views)

    feishu.sim.reset_counters()
    again = ensure_views(sink.api, h, accounts)
    assert again.unchanged == 199 and feishu.writes() == 0


def test_rename_and_wrong_filter(feishu: Feishu, sink: BitableSink) -> None:
    sink.upsert(SPEC, promotion_rows(6, accounts=3))
    h = sink.ensure_table(SPEC)
    accounts = {BASE_ID: "北京店", BASE_ID + 1: "上海店", BASE_ID + 2: "广州店"}
    assert ensure_views(sink.api, h, accounts).created == 3

    # The account was renamed upstream: its view follows (found by its filter, not its name).
    accounts[BASE_ID] = "北京旗舰店"
    # Someone pointed 上海店's view at another account.
    api = sink.api
    sh = next(v for v in api.list_views(h.table_id) if v.view_name == "上海店")
    fid = h.fields["local_account_id"].field_id
    api.patch_view(h.table_id, sh.view_id, filter_conditions=[(fid, "is", '["42"]')])

    feishu.sim.reset_counters()
    res = ensure_views(api, h, accounts)
    assert (res.renamed, res.patched, res.created, res.unchanged) == (1, 1, 0, 1)
    assert feishu.writes() == 2
    f = _filters(feishu, table_id(feishu, SPEC.name))
    assert f == {"北京旗舰店": str(BASE_ID), "上海店": str(BASE_ID + 1), "广州店": str(BASE_ID + 2)}


def test_a_view_create_lost_in_transport_is_settled_in_the_same_run(
    feishu: Feishu, sink: BitableSink
) -> None:
    """An HTML 502 on a create (not created) → listed, then created once more: one view per
    account, each with its filter, nothing failed."""
    sink.upsert(SPEC, promotion_rows(6, accounts=3))
    h = sink.ensure_table(SPEC)
    accounts = {BASE_ID: "北京店", BASE_ID + 1: "上海店", BASE_ID + 2: "广州店"}
    feishu.sim.knobs.fault_schedule = [("views.create", 2, "html_502")]
    res = ensure_views(sink.api, h, accounts)
    assert res.failed == [] and res.created == 3, res
    names = [v["view_name"] for v in feishu.sim.views(feishu.sim.app_token, h.table_id)]
    assert sorted(n for n in names if n in accounts.values()) == sorted(accounts.values())
    assert _filters(feishu, h.table_id) == {n: str(a) for a, n in accounts.items()}


def test_view_names_are_sanitised_and_unique() -> None:
    assert sanitize_view_name("[测试] 店", "1") == "(测试) 店"
    assert sanitize_view_name("  ", "123") == "123"
    assert len(sanitize_view_name("长" * 300, "1")) == 100
    names = view_names({"111222333": "同名", "444555666": "同名", "7": "别名"})
    assert names == {"111222333": "同名 (222333)", "444555666": "同名 (555666)", "7": "别名"}
    long = view_names({"1000001": "x" * 120, "2000001": "x" * 120})
    assert all(len(n) <= 100 for n in long.values()) and len(set(long.values())) == 2
    clash = view_names({"1000001": "a", "2000001": "a"})  # same last 6 digits
    assert len(set(clash.values())) == 2


# --- the view cache (bitable_view_map) ---------------------------------------------------------

N = 30  # accounts; the table also has its default view


@pytest.fixture
def view_engine(any_db_url: str) -> Iterator[sa.Engine]:
    """A migrated database on each backend for the view cache (server DBs shared per session;
    each test's simulator has its own app_token, so their rows never mix)."""
    upgrade(any_db_url)
    e = make_engine(any_db_url)
    yield e
    e.dispose()


def _accounts(n: int = N) -> dict[int, str]:
    return {BASE_ID + i: f"门店{i:02d}" for i in range(n)}


def _run(
    feishu: Feishu, h: TableHandle, accounts: Mapping[int, str], engine: sa.Engine | None
) -> tuple[ViewsResult, CallStats]:
    """One "flow run": a fresh client (fresh call stats) through ensure_views."""
    api = feishu.api()
    res = ensure_views(api, h, accounts, engine=engine)
    return res, api.stats


def _by_account(feishu: Feishu, tid: str) -> dict[str, list[str]]:
    """account id → names of the views filtering on it (more than one = a duplicate)."""
    out: dict[str, list[str]] = {}
    for name, aid in _filters(feishu, tid).items():
        out.setdefault(aid, []).append(name)
    return out


def _expected(accounts: Mapping[int, str]) -> dict[str, list[str]]:
    return {str(a): [n] for a, n in accounts.items()}


def _cache(engine: sa.Engine, feishu: Feishu, tid: str) -> dict[str, view_map.ViewEntry]:
    with engine.connect() as conn:
        return view_map.load(conn, feishu.sim.app_token, tid)


def test_cached_warm_run_reads_a_slice_and_writes_nothing(
    feishu: Feishu, sink: BitableSink, view_engine: sa.Engine
) -> None:
    h = sink.ensure_table(SPEC)
    accounts = _accounts()
    first, s1 = _run(feishu, h, accounts, view_engine)
    assert first.created == N
    n_views = N + 1
    # Only the default view existed: one read; views we create are cached without a read.
    assert s1.calls["views.list"] == 1 and s1.calls["views.get"] == 1
    assert len(_cache(view_engine, feishu, h.table_id)) == n_views

    at_start = {vid: e.verified_at for vid, e in _cache(view_engine, feishu, h.table_id).items()}
    second, s2 = _run(feishu, h, accounts, view_engine)
    assert second.unchanged == N and second.created == second.renamed == second.patched == 0
    assert s2.calls["views.list"] == 1
    assert s2.calls["views.get"] <= math.ceil(N / 7) == math.ceil(n_views / 7) == 5
    assert s2.writes == 0

    # Every view is re-read within 7 warm runs (the rotation), each run reading a slice only.
    for _ in range(6):
        _, s = _run(feishu, h, accounts, view_engine)
        assert s.calls["views.get"] <= 5 and s.writes == 0
    after = _cache(view_engine, feishu, h.table_id)
    assert all(after[vid].verified_at > at for vid, at in at_start.items())
    assert set(after) == set(at_start)
    assert _by_account(feishu, h.table_id) == _expected(accounts)

    # Without an engine nothing changes: every view is read on every call.
    _, s = _run(feishu, h, accounts, None)
    assert s.calls["views.get"] == n_views and s.writes == 0


@pytest.mark.parametrize("edited, target", [(0, 5), (5, 0)])
def test_filter_edited_out_of_band_is_repaired_within_7_runs_without_duplicates(
    feishu: Feishu, sink: BitableSink, view_engine: sa.Engine, edited: int, target: int
) -> None:
    h = sink.ensure_table(SPEC)
    accounts = _accounts()
    _run(feishu, h, accounts, view_engine)
    # A user points account `edited`'s view at account `target` (two views now filter on it).
    api = feishu.api()
    v = next(v for v in api.list_views(h.table_id) if v.view_name == accounts[BASE_ID + edited])
    fid = h.fields["local_account_id"].field_id
    api.patch_view(
        h.table_id, v.view_id, filter_conditions=[(fid, "is", f'["{BASE_ID + target}"]')]
    )
    n_views = len(feishu.sim.views(feishu.sim.app_token, h.table_id))

    patched = runs = 0
    while runs < 7:
        runs += 1
        res, s = _run(feishu, h, accounts, view_engine)
        assert res.created == res.renamed == 0 and not res.warnings
        assert len(feishu.sim.views(feishu.sim.app_token, h.table_id)) == n_views
        patched += res.patched
        if _by_account(feishu, h.table_id) == _expected(accounts):
            break
    assert _by_account(feishu, h.table_id) == _expected(accounts), f"not repaired in {runs} runs"
    assert patched == 1
    # Repaired for good: the next run trusts the cache again and writes nothing.
    res, s = _run(feishu, h, accounts, view_engine)
    assert s.writes == 0 and s.calls["views.get"] <= 5
    assert _cache(view_engine, feishu, h.table_id)[v.view_id].account_id == str(BASE_ID + edited)


def test_view_deleted_or_renamed_out_of_band_is_fixed_next_run(
    feishu: Feishu, sink: BitableSink, view_engine: sa.Engine
) -> None:
    h = sink.ensure_table(SPEC)
    accounts = _accounts()
    _run(feishu, h, accounts, view_engine)
    tid, token = h.table_id, feishu.sim.app_token
    views = {v["view_name"]: v["view_id"] for v in feishu.sim.views(token, tid)}

    # Deleted in the UI: recreated on the next run (and its cache row dropped).
    gone = views[accounts[BASE_ID + 3]]
    feishu.sim.drop_view(token, tid, gone)
    res, s = _run(feishu, h, accounts, view_engine)
    assert (res.created, res.renamed, res.patched) == (1, 0, 0)
    assert s.calls["views.create"] == 1 and s.writes == 2  # create + set its filter
    assert _by_account(feishu, tid) == _expected(accounts)
    cache = _cache(view_engine, feishu, tid)
    assert gone not in cache and len(cache) == N + 1

    # Renamed in Feishu: the name no longer matches the cache, so it is read and renamed back.
    api = feishu.api()
    renamed = views[accounts[BASE_ID + 7]]
    api.patch_view(tid, renamed, name="随便起的名字")
    res, s = _run(feishu, h, accounts, view_engine)
    assert (res.created, res.renamed, res.patched) == (0, 1, 0)
    assert s.writes == 1 and s.calls["views.get"] <= 1 + 5
    assert _by_account(feishu, tid) == _expected(accounts)
    assert _cache(view_engine, feishu, tid)[renamed].view_name == accounts[BASE_ID + 7]


def test_a_wrong_cache_never_drives_a_write(
    feishu: Feishu, sink: BitableSink, view_engine: sa.Engine
) -> None:
    h = sink.ensure_table(SPEC)
    accounts = _accounts()
    _run(feishu, h, accounts, view_engine)
    tid, token = h.table_id, feishu.sim.app_token
    # Corrupt every cached account id: shifted by one account, or "" (not ours), fresh stamps.
    cache = _cache(view_engine, feishu, tid)
    ids = [str(a) for a in accounts]
    wrong = [
        (vid, "" if i % 4 == 0 else ids[(ids.index(e.account_id) + 1) % N], e.view_name)
        for i, (vid, e) in enumerate(cache.items())
        if e.account_id
    ]
    with view_engine.begin() as conn:
        view_map.put(conn, token, tid, wrong, view_map.now())

    res, s = _run(feishu, h, accounts, view_engine)
    # An account seemingly without a view means reading every view before any write: no writes.
    assert s.writes == 0 and res.unchanged == N
    assert _by_account(feishu, tid) == _expected(accounts)
    fixed = _cache(view_engine, feishu, tid)
    assert {fixed[vid].account_id for vid, _, _ in wrong} == set(ids)


def test_rename_reads_the_view_first_and_a_crash_leaves_it_uncached(
    feishu: Feishu, sink: BitableSink, view_engine: sa.Engine
) -> None:
    h = sink.ensure_table(SPEC)
    accounts = _accounts()
    _run(feishu, h, accounts, view_engine)
    tid = h.table_id
    vid = next(
        v["view_id"]
        for v in feishu.sim.views(feishu.sim.app_token, tid)
        if v["view_name"] == accounts[BASE_ID + 2]
    )
    accounts[BASE_ID + 2] = "门店02 改名"  # renamed upstream

    # The process dies right after Feishu applied the rename, before the cache is written.
    api = feishu.api()
    real_patch = api.patch_view

    def patch_then_die(*a: Any, **kw: Any) -> Any:
        real_patch(*a, **kw)
        raise RuntimeError("killed")

    api.patch_view = patch_then_die  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        ensure_views(api, h, accounts, engine=view_engine)
    assert api.stats.calls["views.get"] >= 1  # the renamed view was read before the write
    assert vid not in _cache(view_engine, feishu, tid)  # forgotten before the write

    res, s = _run(feishu, h, accounts, view_engine)
    assert s.writes == 0 and res.unchanged == N
    assert _by_account(feishu, tid) == _expected(accounts)
    assert _cache(view_engine, feishu, tid)[vid].view_name == "门店02 改名"
