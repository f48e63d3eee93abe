"""Code → class mapping (the table in errors.py), incl. codes the sandbox never sends."""

import pytest

from integrations.sources.oceanengine.errors import (
    ApiError,
    InvalidParams,
    PermissionDenied,
    Throttled,
    TokenExpired,
    TokenInvalid,
    TokenMissing,
    Transient,
    error_for_code,
    error_for_http_status,
)


@pytest.mark.parametrize(
    ("code", "message", "cls"),
    [
        (40100, "Too many requests", Throttled),
        (50000, "timeout", Transient),
        (50001, "系统繁忙，请稍后重试", Transient),
        (50002, "服务暂时不可用", Transient),
        (50003, "参数错误", InvalidParams),
        (50004, "权限不足", PermissionDenied),
        (50005, "资源不存在", ApiError),
        (51234, "", ApiError),
        (40102, "access_token已过期", TokenExpired),
        (40105, "access_token无效", TokenInvalid),
        (40002, "Account 1 doesn't exist or the role is wrong", PermissionDenied),
        (40118, "未授权", PermissionDenied),
        (40001, "page_size: must be one of 10, 20, 50, 100", InvalidParams),
        (40104, "The access_token is empty.", TokenMissing),
        (40104, "", TokenMissing),
        (40199, "access token is missing", TokenMissing),
        (40999, "access_token为空", TokenMissing),
        (40998, "access_token expired somehow", TokenInvalid),
        (40110, "开发者频控", Throttled),
        (40999, "something new", ApiError),
    ],
)
def test_code_classes(code: int, message: str, cls: type) -> None:
    err = error_for_code(code, message, endpoint="v3.0/x/get", account=17)
    assert type(err) is cls
    assert err.retryable is (cls in (Throttled, Transient))
    assert str(err).startswith(f"{cls.__name__}: v3.0/x/get, account 17, code {code}")


def test_40110_is_throttling_outside_oauth_and_final_on_oauth() -> None:
    data_call = error_for_code(40110, "开发者频控", endpoint="v3.0/local/report/promotion/get")
    assert type(data_call) is Throttled and data_call.retryable
    oauth = error_for_code(40110, "auth_code已过期，请重新授权", endpoint="oauth2/access_token")
    assert type(oauth) is ApiError and not oauth.retryable


@pytest.mark.parametrize(
    ("status", "cls"), [(429, Throttled), (502, Transient), (408, Transient), (404, ApiError)]
)
def test_http_status_classes(status: int, cls: type) -> None:
    assert type(error_for_http_status(status, "x", endpoint="e")) is cls


def test_token_like_strings_in_api_messages_are_redacted() -> None:
    secret = "a3f9c1d2e4b5a6978877665544332211ffeeddcc"
    err = error_for_code(40105, f"token {secret} is invalid", endpoint="e")
    assert secret not in str(err) and "***" in str(err)
