"""Supplier settings (strict, optional) and the simulator inside the one Sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrations.settings import ConfigError, get_settings, load_settings, require_supplier
from integrations.sources.supplier import endpoints as ep
from integrations.sources.supplier.client import SupplierClient
from sandbox.server import Sandbox
from tests.supplier.conftest import FAST_RETRY


@pytest.fixture
def clean_env(monkeypatch, tmp_path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ADSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env / adsync.toml from the working copy
    get_settings.cache_clear()


def test_supplier_settings_are_optional(clean_env) -> None:
    s = load_settings()
    assert s.supplier_base_url is None
    assert s.supplier_media_path == s.data_dir / "media" / "supplier"
    with pytest.raises(ConfigError, match="ADSYNC_SUPPLIER_BASE_URL: required but not set"):
        require_supplier(s)


def test_typo_gets_did_you_mean(clean_env, monkeypatch) -> None:
    monkeypatch.setenv("ADSYNC_SUPPLIER_CLIENT_SECRT", "x")
    with pytest.raises(ConfigError, match="did you mean ADSYNC_SUPPLIER_CLIENT_SECRET"):
        load_settings()


def test_bad_url_is_named(clean_env, monkeypatch) -> None:
    monkeypatch.setenv("ADSYNC_SUPPLIER_TOKEN_URL", "ftp://x")
    with pytest.raises(ConfigError, match="ADSYNC_SUPPLIER_TOKEN_URL"):
        load_settings()


def test_secret_not_allowed_in_toml(clean_env, tmp_path) -> None:
    (tmp_path / "adsync.toml").write_text('supplier_client_secret = "s3cr3t-value"\n')
    with pytest.raises(ConfigError, match="supplier_client_secret is a secret") as e:
        load_settings()
    assert "s3cr3t-value" not in str(e.value)


def test_sandbox_serves_the_supplier(clean_env, monkeypatch, tmp_path: Path) -> None:
    with Sandbox(state_dir=tmp_path / "fs", profile="fast", seed=3, supplier_products=12) as sb:
        env = sb.env()
        assert env["ADSYNC_SUPPLIER_BASE_URL"] == sb.supplier_url
        assert sb.supplier_url not in (sb.oceanengine_url,)  # its own port
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        s = load_settings()
        assert s.supplier_client_secret is not None
        assert "sandbox-supplier-secret" not in repr(s)
        with SupplierClient.from_settings(s, retry=FAST_RETRY) as client:
            out = ep.procurable_products(client, ep.Codes.from_settings(s))
        assert len(out.items) == len(sb.supplier.data.procurable())
        assert sb.counters()["supplier"]["requests"]["oauth2/auth"] == 1
        assert sb.credentials()["supplier"]["customer_code"] == s.supplier_customer_code
    get_settings.cache_clear()


def test_chaos_profile_turns_on_faults_and_hostile_items() -> None:
    from sandbox.supplier.knobs import SupplierKnobs

    chaos = SupplierKnobs.for_profile("chaos")
    assert chaos.hostile_items and set(chaos.fault_rate) == {
        "http_500",
        "html_502",
        "timeout",
        "throttle",
        "token_expired",
    }
    with pytest.raises(ValueError, match="unknown profile"):
        SupplierKnobs.for_profile("wild")


SUPPLIER_ENV = {
    "ADSYNC_SUPPLIER_BASE_URL": "http://127.0.0.1:9",
    "ADSYNC_SUPPLIER_CLIENT_ID": "cid",
    "ADSYNC_SUPPLIER_CLIENT_SECRET": "secret-value",
    "ADSYNC_SUPPLIER_CUSTOMER_CODE": "C1",
    "ADSYNC_SUPPLIER_SEND_TO_CODE": "S1",
    "ADSYNC_SUPPLIER_CODE": "P1",
    "ADSYNC_FEISHU_ENABLED": "false",
    "ADSYNC_TOKEN_BACKEND": "keyring",
}


def test_supplier_flows_need_the_supplier_settings_not_ocean_engines(
    clean_env, monkeypatch
) -> None:
    from flows.runtime import check_flow_settings

    for k, v in SUPPLIER_ENV.items():
        monkeypatch.setenv(k, v)
    s = load_settings()
    assert s.oceanengine_app_id is None
    for flow in ("supplier-daily", "supplier-prices", "supplier-stock"):
        check_flow_settings(s, flow)  # no Ocean Engine app configured: fine
    with pytest.raises(ConfigError, match="ADSYNC_OCEANENGINE_APP_ID"):
        check_flow_settings(s, "laike-daily")
    monkeypatch.delenv("ADSYNC_SUPPLIER_SEND_TO_CODE")
    with pytest.raises(ConfigError, match="ADSYNC_SUPPLIER_SEND_TO_CODE: required but not set"):
        check_flow_settings(load_settings(), "supplier-stock")
