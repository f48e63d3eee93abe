"""``adsync tokens ...`` through the real entry point (flows.cli.main): output never has secrets."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import keyring
import pytest
from keyring.backends import fail
from pydantic import SecretStr

from integrations.database.migrate import upgrade
from integrations.settings import load_settings
from tests.token_store.conftest import run_cli as run
from token_store.api import build_token_store
from token_store.oauth import OceanEngineOAuth


@pytest.fixture
def cli_env(monkeypatch, sandbox, tmp_path, fernet_key: str) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    for k, v in sandbox.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("ADSYNC_DATABASE_URL", url)
    monkeypatch.setenv("ADSYNC_TOKEN_ENCRYPTION_KEY", fernet_key)


def test_auth_url(cli_env, sandbox, capfd, leak_guard) -> None:
    code, out, _ = run(
        ["tokens", "auth-url", "--redirect-uri", "https://x.example/cb?a=1", "--state", "s1"],
        capfd,
        leak_guard,
    )
    assert code == 0
    u = urlsplit(out.strip())
    assert f"{u.scheme}://{u.netloc}{u.path}" == (
        "https://ad.oceanengine.com/openapi/audit/oauth.html"
    )
    assert parse_qs(u.query) == {
        "app_id": [str(sandbox.oe.app_id)],
        "state": ["s1"],
        "redirect_uri": ["https://x.example/cb?a=1"],
    }


def test_exchange_then_status(cli_env, sandbox, capfd, leak_guard) -> None:
    code, out, _ = run(["tokens", "exchange", sandbox.oe.issue_auth_code()], capfd, leak_guard)
    assert code == 0
    key = f"oceanengine:{sandbox.oe.app_id}:default"
    assert f"key: {key}" in out and "1854347260793866" in out and "refresh token expires" in out

    code, out, _ = run(["tokens", "status", "--json"], capfd, leak_guard)
    assert code == 0
    (st,) = json.loads(out)
    assert st["key"] == key and 1854347260793866 in st["account_ids"]
    assert st["refresh_expiring_soon"] is False and st["access_valid"] is True

    code, out, _ = run(["tokens", "status"], capfd, leak_guard)
    assert code == 0 and key in out


def test_import_old_cache_file_then_first_use_refreshes(
    cli_env, sandbox, capfd, leak_guard, monkeypatch
) -> None:
    # A pair the old cron script had cached (obtained outside our store).
    oauth = OceanEngineOAuth(
        sandbox.oceanengine_url, str(sandbox.oe.app_id), SecretStr(sandbox.oe.app_secret)
    )
    ts = oauth.exchange_auth_code(sandbox.oe.issue_auth_code())
    cache = {
        "data": {
            "access_token": ts.access_token.get_secret_value(),
            "refresh_token": ts.refresh_token.get_secret_value(),
            "expires_in": 86399,
            "refresh_token_expires_in": 2591999,
            "advertiser_ids": ts.account_ids,
        }
    }
    code, out, _ = run(
        ["tokens", "import", "--principal", "legacy"],
        capfd,
        leak_guard,
        json.dumps(cache),
        monkeypatch,
    )
    assert code == 0
    assert f"key: oceanengine:{sandbox.oe.app_id}:legacy" in out and "estimated" in out

    store = build_token_store(load_settings(oceanengine_principal="legacy"))
    new = store.get_access_token()  # imported without expiry: refreshed on first use
    assert new != ts.access_token.get_secret_value()
    assert sandbox.oe.counters_snapshot()["requests"]["oauth2/refresh_token"] == 1


def test_import_garbage_is_one_line_exit_1(cli_env, capfd, leak_guard, monkeypatch) -> None:
    code, out, err = run(
        ["tokens", "import"],
        capfd,
        leak_guard,
        '{"access_token": "a-secret-value-x"}',
        monkeypatch,
    )
    leak_guard.secret("a-secret-value-x")
    assert code == 1 and out == ""
    assert err.strip().count("\n") == 0 and "missing 'refresh_token'" in err


def test_config_errors_are_one_line_exit_2(cli_env, sandbox, capfd, leak_guard, monkeypatch):
    monkeypatch.delenv("ADSYNC_TOKEN_ENCRYPTION_KEY")
    code, _, err = run(["tokens", "exchange", sandbox.oe.issue_auth_code()], capfd, leak_guard)
    assert code == 2 and err.startswith("adsync: ADSYNC_TOKEN_ENCRYPTION_KEY: required")
    assert err.strip().count("\n") == 0

    monkeypatch.setenv("ADSYNC_TOKEN_BACKEND", "keyring")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        code, _, err = run(["tokens", "status"], capfd, leak_guard)
    finally:
        keyring.set_keyring(previous)
    assert code == 2 and "ADSYNC_TOKEN_BACKEND=database" in err


def test_status_in_china_time_and_import_says_it_replaces(
    cli_env, sandbox, capfd, leak_guard, monkeypatch
) -> None:
    code, out, _ = run(["tokens", "exchange", sandbox.oe.issue_auth_code()], capfd, leak_guard)
    assert code == 0
    code, out, _ = run(["tokens", "status"], capfd, leak_guard)
    expiry_lines = [ln for ln in out.splitlines() if "expires:" in ln]
    assert len(expiry_lines) == 2
    assert all("+08:00 (Asia/Shanghai)" in ln for ln in expiry_lines), out
    code, out, _ = run(["tokens", "status", "--json"], capfd, leak_guard)
    (st,) = json.loads(out)
    assert st["refresh_expires_at"].endswith("+08:00")

    # Importing over the stored pair says so, naming the key and what it replaced.
    oauth = OceanEngineOAuth(
        sandbox.oceanengine_url, str(sandbox.oe.app_id), SecretStr(sandbox.oe.app_secret)
    )
    ts = oauth.exchange_auth_code(sandbox.oe.issue_auth_code())
    pair = {
        "access_token": ts.access_token.get_secret_value(),
        "refresh_token": ts.refresh_token.get_secret_value(),
        "account_ids": ts.account_ids,
    }
    code, out, _ = run(["tokens", "import"], capfd, leak_guard, json.dumps(pair), monkeypatch)
    assert code == 0
    key = f"oceanengine:{sandbox.oe.app_id}:default"
    assert f"REPLACING the pair stored under {key}" in out
    assert "replaced: refresh token expires" in out
    # A key with nothing stored: a plain import, no REPLACING.
    code, out, _ = run(
        ["tokens", "import", "--principal", "fresh"],
        capfd,
        leak_guard,
        json.dumps(pair),
        monkeypatch,
    )
    assert code == 0 and "REPLACING" not in out and "imported a token pair" in out
