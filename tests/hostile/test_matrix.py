"""Hostile-data matrix: one bad value in one report row, on SQLite, PostgreSQL and MariaDB.

For each case the good rows land in the DB and in Bitable, the bad row is rejected (or
normalised) by a named rule with its key in the run summary and the ledger, and the outcome is
the same on all three databases (the assertions are exact, so they cannot differ by backend).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from flows.summary import RunStatus
from integrations.database.row_rules import TRUNCATION_MARKER
from sandbox.server import Sandbox
from tests.hostile import harness as H


@dataclass(frozen=True)
class Case:
    field: str
    value: Any
    rejected: bool  # else normalised: the row lands with ``stored`` as promotion_name
    reason: str  # part of the named reason
    stored: str | None = None


LONG = "长" * 300
CASES = {
    "cost_1e16": Case("stat_cost", 1e16, True, "outside DECIMAL(18, 2)"),
    "cost_str_1e16": Case("stat_cost", "1e16", True, "outside DECIMAL(18, 2)"),
    "count_2_63": Case("show_cnt", 2**63, True, "outside the 64-bit integer range"),
    "cost_1e400": Case("stat_cost", "1e400", True, "stat_cost"),
    "future_date": Case("stat_time_day", "2099-01-01", True, "outside the requested"),
    "nul_in_name": Case("promotion_name", "A\x00B", False, "control characters", "AB"),
    "controls_in_name": Case(
        "promotion_name", "名\x1f称\x7f😀\tx", False, "control characters", "名称😀\tx"
    ),
    "long_name": Case(
        "promotion_name", LONG, False, "truncated to 255", "长" * 254 + TRUNCATION_MARKER
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_one_bad_row_never_costs_the_batch(name, any_db_url, tmp_path, monkeypatch) -> None:
    case = CASES[name]
    with Sandbox(state_dir=tmp_path / "sb", profile="fast", n_local_accounts=2) as sb:
        account = H.good_account(sb)
        window = H.yesterday(sb)
        expected = H.expected_keys(sb, account, window)
        bad = sorted(expected)[len(expected) // 2]
        sb.oe.knobs.hostile_values = [(bad[2], case.field, case.value)]
        H.prepare(sb, any_db_url, tmp_path, monkeypatch)
        try:
            summary = H.run_laike(window, [account])
        finally:
            H.done()
        stored = H.db_promotions(any_db_url)
        in_bitable = H.bitable_keys(sb)
    assert len(expected) >= 10
    tag = f"promotion_id={bad[2]}"
    ledger = H.last_ledger(any_db_url)
    if case.rejected:
        assert set(stored) == expected - {bad}
        assert len(in_bitable) == len(expected) - 1
        assert summary.status is RunStatus.PARTIAL
        assert summary.rejected_count == 1
        (named,) = summary.rejected_named()
        assert tag in named and case.reason in named, named
        assert ledger.status.value == "PARTIAL"
        assert tag in (ledger.error or "") and "1 row(s) rejected" in (ledger.error or "")
        assert ledger.counts["db:row_rules"]["rejected"] == 1
    else:
        assert set(stored) == expected
        assert len(in_bitable) == len(expected)
        assert stored[bad]["promotion_name"] == case.stored
        assert summary.status is RunStatus.SUCCESS, summary.failure_message()
        assert summary.rejected_count == 0
        assert summary.normalised_count == 1
        assert tag in summary.normalised[0] and case.reason in summary.normalised[0]
        assert ledger.status.value == "SUCCESS"
        assert tag in ledger.counts["db:row_rules"]["normalised_rows"][0]
    assert len(set(in_bitable)) == len(in_bitable)  # no duplicates
