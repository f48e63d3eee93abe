"""The tenant is shown where a person reads a run (issue 20): summary text and markdown, the
Feishu card's title, artifact keys; the single setup's output is unchanged."""

from __future__ import annotations

from datetime import date

from flows.summary import RunSummary
from flows.sync_run import artifact_key
from integrations.feishu.notifier import CardReport

DAY = date(2026, 11, 28)


def test_named_tenant_is_shown_default_is_not() -> None:
    acme = RunSummary(flow="laike-daily", window_start=DAY, window_end=DAY, tenant="acme")
    plain = RunSummary(flow="laike-daily", window_start=DAY, window_end=DAY)
    assert acme.text().startswith("laike-daily [tenant acme] 2026-11-28..2026-11-28: ")
    assert "[tenant acme]" in acme.markdown().splitlines()[0]
    assert "tenant" not in plain.text().splitlines()[0]
    assert "tenant" not in plain.markdown().splitlines()[0]
    assert "acme" in CardReport.from_summary(acme).title
    assert (
        CardReport.from_summary(plain).title
        == CardReport.from_summary(
            RunSummary(flow="laike-daily", window_start=DAY, window_end=DAY)
        ).title
    )
    assert "［" not in CardReport.from_summary(plain).title
    assert artifact_key("laike-daily", "default") == "laike-daily"
    assert artifact_key("laike-daily", "brand_b") == "laike-daily-brand-b"
