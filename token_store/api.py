"""The token store API: valid access tokens of any vendor on demand, rotated safely.

Tokens are keyed by vendor (``TokenKey``: ``vendor:app_id:principal``); how a vendor's tokens are
obtained and renewed is its :class:`~token_store.strategies.RefreshStrategy`, registered with
:meth:`TokenStore.register`: authorisation code with a rotating refresh token (Ocean Engine) or
OAuth2 client credentials. Whatever the strategy, renewing follows one protocol (written for the
hardest case, a single-use refresh token that a refresh kills):

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
from collections.abc import Callable, Iterable
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
from token_store.models import PROVIDER_OCEANENGINE, TokenKey, TokenSet, TokenStatus, utcnow
from token_store.oauth import OceanEngineOAuth
from token_store.rescue import read_rescue, remove_rescue, write_rescue
from token_store.rescue import rescue_dirs as rescue_dirs_for
from token_store.strategies import AuthorizationCode, RefreshStrategy, Unconfigured

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
        strategies: Iterable[RefreshStrategy] = (),
        refresh_margin: timedelta = DEFAULT_MARGIN,
        default_key: TokenKey | None = None,
        rescue_dirs: list[Path] | None = None,
        rescue_key: SecretStr | None = None,
    ) -> None:
        self._backend = backend
        self._strategies: dict[str, RefreshStrategy] = {}
        for strategy in strategies:
            self.register(strategy)
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

    def register(self, strategy: RefreshStrategy) -> None:
        """Serve ``strategy.vendor``'s keys with ``strategy`` (replacing any earlier one)."""
        self._strategies[strategy.vendor] = strategy

    def strategy(self, vendor: str) -> RefreshStrategy:
        """The strategy registered for ``vendor``; ConfigError naming the vendor if none."""
        try:
            return self._strategies[vendor]
        except KeyError:
            raise ConfigError(
                f"no token strategy for vendor {vendor!r} (registered: "
                f"{', '.join(sorted(self._strategies)) or 'none'})"
            ) from None

    def margin_for(self, key: TokenKey) -> timedelta:
        """How long before expiry the access token of ``key`` is renewed."""
        strategy = self._strategies.get(key.provider)
        own = strategy.refresh_margin if strategy is not None else None
        return own if own is not None else self.refresh_margin

    # --- reading ---------------------------------------------------------------------------

    def get_access_token(self, key: TokenKey | None = None) -> str:
        """An access token valid for at least ``refresh_margin``; refreshes (locked) if not."""
        key = self._key(key)
        margin = self.margin_for(key)
        ts = self._backend.load(key)
        if ts is None:
            return self._obtain(key)
        if ts.access_valid_for(margin):
            return ts.access_token.get_secret_value()
        return self._refresh(key, lambda cur: not cur.access_valid_for(margin))

    def force_refresh(
        self, key: TokenKey | None = None, stale_access_token: str | None = None
    ) -> str:
        """Refresh after an API call refused ``stale_access_token`` (Ocean Engine 40102/40105,
        HTTP 401 of a client-credentials vendor).

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
        strategy = self._strategy_for(key)
        if not isinstance(strategy, AuthorizationCode | Unconfigured):
            raise ConfigError(
                f"vendor {key.provider!r} does not use auth codes (it obtains its own tokens)"
            )
        try:
            self._backend.probe(key)
        except TokenStoreError as e:
            raise TokenStoreError(f"{e}; {CODE_NOT_USED}") from None
        ts = strategy.exchange_auth_code(code)
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

    def _obtain(self, key: TokenKey) -> str:
        """No stored set: a strategy that needs no person (client credentials) gets a first one,
        under the same lock, so concurrent first users make one request between them."""
        registered = self._strategies.get(key.provider)
        if registered is None or registered.needs_consent:
            raise TokenNotFound(key)  # only a person's consent (`adsync tokens`) starts a grant
        strategy = self._strategy_for(key)
        margin = self.margin_for(key)
        for attempt in (1, 2):
            try:
                with self._backend.locked(key) as slot:
                    current = slot.current
                    if current is not None and current.access_valid_for(margin):
                        return current.access_token.get_secret_value()
                    new = strategy.obtain(key)
                    slot.save(new)
                break
            except ConcurrentInsert:
                if attempt == 2:
                    raise
        log.info(
            "obtained tokens for key %s; access token valid until %s",
            key,
            new.access_expires_at.isoformat(timespec="seconds"),
        )
        return new.access_token.get_secret_value()

    def _refresh(self, key: TokenKey, needed: Callable[[TokenSet], bool]) -> str:
        with self._backend.locked(key) as slot:
            current = slot.current
            if current is None:
                raise TokenNotFound(key)
            if not needed(current):
                log.debug("tokens for key %s were refreshed by another process", key)
                return current.access_token.get_secret_value()
            new = self._strategy_for(key).refresh(key, current)
            # Crash window starts: a rotating refresh token is spent. Commit immediately.
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

    def _strategy_for(self, key: TokenKey) -> RefreshStrategy:
        strategy = self.strategy(key.provider)
        if key.app_id != strategy.app_id:
            # Never send one app's secret to renew another app's tokens.
            raise ConfigError(
                f"key {key} belongs to app {key.app_id}, but the configured {key.provider} app "
                f"is {strategy.app_id}"
            )
        return strategy


class TokenProvider:
    """What an HTTP client holds: ``get()`` before a call, ``refresh(stale)`` when the API
    refuses the token (Ocean Engine 40102/40105, HTTP 401 of a client-credentials vendor).

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
                self._valid_until = ts.access_expires_at - self.store.margin_for(self.key)
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
    strategies: list[RefreshStrategy] = []
    if app_id and settings.oceanengine_app_secret is not None:
        oauth = OceanEngineOAuth(
            base_url=settings.oceanengine_base_url,
            app_id=app_id,
            app_secret=settings.oceanengine_app_secret,
            timeout_s=settings.oceanengine_timeout_s,
        )
        strategies.append(AuthorizationCode(PROVIDER_OCEANENGINE, oauth))
    elif app_id:
        strategies.append(
            Unconfigured(
                PROVIDER_OCEANENGINE,
                str(app_id),
                "ADSYNC_OCEANENGINE_APP_SECRET: required to exchange or refresh tokens",
            )
        )
    # Other vendors register their strategy when their source connects (Runtime.client).
    return TokenStore(
        backend,
        strategies,
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
