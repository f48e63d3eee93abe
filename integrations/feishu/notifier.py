"""Feishu custom-bot notifications: an interactive card per sync run.

- Signed when a secret is set: ``sign = base64(HMAC-SHA256(key=f"{ts}\\n{secret}", msg=b""))``
  (contract §6; the key/message order is Feishu's, not a typo).
- At most 5 messages/s per bot (Feishu's limit; 11232 beyond): a small per-webhook limiter.
- Never raises into the sync: failures are logged as warnings that show neither the webhook
  token (the URL's last segment) nor the signing secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from integrations.settings import Settings

log = logging.getLogger(__name__)

MAX_PER_SECOND = 5
R = TypeVar("R")
MAX_BODY_BYTES = 20_000
COLOURS = {"SUCCESS": "green", "PARTIAL": "orange", "FAILED": "red"}
_MAX_LISTED = 30  # accounts listed by name on the card before "… and N more"


def sign(timestamp: str, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", digestmod=hashlib.sha256).digest()).decode()


@dataclass
class CardReport:
    """What the card shows. ``status`` is SUCCESS / PARTIAL / FAILED."""

    title: str
    status: str
    window: str  # e.g. "2026-11-20 → 2026-11-22"
    accounts_ok: list[str] = field(default_factory=list)
    accounts_failed: list[tuple[str, str]] = field(default_factory=list)  # (account, reason)
    rows: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # sink → counts
    run_url: str | None = None
    notes: list[str] = field(default_factory=list)  # warnings (e.g. accounts without a view)

    @classmethod
    def from_summary(cls, summary: Any, run_url: str | None = None) -> CardReport:
        """From a ``flows.summary.RunSummary`` (duck-typed: integrations never import flows)."""
        status = str(getattr(summary.status, "value", summary.status))
        rows = {
            name: {
                k: int(getattr(s, k, 0)) for k in ("inserted", "updated", "unchanged", "deleted")
            }
            for name, s in summary.sinks.items()
        }
        return cls(
            title=f"{summary.flow}: {status}",
            status=status,
            window=f"{summary.window_start} → {summary.window_end}",
            accounts_ok=[_acct(a) for a in summary.ok_accounts],
            accounts_failed=[(_acct(a), a.reason) for a in summary.failed_accounts],
            rows=rows,
            run_url=run_url,
            notes=list(getattr(summary, "warnings", []) or []),
        )


def _acct(a: Any) -> str:
    return f"{a.account_id} {a.name}".strip()


def _listed(items: Iterable[str]) -> str:
    xs = list(items)
    head = ", ".join(xs[:_MAX_LISTED])
    return head + (f" … and {len(xs) - _MAX_LISTED} more" if len(xs) > _MAX_LISTED else "")


# What each custom-bot rejection means for the person reading the run summary (contract §6).
BOT_CODES = {
    19021: "signature rejected: check ADSYNC_FEISHU_WEBHOOK_SECRET and the host's clock",
    19022: "this host's IP is not on the bot's allow-list (bot security settings)",
    19024: "no keyword of the bot in the card title: set ADSYNC_FEISHU_WEBHOOK_KEYWORD",
    11232: "rate-limited (5/s, 100/min per bot)",
    9499: "bad request (body over 20 KB or malformed)",
}
_CARD_SLACK = 300  # bytes kept free for timestamp + sign and JSON framing


def _json_size(obj: Any) -> int:
    return len(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


def _fit(card: dict[str, Any], limit: int) -> dict[str, Any]:
    """Truncate the card's markdown (longest element first) until the body fits ``limit``."""
    elements = card["body"]["elements"]
    while _json_size(card) > limit:
        el = max(elements, key=lambda e: len(e["content"].encode()))
        raw = el["content"].encode()
        excess = _json_size(card) - limit
        keep = max(0, len(raw) - excess - 64)
        # Cut at a UTF-8 boundary, then at a line end when one is near.
        text = raw[:keep].decode("utf-8", errors="ignore")
        if "\n" in text[-200:]:
            text = text[: text.rindex("\n")]
        el["content"] = text + "\n… (truncated: the card must stay under 20 KB)"
        if keep == 0:
            break
    return card


def build_card(r: CardReport, keyword: str | None = None) -> dict[str, Any]:
    """Interactive card (schema 2.0) for the report, under 20 KB; ``keyword`` (the bot's
    keyword security) goes in the title."""
    lines = [
        f"**Window** {r.window}",
        f"**Accounts** {len(r.accounts_ok)} ok, {len(r.accounts_failed)} failed",
    ]
    if r.accounts_failed:
        lines.append("**Failed**")
        lines += [f"- {a}: {reason}" for a, reason in r.accounts_failed[:_MAX_LISTED]]
        if len(r.accounts_failed) > _MAX_LISTED:
            lines.append(f"- … and {len(r.accounts_failed) - _MAX_LISTED} more")
    if r.accounts_ok:
        lines.append(f"**OK** {_listed(r.accounts_ok)}")
    if r.rows:
        lines.append("**Rows per sink**")
        for sink, counts in r.rows.items():
            parts = ", ".join(f"{k} {v}" for k, v in counts.items())
            lines.append(f"- {sink}: {parts}")
    lines += [f"⚠️ {n}" for n in r.notes]
    elements: list[dict[str, Any]] = [{"tag": "markdown", "content": "\n".join(lines)}]
    if r.run_url:
        elements.append({"tag": "markdown", "content": f"[Open the Prefect run]({r.run_url})"})
    title = r.title if not keyword or keyword in r.title else f"{keyword} {r.title}"
    card = {
        "schema": "2.0",
        "header": {
            "title": {"tag": "plain_text", "content": title},
            "template": COLOURS.get(r.status.upper(), "blue"),
        },
        "body": {"elements": elements},
    }
    return _fit(card, MAX_BODY_BYTES - _CARD_SLACK)


class _Limiter:
    """At most ``n`` sends per rolling second, sends serialised per bot.

    A send is stamped when its response arrives (not when it starts): the bot counts arrivals,
    and a slow first request must not let a sixth one land inside the same second."""

    def __init__(self, n: int) -> None:
        self.n, self.sent, self.lock = n, deque[float](), threading.Lock()

    def run(self, send: Callable[[], R]) -> R:
        with self.lock:
            now = time.monotonic()
            while self.sent and now - self.sent[0] >= 1.0:
                self.sent.popleft()
            if len(self.sent) >= self.n:
                time.sleep(max(0.0, 1.0 - (now - self.sent[0])) + 0.05)
                self.sent.popleft()
            try:
                return send()
            finally:
                self.sent.append(time.monotonic())


_LIMITERS: dict[str, _Limiter] = {}
_LIMITERS_GUARD = threading.Lock()


class BotNotifier:
    """Posts cards to one custom-bot webhook."""

    def __init__(
        self,
        webhook_url: SecretStr | str,
        secret: SecretStr | str | None = None,
        *,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
        keyword: str | None = None,
    ) -> None:
        self.keyword = keyword or None
        self.last_error: str | None = None  # why the last send failed (no secrets), for summaries
        self._url = _reveal(webhook_url)
        self._secret = _reveal(secret) if secret else None
        self._client = client
        self._timeout = timeout_s
        with _LIMITERS_GUARD:  # per bot, process-wide
            self._limiter = _LIMITERS.setdefault(self._url, _Limiter(MAX_PER_SECOND))

    @classmethod
    def from_settings(cls, settings: Settings) -> BotNotifier | None:
        """None when no webhook is configured (notifications are optional)."""
        if settings.feishu_webhook_url is None:
            return None
        return cls(
            settings.feishu_webhook_url,
            settings.feishu_webhook_secret,
            keyword=settings.feishu_webhook_keyword,
        )

    def __repr__(self) -> str:
        return f"BotNotifier({self._redacted()}, signed={self._secret is not None})"

    def _redacted(self) -> str:
        return self._url.rsplit("/", 1)[0] + "/***"

    def payload(self, card: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"msg_type": "interactive", "card": card}
        if self._secret:
            ts = str(int(now if now is not None else time.time()))
            body = {"timestamp": ts, "sign": sign(ts, self._secret), **body}
        return body

    def send_card(self, card: dict[str, Any]) -> bool:
        """Send; True on success. Never raises (a notification must not fail the sync);
        on failure ``last_error`` says why in one line (bot codes explained, no secrets)."""
        self.last_error = None
        try:
            if self.keyword:
                title = card.get("header", {}).get("title", {})
                if self.keyword not in str(title.get("content", "")):
                    title["content"] = f"{self.keyword} {title.get('content', '')}".strip()
            body = self.payload(_fit(card, MAX_BODY_BYTES - _CARD_SLACK))
            client = self._client
            resp = self._limiter.run(
                lambda: (client.post if client else httpx.post)(
                    self._url, json=body, timeout=self._timeout
                )
            )
            try:
                data = resp.json()
            except ValueError:
                data = {}
            code = data.get("code", data.get("StatusCode"))
            if resp.status_code == 200 and code == 0:
                return True
            why = BOT_CODES.get(int(code) if isinstance(code, int) else -1, "")
            self.last_error = (
                f"Feishu bot rejected the card: code {code} {str(data.get('msg', ''))[:120]}"
                + (f" ({why})" if why else "")
            )
            log.warning(
                "feishu bot %s: HTTP %s: %s", self._redacted(), resp.status_code, self.last_error
            )
        except Exception as e:  # noqa: BLE001 - by contract nothing escapes
            # httpx messages contain the full URL (the token): log the class only.
            self.last_error = f"Feishu bot: send failed: {type(e).__name__}"
            log.warning("feishu bot %s: send failed: %s", self._redacted(), type(e).__name__)
        return False

    def notify(self, report: CardReport) -> bool:
        return self.send_card(build_card(report, self.keyword))


def _reveal(v: SecretStr | str) -> str:
    return v.get_secret_value() if isinstance(v, SecretStr) else v
