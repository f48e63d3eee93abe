"""Duplicate business keys in a sandbox Bitable (seeded behind the client's back) and the Feishu
card sent by ``check --notify`` — the real lark-oapi client against the Feishu simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from integrations.monitoring.checks import Monitor, run_checks
from integrations.monitoring.config import MonitorSettings, utcnow
from integrations.monitoring.findings import Finding, Severity
from integrations.monitoring.notify import NotifyError, send
from integrations.settings import load_settings
from tests.monitoring.conftest import ACC_A, monitor_env, run_monitor, yesterday_cn
from tests.sandbox.feishu_harness import serve_feishu

TABLE = "本地推单元日报"  # the sink's default table name for local_promotion_daily
KEY = "业务键"  # its business-key (primary) field


@pytest.fixture
def feishu(tmp_path) -> Iterator:
    with serve_feishu(tmp_path / "feishu") as (sim, served):
        yield sim, served


def feishu_env(sim, served) -> dict[str, str]:
    return {
        "ADSYNC_FEISHU_BASE_URL": served.url,
        "ADSYNC_FEISHU_APP_ID": sim.app_id,
        "ADSYNC_FEISHU_APP_SECRET": sim.app_secret,
        "ADSYNC_FEISHU_APP_TOKEN": sim.app_token,
        "ADSYNC_FEISHU_WEBHOOK_URL": served.url + sim.webhook_path,
        "ADSYNC_FEISHU_WEBHOOK_SECRET": sim.webhook_secret,
    }


def _seed(sim, keys: list[str]) -> str:
    table_id = sim.add_table(
        sim.app_token,
        TABLE,
        fields=[{"field_name": KEY, "type": 1}, {"field_name": "账户ID", "type": 1}],
    )
    sim.add_records(sim.app_token, table_id, [{KEY: k, "账户ID": str(ACC_A)} for k in keys])
    return table_id


def test_duplicate_keys_are_critical_and_notified(setup, tmp_path, feishu):
    sim, served = feishu
    setup.healthy()
    y = yesterday_cn()
    dup = f"{y}|{ACC_A}|7450000000000000001"
    table_id = _seed(
        sim,
        [dup, f"{y}|{ACC_A}|7450000000000000002", dup, dup],  # one key three times
    )
    sim.reset_counters()
    env = monitor_env(setup.url, **feishu_env(sim, served))
    p = run_monitor("check", "--notify", env=env, cwd=tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    assert (
        f"CRITICAL bitable   table {TABLE} ({table_id}): 1 duplicate business key(s), "
        f"2 extra record(s); e.g. {dup}"
    ) in p.stdout
    counters = sim.counters_snapshot()
    assert counters["writes"] == 0  # read-only: healing is the sink's reconcile, not ours
    # The card arrived, signed (the simulator verifies the signature) and names the table.
    (msg,) = sim.webhook_messages
    assert msg["msg_type"] == "interactive"
    assert msg["card"]["header"]["template"] == "red"
    assert f"table {TABLE} ({table_id})" in msg["card"]["body"]["elements"][0]["content"]
    assert sim.app_secret not in p.stdout + p.stderr and sim.webhook_token not in p.stderr


def test_clean_table_is_healthy_and_bad_webhook_fails_loudly(setup, feishu):
    """In-process (lark-oapi's import costs seconds per subprocess)."""
    sim, served = feishu
    setup.healthy()
    y = yesterday_cn()
    _seed(sim, [f"{y}|{ACC_A}|1", f"{y}|{ACC_A}|2"])
    env = feishu_env(sim, served)
    settings = load_settings(
        database_url=setup.url, **{k.removeprefix("ADSYNC_").lower(): v for k, v in env.items()}
    )
    m = Monitor(settings=settings, mon=MonitorSettings(), engine=setup.engine, now=utcnow())
    assert run_checks(m) == []

    findings = [Finding(Severity.WARNING, "token", "token k", "refresh token expires in 2.0 days")]
    bad = settings.model_copy(update={"feishu_webhook_secret": SecretStr("wrong-secret")})
    with pytest.raises(NotifyError):
        send(bad, findings, "host")
    assert sim.webhook_messages == []
    send(settings, findings, "host")
    (msg,) = sim.webhook_messages
    assert msg["card"]["header"]["template"] == "orange"


def test_a_table_at_80_percent_of_the_record_cap_is_a_warning(setup, feishu):
    sim, served = feishu
    setup.healthy()
    y = yesterday_cn()
    table_id = _seed(sim, [f"{y}|{ACC_A}|{n}" for n in range(16_000)])  # 80 % of 20,000
    env = feishu_env(sim, served)
    settings = load_settings(
        database_url=setup.url, **{k.removeprefix("ADSYNC_").lower(): v for k, v in env.items()}
    )
    m = Monitor(settings=settings, mon=MonitorSettings(), engine=setup.engine, now=utcnow())
    (f,) = run_checks(m)
    assert f.severity == Severity.WARNING and f.where == f"table {TABLE} ({table_id})"
    assert "16,000 records, 80% of Feishu's 20,000 cap" in f.message
