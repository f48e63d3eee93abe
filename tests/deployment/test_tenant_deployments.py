"""``adsync deployments generate`` (issue 20): each tenant's deployments and schedules, deployed
with ``prefect deploy --prefect-file`` on a real local Prefect server and read back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.flows.sandboxed import ROOT, subprocess_env

pytestmark = pytest.mark.deployment
BIN = Path(sys.executable).parent

TOML = """
[[tenants]]
name = "acme"
principals = [{ name = "alice" }, { name = "bob" }]
[tenants.oceanengine]
app_id = "1790000000000001"
app_secret_env = "ACME_OE_SECRET"

[[tenants]]
name = "brand-b"
principals = [{ name = "carol" }]
[tenants.oceanengine]
app_id = "1790000000000002"
app_secret_env = "BRAND_B_OE_SECRET"
"""
SECRETS = {"ACME_OE_SECRET": "s-acme-1", "BRAND_B_OE_SECRET": "s-b-2"}


def _adsync(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "adsync"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    (tmp_path / "adsync.toml").write_text(TOML, encoding="utf-8")
    env = subprocess_env(
        {"ADSYNC_CONFIG_FILE": str(tmp_path / "adsync.toml"), "ADSYNC_DATA_DIR": str(tmp_path)},
        extra,
    )
    return env | SECRETS


def test_generate_writes_each_tenants_deployments(tmp_path) -> None:
    env = _env(tmp_path, {})
    out = tmp_path / "prefect.tenants.yaml"
    proc = _adsync(
        [
            "deployments",
            "generate",
            "--prefect-yaml",
            str(ROOT / "prefect.yaml"),
            "--output",
            str(out),
        ],
        env,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    for secret in SECRETS.values():
        assert secret not in proc.stdout + proc.stderr + out.read_text()
    every = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    # Tenants are Ocean Engine apps: the supplier's deployments are not repeated per tenant.
    base = [d for d in every if not d["name"].startswith("supplier-")]
    assert len(base) == len(every) - 3
    got = yaml.safe_load(out.read_text())["deployments"]
    assert len(got) == 2 * len(base)
    assert not any(d["name"].startswith("supplier-") for d in got)
    by_name = {d["name"]: d for d in got}
    for tenant in ("acme", "brand-b"):
        for d in base:
            t = by_name[f"{d['name']}-{tenant}"]
            assert t["parameters"] == {**(d.get("parameters") or {}), "tenant": tenant}
            assert t["entrypoint"] == d["entrypoint"]
            assert t["schedules"] == d["schedules"]
            assert f"tenant:{tenant}" in t["tags"]
            assert t["concurrency_limit"] == d["concurrency_limit"]


def test_unknown_tenant_is_one_line_with_did_you_mean(tmp_path) -> None:
    env = _env(tmp_path, {})
    proc = _adsync(["run", "laike", "--tenant", "acm"], env, tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "'acm'" in lines[0] and "did you mean" in lines[0] and "acme" in lines[0]
    proc = _adsync(["tokens", "status", "--tenant", "brand"], env, tmp_path)
    assert proc.returncode != 0 and "did you mean" in proc.stderr


def test_no_tenants_configured_is_refused(tmp_path) -> None:
    env = subprocess_env({"ADSYNC_DATA_DIR": str(tmp_path)}, {})
    proc = _adsync(["deployments", "generate"], env, tmp_path)
    assert proc.returncode == 2 and "no [[tenants]]" in proc.stderr


@pytest.mark.timeout(600)
def test_generated_deployments_deploy_with_tenant_and_schedule(prefect_server, tmp_path) -> None:
    env = _env(tmp_path, prefect_server.env)
    out = ROOT / f".prefect.tenants.{tmp_path.name}.yaml"  # entrypoints are relative to ROOT
    try:
        proc = _adsync(["deployments", "generate", "--output", str(out)], env, ROOT)
        assert proc.returncode == 0, proc.stderr
        pool = subprocess.run(
            [
                str(BIN / "prefect"),
                "work-pool",
                "create",
                "adsync",
                "--type",
                "process",
                "--overwrite",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert pool.returncode == 0, pool.stderr
        dep = subprocess.run(
            [str(BIN / "prefect"), "--no-prompt", "deploy", "--all", "--prefect-file", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert dep.returncode == 0, dep.stdout[-3000:] + dep.stderr[-3000:]
    finally:
        out.unlink(missing_ok=True)
    found = httpx.post(f"{prefect_server.api_url}/deployments/filter", json={}, timeout=30).json()
    by_name = {d["name"]: d for d in found}
    for tenant in ("acme", "brand-b"):
        d = by_name[f"laike-daily-{tenant}"]
        assert d["parameters"] == {"tenant": tenant}
        (sched,) = d["schedules"]
        assert sched["schedule"]["cron"] == "0 7 * * *"
        assert sched["schedule"]["timezone"] == "Asia/Shanghai"
        # The flow's tenant parameter is described in the UI like the others.
        props = d["parameter_openapi_schema"]["properties"]
        assert "tenant" in props and "[[tenants]]" in props["tenant"]["description"]


def test_generated_file_serves_with_adsync_serve(tmp_path) -> None:
    """`adsync serve --prefect-yaml prefect.tenants.yaml` loads every tenant's deployment (the
    one-machine path), each with its tenant parameter and prefect.yaml's schedule."""
    from flows.serve import build_runner_deployments

    env = _env(tmp_path, {})
    out = ROOT / f".prefect.tenants.serve.{tmp_path.name}.yaml"  # entrypoints relative to ROOT
    try:
        proc = _adsync(["deployments", "generate", "--output", str(out)], env, ROOT)
        assert proc.returncode == 0, proc.stderr
        deps = {d.name: d for d in build_runner_deployments(out)}
    finally:
        out.unlink(missing_ok=True)
    d = deps["dpa-daily-brand-b"]
    assert d.flow_name == "dpa-daily" and d.parameters == {"tenant": "brand-b"}
    assert [(s.schedule.cron, s.schedule.timezone) for s in d.schedules] == [
        ("30 0 * * *", "Asia/Shanghai")
    ]
    assert {n.rsplit("-", 1)[0] for n in deps if n.endswith("-acme")} >= {"laike-daily"}
