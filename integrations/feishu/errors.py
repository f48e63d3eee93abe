"""Exceptions of the Bitable sink. Messages name tables/fields/codes, never secrets."""

from __future__ import annotations


class FeishuError(Exception):
    """Base class for everything this package raises."""


class FeishuApiError(FeishuError):
    """A Feishu reply with ``code != 0`` that was not (or no longer) retryable."""

    def __init__(self, op: str, code: int, msg: str, log_id: str | None = None) -> None:
        self.op, self.code, self.msg, self.log_id = op, code, msg, log_id
        suffix = f" (log_id {log_id})" if log_id else ""
        super().__init__(f"feishu {op}: {code} {msg}{suffix}")


class FeishuTransportError(FeishuError):
    """Transport failure / timeout / non-JSON (HTML 502) reply after all retries."""

    def __init__(self, op: str, cause: BaseException) -> None:
        self.op = op
        # str(cause) of requests errors can carry the URL (app_token in the path, no secrets),
        # but keep only the class name to stay well clear of query strings.
        super().__init__(f"feishu {op}: {type(cause).__name__} after retries")


class SchemaMismatch(FeishuError):
    """The table exists but a field we need has the wrong type (or the key field is missing).

    Nothing is written to that table; other tables are unaffected.
    """

    def __init__(self, table: str, field: str, found: str, expected: str, hint: str = "") -> None:
        self.table, self.field, self.found, self.expected = table, field, found, expected
        msg = (
            f"Bitable table {table!r}: field {field!r} has type {found}, expected {expected}; "
            "nothing was written to this table"
        )
        super().__init__(msg + (f". {hint}" if hint else ""))
