"""Custom bot webhook (signature, body, rate limit) and the read-only HTML page / counters."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from lark_oapi.api.bitable.v1 import (
    AppTableRecord,
    BatchCreateAppTableRecordRequest,
    BatchCreateAppTableRecordRequestBody,
)

from sandbox.feishu.app import FeishuSim
from sandbox.feishu.errors import FeishuError
from sandbox.feishu.webhook import WebhookLimiter
from sandbox.runner import ServedApp
from tests.sandbox.feishu_harness import lark_client, serve_feishu


@pytest.fixture
def fs() -> Iterator[tuple[FeishuSim, ServedApp]]:
    with serve_feishu() as pair:
        yield pair


def _signed(secret: str, payload: dict[str, Any], ts: int | None = None) -> dict[str, Any]:
    # Written from docs/contracts/feishu.md §6, independently of the simulator's implementation.
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
        assert sim.app_token in html and "本地推日报" in html
        assert f'href="/base/{sim.app_token}?table={tid}"' in html  # one page per table
    html = httpx.get(f"{served.url}/base/{sim.app_token}", params={"table": tid}).text
    assert "消耗(元)" in html
    assert "2026-11-22|1854347260793866|&lt;b&gt;7450&lt;/b&gt;" in html  # escaped
    assert "1234.5" in html and resp.data.records[0].record_id in html
    assert "账户 A" in html and "contains <code>[&quot;1854347260793866&quot;]</code>" in html
    counters = httpx.get(served.url + "/_sandbox/counters").json()
    assert counters["records.batch_create"] == 1 and counters["views.patch"] == 1
    assert counters["writes"] == 3
    sim.reset_counters()
    assert httpx.get(served.url + "/_sandbox/counters").json()["writes"] == 0


def _token(sim: FeishuSim, url: str) -> dict[str, str]:
    token = httpx.post(
        url + "/open-apis/auth/v3/tenant_access_token/internal",
        json={"app_id": sim.app_id, "app_secret": sim.app_secret},
    ).json()["tenant_access_token"]
    return {"Authorization": f"Bearer {token}"}


def _account_view(sim: FeishuSim, url: str, tid: str, name: str, field_id: str, account: str):
    views_url = f"{url}/open-apis/bitable/v1/apps/{sim.app_token}/tables/{tid}/views"
    auth = _token(sim, url)
    vid = httpx.post(views_url, json={"view_name": name}, headers=auth).json()["data"]["view"]
    cond = {"field_id": field_id, "operator": "is", "value": json.dumps([account])}
    body = {"property": {"filter_info": {"conjunction": "and", "conditions": [cond]}}}
    assert httpx.patch(f"{views_url}/{vid['view_id']}", json=body, headers=auth).json()["code"] == 0
    return vid["view_id"]


def test_pages_per_table_and_view_with_paging_formats_cards_and_sync_status(fs) -> None:
    sim, served = fs
    cn = ZoneInfo("Asia/Shanghai")
    today = datetime.now(cn).date()
    yesterday, stale = today - timedelta(days=1), today - timedelta(days=4)

    def ms(d: date) -> int:
        return int(datetime.combine(d, datetime.min.time(), cn).timestamp() * 1000)

    tid = sim.add_table(
        sim.app_token,
        "本地推单元日报",
        [
            {"field_name": "业务键", "type": 1},
            {"field_name": "账户ID", "type": 1},
            {"field_name": "日期", "type": 5, "property": {"date_formatter": "yyyy/MM/dd"}},
            {"field_name": "消耗(元)", "type": 2, "property": {"formatter": "1,000.00"}},
            {"field_name": "点击率", "type": 2, "property": {"formatter": "0.00%"}},
        ],
    )
    # Account A: 230 rows up to yesterday; account B: 5 rows, 4 days behind.
    rows = [
        {"业务键": f"A|{i}", "账户ID": "111", "日期": ms(yesterday), "消耗(元)": 1234567.5,
         "点击率": 0.0321}
        for i in range(230)
    ] + [{"业务键": f"B|{i}", "账户ID": "222", "日期": ms(stale), "消耗(元)": 3} for i in range(5)]  # fmt: skip
    sim.add_records(sim.app_token, tid, rows)
    acct_fid = next(
        f["field_id"] for f in sim.fields(sim.app_token, tid) if f["field_name"] == "账户ID"
    )
    va = _account_view(sim, served.url, tid, "A 店", acct_fid, "111")
    vb = _account_view(sim, served.url, tid, "B 店", acct_fid, "222")
    # The bot's card of the last run: B failed, A ok (the product's card format).
    card = {
        "msg_type": "interactive",
        "card": {
            "schema": "2.0",
            "header": {"title": {"tag": "plain_text", "content": "来客 / 本地推日报：部分失败"},
                       "template": "orange"},
            "body": {"elements": [{"tag": "markdown", "content":
                "**失败账户**（原因）\n- 222 B 店：PermissionDenied code 40002\n"
                "**成功账户** 111 A 店"},
                {"tag": "markdown", "content": f"[打开多维表格]({served.url}/base/{sim.app_token})"}]},
        },
    }  # fmt: skip
    hook = served.url + sim.webhook_path
    assert httpx.post(hook, json=_signed(sim.webhook_secret, card)).json()["code"] == 0

    index = httpx.get(served.url + "/").text
    assert "Cards the bot received (1)" in index and "来客 / 本地推日报：部分失败" in index
    assert "<b>失败账户</b>" in index and f'<a href="{served.url}/base/{sim.app_token}">' in index

    base = f"{served.url}/base/{sim.app_token}"
    # The card's link works: the base page lists the table.
    assert f'href="/base/{sim.app_token}?table={tid}"' in httpx.get(base).text

    # Table page: 235 records in pages of 100; formats applied; the views with status marks.
    page1 = httpx.get(base, params={"table": tid}).text
    assert "235 records · page 1 of 3" in page1 and f"?table={tid}&amp;page=2" in page1
    assert "1,234,567.50" in page1 and "3.21%" in page1 and yesterday.strftime("%Y/%m/%d") in page1
    assert page1.count("<tr><td class=muted>rec") == 100
    page3 = httpx.get(base, params={"table": tid, "page": 3}).text
    assert page3.count("<tr><td class=muted>rec") == 35

    # View pages: the view's filter applied, and its account's sync status.
    a = httpx.get(base, params={"table": tid, "view": va}).text
    assert "230 records · page 1 of 3" in a and "B|0" not in a
    assert "✓ last run ok" in a and "up to date" in a
    b = httpx.get(base, params={"table": tid, "view": vb}).text
    assert "5 records · page 1 of 1" in b and "A|0" not in b and "3.00" in b
    assert "✗ last run failed" in b and "PermissionDenied code 40002" in b
    assert f"3 day(s) behind</span> (latest {stale})" in b

    assert httpx.get(base, params={"table": "tblNope"}).status_code == 404
    assert httpx.get(base, params={"table": tid, "view": "vewNope"}).status_code == 404
    assert httpx.get(f"{served.url}/base/bascnNope").status_code == 404
