"""Where the supplier client keeps its access token: an injectable :class:`TokenCache`.

The client asks the cache first and only calls ``/oauth2/auth`` when the cache has nothing valid
for at least ``renew_margin_s`` more seconds; after a fresh grant it ``put``s the token. Any
store that can keep one opaque secret with an expiry per key fits (the token store's
vendor-neutral client-credentials strategy is meant to plug in here); :class:`MemoryTokenCache`
is the default: per process, nothing on disk.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from pydantic import SecretStr


@dataclass(frozen=True)
class CachedToken:
    access_token: SecretStr  # masked in repr/str: a logged CachedToken shows '**********'
    expires_at: datetime  # timezone-aware (UTC)

    def seconds_left(self, now: datetime | None = None) -> float:
        return (self.expires_at - (now or datetime.now(UTC))).total_seconds()


@runtime_checkable
class TokenCache(Protocol):
    """``key`` names the grant: ``"supplier:<client_id>@<token_url>"``."""

    def get(self, key: str) -> CachedToken | None: ...

    def put(self, key: str, token: CachedToken) -> None: ...


class MemoryTokenCache:
    """The default :class:`TokenCache`: a dict behind a lock (shared by the client's threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, CachedToken] = {}

    def get(self, key: str) -> CachedToken | None:
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: str, token: CachedToken) -> None:
        with self._lock:
            self._tokens[key] = token
