"""Token sets in the OS keyring (desktops): one JSON entry per key under service ``adsync``.

The keyring has no transactions, so a refresh is serialised by an exclusive ``flock`` on a lock
file per key in the data directory; that only works between processes of one machine (use the
database backend for several workers). The keyring cannot list entries, so an index entry holds
the key names for ``status()``.

Non-interactive use (flow runs, workers, a CLI without a terminal) never blocks: backends known to
ask for a password (keyrings.alt's EncryptedKeyring, alone or inside keyring's chainer) are
refused up front with the fix, and every keyring call is bounded by ``CALL_TIMEOUT_S`` so a
backend that waits on an unlock dialog (Secret Service, KWallet on a headless machine) becomes a
one-line error instead of a hung run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import keyring
from keyring.backend import KeyringBackend as _KeyringImpl
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringError, NoKeyringError

from integrations.private_files import private_dir
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
PROMPTS = (
    "ADSYNC_TOKEN_BACKEND: the keyring backend {what} asks for a password on a terminal, which "
    "would block this non-interactive run; choose a keyring that needs no prompt (e.g. "
    "PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring on an unlocked desktop "
    "session) or set ADSYNC_TOKEN_BACKEND=database"
)
PROBE_USERNAME = "__adsync_probe__"
# Longest a single keyring call may take when nobody can answer a prompt. A healthy keyring
# answers in milliseconds; an unlock dialog nobody sees waits forever.
CALL_TIMEOUT_S = 15.0
# Backends (module.Class) that prompt for a password through getpass; matched by name so the
# check needs no import of optional packages.
_PROMPTING = {"keyrings.alt.file.EncryptedKeyring", "keyrings.alt.Windows.EncryptedKeyring"}


def _name(kr: object) -> str:
    return f"{type(kr).__module__}.{type(kr).__qualname__}"


def _members(kr: _KeyringImpl) -> list[_KeyringImpl]:
    """The backends a call may reach: the chainer's members in order, else the backend itself."""
    if isinstance(kr, chainer.ChainerBackend):
        return list(kr.backends)
    return [kr]


class KeyringBackend:
    name = "keyring"

    def __init__(
        self, lock_dir: Path, impl: _KeyringImpl | None = None, interactive: bool = False
    ) -> None:
        self._kr = impl if impl is not None else keyring.get_keyring()
        self._interactive = interactive
        members = _members(self._kr)
        usable = [m for m in members if not isinstance(m, fail.Keyring | null.Keyring)]
        if not usable:
            what = type(self._kr).__module__ if members else "empty keyring chain"
            raise ConfigError(NO_KEYRING.format(what=what))
        if not interactive:
            prompting = [_name(m) for m in members if _name(m) in _PROMPTING]
            if prompting:
                raise ConfigError(PROMPTS.format(what=prompting[0]))
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

    def probe(self, key: TokenKey) -> None:
        """Prove the keyring stores and returns a value without a prompt, and the lock works."""
        value = secrets.token_hex(8)
        with self._flock(_lock_name(str(key))):
            self._set(PROBE_USERNAME, value)
            if self._get(PROBE_USERNAME) != value:
                raise TokenStoreError(
                    f"keyring {_name(self._kr)} did not return what was stored in it"
                )
            self._call("delete", lambda: self._kr.delete_password(SERVICE, PROBE_USERNAME))

    def _get(self, username: str) -> str | None:
        return self._call("read", lambda: self._kr.get_password(SERVICE, username))

    def _set(self, username: str, value: str) -> None:
        self._call("write", lambda: self._kr.set_password(SERVICE, username, value))

    def _call(self, what: str, fn: Callable[[], str | None]) -> str | None:
        """Run one keyring call; bounded in time unless a person is there to answer a prompt."""
        if self._interactive:
            return self._translate(what, fn)
        box: dict[str, object] = {}

        def target() -> None:
            try:
                box["value"] = self._translate(what, fn)
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = e

        # A daemon thread: if the backend never answers, it must not keep the process alive.
        t = threading.Thread(target=target, name="adsync-keyring", daemon=True)
        t.start()
        t.join(CALL_TIMEOUT_S)
        if t.is_alive():
            raise TokenStoreError(
                f"keyring {what} did not finish within {CALL_TIMEOUT_S:g} s "
                f"(backend {_name(self._kr)} may be waiting for an unlock prompt nobody can "
                "answer); unlock it, or set ADSYNC_TOKEN_BACKEND=database"
            )
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box.get("value")  # type: ignore[return-value]

    @staticmethod
    def _translate(what: str, fn: Callable[[], str | None]) -> str | None:
        try:
            return fn()
        except NoKeyringError:
            raise ConfigError(NO_KEYRING.format(what="NoKeyringError")) from None
        except KeyringError as e:
            raise TokenStoreError(f"keyring {what} failed: {type(e).__name__}") from None

    @contextmanager
    def _flock(self, name: str) -> Iterator[None]:
        private_dir(self._lock_dir)
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
