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


def _seed_named(sim, name: str, keys: list[str]) -> str:
    table_id = sim.add_table(
        sim.app_token,
        name,
        fields=[{"field_name": KEY, "type": 1}, {"field_name": "账户ID", "type": 1}],
    )
    sim.add_records(sim.app_token, table_id, [{KEY: k, "账户ID": str(ACC_A)} for k in keys])
    return table_id


def test_rotated_period_tables_are_scanned_for_duplicates_and_the_configured_cap(setup, feishu):
    """Period tables (month, ISO week, day) are checked like the base table, against the cap
    set by ADSYNC_FEISHU_MAX_RECORDS_PER_TABLE; a table merely starting with the name is not."""
    sim, served = feishu
    setup.healthy()
    y = yesterday_cn()
    dup = f"{y}|{ACC_A}|1"
    month = _seed_named(sim, f"{TABLE} 2026-11", [dup, dup, f"{y}|{ACC_A}|2"])
    week = _seed_named(sim, f"{TABLE} 2026-W48", [f"{y}|{ACC_A}|{n}" for n in range(8)])
    day = _seed_named(sim, f"{TABLE} 2026-11-22", [f"{y}|{ACC_A}|{n}" for n in range(7)])
    _seed_named(sim, f"{TABLE} 备份", [dup, dup, dup] * 4)  # not ours: never scanned
    env = feishu_env(sim, served)
    settings = load_settings(
        database_url=setup.url,
        feishu_max_records_per_table=10,
        **{k.removeprefix("ADSYNC_").lower(): v for k, v in env.items()},
    )
    m = Monitor(settings=settings, mon=MonitorSettings(), engine=setup.engine, now=utcnow())
    found = sorted((f.severity, f.where, f.message) for f in run_checks(m))
    assert found == sorted(
        [
            (
                Severity.CRITICAL,
                f"table {TABLE} 2026-11 ({month})",
                f"1 duplicate business key(s), 1 extra record(s); e.g. {dup}",
            ),
            (
                Severity.WARNING,
                f"table {TABLE} 2026-W48 ({week})",
                "8 records, 80% of Feishu's 10 cap",
            ),
        ]
    ), found
    assert day  # 7 of 10 records: under 80 %, no finding


def test_the_record_cap_setting_is_strict(monkeypatch, tmp_path) -> None:
    from integrations.settings import ConfigError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADSYNC_FEISHU_MAX_RECORDS_PER_TABLE", "5000")
    assert load_settings(feishu_enabled=False).feishu_max_records_per_table == 5000
    monkeypatch.setenv("ADSYNC_FEISHU_MAX_RECORDS_PER_TABLE", "0")
    with pytest.raises(ConfigError, match="ADSYNC_FEISHU_MAX_RECORDS_PER_TABLE: "):
        load_settings(feishu_enabled=False)
    monkeypatch.delenv("ADSYNC_FEISHU_MAX_RECORDS_PER_TABLE")
    monkeypatch.setenv("ADSYNC_FEISHU_MAX_RECORD_PER_TABLE", "5000")
    with pytest.raises(ConfigError, match="did you mean ADSYNC_FEISHU_MAX_RECORDS_PER_TABLE"):
        load_settings(feishu_enabled=False)
    monkeypatch.delenv("ADSYNC_FEISHU_MAX_RECORD_PER_TABLE")
    toml = tmp_path / "adsync.toml"
    toml.write_text("feishu_max_records_per_table = 8000\n", encoding="utf-8")
    assert load_settings(feishu_enabled=False).feishu_max_records_per_table == 8000
    toml.write_text("feishu_max_record_per_table = 8000\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did you mean feishu_max_records_per_table"):
        load_settings(feishu_enabled=False)
