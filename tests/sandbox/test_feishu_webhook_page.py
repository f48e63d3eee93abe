"""Custom bot webhook (signature, body, rate limit) and the read-only HTML page / counters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lark_oapi.api.bitable.v1 import (
    AppTableRecord,
    BatchCreateAppTableRecordRequest,
    BatchCreateAppTableRecordRequestBody,
)

from integrations.sandbox.feishu_app import FeishuSim
from integrations.sandbox.feishu_errors import FeishuError
from integrations.sandbox.feishu_testkit import lark_client, serve_feishu
from integrations.sandbox.feishu_webhook import WebhookLimiter
from integrations.sandbox.runner import ServedApp


@pytest.fixture
def fs() -> Iterator[tuple[FeishuSim, ServedApp]]:
    with serve_feishu() as pair:
        yield pair


def _signed(secret: str, payload: dict[str, Any], ts: int | None = None) -> dict[str, Any]:
    # Written from the contract (§6), independently of the simulator's implementation.
    timestamp = str(int(time.time()) if ts is None else ts)
    key = f"{timestamp}\n{secret}".encode()
    sign = base64.b64encode(hmac.new(key, digestmod=hashlib.sha256).digest()).decode()
    return {"timestamp": timestamp, "sign": sign, **payload}


TEXT = {"msg_type": "text", "content": {"text": "daily sync OK: 3 rows"}}


def test_signed_webhook_is_accepted_and_recorded(fs) -> None:
    sim, served = fs
    url = served.url + sim.webhook_path
    resp = httpx.post(url, json=_signed(sim.webhook_secret, TEXT))
    assert resp.json() == {
        "StatusCode": 0,
        "StatusMessage": "success",
        "code": 0,
        "data": {},
        "msg": "success",
    }
    card = {
        "msg_type": "interactive",
        "card": {
            "schema": "2.0",
            "header": {"title": {"tag": "plain_text", "content": "Sync failed"}},
            "body": {"elements": [{"tag": "markdown", "content": "**1254291**"}]},
        },
    }
    assert httpx.post(url, json=_signed(sim.webhook_secret, card)).json()["code"] == 0
    assert [m["msg_type"] for m in sim.webhook_messages] == ["text", "interactive"]
    assert sim.webhook_messages[0]["content"]["text"] == "daily sync OK: 3 rows"
    assert sim.counters_snapshot()["webhook"] == 2


def test_bad_signature_stale_timestamp_bad_body_and_unknown_hook(fs) -> None:
    sim, served = fs
    url = served.url + sim.webhook_path
    bad_sign = _signed("wrong-secret", TEXT)
    assert httpx.post(url, json=bad_sign).json()["code"] == 19021
    stale = _signed(sim.webhook_secret, TEXT, ts=int(time.time()) - 3700)
    assert httpx.post(url, json=stale).json()["code"] == 19021
    assert httpx.post(url, json=TEXT).json()["code"] == 19021  # signing is on: sign required
    sim.knobs.webhook_rate_limit = False  # the next calls come faster than 5/s
    not_json = httpx.post(url, content=b"{oops", headers={"Content-Type": "application/json"})
    assert not_json.json() == {"code": 9499, "msg": "Bad Request", "data": {}}
    card_as_string = _signed(sim.webhook_secret, {"msg_type": "interactive", "card": "{}"})
    assert httpx.post(url, json=card_as_string).json()["code"] == 9499
    unknown = httpx.post(served.url + "/open-apis/bot/v2/hook/nope", json=TEXT)
    assert unknown.json()["code"] == 19001
    assert sim.webhook_messages == []


def test_webhook_rate_limit_5_per_second(fs) -> None:
    sim, served = fs
    url = served.url + sim.webhook_path
    sim._webhook_limiter.clock = lambda: 1000.0  # all six posts inside one second, under any load
    codes = [
        httpx.post(url, json=_signed(sim.webhook_secret, TEXT)).json()["code"] for _ in range(6)
    ]
    assert codes == [0, 0, 0, 0, 0, 11232]
    assert len(sim.webhook_messages) == 5


def test_webhook_rate_limit_100_per_minute_then_recovers() -> None:
    now = [0.0]
    limiter = WebhookLimiter(clock=lambda: now[0])
    for _ in range(100):  # 0.3 s apart: never 5 in one second, 100 within 30 s
        limiter.check()
        now[0] += 0.3
    with pytest.raises(FeishuError) as err:
        limiter.check()
    assert err.value.code == 11232
    now[0] += 60.0  # the minute has passed: accepted again
    limiter.check()


def test_html_page_shows_records_after_a_write(fs) -> None:
    sim, served = fs
    tid = sim.add_table(
        sim.app_token,
        "本地推日报",
        [{"field_name": "key", "type": 1}, {"field_name": "消耗(元)", "type": 2}],
    )
    client = lark_client(sim, served.url)
    row = {"key": "2026-11-22|1854347260793866|<b>7450</b>", "消耗(元)": 1234.5}
    resp = client.bitable.v1.app_table_record.batch_create(
        BatchCreateAppTableRecordRequest.builder()
        .app_token(sim.app_token)
        .table_id(tid)
        .request_body(
            BatchCreateAppTableRecordRequestBody.builder()
            .records([AppTableRecord.builder().fields(row).build()])
            .build()
        )
        .build()
    )
    assert resp.success()
    # A per-account view with a filter, made over raw HTTP (field_id + JSON-string value).
    token = httpx.post(
        served.url + "/open-apis/auth/v3/tenant_access_token/internal",
        json={"app_id": sim.app_id, "app_secret": sim.app_secret},
    ).json()["tenant_access_token"]
    views_url = f"{served.url}/open-apis/bitable/v1/apps/{sim.app_token}/tables/{tid}/views"
    auth = {"Authorization": f"Bearer {token}"}
    vid = httpx.post(views_url, json={"view_name": "账户 A"}, headers=auth).json()["data"]["view"]
    key_fid = sim.fields(sim.app_token, tid)[0]["field_id"]
    cond = {"field_id": key_fid, "operator": "contains", "value": '["1854347260793866"]'}
    patched = httpx.patch(
        f"{views_url}/{vid['view_id']}",
        json={"property": {"filter_info": {"conjunction": "and", "conditions": [cond]}}},
        headers=auth,
    )
    assert patched.json()["code"] == 0
    for path in ("/_sandbox/", "/"):
        page = httpx.get(served.url + path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        assert sim.app_token in html and "本地推日报" in html and "消耗(元)" in html
        assert "2026-11-22|1854347260793866|&lt;b&gt;7450&lt;/b&gt;" in html  # escaped
        assert "1234.5" in html and resp.data.records[0].record_id in html
        assert "账户 A" in html and "contains <code>[&quot;1854347260793866&quot;]</code>" in html
    counters = httpx.get(served.url + "/_sandbox/counters").json()
    assert counters["records.batch_create"] == 1 and counters["views.patch"] == 1
    assert counters["writes"] == 3
    sim.reset_counters()
    assert httpx.get(served.url + "/_sandbox/counters").json()["writes"] == 0
