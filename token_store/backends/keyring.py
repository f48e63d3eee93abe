"""Token sets in the OS keyring (desktops): one JSON entry per key under service ``adsync``.

The keyring has no transactions, so a refresh is serialised by an exclusive ``flock`` on a lock
file per key in the data directory; that only works between processes of one machine (use the
database backend for several workers). The keyring cannot list entries, so an index entry holds
the key names for ``status()``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend as _KeyringImpl
from keyring.backends import fail, null
from keyring.errors import KeyringError, NoKeyringError

from integrations.settings import ConfigError
from token_store.errors import TokenStoreError
from token_store.models import TokenKey, TokenSet, TokenStatus

SERVICE = "adsync"
INDEX_USERNAME = "__adsync_token_keys__"
NO_KEYRING = (
    "ADSYNC_TOKEN_BACKEND: no OS keyring service is available on this machine ({what}); "
    "set ADSYNC_TOKEN_BACKEND=database (and ADSYNC_TOKEN_ENCRYPTION_KEY) to keep tokens in the "
    "project database"
)


class KeyringBackend:
    name = "keyring"

    def __init__(self, lock_dir: Path, impl: _KeyringImpl | None = None) -> None:
        self._kr = impl if impl is not None else keyring.get_keyring()
        if isinstance(self._kr, fail.Keyring | null.Keyring):
            raise ConfigError(NO_KEYRING.format(what=type(self._kr).__module__))
        self._lock_dir = lock_dir

    def __repr__(self) -> str:
        return f"KeyringBackend({type(self._kr).__name__})"

    # --- reads -----------------------------------------------------------------------------

    def load(self, key: TokenKey) -> TokenSet | None:
        raw = self._get(str(key))
        return None if raw is None else TokenSet.from_secret_json(raw)

    def statuses(self) -> list[TokenStatus]:
        out = []
        for name in self._index():
            ts = self.load(TokenKey.parse(name))
            if ts is not None:
                out.append(
                    TokenStatus.of(
                        TokenKey.parse(name),
                        ts.access_expires_at,
                        ts.refresh_expires_at,
                        ts.account_ids,
                    )
                )
        return out

    # --- the lock --------------------------------------------------------------------------

    @contextmanager
    def locked(self, key: TokenKey) -> Iterator[_KeyringSlot]:
        with self._flock(_lock_name(str(key))):
            yield _KeyringSlot(self, key, self.load(key))

    def _save(self, key: TokenKey, token_set: TokenSet) -> None:
        self._set(str(key), token_set.to_secret_json())
        with self._flock("index"):
            names = self._index()
            if str(key) not in names:
                self._set(INDEX_USERNAME, json.dumps(sorted([*names, str(key)])))

    # --- internals -------------------------------------------------------------------------

    def _index(self) -> list[str]:
        raw = self._get(INDEX_USERNAME)
        return list(json.loads(raw)) if raw else []

    def _get(self, username: str) -> str | None:
        try:
            return self._kr.get_password(SERVICE, username)
        except NoKeyringError:
            raise ConfigError(NO_KEYRING.format(what="NoKeyringError")) from None
        except KeyringError as e:
            raise TokenStoreError(f"keyring read failed: {type(e).__name__}") from None

    def _set(self, username: str, value: str) -> None:
        try:
            self._kr.set_password(SERVICE, username, value)
        except NoKeyringError:
            raise ConfigError(NO_KEYRING.format(what="NoKeyringError")) from None
        except KeyringError as e:
            raise TokenStoreError(f"keyring write failed: {type(e).__name__}") from None

    @contextmanager
    def _flock(self, name: str) -> Iterator[None]:
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if the process dies
            yield
        finally:
            os.close(fd)


class _KeyringSlot:
    def __init__(self, backend: KeyringBackend, key: TokenKey, current: TokenSet | None) -> None:
        self._backend, self._key, self._current = backend, key, current

    @property
    def current(self) -> TokenSet | None:
        return self._current

    def save(self, token_set: TokenSet) -> None:
        self._backend._save(self._key, token_set)
        self._current = token_set


def _lock_name(key: str) -> str:
    # Keys may hold characters that are not safe in file names.
    return "token-" + hashlib.sha256(key.encode()).hexdigest()[:24]
