"""Bot cards: signed delivery to the simulator's webhook, colours, failures never raise."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from pydantic import SecretStr

from flows.summary import AccountResult, RunSummary
from integrations.feishu.notifier import BotNotifier, CardReport, base_web_url, build_card
from integrations.settings import load_settings
from tests.feishu.conftest import Feishu


def _report(status: str = "PARTIAL") -> CardReport:
    return CardReport(
        title=f"laike daily: {status}",
        status=status,
        window="2026-11-19 → 2026-11-22",
        accounts_ok=["1854347260793866 北京店"],
        accounts_failed=[("1854347260793867 上海店", "40102 token expired")],
        rows={"bitable:本地推单元日报": {"inserted": 10, "updated": 2, "unchanged": 88}},
        run_url="http://127.0.0.1:4200/runs/flow-run/abc",
    )


def test_signed_card_reaches_the_webhook(feishu: Feishu) -> None:
    url = feishu.url + feishu.sim.webhook_path
    bot = BotNotifier(SecretStr(url), SecretStr(feishu.sim.webhook_secret))
    assert bot.notify(_report())
    (msg,) = feishu.sim.webhook_messages
    assert msg["msg_type"] == "interactive" and "timestamp" in msg
    card = msg["card"]
    assert card["header"]["template"] == "orange"
    text = "\n".join(e["content"] for e in card["body"]["elements"])
    assert "上海店：40102 token expired" in text and "新增 10" in text
    assert "2026-11-19 → 2026-11-22" in text and "/runs/flow-run/abc" in text


def test_failures_never_raise_and_never_log_secrets(
    feishu: Feishu, caplog: pytest.LogCaptureFixture
) -> None:
    url = feishu.url + feishu.sim.webhook_path
    token = feishu.sim.webhook_token
    with caplog.at_level(logging.WARNING):
        assert not BotNotifier(url, "wrong-secret").notify(_report())  # 19021 sign mismatch
        assert not BotNotifier("http://127.0.0.1:9/open-apis/bot/v2/hook/" + token).notify(
            _report()
        )  # connection refused
    assert "19021" in caplog.text
    assert token not in caplog.text and "wrong-secret" not in caplog.text
    assert token not in repr(BotNotifier(url, "s"))
    assert feishu.sim.webhook_messages == []


def test_bursts_respect_five_per_second(feishu: Feishu) -> None:
    bot = BotNotifier(feishu.url + feishu.sim.webhook_path, feishu.sim.webhook_secret)
    assert all(bot.notify(_report("SUCCESS")) for _ in range(7))  # the sim enforces 5/s
    assert len(feishu.sim.webhook_messages) == 7


def test_card_from_run_summary() -> None:
    s = RunSummary(flow="laike", window_start=date(2026, 11, 20), window_end=date(2026, 11, 22))
    s.accounts = [AccountResult(1, "a"), AccountResult(2, "b", ok=False, reason="boom")]
    s.sink("bitable:x").add(inserted=3)
    card = build_card(CardReport.from_summary(s, run_url=None))
    assert card["header"]["template"] == "orange"
    assert card["header"]["title"]["content"] == "laike：部分失败"
    body = card["body"]["elements"][0]["content"]
    assert "- 2 b：boom" in body and "成功 1 个，失败 1 个" in body
    assert "（北京时间）" in body and "多维表格「x」：新增 3" in body
    assert len(card["body"]["elements"]) == 1  # no links configured
    s.accounts = [AccountResult(1, "a")]
    assert build_card(CardReport.from_summary(s))["header"]["template"] == "green"


def test_card_is_chinese_with_links_to_the_base_and_the_run() -> None:
    s = RunSummary(
        flow="laike-daily", window_start=date(2026, 11, 20), window_end=date(2026, 11, 22)
    )
    s.accounts = [AccountResult(1, "a")]
    s.sink("bitable:local_promotion_daily").add(inserted=3, unchanged=2)
    s.sink("db:local_promotion_daily").add(inserted=3)
    feishu = {"feishu_app_id": "cli_x", "feishu_app_secret": "s", "feishu_app_token": "bascnAbc"}
    settings = load_settings(feishu_web_url="https://example.feishu.cn/", **feishu)
    assert base_web_url(settings) == "https://example.feishu.cn/base/bascnAbc"
    assert base_web_url(load_settings(**feishu)) is None
    card = build_card(
        CardReport.from_summary(s, "http://ui/runs/flow-run/1", base_web_url(settings))
    )
    assert card["header"]["title"]["content"] == "来客 / 本地推日报：成功"
    body, links = (e["content"] for e in card["body"]["elements"])
    assert "多维表格「本地推单元日报」：新增 3，更新 0，未变 2" in body
    assert "数据库 local_promotion_daily：新增 3" in body
    assert "[打开多维表格](https://example.feishu.cn/base/bascnAbc)" in links
    assert "[查看 Prefect 运行记录](http://ui/runs/flow-run/1)" in links
    s.error = "OperationalError: database is locked"
    s.accounts = []
    failed = build_card(CardReport.from_summary(s))
    assert failed["header"]["template"] == "red"
    assert (
        "**错误** OperationalError: database is locked" in failed["body"]["elements"][0]["content"]
    )


@pytest.mark.parametrize(
    ("knob", "code", "hint"),
    [
        ("keyword", 19024, "ADSYNC_FEISHU_WEBHOOK_KEYWORD"),
        ("ip", 19022, "allow-list"),
        ("secret", 19021, "ADSYNC_FEISHU_WEBHOOK_SECRET"),
    ],
)
def test_bot_rejections_are_explained(feishu: Feishu, knob: str, code: int, hint: str) -> None:
    url = feishu.url + feishu.sim.webhook_path
    secret = feishu.sim.webhook_secret
    if knob == "keyword":
        feishu.sim.knobs.webhook_keywords = ["日报"]
    elif knob == "ip":
        feishu.sim.knobs.webhook_ip_denied = True
    else:
        secret = "wrong"
    bot = BotNotifier(SecretStr(url), SecretStr(secret))
    assert not bot.notify(_report())
    assert (
        bot.last_error is not None and f"code {code}" in bot.last_error and hint in bot.last_error
    )
    assert feishu.sim.webhook_token not in bot.last_error and secret not in bot.last_error
    assert feishu.sim.webhook_messages == []


def test_keyword_goes_in_the_title_and_is_accepted(feishu: Feishu) -> None:
    feishu.sim.knobs.webhook_keywords = ["广告日报"]
    url = feishu.url + feishu.sim.webhook_path
    bot = BotNotifier(SecretStr(url), SecretStr(feishu.sim.webhook_secret), keyword="广告日报")
    assert bot.notify(_report())
    (msg,) = feishu.sim.webhook_messages
    assert msg["card"]["header"]["title"]["content"] == "广告日报 laike daily: PARTIAL"


def test_huge_cards_are_truncated_under_20_kb_and_delivered(feishu: Feishu) -> None:
    import json

    r = _report("FAILED")
    r.accounts_failed = [(f"18543472607{i:05d} 店铺{i}", "x" * 400) for i in range(25)]
    r.notes = [f"note {i}: " + "很长的说明" * 60 for i in range(40)]
    card = build_card(r)
    size = len(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode())
    assert size < 20_000 and "truncated" in card["body"]["elements"][0]["content"]
    url = feishu.url + feishu.sim.webhook_path
    assert BotNotifier(SecretStr(url), SecretStr(feishu.sim.webhook_secret)).send_card(card)
