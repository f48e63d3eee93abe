"""Refresh logic in one process against the Ocean Engine simulator (real HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.database.migrate import upgrade
from integrations.retry import RetryPolicy
from integrations.settings import ConfigError, load_settings
from tests.token_store.conftest import LeakGuard, api_accepts, refresh_calls
from token_store.api import TokenStore, build_token_store
from token_store.errors import AuthCodeInvalid, ReauthorizeRequired, TransientOAuthError
from token_store.models import TokenKey
from token_store.oauth import OceanEngineOAuth
from token_store.strategies import AuthorizationCode

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)


@pytest.fixture
def store(sandbox, tmp_path, fernet_key: str) -> TokenStore:
    url = f"sqlite:///{tmp_path / 'adsync.db'}"
    upgrade(url)
    s = load_settings(
        database_url=url,
        token_encryption_key=fernet_key,
        oceanengine_base_url=sandbox.oceanengine_url,
        oceanengine_app_id=str(sandbox.oe.app_id),
        oceanengine_app_secret=sandbox.oe.app_secret,
    )
    st = build_token_store(s)
    oauth = OceanEngineOAuth(  # same app, fast backoff for the retry tests
        sandbox.oceanengine_url, str(sandbox.oe.app_id), s.oceanengine_app_secret, 2.0, FAST_RETRY
    )
    st.register(AuthorizationCode("oceanengine", oauth))
    return st


def _oauth(store: TokenStore) -> OceanEngineOAuth:
    strategy = store.strategy("oceanengine")
    assert isinstance(strategy, AuthorizationCode) and isinstance(strategy.oauth, OceanEngineOAuth)
    return strategy.oauth


def test_exchange_then_get_uses_stored_token_without_refresh(sandbox, store) -> None:
    st = store.exchange_auth_code(sandbox.oe.issue_auth_code())
    assert st.key == f"oceanengine:{sandbox.oe.app_id}:default"
    assert st.account_ids and not st.refresh_expiring_soon
    token = store.get_access_token()
    assert api_accepts(sandbox, token)
    assert store.get_access_token() == token
    assert refresh_calls(sandbox) == 0


def test_token_inside_the_margin_is_refreshed_once(sandbox, store) -> None:
    sandbox.oe.knobs.access_token_ttl_s = 1800  # shorter than the 1 h margin
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    old = store.get()
    store.refresh_margin = timedelta(minutes=10)
    assert store.get_access_token() == old.access_token.get_secret_value()
    store.refresh_margin = timedelta(hours=1)
    new = store.get_access_token()
    assert new != old.access_token.get_secret_value() and api_accepts(sandbox, new)
    assert refresh_calls(sandbox) == 1
    stored = store.get()
    assert stored.account_ids == old.account_ids  # refresh answers carry no ids: kept
    assert stored.refresh_token != old.refresh_token


def test_force_refresh_skips_when_someone_else_already_refreshed(sandbox, store) -> None:
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    provider = store.provider()
    stale = provider.get()
    fresh = provider.refresh(stale)
    assert fresh != stale and refresh_calls(sandbox) == 1
    assert provider.refresh(stale) == fresh  # another caller with the same stale token
    assert refresh_calls(sandbox) == 1
    assert store.force_refresh() != fresh  # unconditional
    assert refresh_calls(sandbox) == 2


def test_transient_failures_are_retried(sandbox, store) -> None:
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    stale = store.get_access_token()
    sandbox.oe.knobs.fault_schedule = [
        ("oauth2/refresh_token", 1, "html_502"),
        ("oauth2/refresh_token", 2, "code_50000"),
    ]
    new = store.force_refresh(stale_access_token=stale)
    assert api_accepts(sandbox, new)
    assert sandbox.oe.counters_snapshot()["codes"]["oauth2/refresh_token"] == {
        "http_502": 1,
        "50000": 1,
        "0": 1,
    }


def test_rate_limited_refresh_is_retried(sandbox, store) -> None:
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    sandbox.oe.knobs.qps_limit = 1.0
    api_accepts(sandbox, store.get_access_token())  # uses this second's quota: next is 40100
    _oauth(store).retry = RetryPolicy(max_attempts=6, base_delay_s=0.3, max_delay_s=1.0)
    token = store.force_refresh()
    sandbox.oe.knobs.qps_limit = None
    assert api_accepts(sandbox, token)
    assert "40100" in sandbox.oe.counters_snapshot()["codes"]["oauth2/refresh_token"]


def test_throttled_refresh_40110_is_retried_never_a_reconsent(sandbox, store, leak_guard) -> None:
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    stale = store.get_access_token()
    sandbox.oe.knobs.fault_schedule = [
        ("oauth2/refresh_token", 1, "code_40110"),
        ("oauth2/refresh_token", 2, "code_40110"),
    ]
    new = store.force_refresh(stale_access_token=stale)
    assert new != stale and api_accepts(sandbox, new)
    assert sandbox.oe.counters_snapshot()["codes"]["oauth2/refresh_token"] == {"40110": 2, "0": 1}


def test_refresh_throttled_beyond_retries_keeps_the_grant(sandbox, store, leak_guard) -> None:
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    sandbox.oe.knobs.fault_schedule = [
        ("oauth2/refresh_token", n, "code_40110") for n in (1, 2, 3, 4)
    ]
    with pytest.raises(TransientOAuthError, match="40110") as e:
        store.force_refresh()
    assert not isinstance(e.value, ReauthorizeRequired)
    leak_guard.text(e.value)
    assert refresh_calls(sandbox) == 4  # FAST_RETRY.attempts
    sandbox.oe.knobs.fault_schedule = []
    assert api_accepts(sandbox, store.force_refresh())  # the stored refresh token still works


@pytest.mark.parametrize(
    ("code", "message", "reconsent"),
    [
        (40103, "refresh_token已过期", True),
        (40107, "refresh_token无效", True),
        (40199, "invalid refresh_token", True),
        (40101, "app_id or secret is invalid", False),
        (40110, "开发者频控", False),
    ],
)
def test_only_a_dead_refresh_token_demands_reconsent(code, message, reconsent) -> None:
    from token_store.oauth import _is_transient_code, _refresh_token_dead

    dead = not _is_transient_code(code, refreshing=True) and _refresh_token_dead(code, message)
    assert dead is reconsent


def test_lost_answer_then_spent_token_is_reauthorize_not_loop(
    sandbox, store, leak_guard: LeakGuard
) -> None:
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    _oauth(store).timeout_s = 0.3
    sandbox.oe.knobs.timeout_sleep_s = 1.0
    sandbox.oe.knobs.fault_schedule = [("oauth2/refresh_token", 1, "timeout")]
    with pytest.raises(ReauthorizeRequired) as e:
        store.force_refresh()
    leak_guard.text(e.value)
    assert f"re-authorise key oceanengine:{sandbox.oe.app_id}:default" in str(e.value)
    assert refresh_calls(sandbox) == 2  # the timed-out one, then one retry: 40107, no more


def test_reused_refresh_token_raises_reauthorize(sandbox, store, leak_guard) -> None:
    store.exchange_auth_code(sandbox.oe.issue_auth_code())
    before = store.get()
    store.force_refresh()
    store.put(None, before)  # e.g. a restored backup: its refresh token is spent
    with pytest.raises(ReauthorizeRequired, match="re-authorise key oceanengine:") as e:
        store.force_refresh()
    leak_guard.text(e.value)
    assert "40107" in str(e.value)
    assert refresh_calls(sandbox) == 2  # never retried


def test_auth_code_is_single_use(sandbox, store, leak_guard) -> None:
    code = sandbox.oe.issue_auth_code()
    store.exchange_auth_code(code)
    with pytest.raises(AuthCodeInvalid, match="40110") as e:
        store.exchange_auth_code(code)
    leak_guard.text(e.value)


def test_refresh_needs_app_secret_and_matching_app(sandbox, store, tmp_path, fernet_key):
    with pytest.raises(ConfigError, match="belongs to app 999"):
        store.exchange_auth_code("whatever", TokenKey.oceanengine(999))

    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade(url)
    s = load_settings(database_url=url, token_encryption_key=fernet_key, oceanengine_app_id="1")
    store = build_token_store(s)
    with pytest.raises(ConfigError, match="ADSYNC_OCEANENGINE_APP_SECRET"):
        store.exchange_auth_code("whatever")
    with pytest.raises(ConfigError, match="ADSYNC_OCEANENGINE_APP_ID"):
        build_token_store(load_settings(database_url=url, token_encryption_key=fernet_key)).get()
