"""The production topology's example files (docs/systemd) say only what the product accepts:
every ADSYNC_* variable is a setting, every PREFECT_* one a Prefect setting, the tenants' secret
variables resolve, and the units start the commands the README names on the pool prefect.yaml
uses. A renamed setting or pool breaks this test, not a production install."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from integrations.settings import load_settings
from integrations.tenants import tenants

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "docs" / "systemd"


def _env_file(name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (SYSTEMD / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_worker_environment_is_accepted_and_resolves_the_tenants(tmp_path, monkeypatch):
    env = _env_file("adsync.env.example")
    toml = tmp_path / "adsync.toml"
    # The README's tenant example, once per tenant the example environment has secrets for.
    toml.write_text(
        "".join(
            f"""
[[tenants]]
name = "{t}"
principals = [{{ name = "alice" }}]
[tenants.oceanengine]
app_id = "17900000000000{i}"
app_secret_env = "{t.upper().replace("-", "_")}_OE_APP_SECRET"
[tenants.feishu]
app_id = "cli_{i}"
app_secret_env = "{t.upper().replace("-", "_")}_FEISHU_APP_SECRET"
bases = [{{ app_token = "bascnBase000000{i}" }}]
"""
            for i, t in enumerate(("acme", "brand-b"), start=10)
        ),
        encoding="utf-8",
    )
    env["ADSYNC_CONFIG_FILE"] = str(toml)
    env["ADSYNC_DATA_DIR"] = str(tmp_path / "data")  # /var/lib/adsync is not this machine's
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s = load_settings()  # an unknown ADSYNC_ variable would raise here
    assert s.db_url.startswith("postgresql+psycopg://")
    assert [t.name for t in tenants(s)] == ["acme", "brand-b"]


@pytest.mark.parametrize("name", ["adsync.env.example", "prefect-server.env.example"])
def test_prefect_variables_are_prefect_settings(name):
    from prefect.settings import Settings
    from prefect.settings.legacy import _get_valid_setting_names

    valid = _get_valid_setting_names(Settings)
    for key in _env_file(name):
        if key.startswith("PREFECT_"):
            assert key in valid, f"{name}: {key} is not a Prefect setting"


def test_units_run_the_pool_of_prefect_yaml():
    pools = {
        d["work_pool"]["name"]
        for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    }
    worker = (SYSTEMD / "prefect-worker@.service").read_text(encoding="utf-8")
    server = (SYSTEMD / "prefect-server.service").read_text(encoding="utf-8")
    (pool,) = re.findall(r"prefect worker start --pool (\S+)", worker)
    assert pools == {pool}
    assert "EnvironmentFile=/etc/adsync/adsync.env" in worker
    assert re.search(r"ExecStart=\S+/prefect server start", server)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "PREFECT_API_DATABASE_CONNECTION_URL" in readme and "prefect-worker@.service" in readme


def test_readme_tenant_example_loads(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if "[[tenants]]" in b]
    (tmp_path / "adsync.toml").write_text(block, encoding="utf-8")
    for var in re.findall(r'app_secret_env = "(\w+)"', block):
        monkeypatch.setenv(var, "example-secret")
    (acme,) = tenants(load_settings())
    assert acme.name == "acme" and acme.principals == ("alice", "bob")
    assert acme.default_base == "bascnRest0000000"
