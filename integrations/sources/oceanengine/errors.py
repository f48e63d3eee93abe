"""Ocean Engine error taxonomy: the ONE place that maps a response to an exception class.

Business errors come back with HTTP 200 and ``code != 0`` (docs/contracts/oceanengine.md §1.3),
so the class is decided by ``code`` first and by the HTTP status / transport only when there is
no usable envelope. The client's retry loop only looks at the class:

==========================  ===========================================  =======================
class                       when                                         client action
==========================  ===========================================  =======================
Throttled                   40100, HTTP 429, 40110 outside ``oauth2/*``  backoff + retry
                            (开发者频控 there; on oauth2/* it is an
                            expired auth code)
Transient                   50000 / 50001 / 50002, HTTP >= 500/408,      backoff + retry
                            timeouts, transport errors, non-JSON bodies
(5xxxx, not transient)      50003 → InvalidParams, 50004 →               fail, no retry, code
                            PermissionDenied, 50005 and any other        named
                            5xxxx → ApiError
TokenMissing                40104 and any answer saying the token is     fail, no retry, never
                            empty/missing (decided BEFORE the message    a refresh (it would
                            heuristic below)                             spend the single-use
                                                                         refresh token for nothing)
TokenExpired / TokenInvalid 40102 / 40105 (and unknown codes whose       refresh, retry
                            message names the access token)
PermissionDenied            40002, 40118                                 fail, no retry
InvalidParams               40001                                        fail, no retry
ApiError                    anything else (40110, 40103, ...)            fail, no retry
==========================  ===========================================  =======================

Messages name the endpoint, the account and the code, plus the API's own message. They never
contain a token: the client never passes one in, and :func:`redact` scrubs anything token-like
from API messages defensively.
"""

from __future__ import annotations

import re
from typing import Any

THROTTLED_CODES = frozenset({40100})
# 40110 is "auth_code expired" on oauth2/access_token (ZS capture) but developer-level throttling
# (开发者频控) in a public SDK's error guide and retry list (PHP HttpRequest.php). Outside
# oauth2/* only the throttling reading makes sense: retry it with backoff.
DEV_THROTTLED_CODE = 40110
TOKEN_EXPIRED_CODES = frozenset({40102})
TOKEN_INVALID_CODES = frozenset({40105})
# 5xxxx per the one public error guide with a per-code table (westng/oceanengine-sdk-php
# ERROR_CODES_GUIDE.md): 50000 超时, 50001 系统繁忙, 50002 服务暂时不可用 are server trouble;
# 50003 参数错误, 50004 权限不足, 50005 资源不存在 are answers about the request that no retry
# changes (the guide's own best-practice section: never retry parameter / permission / not-found
# errors). Codes in neither list are not documented as transient: fail at once, code named.
TRANSIENT_SERVER_CODES = frozenset({50000, 50001, 50002})
PERMISSION_CODES = frozenset({40002, 40118, 50004})
INVALID_PARAMS_CODES = frozenset({40001, 50003})
# 40104 "The access_token is empty." (captured, docs/contracts/oceanengine.md §7): the request
# carried no token. A refresh cannot cure that; it is a configuration/wiring error of ours.
TOKEN_MISSING_CODES = frozenset({40104})
_EMPTY_TOKEN = re.compile(
    r"(access[_ ]?token|token)[^.]{0,20}\b(is )?(empty|missing|blank|required)|"
    r"(missing|no|empty)\s+access[_ ]?token|(access[_ ]?token|token)\s*(为空|不能为空|缺失|缺少)|"
    r"缺少\s*access[_ ]?token",
    re.IGNORECASE,
)

# Long opaque hex/base64-ish runs look like tokens or secrets; API messages should not carry
# them, but we never want one to reach a log if they do.
_TOKENISH = re.compile(r"[A-Za-z0-9_\-]{32,}")
# oauth2/advertiser/get carries the token in the query (official Go SDK
# api_oauth2_advertiser_get.go): any URL text that reaches a log, an exception or an artifact
# loses the value, whatever its length or encoding.
_TOKEN_PARAM = re.compile(r"((?:access|refresh)_token=)[^&\s\"'#>]*", re.IGNORECASE)


def redact(text: str) -> str:
    return _TOKENISH.sub("***", _TOKEN_PARAM.sub(r"\1***", text))


class OceanEngineError(Exception):
    """Base class. ``code`` is the API code (None for transport/HTTP-level failures)."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        code: int | None = None,
        account: object | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.api_message = redact(message)
        self.endpoint = endpoint
        self.code = code
        self.account = account
        self.request_id = request_id
        self.http_status = http_status
        super().__init__(self._render())

    @property
    def code_label(self) -> str:
        """For logs: the API code, else the HTTP status, else the failure kind."""
        if self.code is not None:
            return str(self.code)
        if self.http_status is not None:
            return f"HTTP {self.http_status}"
        return self.api_message.split(" ", 1)[0]

    def _render(self) -> str:
        parts = [f"{type(self).__name__}: {self.endpoint}"]
        if self.account is not None:
            parts.append(f"account {self.account}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.http_status is not None and self.http_status != 200:
            parts.append(f"HTTP {self.http_status}")
        head = ", ".join(parts)
        tail = f" (request_id {self.request_id})" if self.request_id else ""
        return f"{head}: {self.api_message}{tail}"


class RetryableError(OceanEngineError):
    retryable = True


class Throttled(RetryableError):
    """40100 / HTTP 429: the app's QPS was exceeded."""


class Transient(RetryableError):
    """Server-side or network trouble that is worth retrying after a pause."""


class TokenError(OceanEngineError):
    """The access token was refused; the client refreshes once and retries once."""


class TokenExpired(TokenError):
    pass


class TokenInvalid(TokenError):
    pass


class TokenMissing(OceanEngineError):
    """40104 / "access_token is empty": the call carried no token. A configuration error:
    never retried and never a refresh (a refresh spends the single-use refresh token and the
    next call would be just as empty)."""


class PermissionDenied(OceanEngineError):
    """The token may not read this account or call this API (40002, 40118)."""


class InvalidParams(OceanEngineError):
    pass


class ApiError(OceanEngineError):
    """Any other non-zero code: not retried."""


def error_for_code(
    code: int,
    message: str,
    *,
    endpoint: str,
    account: object | None = None,
    request_id: str | None = None,
    http_status: int | None = None,
) -> OceanEngineError:
    """Build the exception for a response envelope whose ``code`` is not 0."""
    cls: type[OceanEngineError]
    if code in TOKEN_MISSING_CODES or _says_token_empty(message):
        # First: the access-token heuristic below would otherwise class it as TokenInvalid.
        cls = TokenMissing
    elif code in THROTTLED_CODES or _dev_throttled(code, endpoint):
        cls = Throttled
    elif code in TRANSIENT_SERVER_CODES:
        cls = Transient
    elif code in TOKEN_EXPIRED_CODES:
        cls = TokenExpired
    elif code in TOKEN_INVALID_CODES:
        cls = TokenInvalid
    elif code in PERMISSION_CODES:
        cls = PermissionDenied
    elif code in INVALID_PARAMS_CODES:
        cls = InvalidParams
    elif _mentions_access_token(message):
        # Unknown codes are classed by message when it clearly names the access token
        # (docs/contracts/oceanengine.md §7).
        cls = TokenInvalid
    else:
        cls = ApiError
    return cls(
        message or "(no message)",
        endpoint=endpoint,
        code=code,
        account=account,
        request_id=request_id,
        http_status=http_status,
    )


def _dev_throttled(code: int, endpoint: str) -> bool:
    return code == DEV_THROTTLED_CODE and not endpoint.strip("/").startswith("oauth2/")


def _says_token_empty(message: str) -> bool:
    return bool(_EMPTY_TOKEN.search(message or ""))


def _mentions_access_token(message: str) -> bool:
    m = (message or "").lower()
    return "access_token" in m or "access token" in m


def error_for_http_status(
    status: int, body_excerpt: str, *, endpoint: str, account: object | None = None
) -> OceanEngineError:
    """A non-2xx response without a usable envelope."""
    cls: type[OceanEngineError]
    if status == 429:
        cls = Throttled
    elif status >= 500 or status == 408:
        cls = Transient
    else:
        cls = ApiError
    return cls(body_excerpt, endpoint=endpoint, account=account, http_status=status)


def envelope_error(
    body: dict[str, Any], *, endpoint: str, account: object | None, http_status: int
) -> OceanEngineError | None:
    """The exception for a decoded envelope, or None when ``code == 0``."""
    code = body.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return Transient(
            f"response has no integer code (got {type(code).__name__})",
            endpoint=endpoint,
            account=account,
            http_status=http_status,
        )
    if code == 0:
        return None
    return error_for_code(
        code,
        str(body.get("message") or ""),
        endpoint=endpoint,
        account=account,
        request_id=body.get("request_id") if isinstance(body.get("request_id"), str) else None,
        http_status=http_status,
    )
