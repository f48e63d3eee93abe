"""`adsync tokens exchange` never loses the single-use auth code or the pair it yields.

Before the code is spent the store must prove it can take a pair (reachable, migrated, writable,
keyring without a prompt); the simulator's request counter shows the code was not sent, and the
same code still works once the store is fixed. A store that fails *after* the exchange leaves an
encrypted owner-only rescue file that `tokens import --rescue-file` stores.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
import sqlalchemy as sa
from keyring.backend import KeyringBackend
from keyrings.alt.file import EncryptedKeyring, PlaintextKeyring

from integrations.database.migrate import upgrade
from integrations.settings import load_settings
from tests.token_store.conftest import api_accepts
from tests.token_store.conftest import run_cli as run
from token_store.api import build_token_store
from token_store.backends import keyring as keyring_backend
from token_store.oauth import OceanEngineOAuth


def exchanges(sb) -> int:
    return sb.oe.counters_snapshot()["requests"].get("oauth2/access_token", 0)


@pytest.fixture
def env(monkeypatch, sandbox, tmp_path, fernet_key: str) -> str:
    url = f"sqlite:///{tmp_path / 'tok.db'}"
    for k, v in sandbox.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("ADSYNC_DATABASE_URL", url)
    monkeypatch.setenv("ADSYNC_TOKEN_ENCRYPTION_KEY", fernet_key)
    return url


def _exchange_then_fix(monkeypatch, capfd, leak_guard, sandbox, code: str, url: str) -> None:
    """The code refused by a broken store still works once the store is fixed."""
    upgrade(url)
    monkeypatch.setenv("ADSYNC_DATABASE_URL", url)
    rc, out, _ = run(["tokens", "exchange", code], capfd, leak_guard)
    assert rc == 0 and "stored a new token pair" in out
    assert exchanges(sandbox) == 1


def test_unreachable_database_does_not_spend_the_code(
    env, monkeypatch, sandbox, capfd, leak_guard
) -> None:
    monkeypatch.setenv("ADSYNC_DATABASE_URL", "postgresql://adsync@127.0.0.1:1/nowhere")
    code = sandbox.oe.issue_auth_code()
    rc, out, err = run(["tokens", "exchange", code], capfd, leak_guard)
    assert rc == 1 and out == ""
    assert err.strip().count("\n") == 0, err
    assert "127.0.0.1:1/nowhere" in err and "not writable" in err and "NOT used" in err
    assert exchanges(sandbox) == 0
    _exchange_then_fix(monkeypatch, capfd, leak_guard, sandbox, code, env)


def test_read_only_database_does_not_spend_the_code(
    env, monkeypatch, sandbox, capfd, leak_guard, tmp_path
) -> None:
    upgrade(env)
    ro = f"sqlite:///file:{tmp_path / 'tok.db'}?mode=ro&uri=true"
    monkeypatch.setenv("ADSYNC_DATABASE_URL", ro)
    code = sandbox.oe.issue_auth_code()
    rc, _, err = run(["tokens", "exchange", code], capfd, leak_guard)
    assert rc == 1 and "readonly" in err.lower() and "NOT used" in err
    assert exchanges(sandbox) == 0
    _exchange_then_fix(monkeypatch, capfd, leak_guard, sandbox, code, env)


def test_unmigrated_database_is_migrated_before_the_code_is_spent(
    env, monkeypatch, sandbox, capfd, leak_guard
) -> None:
    # A fresh machine: the CLI creates the app database first, then spends the code once.
    code = sandbox.oe.issue_auth_code()
    rc, out, _ = run(["tokens", "exchange", code], capfd, leak_guard)
    assert rc == 0 and "stored a new token pair" in out
    assert exchanges(sandbox) == 1


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def _rescue_path(err: str) -> Path:
    marker = "adsync tokens import --rescue-file "
    assert marker in err, err
    return Path(err.split(marker, 1)[1].split()[0])


def _fail_after_exchange(monkeypatch, breaker) -> None:
    """The store breaks between the (real) exchange and the save, once."""
    real = OceanEngineOAuth.exchange_auth_code

    def exchange_then_break(self, auth_code: str):
        ts = real(self, auth_code)
        breaker()
        monkeypatch.setattr(OceanEngineOAuth, "exchange_auth_code", real)
        return ts

    monkeypatch.setattr(OceanEngineOAuth, "exchange_auth_code", exchange_then_break)


def test_store_failure_after_exchange_leaves_an_importable_rescue_file(
    env, monkeypatch, sandbox, capfd, leak_guard
) -> None:
    upgrade(env)

    def rename(a: str, b: str) -> None:  # e.g. a DBA's maintenance mid-command
        eng = sa.create_engine(env)
        with eng.begin() as c:
            c.execute(sa.text(f"ALTER TABLE {a} RENAME TO {b}"))
        eng.dispose()

    _fail_after_exchange(monkeypatch, lambda: rename("oauth_tokens", "oauth_tokens_away"))
    rc, out, err = run(["tokens", "exchange", sandbox.oe.issue_auth_code()], capfd, leak_guard)
    assert rc == 1 and out == ""
    assert "NOT lost" in err and "oauth_tokens" in err
    path = _rescue_path(err)
    assert path.parent == Path(os.environ["ADSYNC_DATA_DIR"]) / "rescue"
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert not path.with_name(path.name + ".key").exists()  # sealed with the configured key
    leak_guard.text(path.read_text())  # the guard fails the test if a token is in the file
    assert exchanges(sandbox) == 1

    rename("oauth_tokens_away", "oauth_tokens")  # the store is fixed
    rc, out, err = run(["tokens", "import", "--rescue-file", str(path)], capfd, leak_guard)
    assert rc == 0 and "imported the rescued token pair" in out, err
    assert not path.exists()
    store = build_token_store(load_settings())
    assert api_accepts(sandbox, store.get_access_token())
    assert exchanges(sandbox) == 1  # the rescued pair is the one that was issued


@pytest.fixture
def file_keyring(tmp_path) -> Iterator[PlaintextKeyring]:
    previous = keyring.get_keyring()
    kr = PlaintextKeyring()
    kr.file_path = str(tmp_path / "kr" / "keyring_pass.cfg")
    keyring.set_keyring(kr)
    try:
        yield kr
    finally:
        keyring.set_keyring(previous)


def test_keyring_failure_after_exchange_rescues_with_its_own_key_file(
    env, monkeypatch, sandbox, capfd, leak_guard, file_keyring
) -> None:
    monkeypatch.setenv("ADSYNC_TOKEN_BACKEND", "keyring")
    monkeypatch.delenv("ADSYNC_TOKEN_ENCRYPTION_KEY")
    kr_file = Path(file_keyring.file_path)

    def break_keyring() -> None:  # the keyring file becomes unusable (a directory)
        kr_file.unlink(missing_ok=True)
        kr_file.mkdir()

    _fail_after_exchange(monkeypatch, break_keyring)
    rc, _, err = run(["tokens", "exchange", sandbox.oe.issue_auth_code()], capfd, leak_guard)
    assert rc == 1 and "NOT lost" in err
    path = _rescue_path(err)
    key_file = path.with_name(path.name + ".key")
    assert _mode(path) == 0o600 and _mode(key_file) == 0o600
    leak_guard.secret(key_file.read_text())  # the key file is a secret: never printed
    leak_guard.text(path.read_text())

    kr_file.rmdir()
    rc, out, _ = run(["tokens", "import", "--rescue-file", str(path)], capfd, leak_guard)
    assert rc == 0 and "imported the rescued token pair" in out
    assert not path.exists() and not key_file.exists()
    store = build_token_store(load_settings())
    assert api_accepts(sandbox, store.get_access_token())


def test_prompting_keyring_is_refused_before_the_code_is_spent(
    env, monkeypatch, sandbox, capfd, leak_guard, tmp_path
) -> None:
    previous = keyring.get_keyring()
    kr = EncryptedKeyring()  # asks for a password through getpass
    kr.file_path = str(tmp_path / "crypted.cfg")
    keyring.set_keyring(kr)
    monkeypatch.setenv("ADSYNC_TOKEN_BACKEND", "keyring")
    try:
        rc, _, err = run(["tokens", "exchange", sandbox.oe.issue_auth_code()], capfd, leak_guard)
    finally:
        keyring.set_keyring(previous)
    assert rc == 2 and "EncryptedKeyring asks for a password" in err
    assert "ADSYNC_TOKEN_BACKEND=database" in err
    assert exchanges(sandbox) == 0


class _UnlockDialogKeyring(KeyringBackend):
    """A keyring whose every call waits for an unlock dialog nobody will answer."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.answered = threading.Event()
        self.calls = 0

    def get_password(self, service, username):
        self.calls += 1
        self.answered.wait()
        return None

    def set_password(self, service, username, password):
        self.calls += 1
        self.answered.wait()

    def delete_password(self, service, username):
        self.answered.wait()


def test_hanging_keyring_is_a_bounded_error_not_a_hang(
    env, monkeypatch, sandbox, capfd, leak_guard
) -> None:
    previous = keyring.get_keyring()
    kr = _UnlockDialogKeyring()
    keyring.set_keyring(kr)
    monkeypatch.setenv("ADSYNC_TOKEN_BACKEND", "keyring")
    monkeypatch.setattr(keyring_backend, "CALL_TIMEOUT_S", 1.0)
    try:
        rc, _, err = run(["tokens", "exchange", sandbox.oe.issue_auth_code()], capfd, leak_guard)
        rc2, _, err2 = run(["tokens", "status"], capfd, leak_guard)
    finally:
        kr.answered.set()  # let the abandoned daemon threads finish
        keyring.set_keyring(previous)
    assert rc == 1 and "did not finish within 1 s" in err and "NOT used" in err
    assert rc2 == 1 and "did not finish within 1 s" in err2
    assert kr.calls == 2  # one probe write, one status read: each abandoned, none repeated
    assert exchanges(sandbox) == 0


def test_chain_with_a_prompting_member_is_refused_unless_interactive(monkeypatch, tmp_path) -> None:
    """keyring's default on a desktop-less Linux box: a chainer over keyrings.alt's Encrypted
    (prompts) and Plaintext keyrings. Without a terminal it is refused, naming the member."""
    from keyring import backend as kr_backend
    from keyring.backends.chainer import ChainerBackend

    from integrations.settings import ConfigError
    from token_store.backends.keyring import KeyringBackend

    enc, plain = EncryptedKeyring(), PlaintextKeyring()
    enc.file_path = str(tmp_path / "crypted.cfg")
    plain.file_path = str(tmp_path / "plain.cfg")
    monkeypatch.setattr(kr_backend, "get_all_keyring", lambda: [enc, plain])
    chain = ChainerBackend()
    assert [type(b) for b in chain.backends] == [EncryptedKeyring, PlaintextKeyring]
    with pytest.raises(ConfigError, match="EncryptedKeyring asks for a password"):
        KeyringBackend(tmp_path / "locks", impl=chain)
    KeyringBackend(tmp_path / "locks", impl=chain, interactive=True)  # a person can answer
    KeyringBackend(tmp_path / "locks", impl=plain)  # no prompt: fine non-interactively
