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


class TokenPairNotStored(TokenStoreError):
    """An auth code was exchanged but the new pair could not be stored.

    ``rescue_path`` is where the pair was saved encrypted (None if nowhere could take it).
    The message says the pair's fate and the command that stores it; never a token.
    """

    def __init__(self, key: object, reason: str, rescue_path: object | None, detail: str) -> None:
        self.key = str(key)
        self.reason = reason
        self.rescue_path = rescue_path
        if rescue_path is not None:
            fate = (
                f"The pair is NOT lost: it was saved encrypted (owner-only) to {rescue_path}. "
                "Fix the token store, then run: "
                f"adsync tokens import --rescue-file {rescue_path}"
            )
        else:
            fate = (
                f"The pair could not be saved anywhere ({detail}), so it is lost: re-authorise "
                "with `adsync tokens auth-url` once the store works"
            )
        super().__init__(
            f"the auth code was exchanged for key {self.key}, but storing the new token pair "
            f"failed ({reason}). {fate}"
        )
