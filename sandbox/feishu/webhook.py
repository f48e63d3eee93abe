"""Custom bot webhook checks (docs/contracts/feishu.md §6): signature, message shape, 5/s +
100/min per bot."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from sandbox.feishu.errors import FeishuError

SIGN_WINDOW_S = 3600
MAX_BODY_BYTES = 20 * 1024
MSG_TYPES = {"text", "post", "image", "share_chat", "interactive"}


def expected_sign(timestamp: str, secret: str) -> str:
    """HMAC-SHA256 keyed by "{timestamp}\\n{secret}" over an EMPTY message, base64 (Feishu's rule)."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, digestmod=hashlib.sha256).digest()).decode()


def verify_signature(body: dict[str, Any], secret: str, now: float | None = None) -> None:
    ts, sign = body.get("timestamp"), body.get("sign")
    now = time.time() if now is None else now
    try:
        ts_ok = abs(now - int(str(ts))) <= SIGN_WINDOW_S
    except ValueError:
        ts_ok = False
    if not ts_ok or not isinstance(sign, str):
        raise FeishuError(19021)
    if not hmac.compare_digest(sign, expected_sign(str(ts), secret)):
        raise FeishuError(19021)


def validate_message(body: dict[str, Any]) -> None:
    """The body must be a known msg_type with its content (card as an object, not a string)."""
    mt = body.get("msg_type")
    content = body.get("content")
    ok = False
    if mt == "text":
        ok = isinstance(content, dict) and isinstance(content.get("text"), str)
    elif mt == "post":
        ok = isinstance(content, dict) and isinstance(content.get("post"), dict)
    elif mt == "image":
        ok = isinstance(content, dict) and isinstance(content.get("image_key"), str)
    elif mt == "share_chat":
        ok = isinstance(content, dict) and isinstance(content.get("share_chat_id"), str)
    elif mt == "interactive":
        ok = isinstance(body.get("card"), dict)
    if not ok:
        raise FeishuError(9499)


def message_text(body: dict[str, Any]) -> str:
    """The text a keyword is looked for in: a text message's text, a card's header title
    (keyword security applies to "text/title values"; which card parts count is unconfirmed,
    the simulator takes the strict reading: the title only)."""
    if body.get("msg_type") == "text":
        return str((body.get("content") or {}).get("text", ""))
    card = body.get("card") or {}
    title = ((card.get("header") or {}).get("title") or {}).get("content", "")
    return str(title)


def check_keyword(body: dict[str, Any], keywords: list[str]) -> None:
    """Keyword security: at least one of the bot's keywords must appear, else 19024."""
    if keywords and not any(k in message_text(body) for k in keywords):
        raise FeishuError(19024)


class WebhookLimiter:
    def __init__(
        self,
        per_second: int = 5,
        per_minute: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second, self.per_minute = per_second, per_minute
        # Injectable so tests can hold time still: on a loaded machine six real posts may
        # span more than a second and never meet the 5/s limit.
        self.clock = clock
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def check(self) -> None:
        now = self.clock()
        with self._lock:
            while self._hits and now - self._hits[0] >= 60:
                self._hits.popleft()
            last_second = sum(1 for t in self._hits if now - t < 1)
            if last_second >= self.per_second or len(self._hits) >= self.per_minute:
                raise FeishuError(11232)
            self._hits.append(now)
