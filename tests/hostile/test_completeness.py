"""Completeness of an account's report walk (simulator page faults, real httpx client):

- a page repeated or skipped once → the account is re-fetched once and every row lands;
- the same every time → the account fails with the reason (never "ok"), the other account's
  rows land, the run is PARTIAL and the ledger names the account;
- a page whose list is an object → a named failure, same handling.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from flows.summary import RunStatus
from flows.window import Window
from sandbox.oceanengine.knobs import PageFault
from sandbox.server import Sandbox
from tests.hostile import harness as H

REPORT = "v3.0/local/report/promotion/get"


def _run(
    tmp_path,
    monkeypatch,
    fault: PageFault | Callable[[int], PageFault] | None,
    fault_account: str = "a",
):
    with Sandbox(
        state_dir=tmp_path / "sb", profile="fast", n_local_accounts=3, promotions_per_account=40
    ) as sb:
        a, b = [x.id for x in sb.data.local_accounts if not x.forbidden][:2]
        end = sb.data.today - timedelta(days=1)
        window = Window(end - timedelta(days=6), end)  # one 7-day chunk, one walk of 2+ pages
        expected = {acc: H.expected_keys(sb, acc, window) for acc in (a, b)}
        if callable(fault):
            fault = fault(len(expected[a]))
        if fault is not None:
            sb.oe.knobs.hostile_page_faults = [
                PageFault(
                    fault.endpoint,
                    fault.page,
                    fault.kind,
                    a if fault_account else None,
                    fault.times,
                )
            ]
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        H.prepare(sb, db_url, tmp_path, monkeypatch)
        try:
            summary = H.run_laike(window, [a, b])
        finally:
            H.done()
        fired = sb.oe.knobs.hostile_page_faults[0].fired if fault else 0
        in_bitable = H.bitable_keys(sb)
    return (
        summary,
        expected,
        a,
        b,
        H.db_promotions(db_url),
        H.last_ledger(db_url),
        fired,
        in_bitable,
    )


@pytest.mark.parametrize("kind", ["repeat", "skip", "object"])
def test_a_fault_once_is_healed_by_one_refetch(kind, tmp_path, monkeypatch) -> None:
    summary, expected, a, b, stored, ledger, fired, in_bitable = _run(
        tmp_path, monkeypatch, PageFault(REPORT, 2, kind, times=1)
    )
    assert len(expected[a]) > 100  # page 2 exists at 100 rows a page
    assert fired == 1
    assert summary.status is RunStatus.SUCCESS, summary.failure_message()
    assert set(stored) == expected[a] | expected[b]
    assert len(in_bitable) == len(set(in_bitable)) == len(stored)
    assert ledger.status.value == "SUCCESS"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("repeat", "repeated across pages"),
        ("skip", "page_info says"),  # the last page answered with the (empty) one after it
        ("object", "'promotion_list' is a dict, not an array"),
    ],
)
def test_a_persistent_fault_fails_the_account_by_name(kind, reason, tmp_path, monkeypatch) -> None:
    summary, expected, a, b, stored, ledger, fired, _ = _run(
        tmp_path, monkeypatch, PageFault(REPORT, 2, kind)
    )
    assert fired == 2  # the walk and its one re-fetch
    assert summary.status is RunStatus.PARTIAL
    (failed,) = summary.failed_accounts
    assert failed.account_id == a
    assert reason in failed.reason and "again after one re-fetch" in failed.reason, failed.reason
    assert set(stored) == expected[b]  # the healthy account is written, the bad one not at all
    assert ledger.status.value == "PARTIAL"
    assert [x["account_id"] for x in ledger.failed_accounts] == [str(a)]
    assert reason in ledger.failed_accounts[0]["reason"]


def test_rows_short_of_page_info_total_fail_the_account(tmp_path, monkeypatch) -> None:
    """The last page answered with the (empty) page after it: no key repeats, but fewer rows
    than page_info's total_number."""
    summary, expected, a, b, stored, ledger, fired, _ = _run(
        tmp_path, monkeypatch, lambda n: PageFault(REPORT, -(-n // 100), "skip")
    )
    assert fired == 2
    (failed,) = summary.failed_accounts
    n = len(expected[a])
    received = n - (n % 100 or 100)
    assert f"received {received} rows, page_info says {n}" in failed.reason, failed.reason
    assert set(stored) == expected[b]


def test_a_malformed_account_listing_page_is_read_again_once(tmp_path, monkeypatch) -> None:
    summary, expected, a, b, stored, ledger, fired, _ = _run(
        tmp_path,
        monkeypatch,
        PageFault("v3.0/customer_center/account/list", 1, "object", times=1),
        fault_account=None,
    )
    assert fired == 1
    assert summary.status is RunStatus.SUCCESS, summary.failure_message()
    assert set(stored) == expected[a] | expected[b]
