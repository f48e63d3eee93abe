"""Views over Feishu's 200-per-table cap (issue 20): the run warns once per base with the count
of accounts without a view and the first few ids, not hundreds of ids; the accounts the
simulator has views for plus those named as without one are every account."""

from __future__ import annotations

import re
from datetime import date

import pytest

from flows import steps
from flows.runtime import get_runtime
from flows.summary import RunSummary
from sandbox.server import Sandbox
from tests.flows.sandboxed import point_at

N = 205
DATASETS = ["local_promotion_daily", "local_account_daily"]


@pytest.mark.timeout(300)
def test_over_cap_is_one_line_with_a_count_and_the_first_ids(tmp_path, monkeypatch) -> None:
    with Sandbox(state_dir=None, profile="fast", n_local_accounts=2) as sb:
        point_at(sb, tmp_path / "data", monkeypatch, f"sqlite:///{tmp_path / 'app.db'}")
        rt = get_runtime()
        names = {1_790_000_000_100_000 + i: f"acct {i:03d}" for i in range(N)}
        summary = RunSummary(flow="laike-daily", window_start=date.today(), window_end=date.today())
        with rt.run_scope():
            steps.ensure_account_views(rt, summary, DATASETS, names)
        over = [w for w in summary.warnings if "without a view" in w]
        assert len(over) == 1, summary.warnings  # once for the base, not per table
        line = over[0]
        m = re.search(r"(\d+) account\(s\) without a view \(first: ([^)]*)\)", line)
        assert m, line
        missing, first = int(m.group(1)), m.group(2).rstrip("…").split(", ")
        assert len(first) == 5 and "…" in line and len(line) < 300
        fs = sb.fs
        table = next(t for t in fs.tables(fs.app_token) if t["name"] == "本地推单元日报")
        views = {v["view_name"] for v in fs.views(fs.app_token, table["table_id"])}
        with_view = {a for a, n in names.items() if n in views}
        assert len(views) == 200  # the cap, reached
        assert missing == N - len(with_view) > 0
        assert all(int(a) not in with_view for a in first)
