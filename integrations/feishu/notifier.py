"""Feishu custom-bot notifications: an interactive card per sync run, in Chinese (its readers
are the operators of a Chinese ad business), times in China time, with links to the Bitable base
(``ADSYNC_FEISHU_WEB_URL``) and the Prefect run (``ADSYNC_PREFECT_UI_URL``) when configured.

- Signed when a secret is set: ``sign = base64(HMAC-SHA256(key=f"{ts}\\n{secret}", msg=b""))``
  (docs/contracts/feishu.md §6; the key/message order is Feishu's, not a typo).
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
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import SecretStr

from integrations.settings import Settings

log = logging.getLogger(__name__)

MAX_PER_SECOND = 5
R = TypeVar("R")
MAX_BODY_BYTES = 20_000
COLOURS = {"SUCCESS": "green", "PARTIAL": "orange", "FAILED": "red"}
_MAX_LISTED = 30  # accounts listed by name on the card before "… and N more"
CHINA_TZ = ZoneInfo("Asia/Shanghai")
STATUS_ZH = {"SUCCESS": "成功", "PARTIAL": "部分失败", "FAILED": "失败"}
FLOW_ZH = {
    "laike-daily": "来客 / 本地推日报",
    "douplus-daily": "DOU+ 订单与视频日报",
    "dpa-daily": "DPA 商品库",
    "accounts-hourly": "广告账户同步",
}
COUNT_ZH = {"inserted": "新增", "updated": "更新", "unchanged": "未变", "deleted": "删除重复"}


def base_web_url(settings: Settings) -> str | None:
    """The Bitable base in a browser: ``{ADSYNC_FEISHU_WEB_URL}/base/{app_token}`` (Feishu's own
    URL form, e.g. https://example.feishu.cn/base/bascn…); None unless both are set."""
    web, token = settings.feishu_web_url, settings.feishu_app_token
    if not web or not token:
        return None
    return f"{str(web).rstrip('/')}/base/{token}"


def _sink_zh(name: str) -> str:
    """``db:x`` → 数据库 x; ``bitable:x`` → 多维表格 <x's default table name>."""
    kind, _, dataset = name.partition(":")
    if kind == "db":
        return f"数据库 {dataset}"
    if kind == "bitable":
        from integrations.feishu.specs import SPECS  # no lark-oapi behind it

        spec = SPECS.get(dataset)
        return f"多维表格「{spec.default_name if spec else dataset}」"
    return name


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
    base_url: str | None = None  # the Bitable base in a browser
    error: str = ""  # a failure that is not one account's
    finished_at: datetime | None = None  # shown in China time

    @classmethod
    def from_summary(
        cls, summary: Any, run_url: str | None = None, base_url: str | None = None
    ) -> CardReport:
        """From a ``flows.summary.RunSummary`` (duck-typed: integrations never import flows)."""
        status = str(getattr(summary.status, "value", summary.status))
        rows = {
            name: {
                k: int(getattr(s, k, 0)) for k in ("inserted", "updated", "unchanged", "deleted")
            }
            for name, s in summary.sinks.items()
        }
        flow = str(summary.flow)
        tenant = str(getattr(summary, "tenant", "default") or "default")
        who = "" if tenant == "default" else f"［{tenant}］"  # which tenant's run, on the card
        return cls(
            title=f"{FLOW_ZH.get(flow, flow)}{who}：{STATUS_ZH.get(status.upper(), status)}",
            status=status,
            window=f"{summary.window_start} → {summary.window_end}",
            accounts_ok=[_acct(a) for a in summary.ok_accounts],
            accounts_failed=[(_acct(a), a.reason) for a in summary.failed_accounts],
            rows=rows,
            run_url=run_url,
            notes=list(getattr(summary, "warnings", []) or []),
            base_url=base_url,
            error=str(getattr(summary, "error", "") or ""),
            finished_at=datetime.now(CHINA_TZ),
        )


def _acct(a: Any) -> str:
    return f"{a.account_id} {a.name}".strip()


def _listed(items: Iterable[str]) -> str:
    xs = list(items)
    head = "、".join(xs[:_MAX_LISTED])
    return head + (f" …… 另有 {len(xs) - _MAX_LISTED} 个" if len(xs) > _MAX_LISTED else "")


# What each custom-bot rejection means for the person reading the run summary
# (docs/contracts/feishu.md §6).
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
        f"**数据日期** {r.window}",
        f"**账户** 成功 {len(r.accounts_ok)} 个，失败 {len(r.accounts_failed)} 个",
    ]
    if r.finished_at is not None:
        at = r.finished_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
        lines.append(f"**完成时间** {at}（北京时间）")
    if r.error:
        lines.append(f"**错误** {r.error}")
    if r.accounts_failed:
        lines.append("**失败账户**（原因）")
        lines += [f"- {a}：{reason}" for a, reason in r.accounts_failed[:_MAX_LISTED]]
        if len(r.accounts_failed) > _MAX_LISTED:
            lines.append(f"- …… 另有 {len(r.accounts_failed) - _MAX_LISTED} 个")
    if r.accounts_ok:
        lines.append(f"**成功账户** {_listed(r.accounts_ok)}")
    if r.rows:
        lines.append("**写入行数**")
        for sink, counts in r.rows.items():
            parts = "，".join(f"{COUNT_ZH.get(k, k)} {v}" for k, v in counts.items())
            lines.append(f"- {_sink_zh(sink)}：{parts}")
    lines += [f"⚠️ {n}" for n in r.notes]
    elements: list[dict[str, Any]] = [{"tag": "markdown", "content": "\n".join(lines)}]
    links = []
    if r.base_url:
        links.append(f"[打开多维表格]({r.base_url})")
    if r.run_url:
        links.append(f"[查看 Prefect 运行记录]({r.run_url})")
    if links:
        elements.append({"tag": "markdown", "content": " · ".join(links)})
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
        _HTTPX_SCRUBBER.add(self._url)

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
        return redact_webhook_url(self._url)

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
                f"Feishu bot rejected the card: code {code} "
                f"{scrub_webhook(str(data.get('msg', ''))[:120], self._url)}"
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


# Path segments of a webhook URL that are structure, not credentials (Feishu and Lark bots).
_PUBLIC_SEGMENTS = {"open-apis", "bot", "v2", "v1", "hook", "api"}


def redact_webhook_url(url: SecretStr | str) -> str:
    """``scheme://host/***``: the token is a path segment (anywhere, with or without a trailing
    slash) and query values may carry keys, so nothing after the host is shown."""
    raw = _reveal(url).strip()
    try:
        u = httpx.URL(raw)
        host = u.host
        scheme = u.scheme
    except Exception:  # noqa: BLE001 - an unparseable URL shows nothing at all
        return "<webhook URL>"
    if not scheme or not host:
        return "<webhook URL>"
    return f"{scheme.lower()}://{host.lower()}/***"


def webhook_secrets(url: SecretStr | str) -> list[str]:
    """The parts of a webhook URL that must never be printed: token segments, query values."""
    raw = _reveal(url).strip()
    parts = [raw, raw.rstrip("/")]
    try:
        u = httpx.URL(raw)
        parts += [seg for seg in u.path.split("/") if seg and seg.lower() not in _PUBLIC_SEGMENTS]
        parts += [v for _, v in u.params.multi_items() if v]
    except Exception:  # noqa: BLE001 - fall back to scrubbing the whole string only
        pass
    return sorted({p for p in parts if len(p) >= 6}, key=len, reverse=True)


def scrub_webhook(text: str, url: SecretStr | str) -> str:
    """``text`` with every secret part of ``url`` replaced by ``***`` (case-insensitively)."""
    import re

    for secret in webhook_secrets(url):
        text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text


class _ScrubWebhooks(logging.Filter):
    """httpx logs every request's full URL at INFO ("HTTP Request: POST https://…/hook/TOKEN");
    for a webhook that URL is the credential. Rewrites such records before any handler sees them."""

    def __init__(self) -> None:
        super().__init__()
        self._urls: set[str] = set()
        self._lock = threading.Lock()

    def add(self, url: str) -> None:
        with self._lock:
            if url in self._urls:
                return
            self._urls.add(url)
            first = len(self._urls) == 1
        if first:
            logging.getLogger("httpx").addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            urls = list(self._urls)
        message = record.getMessage()
        scrubbed = message
        for url in urls:
            scrubbed = scrub_webhook(scrubbed, url)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


_HTTPX_SCRUBBER = _ScrubWebhooks()


def _reveal(v: SecretStr | str) -> str:
    return v.get_secret_value() if isinstance(v, SecretStr) else v
