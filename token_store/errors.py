"""Token store errors. Messages name keys and settings, never token values."""

from __future__ import annotations


class TokenStoreError(Exception):
    """Base class for token store failures (not configuration: that is ``ConfigError``)."""


class TokenNotFound(TokenStoreError):
    """No token set is stored under the key."""

    def __init__(self, key: object) -> None:
        self.key = str(key)
        super().__init__(
            f"no tokens stored for key {self.key}; run `adsync tokens auth-url` and "
            "`adsync tokens exchange CODE`, or `adsync tokens import`"
        )


class ReauthorizeRequired(TokenStoreError):
    """The refresh token is invalid, expired or already spent: a person must consent again."""

    def __init__(self, key: object, reason: str) -> None:
        self.key = str(key)
        self.reason = reason
        super().__init__(
            f"re-authorise key {self.key}: {reason}. Open the URL from `adsync tokens auth-url` "
            "in a browser, then run `adsync tokens exchange CODE`"
        )


class OAuthError(TokenStoreError):
    """The OAuth endpoint answered with an error that retrying will not fix."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class TransientOAuthError(OAuthError):
    """A failure worth retrying (timeout, 5xx, non-JSON body, code 40100 or 5xxxx)."""


class AuthCodeInvalid(OAuthError):
    """The auth code is expired, already used or unknown (code 40110)."""


class ConcurrentInsert(TokenStoreError):
    """Two writers created the same new key at once; the caller retries and then updates."""
