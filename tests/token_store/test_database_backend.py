"""Database backend on SQLite, PostgreSQL and MariaDB: encryption at rest, status, errors."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr

from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from integrations.database.tables import oauth_tokens
from integrations.settings import ConfigError, load_settings
from tests.token_store.conftest import LeakGuard, make_token_set
from token_store.api import build_token_store
from token_store.errors import TokenNotFound
from token_store.models import TokenKey


@pytest.fixture
def db_url(any_db_url: str) -> str:
    upgrade(any_db_url)
    return any_db_url


def _key() -> TokenKey:
    # Server databases are shared by the session: unique principals keep tests apart.
    return TokenKey.oceanengine(1700000000000001, f"p-{uuid.uuid4().hex[:8]}")


def _store(db_url: str, fernet_key: str | None):
    s = load_settings(database_url=db_url, token_encryption_key=fernet_key)
    return build_token_store(s)


def test_put_get_status_and_ciphertext_at_rest(
    db_url: str, fernet_key: str, leak_guard: LeakGuard
) -> None:
    store, key = _store(db_url, fernet_key), _key()
    first, second = make_token_set(leak_guard, "1"), make_token_set(leak_guard, "2")
    store.put(key, first)
    store.put(key, second)  # replaces, bumps the version
    assert store.get(key) == second

    with make_engine(db_url).connect() as conn:
        row = conn.execute(sa.select(oauth_tokens).where(oauth_tokens.c.key == str(key))).one()
    raw = bytes(row.ciphertext)
    for secret in leak_guard.secrets:
        assert secret.encode() not in raw
    assert row.version == 2

    (st,) = [s for s in store.status() if s.key == str(key)]
    assert st.account_ids == second.account_ids
    # MariaDB DATETIME has whole seconds.
    assert abs(st.refresh_expires_at - second.refresh_expires_at) < timedelta(seconds=1)
    assert not st.refresh_expiring_soon
    leak_guard.text(store.status(), store)


def test_status_needs_no_encryption_key_but_token_reads_do(
    db_url: str, fernet_key: str, leak_guard: LeakGuard
) -> None:
    key = _key()
    _store(db_url, fernet_key).put(key, make_token_set(leak_guard))
    keyless = _store(db_url, None)
    assert str(key) in {s.key for s in keyless.status()}
    with pytest.raises(ConfigError) as e:
        keyless.get(key)
    msg = str(e.value)
    leak_guard.text(e.value)
    assert msg.startswith("ADSYNC_TOKEN_ENCRYPTION_KEY:") and "\n" not in msg
    assert "Fernet.generate_key()" in msg


def test_wrong_or_malformed_key_is_a_clear_error(
    db_url: str, fernet_key: str, leak_guard: LeakGuard
) -> None:
    key = _key()
    _store(db_url, fernet_key).put(key, make_token_set(leak_guard))
    other = Fernet.generate_key().decode()
    leak_guard.secret(other, "not-a-fernet-key-but-secret")
    with pytest.raises(ConfigError) as e:
        _store(db_url, other).get(key)
    leak_guard.text(e.value)
    assert "cannot decrypt" in str(e.value) and str(key) in str(e.value)
    with pytest.raises(ConfigError) as e2:
        _store(db_url, "not-a-fernet-key-but-secret").get(key)
    leak_guard.text(e2.value)
    assert "not a Fernet key" in str(e2.value)
    # Rotation: new key first, old key still decrypts.
    assert _store(db_url, f"{other},{fernet_key}").get(key).account_ids


def test_ciphertext_moved_to_another_key_is_refused(
    db_url: str, fernet_key: str, leak_guard: LeakGuard
) -> None:
    store, a, b = _store(db_url, fernet_key), _key(), _key()
    store.put(a, make_token_set(leak_guard, "a"))
    store.put(b, make_token_set(leak_guard, "b"))
    eng = make_engine(db_url)
    with eng.begin() as conn:
        ct = conn.execute(
            sa.select(oauth_tokens.c.ciphertext).where(oauth_tokens.c.key == str(a))
        ).scalar_one()
        conn.execute(
            sa.update(oauth_tokens).where(oauth_tokens.c.key == str(b)).values(ciphertext=ct)
        )
    with pytest.raises(ConfigError, match="belong to another key"):
        store.get(b)


def test_missing_table_and_missing_key(tmp_path, fernet_key: str) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(ConfigError, match="adsync db upgrade"):
        _store(url, fernet_key).status()
    upgrade(url)
    with pytest.raises(TokenNotFound, match="adsync tokens"):
        _store(url, fernet_key).get_access_token(_key())


def test_secretstr_settings_key_is_accepted(db_url: str, fernet_key: str, leak_guard) -> None:
    s = load_settings(database_url=db_url, token_encryption_key=SecretStr(fernet_key))
    key = _key()
    build_token_store(s).put(key, make_token_set(leak_guard))
    assert build_token_store(s).get(key)


def test_a_token_set_without_refresh_token_round_trips(
    db_url: str, fernet_key: str, leak_guard: LeakGuard
) -> None:
    # Client credentials: no refresh token, refresh expiry NO_REFRESH_EXPIRY in the NOT NULL column.
    from token_store.models import NO_REFRESH_EXPIRY, TokenSet, utcnow

    store = _store(db_url, fernet_key)
    key = TokenKey("supplier", "cid", f"p-{uuid.uuid4().hex[:8]}")
    ts = TokenSet(
        access_token=SecretStr("at-" + uuid.uuid4().hex),
        refresh_token=None,
        access_expires_at=utcnow().replace(microsecond=0) + timedelta(hours=2),
        refresh_expires_at=NO_REFRESH_EXPIRY,
    )
    leak_guard.secret(ts)
    store.put(key, ts)
    assert store.get(key) == ts
    (st,) = [s for s in store.status() if s.key == str(key)]
    assert (st.provider, st.has_refresh_token, st.refresh_expired) == ("supplier", False, False)
    assert st.refresh_expires_at == NO_REFRESH_EXPIRY and not st.refresh_expiring_soon
