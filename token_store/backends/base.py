"""What a backend provides: plain reads, and a per-key lock under which a refresh happens."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from token_store.models import TokenKey, TokenSet, TokenStatus


class LockedSlot(Protocol):
    """One key, held exclusively (across processes) for as long as the context is open."""

    @property
    def current(self) -> TokenSet | None:
        """The token set as re-read after taking the lock."""
        ...

    def save(self, token_set: TokenSet) -> None:
        """Persist durably *now* (commit), before the caller hands the token to anyone."""
        ...


class Backend(Protocol):
    name: str

    def load(self, key: TokenKey) -> TokenSet | None:
        """Read without locking (the fast path of ``get_access_token``)."""
        ...

    def locked(self, key: TokenKey) -> AbstractContextManager[LockedSlot]:
        """Take the per-key lock, re-read, yield; release on exit (rolling back on error)."""
        ...

    def statuses(self) -> list[TokenStatus]:
        """Non-secret status of every stored key."""
        ...

    def probe(self, key: TokenKey) -> None:
        """Raise unless a save under ``key`` would succeed now (checked before an auth code is
        spent): ConfigError for a setting to fix, TokenStoreError for an unusable store."""
        ...
