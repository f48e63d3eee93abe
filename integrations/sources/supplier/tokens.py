"""Where the supplier client gets its access token: a :class:`TokenSource`.

In a run the source is the vendor-neutral token store's provider
(``store.provider(TokenKey("supplier", client_id, "default"))``, see ``source.py``): the OAuth2
client-credentials strategy (``token_store/client_credentials.py``) obtains tokens, the store
persists them (encrypted) under a lock and shares them across threads and processes, and
``refresh(stale)`` after a 401 re-obtains only if nobody replaced that token meanwhile.

:func:`memory_tokens` builds the same provider on an in-memory SQLite store, for a client used
outside a run (tests, a one-off script): same protocol, nothing on disk.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import SecretStr

from token_store.api import TokenProvider, TokenStore
from token_store.client_credentials import ClientCredentials

VENDOR = "supplier"
SECRET_SETTING = "ADSYNC_SUPPLIER_CLIENT_SECRET"


@runtime_checkable
class TokenSource(Protocol):
    """``get()`` before a request; ``refresh(stale)`` when the API refused ``stale`` (HTTP 401)."""

    def get(self) -> str: ...

    def refresh(self, stale: str) -> str: ...


def strategy(token_url: str, client_id: str, client_secret: SecretStr | str) -> ClientCredentials:
    """The supplier's token strategy: form-encoded client credentials, bare RFC 6749 answer."""
    secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
    return ClientCredentials(
        vendor=VENDOR,
        token_url=token_url,
        client_id=client_id,
        client_secret=secret,
        secret_setting=SECRET_SETTING,
    )


def provider(store: TokenStore, strat: ClientCredentials) -> TokenProvider:
    """Register ``strat`` on ``store`` and return the provider of its key."""
    store.register(strat)
    return store.provider(strat.key())


def memory_tokens(token_url: str, client_id: str, client_secret: SecretStr | str) -> TokenProvider:
    """A provider on a private throwaway store (a temporary SQLite file, random encryption key,
    removed at exit): for a client used outside a run. Runs use the configured store."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path

    from cryptography.fernet import Fernet

    from integrations.database.engine import make_engine
    from integrations.database.tables import oauth_tokens
    from token_store.backends.database import DatabaseBackend
    from token_store.crypto import TokenCipher

    folder = Path(tempfile.mkdtemp(prefix="adsync-supplier-tokens-"))
    atexit.register(shutil.rmtree, folder, True)
    engine = make_engine(f"sqlite:///{folder / 'tokens.db'}")
    oauth_tokens.create(engine)
    cipher = TokenCipher(SecretStr(Fernet.generate_key().decode()))
    store = TokenStore(DatabaseBackend(engine, cipher), rescue_dirs=[folder])
    return provider(store, strategy(token_url, client_id, client_secret))
