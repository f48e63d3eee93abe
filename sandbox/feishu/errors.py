"""Feishu error codes the simulator returns, with the HTTP status each one travels with.

Clients must key on ``code`` (docs/contracts/feishu.md §5), but the status still matters for anyone
looking at raw responses, so each code carries the status its endpoint doc lists.
"""

from __future__ import annotations

# code -> (msg, HTTP status). Statuses follow the endpoint docs where they name one; the rest are
# 200 like most 1254xxx rows in the Bitable error tables (sandbox/QUIRKS.md).
CODES: dict[int, tuple[str, int]] = {
    # auth / gateway
    99991661: (
        "Missing access token for authorization. Please make a request with token attached.",
        400,
    ),
    99991663: (
        "Invalid access token for authorization. Please make a request with token attached.",
        400,
    ),
    99991400: ("request trigger frequency limit", 429),
    99991543: ("app_id is invalid", 400),
    10015: ("app secret is invalid", 400),
    10003: ("invalid param", 400),
    # bitable
    1254000: ("WrongRequestJson", 200),
    1254001: ("WrongRequestBody", 200),
    1254002: ("Fail", 200),
    1254011: ("InvalidPageSize", 200),
    1254013: ("TableNameDuplicated", 200),
    1254014: ("FieldNameDuplicated", 200),
    1254015: ("FieldTypeValueNotMatch", 400),
    1254016: ("InvalidSort", 200),
    1254018: ("InvalidFilter", 200),
    1254019: ("ViewTypeInvalid", 200),
    1254020: ("ViewNameDuplicated", 200),
    1254021: ("ViewNameEmpty", 200),
    1254022: ("ViewNameInvalid", 200),
    1254024: ("InvalidFieldNames", 200),
    1254037: ("InvalidClientToken", 200),
    1254040: ("BaseTokenNotFound", 200),
    1254041: ("TableIdNotFound", 200),
    1254042: ("ViewIdNotFound", 200),
    1254043: ("RecordIdNotFound", 200),
    1254044: ("FieldIdNotFound", 200),
    1254045: ("FieldNameNotFound", 200),
    1254060: ("TextFieldConvFail", 200),
    1254061: ("NumberFieldConvFail", 200),
    1254062: ("SingleSelectFieldConvFail", 200),
    1254063: ("MultiSelectFieldConvFail", 200),
    1254064: ("DatetimeFieldConvFail", 200),
    1254065: ("CheckboxFieldConvFail", 200),
    1254066: ("UserFieldConvFail", 200),
    1254067: ("LinkFieldConvFail", 200),
    1254068: ("URLFieldConvFail", 200),
    1254069: ("AttachFieldConvFail", 200),
    1254072: ("PhoneFieldConvFail", 200),
    1254074: ("DuplexLinkFieldConvFail", 200),
    1254100: ("TableExceedLimit", 200),
    1254101: ("ViewExceedLimit", 200),
    1254103: ("RecordExceedLimit", 200),
    1254104: ("RecordAddOnceExceedLimit", 200),
    1254105: ("ColumnExceedLimit", 200),
    1254130: ("TooLargeCell", 200),
    1254290: ("TooManyRequest", 200),
    1254291: ("Write conflict", 200),
    1254301: ("OperationTypeError", 200),
    1254302: ("Permission denied", 403),
    1254304: ("PermNotAllow", 403),
    1254607: ("Data not ready, please try again later", 400),
    1254608: ("Same API requests are submitted repeatedly", 403),
    1255006: ("Client token conflict", 200),
    1255040: ("请求超时", 504),
    # custom bot webhook
    9499: ("Bad Request", 200),
    11232: ("frequency limited psm[lark.oapi.app_platform_runtime]appID[-1]", 200),
    19001: ("param invalid: incoming webhook access token invalid", 200),
    19021: ("sign match fail or timestamp is not within one hour from current time", 200),
    19022: ("Ip Not Allowed", 200),
    19024: ("Key Words Not Found", 200),
}


class FeishuError(Exception):
    """A business error: rendered as the Feishu envelope with ``code``/``msg`` (+ ``error``)."""

    def __init__(self, code: int, message: str | None = None, *, msg: str | None = None) -> None:
        default_msg, status = CODES.get(code, ("Fail", 200))
        self.code = code
        self.msg = msg or default_msg
        self.status = status
        # Long human-readable detail, as in the body's "error.message" (not mapped by lark-oapi).
        self.message = message
        super().__init__(f"{code} {self.msg}" + (f": {message}" if message else ""))


def field_not_found(name: str) -> FeishuError:
    """1254045 with the message format observed on the real API (docs/contracts/feishu.md §5)."""
    return FeishuError(
        1254045,
        f"Invalid request parameter: 'fields.'{name}''. Correct format : field_name not found. "
        "Please check and modify accordingly.",
    )
