"""Ocean Engine simulator serving several developer apps (tenants, issue 20): codes and refresh
tokens are bound to their app, each app has its own QPS window, one app's consents can be
withdrawn alone. With one app the behaviour is unchanged (the rest of tests/sandbox)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from sandbox.oceanengine.app import OceanEngineKnobs
from tests.sandbox.oceanengine_harness import OE, assert_envelope, served_oe

APP_B, SECRET_B = 1_790_000_000_000_002, "secret-of-app-b-1234"
THROTTLED = 40100


@pytest.fixture
def oe() -> Iterator[OE]:
    with served_oe(login=False) as h:
        h.sim.add_app(APP_B, SECRET_B)
        yield h


def _post(oe: OE, endpoint: str, app: tuple[int, str], **body: object) -> dict:
    return oe.post(endpoint, {"app_id": app[0], "secret": app[1], **body})


def test_codes_and_refresh_tokens_are_bound_to_their_app(oe: OE) -> None:
    a, b = (oe.sim.app_id, oe.sim.app_secret), (APP_B, SECRET_B)
    code_b = oe.sim.issue_auth_code(app_id=APP_B)
    assert _post(oe, "oauth2/access_token", a, auth_code=code_b)["code"] == 40110
    got = assert_envelope(_post(oe, "oauth2/access_token", b, auth_code=code_b))
    refresh_b = got["refresh_token"]
    assert _post(oe, "oauth2/refresh_token", a, refresh_token=refresh_b)["code"] != 0
    assert _post(oe, "oauth2/refresh_token", b, refresh_token=refresh_b)["code"] == 0
    assert _post(oe, "oauth2/access_token", (APP_B, "wrong"), auth_code="x")["code"] != 0
    with pytest.raises(ValueError, match="not served"):
        oe.sim.issue_auth_code(app_id=42)


def test_each_app_has_its_own_qps_window_and_revocation(oe: OE) -> None:
    oe.sim.knobs = OceanEngineKnobs(qps_limit=3)
    tokens = {}
    for app, secret in ((oe.sim.app_id, oe.sim.app_secret), (APP_B, SECRET_B)):
        code = oe.sim.issue_auth_code(app_id=app)
        tokens[app] = assert_envelope(
            _post(oe, "oauth2/access_token", (app, secret), auth_code=code)
        )["access_token"]
    time.sleep(1.1)  # the exchanges leave the rolling window
    ep = "oauth2/advertiser/get"
    codes_a = [oe.raw_get(ep, tokens[oe.sim.app_id]).json()["code"] for _ in range(3)]
    codes_b = [oe.raw_get(ep, tokens[APP_B]).json()["code"] for _ in range(3)]
    # 3 each: within each app's own limit (one shared window would throttle B's calls).
    assert THROTTLED not in codes_a + codes_b

    time.sleep(1.1)
    assert oe.sim.auth.revoke_app(oe.sim.app_id) == 1
    assert oe.raw_get(ep, tokens[oe.sim.app_id]).json()["code"] == 40105
    assert oe.raw_get(ep, tokens[APP_B]).json()["code"] == 0


def test_counters_count_each_apps_calls_throttles_and_peak_second(oe: OE) -> None:
    """``counters_snapshot()["apps"]``: per app, the calls its window accepted and throttled and
    the most accepted in one rolling second (never above the limit); reset clears it."""
    limit = 3
    tokens = {}
    for app, secret in ((oe.sim.app_id, oe.sim.app_secret), (APP_B, SECRET_B)):
        code = oe.sim.issue_auth_code(app_id=app)
        tokens[app] = assert_envelope(
            _post(oe, "oauth2/access_token", (app, secret), auth_code=code)
        )["access_token"]
    oe.sim.knobs = OceanEngineKnobs(qps_limit=limit)
    oe.sim.reset_counters()
    assert oe.sim.counters_snapshot()["apps"] == {}
    time.sleep(1.1)  # the exchanges leave the rolling window
    ep = "oauth2/advertiser/get"
    codes_a: list[int] = []
    while THROTTLED not in codes_a and len(codes_a) < 200:  # A calls until it is throttled
        codes_a.append(oe.raw_get(ep, tokens[oe.sim.app_id]).json()["code"])
    codes_b = [oe.raw_get(ep, tokens[APP_B]).json()["code"] for _ in range(2)]

    apps = oe.sim.counters_snapshot()["apps"]
    a, b = apps[str(oe.sim.app_id)], apps[str(APP_B)]
    assert a["accepted"] + a["throttled"] == len(codes_a)
    assert a["throttled"] == codes_a.count(THROTTLED) == 1
    assert a["peak_per_s"] == limit  # full when it throttled, never above
    assert (b["accepted"], b["throttled"]) == (2, 0)  # its own window
    assert 1 <= b["peak_per_s"] <= 2
    assert THROTTLED not in codes_b
    assert oe.sim.counters_snapshot()["total"] == len(codes_a) + 2  # existing keys unchanged

    oe.sim.reset_counters()
    assert oe.sim.counters_snapshot()["apps"] == {}
