"""The simulator's OAuth state: auth codes, access tokens and rotating refresh tokens.

Thread-safe: the HTTP handlers run on the server thread, tests call ``issue_auth_code`` /
``revoke_all`` from theirs. Times are seconds on the simulator's clock (``now`` callable), so
tests can jump forward instead of sleeping.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.oceanengine.errors import (
    AUTH_CODE_INVALID,
    TOKEN_INVALID,
    OEError,
)
from sandbox.oceanengine.knobs import OceanEngineKnobs


@dataclass(frozen=True)
class Grant:
    """What one consent covers: the account ids ticked on the consent page."""

    grant_id: int
    advertiser_ids: tuple[int, ...]
    app_id: int | None = None  # the app the consent was given to (None: the simulator's first)


@dataclass
class _Code:
    grant: Grant
    expires_at: float
    used: bool = False


@dataclass
class _Access:
    grant: Grant
    expires_at: float
    revoked: bool = False
    forced_expired: bool = False


@dataclass
class _Refresh:
    grant: Grant
    expires_at: float
    access_token: str
    used: bool = False


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_token_expires_in: int
    grant: Grant


class AuthStore:
    def __init__(self, knobs: OceanEngineKnobs, now: Callable[[], float]) -> None:
        self._knobs = knobs
        self._now = now
        self._lock = threading.Lock()
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._grants = 0

    def set_knobs(self, knobs: OceanEngineKnobs) -> None:
        self._knobs = knobs

    def issue_auth_code(self, advertiser_ids: list[int], app_id: int | None = None) -> str:
        with self._lock:
            self._grants += 1
            code = secrets.token_hex(16)
            grant = Grant(self._grants, tuple(advertiser_ids), app_id)
            self._codes[code] = _Code(grant, self._now() + self._knobs.auth_code_ttl_s)
            return code

    def exchange(self, auth_code: str, app_id: int | None = None) -> TokenPair:
        """``app_id``: the app presenting the code; a code consented to another app is
        invalid for it (an auth code is bound to the app whose consent page issued it)."""
        with self._lock:
            entry = self._codes.get(auth_code)
            if entry is not None and not _same_app(entry.grant, app_id):
                raise OEError(AUTH_CODE_INVALID)
            if entry is None or entry.used or entry.expires_at <= self._now():
                # Single use and 10-minute life: both answer 40110 (captured message).
                raise OEError(AUTH_CODE_INVALID)
            entry.used = True
            return self._issue_pair(entry.grant)

    def refresh(self, refresh_token: str, app_id: int | None = None) -> TokenPair:
        k = self._knobs
        with self._lock:
            entry = self._refresh.get(refresh_token)
            if entry is None or entry.used or not _same_app(entry.grant, app_id):
                raise OEError(k.refresh_invalid_code, "refresh_token无效")
            if entry.expires_at <= self._now():
                raise OEError(k.refresh_expired_code, "refresh_token已过期")
            entry.used = True  # rotation: the presented refresh token is dead from now on
            if not k.refresh_keeps_old_access_token:
                old = self._access.get(entry.access_token)
                if old is not None:
                    old.revoked = True
            return self._issue_pair(entry.grant)

    def _issue_pair(self, grant: Grant) -> TokenPair:
        k, now = self._knobs, self._now()
        access, refresh = secrets.token_hex(20), secrets.token_hex(20)
        self._access[access] = _Access(grant, now + k.access_token_ttl_s)
        self._refresh[refresh] = _Refresh(grant, now + k.refresh_token_ttl_s, access)
        return TokenPair(access, k.access_token_ttl_s, refresh, k.refresh_token_ttl_s, grant)

    def check(self, access_token: str) -> Grant:
        with self._lock:
            entry = self._access.get(access_token)
            if entry is None or entry.revoked:
                raise OEError(TOKEN_INVALID)
            if entry.forced_expired or entry.expires_at <= self._now():
                raise OEError(self._knobs.token_expired_code, "access_token已过期")
            return entry.grant

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token issued so far (for tests' secret-leak guards)."""
        with self._lock:
            return [*self._access, *self._refresh]

    def revoke(self, access_token: str) -> None:
        with self._lock:
            entry = self._access.get(access_token)
            if entry is not None:
                entry.revoked = True

    def app_of(self, access_token: str) -> int | None:
        """The app an access token was issued to (None: unknown token or the first app)."""
        with self._lock:
            entry = self._access.get(access_token)
            return entry.grant.app_id if entry is not None else None

    def revoke_app(self, app_id: int) -> int:
        """Every consent given to ``app_id`` is withdrawn: its access tokens answer 40105 and
        its refresh tokens are invalid (re-authorisation needed). Returns the pairs revoked."""
        n = 0
        with self._lock:
            for entry in self._access.values():
                if entry.grant.app_id == app_id:
                    entry.revoked = True
            for r in self._refresh.values():
                if r.grant.app_id == app_id and not r.used:
                    r.used, n = True, n + 1
        return n

    def revoke_all(self) -> None:
        with self._lock:
            for entry in self._access.values():
                entry.revoked = True

    def expire_all(self) -> None:
        with self._lock:
            for entry in self._access.values():
                entry.forced_expired = True


def _same_app(grant: Grant, app_id: int | None) -> bool:
    return app_id is None or grant.app_id is None or grant.app_id == app_id
