"""The per-account artifact table: Chinese headers, failed accounts first, full reason."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flows.summary import AccountResult, RunNotGreen, RunStatus, RunSummary


def _summary() -> RunSummary:
    reason = (
        "PermissionDenied: v3.0/local/report/promotion/get, account 3, code 40002: " + "x" * 250
    )
    return RunSummary(
        flow="laike-daily",
        window_start=date(2026, 11, 21),
        window_end=date(2026, 11, 24),
        accounts=[
            AccountResult(1, "一店", rows=10, cost=Decimal("12.30")),
            AccountResult(2, "二店", rows=5),
            AccountResult(3, "三店", ok=False, reason=reason),
            AccountResult(4, "四店", rows=1),
        ],
    )


def test_failed_accounts_first_with_the_whole_reason():
    s = _summary()
    rows = s.account_table()
    assert [r["账户ID"] for r in rows] == ["3", "1", "2", "4"]
    assert [r["状态"] for r in rows] == ["失败", "成功", "成功", "成功"]
    assert rows[0]["失败原因"] == s.accounts[2].reason  # not cut
    assert rows[1]["消耗(元)"] == "12.30" and rows[1]["行数"] == 10
    assert list(rows[0]) == [
        "状态",
        "账户ID",
        "账户名称",
        "失败原因",
        "行数",
        "被拒行数",
        "消耗(元)",
    ]


def test_run_not_green_is_the_summary_and_an_exception():
    s = _summary()
    e = RunNotGreen.of(s)
    assert isinstance(e, RunSummary) and isinstance(e, Exception)
    assert e.status is RunStatus.PARTIAL
    assert str(e) == s.failure_message() and "3 三店" in str(e)
    import pickle

    back = pickle.loads(pickle.dumps(e))
    assert type(back) is RunNotGreen and back.accounts == s.accounts
