"""Send findings as a Feishu bot card (custom-bot webhook, optional signature).

Uses the sink's BotNotifier when present; otherwise posts with httpx and signs as documented
(docs/contracts/feishu.md §6: HMAC-SHA256 keyed by ``f"{timestamp}\\n{secret}"`` over an empty
message).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Any

import httpx

from integrations.monitoring.findings import Finding, Severity, overall
from integrations.settings import ConfigError, Settings

MAX_LINES = 30  # the webhook body is capped at 20 KB; a card this long is unreadable anyway
_TEMPLATE = {Severity.OK: "green", Severity.WARNING: "orange", Severity.CRITICAL: "red"}


class NotifyError(RuntimeError):
    pass


def sign(timestamp: str, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, digestmod=hashlib.sha256).digest()).decode()


def card(findings: Sequence[Finding], host_label: str, ui_url: str | None = None) -> dict[str, Any]:
    sev = overall(findings)
    title = f"adsync {sev.name}: {len(findings)} finding(s)" if findings else "adsync OK"
    lines = [
        f"**{f.severity.name}** {f.check} · {f.where}: {f.message}" for f in findings[:MAX_LINES]
    ]
    if len(findings) > MAX_LINES:
        lines.append(f"… and {len(findings) - MAX_LINES} more (`python monitor.py check`)")
    if ui_url:
        lines.append(f"[Prefect UI]({ui_url})")
    lines.append(f"<font color='grey'>{host_label}</font>")
    return {
        "msg_type": "interactive",
        "card": {
            "schema": "2.0",
            "header": {
                "title": {"tag": "plain_text", "content": title},
                "template": _TEMPLATE[sev],
            },
            "body": {"elements": [{"tag": "markdown", "content": "\n".join(lines) or "ok"}]},
        },
    }


def send(settings: Settings, findings: Sequence[Finding], host_label: str) -> None:
    if settings.feishu_webhook_url is None:
        raise ConfigError("ADSYNC_FEISHU_WEBHOOK_URL: required for --notify but not set")
    payload = card(findings, host_label, settings.prefect_ui_url)
    try:
        from integrations.feishu.notifier import BotNotifier
    except ImportError:
        BotNotifier = None  # noqa: N806 - optional class
    if BotNotifier is not None:
        # The sink's notifier: same signing, per-bot rate limiter, redacted logging.
        notifier = BotNotifier.from_settings(settings)
        if notifier is None or not notifier.send_card(payload["card"]):
            why = getattr(notifier, "last_error", None) or "see the warning above"
            raise NotifyError(f"Feishu webhook did not accept the card: {why}")
        return
    _post(settings, payload)


def _post(settings: Settings, payload: dict[str, Any]) -> None:
    assert settings.feishu_webhook_url is not None
    if settings.feishu_webhook_secret is not None:
        ts = str(int(time.time()))
        payload = {
            "timestamp": ts,
            "sign": sign(ts, settings.feishu_webhook_secret.get_secret_value()),
            **payload,
        }
    try:
        resp = httpx.post(settings.feishu_webhook_url.get_secret_value(), json=payload, timeout=10)
        body = resp.json()
    except (httpx.HTTPError, ValueError) as e:
        # The webhook URL embeds its token: never echo it.
        raise NotifyError(f"Feishu webhook: {type(e).__name__}") from None
    if body.get("code", body.get("StatusCode", -1)) != 0:
        from integrations.feishu.notifier import scrub_webhook

        msg = scrub_webhook(str(body.get("msg")), settings.feishu_webhook_url)
        raise NotifyError(f"Feishu webhook: code {body.get('code')} {msg}")
