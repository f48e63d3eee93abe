"""``adsync tokens exchange/status --tenant --principal`` (issue 20): each tenant's principals
get their own key ``oceanengine:<app_id>:<principal>``; status lists one tenant's keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from sandbox.server import Sandbox
from tests.flows.sandboxed import subprocess_env

BIN = Path(sys.executable).parent
APP_B, SECRET_B = 1_790_000_000_000_002, "sandbox-oe-secret-app-b-5d1e"


def _toml(sb: Sandbox) -> str:
    return f"""
[[tenants]]
name = "acme"
principals = [{{ name = "alice" }}]
[tenants.oceanengine]
app_id = "{sb.oe.app_id}"
app_secret_env = "ACME_OE_SECRET"

[[tenants]]
name = "brand-b"
principals = [{{ name = "bob" }}, {{ name = "carol" }}]
[tenants.oceanengine]
app_id = "{APP_B}"
app_secret_env = "BRAND_B_OE_SECRET"
"""


@pytest.mark.timeout(180)
def test_exchange_and_status_per_tenant_and_principal(tmp_path) -> None:
    with Sandbox(profile="fast", n_local_accounts=2) as sb:
        sb.oe.add_app(APP_B, SECRET_B)
        (tmp_path / "adsync.toml").write_text(_toml(sb), encoding="utf-8")
        (tmp_path / "data").mkdir(mode=0o700)
        env = subprocess_env(
            {
                "ADSYNC_CONFIG_FILE": str(tmp_path / "adsync.toml"),
                "ADSYNC_DATA_DIR": str(tmp_path / "data"),
                "ADSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
                "ADSYNC_TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "ADSYNC_OCEANENGINE_BASE_URL": sb.oceanengine_url,
                "ACME_OE_SECRET": sb.oe.app_secret,
                "BRAND_B_OE_SECRET": SECRET_B,
            },
            {},
        )

        def adsync(*argv: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [str(BIN / "adsync"), *argv], env=env, cwd=tmp_path, capture_output=True,
                text=True, timeout=120,
            )  # fmt: skip

        for tenant, principal, app in (
            ("acme", "alice", None),
            ("brand-b", "carol", APP_B),
        ):
            code = sb.oe.issue_auth_code(app_id=app)
            p = adsync("tokens", "exchange", code, "--tenant", tenant, "--principal", principal)
            assert p.returncode == 0, p.stderr
            assert code not in p.stdout + p.stderr
        # A code of app B presented by acme's app is refused (codes are bound to their app).
        p = adsync("tokens", "exchange", sb.oe.issue_auth_code(app_id=APP_B), "--tenant", "acme")
        assert p.returncode != 0
        p = adsync("tokens", "exchange", "x", "--tenant", "brand-b", "--principal", "dave")
        assert p.returncode == 2 and "dave" in p.stderr and "bob, carol" in p.stderr

        p = adsync("tokens", "status", "--tenant", "brand-b", "--json")
        assert p.returncode == 0, p.stderr
        keys = [st["key"] for st in json.loads(p.stdout)]
        assert keys == [f"oceanengine:{APP_B}:carol"]
        p = adsync("tokens", "status", "--json")
        keys = sorted(st["key"] for st in json.loads(p.stdout))
        assert keys == sorted([f"oceanengine:{APP_B}:carol", f"oceanengine:{sb.oe.app_id}:alice"])
        for secret in (sb.oe.app_secret, SECRET_B):
            assert secret not in p.stdout + p.stderr
