"""Keyring backend against a real file keyring (keyrings.alt), and the no-keyring message."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import keyring
import pytest
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring

from integrations.settings import ConfigError, load_settings
from tests.token_store.conftest import LeakGuard, api_accepts, make_token_set, refresh_calls
from token_store.api import TokenStore, build_token_store
from token_store.backends.keyring import SERVICE
from token_store.models import TokenKey, TokenSet


@pytest.fixture
def file_keyring(tmp_path) -> Iterator[PlaintextKeyring]:
    previous = keyring.get_keyring()
    kr = PlaintextKeyring()
    kr.file_path = str(tmp_path / "keyring_pass.cfg")
    keyring.set_keyring(kr)
    try:
        yield kr
    finally:
        keyring.set_keyring(previous)


def _store(**kw: object) -> TokenStore:
    return build_token_store(load_settings(token_backend="keyring", **kw))


def test_put_get_status_in_a_real_keyring(file_keyring, leak_guard: LeakGuard) -> None:
    key = TokenKey.oceanengine(1700000000000001, "desk")
    ts = make_token_set(leak_guard, refresh_in=timedelta(days=3))
    store = _store()
    store.put(key, ts)
    assert TokenSet.from_secret_json(file_keyring.get_password(SERVICE, str(key))) == ts
    assert _store().get(key) == ts  # a new store (another process) reads it back
    (st,) = store.status()
    assert (st.key, st.account_ids, st.refresh_expiring_soon) == (str(key), ts.account_ids, True)
    leak_guard.text(store, store.status())


def test_refresh_is_persisted_in_the_keyring(file_keyring, sandbox) -> None:
    store = _store(
        oceanengine_base_url=sandbox.oceanengine_url,
        oceanengine_app_id=str(sandbox.oe.app_id),
        oceanengine_app_secret=sandbox.oe.app_secret,
    )
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    old = store.get()
    new = store.force_refresh()
    assert api_accepts(sandbox, new)
    assert store.get().access_token.get_secret_value() == new
    assert store.get().refresh_token != old.refresh_token
    assert store.get().account_ids == old.account_ids


def test_concurrent_refreshes_are_serialised_by_the_file_lock(file_keyring, sandbox) -> None:
    # flock locks open file descriptions, so threads (each opening the lock file) contend
    # exactly like processes do.
    kw = {
        "oceanengine_base_url": sandbox.oceanengine_url,
        "oceanengine_app_id": str(sandbox.oe.app_id),
        "oceanengine_app_secret": sandbox.oe.app_secret,
    }
    _store(**kw).exchange_auth_code(sandbox.oe.issue_auth_code())
    stores = [_store(**kw) for _ in range(8)]
    stale = stores[0].get_access_token()
    barrier = threading.Barrier(len(stores))
    got: list[str] = []

    def run(s: TokenStore) -> None:
        barrier.wait()
        got.append(s.force_refresh(stale_access_token=stale))

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 8 and len(set(got)) == 1 and got[0] != stale
    assert refresh_calls(sandbox) == 1
    assert stores[0].get().access_token.get_secret_value() == got[0]


def test_no_keyring_service_points_at_the_database_backend(leak_guard: LeakGuard) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(ConfigError) as e:
            _store()
    finally:
        keyring.set_keyring(previous)
    msg = str(e.value)
    leak_guard.text(e.value)
    assert "no OS keyring" in msg and "ADSYNC_TOKEN_BACKEND=database" in msg and "\n" not in msg
