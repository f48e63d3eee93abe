"""Ocean Engine error codes and the response envelope (docs/contracts/oceanengine.md §1.3, §7).

Business errors travel with HTTP 200 and ``{code, message, request_id, data}``; the client must
look at ``code``. Messages follow the captured ones where a capture exists.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sandbox.data import CN_TZ

OK = 0
NO_PERMISSION = 40002
THROTTLED = 40100
BAD_APP = 40101  # unconfirmed for OE (TikTok twin); sandbox/QUIRKS.md
TOKEN_EXPIRED = 40102  # unconfirmed numbering; sandbox/QUIRKS.md
REFRESH_EXPIRED = 40103  # unconfirmed
TOKEN_EMPTY = 40104
TOKEN_INVALID = 40105
REFRESH_INVALID = 40107  # unconfirmed
AUTH_CODE_INVALID = 40110
SYSTEM_ERROR = 50000
DEV_THROTTLED = AUTH_CODE_INVALID  # 40110 outside the auth-code exchange: 开发者频控 (PHP guide)
DEV_THROTTLED_MESSAGE = "开发者频控，请稍后重试"  # wording unconfirmed; the code is what counts

MESSAGES: dict[int, str] = {
    OK: "OK",
    THROTTLED: "Too many requests. Please retry in some time.",
    BAD_APP: "app_id or secret is invalid",
    TOKEN_EXPIRED: "access_token已过期",
    REFRESH_EXPIRED: "refresh_token已过期",
    TOKEN_EMPTY: "The access_token is empty.",
    TOKEN_INVALID: "access_token无效",
    REFRESH_INVALID: "refresh_token无效",
    AUTH_CODE_INVALID: "auth_code已过期，请重新授权",
    SYSTEM_ERROR: "Internal service timed out. Please retry.",
    # The rest of the 5xxxx family as one public SDK's error guide lists it (messages from it).
    50001: "系统繁忙，请稍后重试",
    50002: "服务暂时不可用",
    50003: "参数错误",
    50004: "权限不足",
    50005: "资源不存在",
}


class OEError(Exception):
    """A business error: rendered as an HTTP 200 envelope with this code and message."""

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "error")
        super().__init__(f"{code}: {self.message}")


def no_permission(account_id: int | str) -> OEError:
    # Verbatim shape of a captured 40002 message (docs/contracts/oceanengine.md §7).
    return OEError(NO_PERMISSION, f"Account {account_id} doesn't exist or the role is wrong")


def new_request_id() -> str:
    """Like the real ones: a China-time timestamp followed by random hex."""
    return datetime.now(CN_TZ).strftime("%Y%m%d%H%M%S") + secrets.token_hex(9).upper()


def envelope(code: int, message: str, data: Any | None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": new_request_id()}
    if data is not None:
        body["data"] = data
    return body
