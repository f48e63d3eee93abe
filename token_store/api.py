"""The token store API: valid Ocean Engine access tokens on demand, rotated safely.

Refresh protocol (the refresh token is single use; a refresh kills the old one):

1. take the backend's per-key lock (row lock / SQLite write lock / flock),
2. re-read the token set: another process may have refreshed while we waited,
3. refresh only if still needed,
4. persist the new pair (commit) before anyone, including our caller, sees it,
5. release the lock and return.

Crash window: if the process dies after Ocean Engine issued the new pair but before step 4
commits, the stored refresh token is already spent; the transaction rolls back, the next refresh
is rejected, and the caller gets :class:`ReauthorizeRequired` naming the key (never a silent loss
or a stale token that looks valid). Nothing runs between parsing the response and the commit, so
the window is one local write. The same outcome follows if the response itself is lost in transit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from integrations.settings import ConfigError, Settings
from token_store.backends.base import Backend
from token_store.errors import (
    ConcurrentInsert,
    ReauthorizeRequired,
    TokenNotFound,
    TokenPairNotStored,
    TokenStoreError,
)
from token_store.models import TokenKey, TokenSet, TokenStatus, utcnow
from token_store.oauth import OceanEngineOAuth
from token_store.rescue import read_rescue, remove_rescue, write_rescue
from token_store.rescue import rescue_dirs as rescue_dirs_for

__all__ = [
    "ReauthorizeRequired",
    "TokenKey",
    "TokenNotFound",
    "TokenProvider",
    "TokenSet",
    "TokenStatus",
    "TokenStore",
    "build_token_store",
]

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

DEFAULT_MARGIN = timedelta(hours=1)

# Test seam for the crash-window test: called after the new pair was parsed and before it is
# committed. Always None in production.
_AFTER_ISSUE_HOOK: Callable[[TokenKey], None] | None = None


CODE_NOT_USED = (
    "the auth code was NOT used: fix the store and run the same command again "
    "(a code is valid for 10 minutes after consent)"
)


class TokenStore:
    def __init__(
        self,
        backend: Backend,
        oauth: OceanEngineOAuth | None = None,
        refresh_margin: timedelta = DEFAULT_MARGIN,
        default_key: TokenKey | None = None,
        rescue_dirs: list[Path] | None = None,
        rescue_key: SecretStr | None = None,
    ) -> None:
        self._backend = backend
        self._oauth = oauth
        self.refresh_margin = refresh_margin
        self.default_key = default_key
        # Where and how an exchanged pair is saved if the store fails (token_store/rescue.py).
        self.rescue_dirs = rescue_dirs if rescue_dirs is not None else rescue_dirs_for(Path("data"))
        self.rescue_key = rescue_key

    def __repr__(self) -> str:
        return f"TokenStore({self._backend!r}, default_key={self.default_key})"

    @property
    def backend(self) -> Backend:
        return self._backend

    # --- reading ---------------------------------------------------------------------------

    def get_access_token(self, key: TokenKey | None = None) -> str:
        """An access token valid for at least ``refresh_margin``; refreshes (locked) if not."""
        key = self._key(key)
        ts = self._backend.load(key)
        if ts is None:
            raise TokenNotFound(key)
        if ts.access_valid_for(self.refresh_margin):
            return ts.access_token.get_secret_value()
        return self._refresh(key, lambda cur: not cur.access_valid_for(self.refresh_margin))

    def force_refresh(
        self, key: TokenKey | None = None, stale_access_token: str | None = None
    ) -> str:
        """Refresh after an API call reported 40102/40105 for ``stale_access_token``.

        If the stored token already differs from the stale one, another process refreshed in the
        meantime: its token is returned and no refresh is made. Without ``stale_access_token``
        the refresh is unconditional.
        """
        key = self._key(key)

        def needed(cur: TokenSet) -> bool:
            if stale_access_token is None:
                return True
            return cur.access_token.get_secret_value() == stale_access_token or (
                not cur.access_valid_for(timedelta(0))
            )

        return self._refresh(key, needed)

    def get(self, key: TokenKey | None = None) -> TokenSet:
        """The stored token set (secrets masked in repr), without refreshing."""
        key = self._key(key)
        ts = self._backend.load(key)
        if ts is None:
            raise TokenNotFound(key)
        return ts

    def status(self) -> list[TokenStatus]:
        """Expiry times and account ids of every stored key; never secrets."""
        return self._backend.statuses()

    def provider(self, key: TokenKey | None = None) -> TokenProvider:
        return TokenProvider(self, self._key(key))

    # --- writing ---------------------------------------------------------------------------

    def put(self, key: TokenKey | None, token_set: TokenSet) -> None:
        """Store ``token_set`` under ``key`` (replacing any), under the same lock as refresh."""
        key = self._key(key)
        for attempt in (1, 2):
            try:
                with self._backend.locked(key) as slot:
                    slot.save(token_set)
                break
            except ConcurrentInsert:
                if attempt == 2:
                    raise
        log.info("stored tokens for key %s", key)

    def exchange_auth_code(self, code: str, key: TokenKey | None = None) -> TokenStatus:
        """Exchange a consent auth code and store the pair. Returns its (non-secret) status.

        The code is single use, so the store is proven writable *before* it is spent
        (``Backend.probe``); a store that fails afterwards gets the pair written to an encrypted
        rescue file (:mod:`token_store.rescue`) and :class:`TokenPairNotStored` names it.
        """
        key = self._key(key)
        oauth = self._oauth_for(key)
        try:
            self._backend.probe(key)
        except TokenStoreError as e:
            raise TokenStoreError(f"{e}; {CODE_NOT_USED}") from None
        ts = oauth.exchange_auth_code(code)
        try:
            self.put(key, ts)
        except BaseException as e:  # noqa: BLE001 - whatever broke, the pair must survive
            reason = _reason(e)
            try:
                rescue = write_rescue(self.rescue_dirs, key, ts, self.rescue_key)
            except Exception as re:  # noqa: BLE001 - reported in the message below
                raise TokenPairNotStored(key, reason, None, _reason(re)) from None
            log.error(
                "token pair for key %s not stored (%s); rescued to %s", key, reason, rescue.path
            )
            raise TokenPairNotStored(key, reason, rescue.path, "") from None
        return TokenStatus.of(key, ts.access_expires_at, ts.refresh_expires_at, ts.account_ids)

    def import_rescue(self, path: Path) -> TokenStatus:
        """Store the pair of a rescue file under its key; the file is deleted once stored."""
        key, ts = read_rescue(path, self.rescue_key)
        self.put(key, ts)
        remove_rescue(path)
        return TokenStatus.of(key, ts.access_expires_at, ts.refresh_expires_at, ts.account_ids)

    # --- internals -------------------------------------------------------------------------

    def _refresh(self, key: TokenKey, needed: Callable[[TokenSet], bool]) -> str:
        with self._backend.locked(key) as slot:
            current = slot.current
            if current is None:
                raise TokenNotFound(key)
            if not needed(current):
                log.debug("tokens for key %s were refreshed by another process", key)
                return current.access_token.get_secret_value()
            new = self._oauth_for(key).refresh(
                key, current.refresh_token.get_secret_value(), current.account_ids
            )
            # Crash window starts: the old refresh token is spent. Commit immediately.
            if _AFTER_ISSUE_HOOK is not None:
                _AFTER_ISSUE_HOOK(key)
            slot.save(new)
        log.info(
            "refreshed tokens for key %s; access token valid until %s",
            key,
            new.access_expires_at.isoformat(timespec="seconds"),
        )
        return new.access_token.get_secret_value()

    def _key(self, key: TokenKey | None) -> TokenKey:
        if key is not None:
            return key
        if self.default_key is None:
            raise ConfigError("ADSYNC_OCEANENGINE_APP_ID: required to name the token key")
        return self.default_key

    def _oauth_for(self, key: TokenKey) -> OceanEngineOAuth:
        if self._oauth is None:
            raise ConfigError(
                "ADSYNC_OCEANENGINE_APP_SECRET: required to exchange or refresh tokens"
            )
        if key.app_id != self._oauth.app_id:
            raise ConfigError(
                f"ADSYNC_OCEANENGINE_APP_ID: key {key} belongs to app {key.app_id}, "
                f"but the configured app is {self._oauth.app_id}"
            )
        return self._oauth


class TokenProvider:
    """What the HTTP client holds: ``get()`` before a call, ``refresh(stale)`` on 40102/40105.

    Caches the access token in memory while it stays valid for the store's margin, so a
    20-QPS pull does not read and decrypt the token set from the backend on every request.
    ``refresh`` always goes through the store's locked protocol and replaces the cache.
    """

    def __init__(self, store: TokenStore, key: TokenKey) -> None:
        self.store = store
        self.key = key
        self._lock = threading.Lock()
        self._token: str | None = None
        self._valid_until: datetime | None = None

    def get(self) -> str:
        with self._lock:
            if self._token is not None and self._valid_until and utcnow() < self._valid_until:
                return self._token
        token = self.store.get_access_token(self.key)
        ts = self.store.get(self.key)
        with self._lock:
            if ts.access_token.get_secret_value() == token:
                self._token = token
                self._valid_until = ts.access_expires_at - self.store.refresh_margin
        return token

    def refresh(self, stale: str) -> str:
        with self._lock:
            self._token = None
        return self.store.force_refresh(self.key, stale_access_token=stale)

    def __repr__(self) -> str:
        return f"TokenProvider({self.key})"


def build_token_store(
    settings: Settings, engine: Engine | None = None, interactive: bool = False
) -> TokenStore:
    """The store the settings ask for (``ADSYNC_TOKEN_BACKEND``), with the configured app.

    ``engine``: reuse the caller's engine for the database backend (else one is made from
    ``settings.db_url``). A missing/invalid encryption key is reported on first token use, so
    ``status()`` works without it. ``interactive``: a person at a terminal may answer a keyring
    password prompt (the CLI on a TTY); otherwise prompting keyrings are refused and keyring
    calls are time-bounded.
    """
    backend: Backend
    if settings.token_backend == "keyring":
        from token_store.backends.keyring import KeyringBackend

        backend = KeyringBackend(settings.data_dir / "locks", interactive=interactive)
    else:
        from token_store.backends.database import DatabaseBackend
        from token_store.crypto import TokenCipher

        key = settings.token_encryption_key
        backend = DatabaseBackend(engine or settings.db_url, lambda: TokenCipher(key))
    app_id = settings.oceanengine_app_id
    oauth = None
    if app_id and settings.oceanengine_app_secret is not None:
        oauth = OceanEngineOAuth(
            base_url=settings.oceanengine_base_url,
            app_id=app_id,
            app_secret=settings.oceanengine_app_secret,
            timeout_s=settings.oceanengine_timeout_s,
        )
    return TokenStore(
        backend,
        oauth,
        refresh_margin=timedelta(seconds=settings.token_refresh_margin_s),
        default_key=TokenKey.oceanengine(app_id, settings.oceanengine_principal)
        if app_id
        else None,
        rescue_dirs=rescue_dirs_for(settings.data_dir),
        rescue_key=settings.token_encryption_key,
    )


def _reason(e: BaseException) -> str:
    """One line naming what failed; driver messages name hosts and tables, never tokens."""
    inner = getattr(e, "orig", None) or e
    text = str(inner).strip().splitlines()[0][:200] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__
