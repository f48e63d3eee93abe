"""Ocean Engine simulator realism knobs: QPS limit, latency, faults, hostile data, counters."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest

from sandbox.oceanengine.app import OceanEngineKnobs
from sandbox.oceanengine.data import MOTION_COMIC_ADVERTISER_IDS
from sandbox.oceanengine.knobs import FaultRule
from tests.sandbox.oceanengine_harness import OE, assert_big_id, assert_envelope, served_oe

ORDER_LIST = "v3.0/douplus/order/list"


def _orders(oe: OE, timeout: float | None = None) -> httpx.Response:
    sec = oe.data.aweme_accounts[0].aweme_sec_uid
    return oe.http.get(
        f"{oe.url}/open_api/{ORDER_LIST}/",
        params={"aweme_sec_uid": sec},
        headers={"Access-Token": oe.token or ""},
        timeout=timeout or 10,
    )


async def _burst(oe: OE, n: int) -> list[int]:
    sec = oe.data.aweme_accounts[0].aweme_sec_uid
    async with httpx.AsyncClient(headers={"Access-Token": oe.token or ""}) as c:
        rs = await asyncio.gather(
            *(
                c.get(f"{oe.url}/open_api/{ORDER_LIST}/", params={"aweme_sec_uid": sec})
                for _ in range(n)
            )
        )
    return [r.json()["code"] for r in rs]


def test_qps_limit_answers_40100_with_http_200() -> None:
    with served_oe() as oe:
        oe.sim.knobs.qps_limit = 5
        time.sleep(1.05)  # the login call must leave the window
        codes = asyncio.run(_burst(oe, 12))
        assert codes.count(0) == 5 and codes.count(40100) == 7
        r = _orders(oe)
        assert r.status_code == 200 and r.json()["code"] == 40100
        assert r.json()["data"] == {}
        time.sleep(1.05)
        assert _orders(oe).json()["code"] == 0
        assert oe.sim.counters_snapshot()["codes"][ORDER_LIST]["40100"] == 8
        oe.sim.knobs.qps_limit = None
        assert asyncio.run(_burst(oe, 30)).count(0) == 30


async def _timed(oe: OE, calls: list[tuple[str, dict]]) -> list[tuple[float, float]]:
    """(start, end) of concurrent calls; ordering assertions on them hold on a busy machine."""

    async def one(c: httpx.AsyncClient, path: str, params: dict) -> tuple[float, float]:
        t0 = time.monotonic()
        r = await c.get(f"{oe.url}/open_api/{path}/", params=params)
        assert r.json()["code"] == 0
        return t0, time.monotonic()

    async with httpx.AsyncClient(headers={"Access-Token": oe.token or ""}) as c:
        return list(await asyncio.gather(*(one(c, p, q) for p, q in calls)))


def test_latency_is_added_and_concurrent_calls_overlap() -> None:
    dpa = "2/dpa/product/availables"
    knobs = OceanEngineKnobs(latency_ms=300, endpoint_latency_ms={dpa: (0, 0)})
    with served_oe(knobs=knobs) as oe:
        t0 = time.monotonic()
        assert _orders(oe).json()["code"] == 0
        assert time.monotonic() - t0 >= 0.3  # a lower bound: load only adds to it
        sec = oe.data.aweme_accounts[0].aweme_sec_uid
        spans = asyncio.run(_timed(oe, [(ORDER_LIST, {"aweme_sec_uid": sec})] * 8))
        # Overlapping, not one after another: every call started before any answer came.
        assert max(s for s, _ in spans) < min(e for _, e in spans)
        # Per-endpoint override: the DPA call, sent after a 300 ms call, is answered first.
        adv = MOTION_COMIC_ADVERTISER_IDS[0]
        (slow_start, slow_end), (fast_start, fast_end) = asyncio.run(
            _timed(oe, [(ORDER_LIST, {"aweme_sec_uid": sec}), (dpa, {"advertiser_id": adv})])
        )
        assert slow_start <= fast_start and fast_end < slow_end


def test_scheduled_faults_hit_the_nth_call() -> None:
    with served_oe() as oe:
        oe.sim.reset_counters()
        oe.sim.knobs.fault_schedule = [
            (ORDER_LIST, 2, "html_502"),
            (ORDER_LIST, 3, "code_50000"),
            FaultRule(ORDER_LIST, 5, "token_revoked"),
        ]
        assert _orders(oe).json()["code"] == 0
        r = _orders(oe)
        assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
        assert "502 Bad Gateway" in r.text
        r = _orders(oe)
        assert r.status_code == 200 and r.json()["code"] == 50000
        assert _orders(oe).json()["code"] == 0
        assert _orders(oe).json()["code"] == 40105
        assert _orders(oe).json()["code"] == 40105  # that token stays dead
        oe.token = oe.refresh(oe.tokens["refresh_token"])["data"]["access_token"]
        assert _orders(oe).json()["code"] == 0
        snap = oe.sim.counters_snapshot()
        assert snap["faults"] == {"code_50000": 1, "html_502": 1, "token_revoked": 1}
        assert snap["codes"][ORDER_LIST] == {"0": 3, "40105": 2, "50000": 1, "http_502": 1}


def test_timeout_fault_outlives_the_client_but_side_effects_happen() -> None:
    with served_oe() as oe:
        oe.sim.knobs.timeout_sleep_s = 1.5
        oe.sim.knobs.fault_schedule = [(ORDER_LIST, 1, "timeout")]
        oe.sim.reset_counters()
        with pytest.raises(httpx.ReadTimeout):
            _orders(oe, timeout=0.4)
        # a refresh that times out still rotated: the old refresh token is dead
        oe.sim.knobs.fault_schedule = [("oauth2/refresh_token", 1, "timeout")]
        with pytest.raises(httpx.ReadTimeout):
            oe.http.post(
                f"{oe.url}/open_api/oauth2/refresh_token/",
                json={
                    "app_id": oe.sim.app_id,
                    "secret": oe.sim.app_secret,
                    "refresh_token": oe.tokens["refresh_token"],
                },
                timeout=0.4,
            )
        assert oe.refresh(oe.tokens["refresh_token"])["code"] == 40107


def test_wildcard_schedule_and_bad_rules() -> None:
    with served_oe() as oe:
        oe.sim.reset_counters()
        oe.sim.knobs.fault_schedule = [("*", 2, "code_50000")]
        assert _orders(oe).json()["code"] == 0
        assert oe.get("oauth2/advertiser/get")["code"] == 50000
    with pytest.raises(ValueError):
        FaultRule(ORDER_LIST, 1, "meteor")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        OceanEngineKnobs(fault_rate={"meteor": 0.1})


def _codes_under_rate(seed: int) -> list[int | str]:
    knobs = OceanEngineKnobs(fault_rate={"code_50000": 0.3, "html_502": 0.2}, fault_seed=seed)
    with served_oe(knobs=knobs) as oe:
        out: list[int | str] = []
        for _ in range(40):
            r = _orders(oe)
            out.append(r.json()["code"] if r.status_code == 200 else r.status_code)
        return out


def test_random_faults_are_seeded_and_only_hit_data_calls() -> None:
    first, again, other = _codes_under_rate(1), _codes_under_rate(1), _codes_under_rate(2)
    assert first == again
    assert first != other
    assert 0 in first and 50000 in first and 502 in first
    # login (an OAuth call) went through untouched each time: served_oe asserts code 0


def test_hostile_data_toggles() -> None:
    knobs = OceanEngineKnobs(
        hostile_numbers_as_strings=True,
        hostile_dash_for_empty=True,
        hostile_missing_optional=True,
        hostile_fraction=0.5,
    )
    with served_oe(knobs=knobs) as oe:
        acc = next(a.id for a in oe.data.local_accounts if not a.forbidden)
        y = oe.data.today - timedelta(days=3)
        rows = oe.get(
            "v3.0/local/report/promotion/get",
            local_account_id=acc,
            start_date=str(y - timedelta(days=5)),
            end_date=str(y),
            metrics=["stat_cost", "show_cnt", "luban_live_enter_cnt", "live_oto_pay_order_roi"],
            page_size=100,
        )["data"]["promotion_list"]
        values = [r[m] for r in rows for m in ("stat_cost", "show_cnt", "luban_live_enter_cnt")]
        assert any(isinstance(v, str) and v not in ("-",) for v in values)
        assert any(v == "-" for v in values)
        assert any(isinstance(v, int | float) for v in values)
        assert any("project_name" not in r for r in rows)
        for r in rows:
            assert_big_id(r["promotion_id"])  # ids are never quoted
        adv = MOTION_COMIC_ADVERTISER_IDS[0]
        lib = oe.get("2/dpa/product/availables", advertiser_id=adv)["data"]["list"][0][
            "platform_id"
        ]
        products = oe.get(
            "2/dpa/detail/get", advertiser_id=adv, product_platform_id=lib, page_size=100
        )["data"]["list"]
        assert any("album_link" not in p["profession"] for p in products)
        assert all("album_id" in p["profession"] for p in products)


def test_profiles() -> None:
    fast = OceanEngineKnobs.for_profile("fast")
    assert (fast.latency_ms, fast.qps_limit, fast.fault_rate) == (0, None, {})
    real = OceanEngineKnobs.for_profile("realistic")
    assert (real.latency_ms, real.jitter_ms, real.qps_limit) == (120, 40, 20)
    assert real.fault_rate == {} and not real.hostile_numbers_as_strings
    chaos = OceanEngineKnobs.for_profile("chaos")
    assert chaos.qps_limit == 10 and chaos.latency_ms == 120
    assert set(chaos.fault_rate) == {"html_502", "timeout", "code_50000", "token_revoked"}
    assert all(0 < v <= 0.05 for v in chaos.fault_rate.values())
    assert chaos.hostile_dash_for_empty
    with pytest.raises(ValueError):
        OceanEngineKnobs.for_profile("slow")


def test_counters_over_http_and_reset() -> None:
    with served_oe() as oe:
        oe.raw_get(ORDER_LIST)  # 40104
        _orders(oe)
        snap = httpx.get(f"{oe.url}/_sandbox/counters").json()
        assert snap["requests"] == {"oauth2/access_token": 1, ORDER_LIST: 2}
        assert snap["codes"][ORDER_LIST] == {"0": 1, "40104": 1}
        assert snap["total"] == 3
        assert httpx.post(f"{oe.url}/_sandbox/counters/reset").json() == {"ok": True}
        assert httpx.get(f"{oe.url}/_sandbox/counters").json()["total"] == 0
        code = httpx.post(f"{oe.url}/_sandbox/auth_code").json()["auth_code"]
        assert_envelope(oe.exchange(code))
