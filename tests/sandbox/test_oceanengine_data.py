"""The sandbox data generator: deterministic from the seed, big ids, settling metrics, scale."""

from __future__ import annotations

from datetime import date, timedelta

from sandbox.oceanengine.data import (
    LOCAL_METRICS,
    MOTION_COMIC_ADVERTISER_IDS,
    SandboxData,
    settle_factor,
)

TODAY = date(2026, 11, 23)


def _fingerprint(d: SandboxData) -> tuple:
    acc = d.local_accounts[1].id
    day = TODAY - timedelta(days=4)
    sec = d.aweme_accounts[0].aweme_sec_uid
    lib = d.dpa_advertisers[0].platforms[0].platform_id
    return (
        d.cc_account_id,
        [(a.id, a.name, a.forbidden) for a in d.local_accounts],
        d.promotions(acc),
        d.promotion_daily(acc, day),
        [(a.account_id, a.aweme_sec_uid) for a in d.aweme_accounts],
        d.douplus_orders(sec),
        d.dpa_products(lib),
    )


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = SandboxData.generate(seed=42, today=TODAY)
    b = SandboxData.generate(seed=42, today=TODAY)
    c = SandboxData.generate(seed=43, today=TODAY)
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)
    assert a.local_accounts[0].id != c.local_accounts[0].id


def test_defaults_accounts_ids_and_names() -> None:
    d = SandboxData.generate(today=TODAY)
    assert len(d.local_accounts) == 7
    assert sum(a.forbidden for a in d.local_accounts) == 1
    ids = [a.id for a in d.local_accounts] + [d.cc_account_id]
    ids += [p.promotion_id for a in d.local_accounts for p in d.promotions(a.id)]
    assert len(set(ids)) == len(ids)
    assert all(2**53 < i < 2**63 for i in ids)
    names = [a.name for a in d.local_accounts]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names)
    assert any(any(ord(ch) > 0x1F000 for ch in n) for n in names)
    assert len(d.aweme_accounts) == 3
    assert all(a.aweme_sec_uid.startswith("MS4wLjABAAAA") for a in d.aweme_accounts)
    assert len(d.promotions(d.local_accounts[0].id)) == 20
    assert d.promotions(12345) == []


def test_daily_metrics_settle_after_three_days() -> None:
    d = SandboxData.generate(today=TODAY)
    acc = d.local_accounts[0].id
    day = TODAY - timedelta(days=1)
    seen = []
    for shift in range(6):
        d.today = TODAY + timedelta(days=shift)
        seen.append(sum(r["show_cnt"] for r in d.promotion_daily(acc, day)))
    # ages 1, 2, 3 differ and grow; from age 4 on the day is final
    assert seen[0] < seen[1] < seen[2] < seen[3]
    assert seen[3] == seen[4] == seen[5]
    assert settle_factor(TODAY + timedelta(days=1), TODAY) == 0.0
    d.today = TODAY
    assert d.promotion_daily(acc, TODAY + timedelta(days=1)) == []
    row = d.promotion_daily(acc, TODAY - timedelta(days=30))[0]
    assert set(row) >= LOCAL_METRICS


def test_douplus_orders_share_videos_and_money_is_fen() -> None:
    d = SandboxData.generate(today=TODAY)
    for acc in d.aweme_accounts:
        orders = d.douplus_orders(acc.aweme_sec_uid)
        assert len(orders) == 12
        videos = [o.item_id for o in orders if o.scene_type == "VIDEO"]
        assert len(set(videos)) < len(videos)  # several orders per video
        for o in orders:
            stats = [d.order_daily(o, day) for day in o.days()]
            spent = sum(s["stat_cost"] for s in stats if s)
            assert all(type(s["stat_cost"]) is int for s in stats if s)
            assert 0 < spent <= o.budget_fen


def test_dpa_motion_comic_products() -> None:
    d = SandboxData.generate(today=TODAY)
    advertisers = {a.advertiser_id: a for a in d.dpa_advertisers}
    assert set(MOTION_COMIC_ADVERTISER_IDS) <= set(advertisers)
    total = 0
    for adv in advertisers.values():
        for lib in adv.platforms:
            products = d.dpa_products(lib.platform_id)
            total += len(products)
            for p in products:
                if adv.motion_comic:
                    assert p["profession"]["album_id"].isdigit()
                    assert "album_link" in p["profession"]
                assert all(isinstance(v, str) for v in p["profession"].values())
    assert total == 250


def test_scales_lazily_to_ten_thousand_accounts() -> None:
    d = SandboxData.generate(n_local_accounts=10_000, promotions_per_account=200, today=TODAY)
    last = d.local_accounts[-1].id
    assert len(d.promotions(last)) == 200
    assert d.local_account(last) is d.local_accounts[-1]
    # Lazily: only the account asked for has its promotions generated (not 2M of them).
    assert d.promotions.cache_info().currsize == 1
