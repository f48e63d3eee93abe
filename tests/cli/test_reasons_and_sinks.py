"""Issue 16 gaps: a disabled Bitable is reported as disabled (not "not configured"), a
not-configured one refuses the run, and a failure reason is kept whole (one line) in the summary,
ledger and artifact, cut only beyond MAX_REASON_CHARS with a marker naming what was cut."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from flows.dpa import dpa_daily
from flows.laike import laike_daily
from flows.runtime import get_runtime, reset_runtime
from flows.steps import MAX_REASON_CHARS, short_reason
from flows.summary import AccountResult, RunSummary
from flows.sync_run import summary_of
from flows.window import china_today
from integrations.settings import get_settings
from sandbox.server import Sandbox
from tests.flows.sandboxed import point_at


def test_a_long_multiline_reason_is_kept_whole_on_one_line():
    text = "1 validation error for ReportPage\nlist.3.stat_cost\n  Input should be a number " + (
        "x" * 1500
    )
    reason = short_reason(ValueError(text))
    assert "\n" not in reason
    assert reason.startswith("1 validation error for ReportPage | list.3.stat_cost | Input")
    assert reason.endswith("x" * 1500)  # nothing cut below the limit (it was 300 before)


def test_a_reason_beyond_the_limit_says_how_much_was_cut_and_logs_it_whole(caplog):
    text = "PermissionDenied: " + "y" * (MAX_REASON_CHARS + 500)
    with caplog.at_level(logging.WARNING, logger="adsync.flows"):
        reason = short_reason(RuntimeError(text))
    assert reason.endswith("… (518 more chars; full text in the run's logs)")
    assert reason.startswith(text[:MAX_REASON_CHARS])
    assert any(text in r.getMessage() for r in caplog.records)


def test_summary_artifact_and_ledger_json_carry_the_whole_reason():
    reason = short_reason(RuntimeError("code 40002: " + "z" * 900))
    s = RunSummary(flow="laike-daily", window_start=china_today(), window_end=china_today())
    s.accounts = [
        AccountResult(account_id=1, name="ok"),
        AccountResult(account_id=2, name="bad", ok=False, reason=reason),
    ]
    assert s.failed_accounts_json() == [{"account_id": "2", "name": "bad", "reason": reason}]
    first = s.account_table()[0]
    assert first["账户ID"] == "2" and first["失败原因"] == reason  # failed first, whole
    assert reason in s.failure_message() and reason in s.text()


@pytest.mark.timeout(300)
def test_disabled_bitable_is_reported_as_disabled(prefect_server, tmp_path, monkeypatch):
    with Sandbox(profile="fast", n_dpa_products=30) as sb:
        point_at(sb, tmp_path / "data", monkeypatch)
        monkeypatch.setenv("ADSYNC_FEISHU_ENABLED", "false")  # wins over the sandbox's app
        get_settings.cache_clear()
        reset_runtime()
        assert not get_runtime().bitable_enabled
        tables_before = len(sb.fs.tables(sb.fs.app_token))

        day = china_today() - timedelta(days=1)
        permitted = [a.id for a in sb.data.local_accounts if not a.forbidden][:2]
        for state in (
            laike_daily(date=day, accounts=permitted, return_state=True),
            dpa_daily(return_state=True),
        ):
            summary = summary_of(state)
            assert isinstance(summary, RunSummary), state
            assert state.is_completed(), summary.text()
            assert (
                "Bitable disabled (ADSYNC_FEISHU_ENABLED=false): nothing written to Feishu, "
                "the database has every row"
            ) in summary.warnings
            assert not any("not configured" in w for w in summary.warnings)
            assert not any(k.startswith("bitable:") for k in summary.sinks)
            assert any(k.startswith("db:") for k in summary.sinks)
        assert len(sb.fs.tables(sb.fs.app_token)) == tables_before  # Feishu untouched


@pytest.mark.timeout(300)
def test_neither_configured_nor_disabled_refuses_the_run(prefect_server, tmp_path, monkeypatch):
    with Sandbox(profile="fast") as sb:
        point_at(sb, tmp_path / "data", monkeypatch)
        for name in ("ADSYNC_FEISHU_APP_ID", "ADSYNC_FEISHU_APP_SECRET", "ADSYNC_FEISHU_APP_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        get_settings.cache_clear()
        reset_runtime()
        state = dpa_daily(return_state=True)
        assert state.is_failed() and state.name == "NotStarted"
        assert state.message.startswith(
            "Feishu Bitable is not configured: set ADSYNC_FEISHU_APP_ID"
        )
        assert "ADSYNC_FEISHU_ENABLED=false" in state.message
