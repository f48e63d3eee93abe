"""Every command checks settings and parameters before Prefect starts (issue 16, item 2).

Through the installed ``adsync`` script, as a user runs it: one line on stderr naming the
setting or parameter, exit 2 (1 for a database or token-store failure of ``tokens``), no
traceback, no temporary Prefect server, and no ledger row for a run that never started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from integrations.database import tables
from integrations.database.engine import make_engine

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, stdin: str | None = None, **env: str):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ADSYNC_", "PREFECT_"))}
    # Where a started flow would keep its Prefect data: must stay unused.
    base["PREFECT_HOME"] = str(cwd / "prefect-home")
    proc = subprocess.run(
        args, cwd=cwd, env=base | env, input=stdin, capture_output=True, text=True, timeout=120
    )
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(lines) == 1, proc.stderr
    assert not (cwd / "prefect-home").exists()  # Prefect never started
    return proc.returncode, lines[0]


def adsync(cwd: Path, *args: str, stdin: str | None = None, **env: str):
    return _run([str(BIN / "adsync"), *args], cwd, stdin, **env)


def _app(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "ADSYNC_DATA_DIR": str(tmp_path / "data"),
        "ADSYNC_OCEANENGINE_APP_ID": "1790000000000001",
        "ADSYNC_OCEANENGINE_APP_SECRET": "app-secret-value",
        "ADSYNC_TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "ADSYNC_FEISHU_ENABLED": "false",
        **extra,
    }


def _ledger_rows(tmp_path: Path) -> int | None:
    db = tmp_path / "data" / "adsync.db"
    if not db.exists():
        return None
    eng = make_engine(f"sqlite:///{db}")
    try:
        with eng.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(tables.sync_runs)).scalar()
    finally:
        eng.dispose()


def test_impossible_date(tmp_path):
    code, line = adsync(tmp_path, "run", "laike", "--date", "2026-02-30", **_app(tmp_path))
    assert code == 2
    assert line.startswith("adsync: --date 2026-02-30: not a date")
    assert _ledger_rows(tmp_path) is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--start", "2026-11-20", "--end", "2099-01-01"], "end 2099-01-01 is in the future"),
        (["--end", "2026-11-20"], "end 2026-11-20 given without start"),
        (["--date", "2026-11-20", "--start", "2026-11-19"], "either date or start/end"),
        (["--lookback-days", "-1"], "--lookback-days -1: must be an integer >= 0"),
    ],
)
def test_bad_window_parameters(tmp_path, args, expected):
    code, line = adsync(tmp_path, "run", "douplus", *args, **_app(tmp_path))
    assert code == 2 and expected in line


@pytest.mark.parametrize(
    ("drop", "add", "expected"),
    [
        ("ADSYNC_OCEANENGINE_APP_ID", {}, "ADSYNC_OCEANENGINE_APP_ID: required but not set"),
        ("ADSYNC_TOKEN_ENCRYPTION_KEY", {}, "ADSYNC_TOKEN_ENCRYPTION_KEY: required"),
        ("ADSYNC_FEISHU_ENABLED", {}, "Feishu Bitable is not configured"),
        ("ADSYNC_FEISHU_ENABLED", {"ADSYNC_FEISHU_APP_ID": "x"}, "Feishu Bitable is partly"),
        (None, {"ADSYNC_ACCOUNTS": "not json"}, "ADSYNC_ACCOUNTS: not valid JSON"),
        (None, {"ADSYNC_LOOKBACK_DAY": "2"}, "did you mean ADSYNC_LOOKBACK_DAYS?"),
        (None, {"ADSYNC_OCEANENGINE_BASE_URL": "htp//x"}, "ADSYNC_OCEANENGINE_BASE_URL: not an"),
    ],
)
def test_run_with_bad_settings_stops_before_prefect(tmp_path, drop, add, expected):
    env = _app(tmp_path, **add)
    if drop:
        env.pop(drop)
    code, line = adsync(tmp_path, "run", "laike", **env)
    assert code == 2 and expected in line, line
    assert "app-secret-value" not in line
    assert not _ledger_rows(tmp_path)


def test_run_without_tokens_is_one_line_and_no_ledger_row(tmp_path):
    code, line = adsync(tmp_path, "run", "laike", **_app(tmp_path))
    assert code == 2
    assert "no tokens stored for key oceanengine:1790000000000001:default" in line
    assert _ledger_rows(tmp_path) == 0  # the database was prepared, no run recorded


def test_undecryptable_tokens(tmp_path):
    env = _app(tmp_path)
    doc = '{"access_token": "a", "refresh_token": "r", "expires_in": 86400}'
    proc = subprocess.run(
        [str(BIN / "adsync"), "tokens", "import"],
        cwd=tmp_path,
        env={**os.environ, **env},
        input=doc,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    env["ADSYNC_TOKEN_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    code, line = adsync(tmp_path, "run", "accounts", **env)
    assert code == 2 and "ADSYNC_TOKEN_ENCRYPTION_KEY: cannot decrypt" in line


def test_every_command_checks_the_settings(tmp_path):
    code, line = adsync(tmp_path, "db", "upgrade", ADSYNC_FEISHU_APPTOKEN="x")
    assert code == 2 and line.startswith("adsync: ADSYNC_FEISHU_APPTOKEN: unknown setting")


def test_tokens_status_with_unreachable_database(tmp_path):
    code, line = adsync(
        tmp_path,
        "tokens",
        "status",
        ADSYNC_DATABASE_URL="postgresql://nobody:pw-secret@127.0.0.1:1/db",
    )
    assert code == 1
    assert line.startswith("adsync tokens: cannot use ADSYNC_DATABASE_URL (postgresql")
    assert "pw-secret" not in line


def test_tokens_import_with_absurd_lifetime(tmp_path):
    doc = '{"access_token": "a", "refresh_token": "r", "expires_in": 1e308}'
    code, line = adsync(tmp_path, "tokens", "import", stdin=doc, **_app(tmp_path))
    assert code == 1
    assert line.startswith("adsync tokens: 'expires_in' must be 0..")


def test_monitor_flows_not_json(tmp_path):
    code, line = _run(
        [sys.executable, str(ROOT / "monitor.py"), "check"],
        tmp_path,
        ADSYNC_DATA_DIR=str(tmp_path / "data"),
        ADSYNC_MONITOR_FLOWS="[not json",
    )
    assert (
        code == 2
        and line
        == "monitor: ADSYNC_MONITOR_FLOWS: not valid JSON (a JSON list or object is expected)"
    )
