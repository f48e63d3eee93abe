"""Token sets in the project database (table ``oauth_tokens``), encrypted with Fernet.

The lock is the row lock of one transaction that spans the whole refresh:
``SELECT ... FOR UPDATE`` on PostgreSQL and MariaDB/MySQL (works across machines), and
``BEGIN IMMEDIATE`` on SQLite (one writer per file; the others wait up to the busy timeout).
Expiry times and account ids are stored in clear next to the ciphertext so ``status()`` never
needs to decrypt anything.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from integrations.database.engine import mask_url
from integrations.database.tables import oauth_tokens
from integrations.settings import ConfigError
from token_store.crypto import TokenCipher
from token_store.errors import ConcurrentInsert, TokenStoreError
from token_store.models import TokenKey, TokenSet, TokenStatus, utcnow

SQLITE_BUSY_TIMEOUT_MS = 120_000
# Encrypted once by probe() to prove the configured key works (no real secret in it).
_PROBE_SET = TokenSet(
    access_token="probe",
    refresh_token="probe",
    access_expires_at=datetime(2000, 1, 1, tzinfo=UTC),
    refresh_expires_at=datetime(2000, 1, 1, tzinfo=UTC),
)


class DatabaseBackend:
    name = "database"

    def __init__(
        self, url_or_engine: str | Engine, cipher: TokenCipher | Callable[[], TokenCipher]
    ) -> None:
        if isinstance(url_or_engine, Engine):
            self._engine = url_or_engine
        else:
            from integrations.database.engine import make_engine

            self._engine = make_engine(url_or_engine)
        self._sqlite = self._engine.dialect.name == "sqlite"
        # A factory defers the encryption-key check to the first token read/write, so status()
        # (non-secret columns only) works on a monitoring host without the key.
        self._cipher_or_factory = cipher
        self._table_checked = False

    @property
    def _cipher(self) -> TokenCipher:
        if not isinstance(self._cipher_or_factory, TokenCipher):
            self._cipher_or_factory = self._cipher_or_factory()
        return self._cipher_or_factory

    def __repr__(self) -> str:
        return f"DatabaseBackend({self._engine.dialect.name})"

    # --- reads -----------------------------------------------------------------------------

    def load(self, key: TokenKey) -> TokenSet | None:
        self._check_table()
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(oauth_tokens.c.ciphertext).where(oauth_tokens.c.key == str(key))
            ).first()
        return None if row is None else self._cipher.decrypt(key, row.ciphertext)

    def statuses(self) -> list[TokenStatus]:
        self._check_table()
        cols = [
            oauth_tokens.c.key,
            oauth_tokens.c.access_expires_at,
            oauth_tokens.c.refresh_expires_at,
            oauth_tokens.c.account_ids,
        ]
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(*cols, oauth_tokens.c.updated_at).order_by(oauth_tokens.c.key)
            ).all()
        return [
            TokenStatus.of(
                TokenKey.parse(r.key),
                r.access_expires_at,
                r.refresh_expires_at,
                json.loads(r.account_ids or "[]"),
                updated_at=r.updated_at,
            )
            for r in rows
        ]

    # --- the lock --------------------------------------------------------------------------

    @contextmanager
    def locked(self, key: TokenKey) -> Iterator[_DbSlot]:
        self._check_table()
        with self._engine.connect() as conn:
            if self._sqlite:
                # The refresh (with retries) runs while others wait: wait longer than it takes.
                # A spent refresh token cannot be recovered, so a committed rotation must survive
                # power loss too, which WAL's synchronous=NORMAL does not promise.
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                conn.exec_driver_sql("PRAGMA synchronous = FULL")
                # Take the write lock now, not at the first UPDATE: otherwise two processes both
                # read the old pair and both refresh (SQLite's default BEGIN is DEFERRED).
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            stmt = sa.select(oauth_tokens.c.ciphertext, oauth_tokens.c.version).where(
                oauth_tokens.c.key == str(key)
            )
            row = conn.execute(stmt.with_for_update()).first()
            current = None if row is None else self._cipher.decrypt(key, row.ciphertext)
            slot = _DbSlot(conn, self._cipher, key, current, None if row is None else row.version)
            try:
                yield slot
            finally:
                if not slot.saved:
                    conn.rollback()  # releases the lock; nothing was written

    # --- before spending a single-use credential --------------------------------------------

    def probe(self, key: TokenKey) -> None:
        """Prove the store can take a new pair *now*: reachable, migrated, key valid, writable.

        Inserts a throw-away row in a transaction that is rolled back, under the same lock a real
        save takes (SQLite's write lock: a read-only file or a locked disk fails here). Raises
        ConfigError (setting to fix) or TokenStoreError (store unusable), naming the store.
        """
        try:
            self._check_table()
            self._cipher.encrypt(key, _PROBE_SET)  # the encryption key is usable
            with self._engine.connect() as conn:
                if self._sqlite:
                    conn.exec_driver_sql("PRAGMA busy_timeout = 10000")
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                conn.execute(
                    sa.insert(oauth_tokens).values(
                        key=f"__adsync_probe__:{uuid.uuid4().hex}",
                        version=0,
                        ciphertext=b"probe",
                        access_expires_at=_naive(utcnow()),
                        refresh_expires_at=_naive(utcnow()),
                        account_ids="[]",
                        updated_at=_naive(utcnow()),
                    )
                )
                conn.rollback()
        except SQLAlchemyError as e:
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0][:200]
            raise TokenStoreError(
                f"token store database {mask_url(self._engine.url)} is not writable: "
                f"{type(getattr(e, 'orig', None) or e).__name__}: {reason}"
            ) from None

    def _check_table(self) -> None:
        if self._table_checked:
            return
        with self._engine.connect() as conn:
            if not sa.inspect(conn).has_table(oauth_tokens.name):
                raise ConfigError(
                    f"database has no {oauth_tokens.name} table; run `adsync db upgrade` first"
                )
        self._table_checked = True


class _DbSlot:
    def __init__(
        self,
        conn: Connection,
        cipher: TokenCipher,
        key: TokenKey,
        current: TokenSet | None,
        version: int | None,
    ) -> None:
        self._conn, self._cipher, self._key = conn, cipher, key
        self._current, self._version = current, version
        self.saved = False

    @property
    def current(self) -> TokenSet | None:
        return self._current

    def save(self, token_set: TokenSet) -> None:
        values: dict[str, Any] = {
            "ciphertext": self._cipher.encrypt(self._key, token_set),
            "access_expires_at": _naive(token_set.access_expires_at),
            "refresh_expires_at": _naive(token_set.refresh_expires_at),
            "account_ids": json.dumps(token_set.account_ids),
            "updated_at": _naive(utcnow()),
        }
        if self._version is None:
            try:
                self._conn.execute(
                    sa.insert(oauth_tokens).values(key=str(self._key), version=1, **values)
                )
            except IntegrityError:
                raise ConcurrentInsert(f"key {self._key} was created concurrently") from None
        else:
            self._conn.execute(
                sa.update(oauth_tokens)
                .where(oauth_tokens.c.key == str(self._key))
                .values(version=oauth_tokens.c.version + 1, **values)
            )
        self._conn.commit()  # durable before anyone sees the new tokens; releases the lock
        self.saved = True
        self._current = token_set


def _naive(dt: datetime) -> datetime:
    """Timestamps are stored as naive UTC (project convention, see tables.py)."""
    return dt.astimezone(utcnow().tzinfo).replace(tzinfo=None)
