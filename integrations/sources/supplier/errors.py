"""Errors of the supplier client. Messages never contain the client secret or a token."""

from __future__ import annotations


class SupplierError(Exception):
    """Base class; ``endpoint`` is the API path, ``code`` the platform's code (or HTTP status)."""

    def __init__(self, message: str, *, endpoint: str = "", code: str | int | None = None) -> None:
        self.endpoint = endpoint
        self.code = code
        super().__init__(f"{endpoint}: {message}" if endpoint else message)


class Transient(SupplierError):
    """Network error, timeout, HTTP 5xx or a non-JSON answer: retried with backoff."""


class Throttled(Transient):
    """HTTP 429 or an envelope code 429: retried with backoff."""


class AuthError(SupplierError):
    """Client credentials refused, or a fresh token refused again (401 after re-authenticating)."""


class ApiError(SupplierError):
    """A business error (success=false / HTTP 4xx): final, not retried."""
