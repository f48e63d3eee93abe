"""Settings errors: one line naming the thing, nothing ignored silently (issue 16, items 1-2).

Each case of the issue's "Why" list that concerns settings is here, through ``load_settings``
(what every command calls first) and, for a few, the real ``adsync`` command line.
"""

from __future__ import annotations

import pytest

from integrations.settings import (
    ConfigError,
    bitable_configured,
    load_settings,
)

FEISHU = {
    "ADSYNC_FEISHU_APP_ID": "cli_a",
    "ADSYNC_FEISHU_APP_SECRET": "s3cret-value",
    "ADSYNC_FEISHU_APP_TOKEN": "bascnX",
}


def _error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as ex:
        load_settings()
    msg = str(ex.value)
    assert "\n" not in msg
    return msg


# --- sinks: configured in full or explicitly disabled ----------------------------------------


def test_feishu_typo_in_a_variable_name_is_an_error_with_a_suggestion(monkeypatch):
    env = dict(FEISHU)
    del env["ADSYNC_FEISHU_APP_TOKEN"]
    env["ADSYNC_FEISHU_APPTOKEN"] = "bascnX"
    msg = _error(monkeypatch, **env)
    assert msg.startswith("ADSYNC_FEISHU_APPTOKEN: unknown setting")
    assert "did you mean ADSYNC_FEISHU_APP_TOKEN?" in msg


def test_partial_feishu_names_every_missing_setting(monkeypatch):
    msg = _error(monkeypatch, ADSYNC_FEISHU_APP_ID="cli_a")
    assert "ADSYNC_FEISHU_APP_SECRET, ADSYNC_FEISHU_APP_TOKEN not set" in msg
    assert "ADSYNC_FEISHU_ENABLED=false" in msg


def test_feishu_enabled_true_requires_everything(monkeypatch):
    msg = _error(monkeypatch, ADSYNC_FEISHU_ENABLED="true")
    assert "ADSYNC_FEISHU_APP_ID, ADSYNC_FEISHU_APP_SECRET, ADSYNC_FEISHU_APP_TOKEN" in msg


def test_feishu_states(monkeypatch):
    assert bitable_configured(load_settings()) is None  # neither: flows refuse (preflight)
    monkeypatch.setenv("ADSYNC_FEISHU_ENABLED", "false")
    monkeypatch.setenv("ADSYNC_FEISHU_APP_ID", "cli_a")  # disabled wins over a partial config
    assert bitable_configured(load_settings()) is False
    monkeypatch.delenv("ADSYNC_FEISHU_ENABLED")
    for k, v in FEISHU.items():
        monkeypatch.setenv(k, v)
    assert bitable_configured(load_settings()) is True


def test_webhook_secret_without_url(monkeypatch):
    msg = _error(monkeypatch, ADSYNC_FEISHU_WEBHOOK_SECRET="abc")
    assert msg.startswith("ADSYNC_FEISHU_WEBHOOK_SECRET is set but ADSYNC_FEISHU_WEBHOOK_URL")


def test_malformed_webhook_url_does_not_print_it(monkeypatch):
    msg = _error(monkeypatch, ADSYNC_FEISHU_WEBHOOK_URL="hook-token-xyz")
    assert msg.startswith("ADSYNC_FEISHU_WEBHOOK_URL: not an http(s) URL")
    assert "hook-token-xyz" not in msg


# --- unknown names ----------------------------------------------------------------------------


def test_unknown_variable_in_the_environment(monkeypatch):
    msg = _error(monkeypatch, ADSYNC_LOOKBACK_DAY="5")
    assert msg.startswith(
        "ADSYNC_LOOKBACK_DAY: unknown setting (did you mean ADSYNC_LOOKBACK_DAYS?)"
    )


def test_unknown_monitor_variable(monkeypatch):
    msg = _error(monkeypatch, ADSYNC_MONITOR_RUN_TIMEOUT="2")
    assert "did you mean ADSYNC_MONITOR_RUN_TIMEOUT_H?" in msg


def test_known_non_product_variables_are_accepted(monkeypatch, tmp_path):
    monkeypatch.setenv("ADSYNC_MONITOR_RUN_TIMEOUT_H", "3")
    monkeypatch.setenv("ADSYNC_TEST_POSTGRES_URL", "postgresql://x@h/db")
    (tmp_path / "c.toml").write_text("lookback_days = 2\n")
    monkeypatch.setenv("ADSYNC_CONFIG_FILE", str(tmp_path / "c.toml"))
    assert load_settings().lookback_days == 2


def test_unknown_variable_in_dotenv(tmp_path):
    (tmp_path / ".env").write_text("ADSYNC_LOOKBACK_DAYS=2\nADSYNC_TIMEZOME=Asia/Shanghai\n")
    with pytest.raises(ConfigError, match=r"^ADSYNC_TIMEZOME \(in .env\): unknown setting "):
        load_settings()
    (tmp_path / ".env").write_text("ADSYNC_LOOKBACK_DAYS=2\nPREFECT_API_URL=http://x/api\n")
    assert load_settings().lookback_days == 2  # other tools' variables are theirs


def test_malformed_dotenv_is_one_line(tmp_path):
    # A file that is not a .env at all (e.g. a JSON document saved under that name).
    (tmp_path / ".env").write_text("{\n" + '  "a b": 1,\n' * 300 + "}\n")
    with pytest.raises(ConfigError) as ex:
        load_settings()
    msg = str(ex.value)
    assert "\n" not in msg and msg.startswith(".env: ")
    assert "line(s) are not KEY=value (first: line" in msg


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("lookback_dayz = 3\n", "unknown key 'lookback_dayz' (did you mean lookback_days?)"),
        (
            '[bitable_tables.local_promotion_dayly]\nname = "x"\n',
            "unknown table [bitable_tables.local_promotion_dayly] "
            "(did you mean local_promotion_daily?)",
        ),
        (
            "[bitable_tables.local_promotion_daily]\nfeilds = {}\n",
            "unknown key 'feilds' in [bitable_tables.local_promotion_daily] (did you mean fields?)",
        ),
        (
            'feishu_app_secret = "abc"\n',
            "feishu_app_secret is a secret; set ADSYNC_FEISHU_APP_SECRET",
        ),
        (
            'oceanengine_app_secret = "abc"\n',
            "set ADSYNC_OCEANENGINE_APP_SECRET in the environment",
        ),
        ("lookback_days = [\n", "invalid TOML"),
        ("lookback_days = 99\n", "lookback_days: Input should be less than or equal to 60"),
    ],
)
def test_toml_mistakes_are_named(tmp_path, toml, expected):
    (tmp_path / "adsync.toml").write_text(toml)
    with pytest.raises(ConfigError) as ex:
        load_settings()
    assert expected in str(ex.value)
    assert "abc" not in str(ex.value)  # never the secret's value


# --- values that named the wrong thing or retried ---------------------------------------------


def test_accounts_not_json_names_accounts(monkeypatch):
    msg = _error(monkeypatch, ADSYNC_ACCOUNTS="not json")
    assert msg.startswith("ADSYNC_ACCOUNTS: not valid JSON")
    assert "CONFIG_FILE" not in msg


def test_data_dir_that_is_a_file(monkeypatch, tmp_path):
    f = tmp_path / "afile"
    f.write_text("")
    msg = _error(monkeypatch, ADSYNC_DATA_DIR=str(f))
    assert msg == f"ADSYNC_DATA_DIR: {f} exists and is not a directory"


@pytest.mark.parametrize(
    "url", ["htp:/api.oceanengine.com", "api.oceanengine.com", "https://", "http://h:port/"]
)
def test_malformed_base_url_is_a_setting_error(monkeypatch, url):
    msg = _error(monkeypatch, ADSYNC_OCEANENGINE_BASE_URL=url)
    assert msg.startswith("ADSYNC_OCEANENGINE_BASE_URL: ")


def test_sqlite_url_in_a_missing_directory_is_not_created(monkeypatch, tmp_path):
    missing = tmp_path / "nonexistent" / "dir"
    msg = _error(monkeypatch, ADSYNC_DATABASE_URL=f"sqlite:///{missing / 'x.db'}")
    assert (
        msg
        == f"ADSYNC_DATABASE_URL: directory {missing} does not exist (create it or fix the path)"
    )
    assert not missing.parent.exists()


def test_monitor_flows_not_json(monkeypatch):
    from integrations.monitoring.config import load_monitor_settings

    monkeypatch.setenv("ADSYNC_MONITOR_FLOWS", "[not json")
    with pytest.raises(ConfigError, match=r"^ADSYNC_MONITOR_FLOWS: not valid JSON"):
        load_monitor_settings()
