"""`adsync bitable reconcile` removes duplicates a warm run leaves alone, and the monitor's
duplicate finding names that command.

A real 本地推 (laike-daily) run fills the sandbox Bitable and the record map; duplicates of some
business keys are then injected straight into the simulator (as an old script or a person copying
rows would). A second run with the warm map does not search the table, so they stay; the command
removes them, keeping the mapped record of each key.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from flows.cli import main
from flows.laike import laike_daily
from flows.runtime import reset_runtime
from flows.summary import RunSummary
from flows.sync_run import summary_of
from integrations.settings import get_settings
from sandbox.server import Sandbox
from tests.flows.sandboxed import bitable_snapshot, point_at
from tests.monitoring.conftest import CN, now_utc, run_monitor

TABLE = "本地推单元日报"


def _run(**params) -> RunSummary:
    state = laike_daily(return_state=True, **params)
    summary = summary_of(state)
    assert isinstance(summary, RunSummary), f"{state.name}: {state.message}"
    return summary


def _dupes(sb: Sandbox) -> Counter:
    keys, _ = bitable_snapshot(sb, TABLE)
    return Counter({k: n for k, n in keys.items() if n > 1})


def _writable(v: Any) -> Any:
    """A cell as read back → as written (text comes back as segments)."""
    if isinstance(v, list) and all(isinstance(x, dict) and "text" in x for x in v):
        return "".join(x["text"] for x in v)
    return v


def _inject(sb: Sandbox, n: int) -> list[str]:
    """Copy ``n`` existing records (every cell) as new records: duplicate business keys."""
    fs = sb.fs
    table = next(t for t in fs.tables(fs.app_token) if t["name"] == TABLE)
    primary = next(
        f["field_name"] for f in fs.fields(fs.app_token, table["table_id"]) if f.get("is_primary")
    )
    _, records = bitable_snapshot(sb, TABLE)
    chosen = sorted(records, key=lambda r: _writable(r["fields"][primary]))[:n]
    copies = [{k: _writable(v) for k, v in r["fields"].items()} for r in chosen]
    fs.add_records(fs.app_token, table["table_id"], copies)
    return [_writable(r["fields"][primary]) for r in chosen]


def test_forced_reconcile_removes_injected_duplicates(
    prefect_server, tmp_path, monkeypatch, capfd
) -> None:
    y = now_utc().astimezone(CN).date() - timedelta(days=1)
    with Sandbox(profile="fast") as sb:
        env = point_at(sb, tmp_path / "data", monkeypatch)
        first = _run(date=y.isoformat())
        assert first.sinks and _dupes(sb) == Counter()
        injected = _inject(sb, 5)
        assert set(_dupes(sb)) == set(injected)

        # A warm rerun trusts its map: the duplicates stay (why the command exists).
        reset_runtime()
        _run(date=y.isoformat())
        assert set(_dupes(sb)) == set(injected)

        # The monitor names the command that removes them.
        mon_env = {k: v for k, v in env.items()} | {
            "PATH": "/usr/bin:/bin",
            "NO_COLOR": "1",
            "COLUMNS": "200",
            "ADSYNC_MONITOR_FLOWS": json.dumps(["laike-daily"]),
        }
        p = run_monitor("check", env=mon_env, cwd=tmp_path)
        line = next(ln for ln in p.stdout.splitlines() if "duplicate business key" in ln)
        assert line.startswith("CRITICAL bitable   table 本地推单元日报")
        assert line.endswith("→ adsync bitable reconcile --dataset local_promotion_daily")

        get_settings.cache_clear()
        with pytest.raises(SystemExit) as e:
            main(
                [
                    "bitable",
                    "reconcile",
                    "--dataset",
                    "local_promotion_daily",
                    "--start",
                    y.isoformat(),
                    "--end",
                    y.isoformat(),
                ]
            )
        out, err = capfd.readouterr()
        assert e.value.code == 0, err
        assert f"本地推单元日报 (local_promotion_daily) {y}..{y}: " in out
        assert "5 duplicate(s) deleted" in out, out
        assert _dupes(sb) == Counter()
        keys, _ = bitable_snapshot(sb, TABLE)
        assert len(keys) == first.sinks["bitable:local_promotion_daily"].inserted

        # The map was rebuilt from the table: the next run changes nothing in Bitable.
        reset_runtime()
        again = _run(date=y.isoformat())
        s = again.sinks["bitable:local_promotion_daily"]
        assert (s.inserted, s.updated, s.deleted) == (0, 0, 0)


def test_bad_arguments_are_one_line_exit_2(monkeypatch, capfd) -> None:
    for argv, expect in (
        (["--dataset", "nope"], "--dataset 'nope': unknown; known: "),
        (["--start", "2026-11-01"], "--start and --end: give both"),
        (["--start", "2026-11-05", "--end", "2026-11-01"], "--end 2026-11-01 is before"),
        (["--start", "2026-02-30", "--end", "2026-03-01"], "--start: '2026-02-30' is not a date"),
        ([], "ADSYNC_FEISHU_APP_ID: required"),
    ):
        get_settings.cache_clear()
        with pytest.raises(SystemExit) as e:
            main(["bitable", "reconcile", *argv])
        out, err = capfd.readouterr()
        assert e.value.code == 2 and expect in err, (argv, err)
        assert err.strip().count("\n") == 0 and out == ""
