"""Webhook URLs never reach logs or output, whatever their shape.

The custom-bot URL *is* the credential (its token is a path segment). Each shape below is sent
through the real notifier to the Feishu simulator (or a closed port), and everything the process
printed or logged at any level is searched for the token, in any letter case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from integrations.feishu.notifier import BotNotifier, CardReport, redact_webhook_url
from tests.feishu.conftest import Feishu, feishu  # noqa: F401 - fixture


class _All(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def all_logs() -> Iterator[_All]:
    h = _All()
    root = logging.getLogger()
    old = root.level
    root.addHandler(h)
    root.setLevel(logging.DEBUG)
    try:
        yield h
    finally:
        root.removeHandler(h)
        root.setLevel(old)


def _report() -> CardReport:
    return CardReport(title="laike: PARTIAL", status="PARTIAL", window="2026-11-20 → 2026-11-22")


def _shapes(base: str, path: str, token: str) -> list[str]:
    return [
        base + path,
        base + path + "/",  # the trailing slash that used to print the token
        base + path + "?from=adsync",
        base + path + "/?from=adsync",
        base.upper() + path,  # HTTP://127.0.0.1:PORT
        base + path.replace(token, token.upper()),  # a wrong (uppercased) token: rejected
        "http://127.0.0.1:9" + path + "/",  # connection refused
    ]


def test_no_webhook_token_in_any_output(
    feishu: Feishu,  # noqa: F811 - fixture
    all_logs: _All,
    capfd: pytest.CaptureFixture[str],
) -> None:
    token = feishu.sim.webhook_token
    sent = []
    for url in _shapes(feishu.url, feishu.sim.webhook_path, token):
        bot = BotNotifier(url, feishu.sim.webhook_secret)
        sent.append(bot.notify(_report()))
        all_logs.lines.append(repr(bot))
    out, err = capfd.readouterr()
    corpus = "\n".join([*all_logs.lines, out, err]).lower()
    assert sent.count(True) >= 1 and sent.count(False) >= 2  # both paths were exercised
    assert any("feishu bot" in line for line in all_logs.lines)  # failures were reported
    assert any("HTTP Request" in line for line in all_logs.lines)  # httpx's own request log
    assert token.lower() not in corpus


@pytest.mark.parametrize(
    "url",
    [
        "https://open.feishu.cn/open-apis/bot/v2/hook/0123abcd-token/",
        "https://open.feishu.cn/open-apis/bot/v2/hook/0123abcd-token?x=1",
        "HTTPS://OPEN.FEISHU.CN/OPEN-APIS/BOT/V2/HOOK/0123ABCD-TOKEN",
        "https://open.larksuite.com/open-apis/bot/v2/hook/0123abcd-token//",
    ],
)
def test_redacted_form_keeps_only_the_host(url: str) -> None:
    shown = redact_webhook_url(url)
    assert "0123abcd-token" not in shown.lower()
    assert shown.endswith("/***") and "://open." in shown
