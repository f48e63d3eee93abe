"""Builders for monitor situations: ledger rows, dataset rows and token rows in a real database,
and a helper running ``monitor.py`` as a subprocess (the way operators and cron call it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from integrations.database import tables as t
from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade

REPO = Path(__file__).resolve().parents[2]
CN = ZoneInfo("Asia/Shanghai")
# Account ids above 2^53 (as in production) so int64 handling is exercised end to end.
ACC_A, ACC_B = 1854347260793866, 1854528518086986


def now_utc() -> datetime:
    return datetime.now(UTC)


def yesterday_cn() -> date:
    return now_utc().astimezone(CN).date() - timedelta(days=1)


def naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


@dataclass
class Setup:
    """One app database with helpers to make it healthy or break it in one specific way."""

    url: str
    engine: sa.Engine

    def add_run(
        self,
        flow: str,
        status: str = "SUCCESS",
        hours_ago: float = 1.0,
        minutes: float = 3.0,
        run_id: str | None = None,
        accounts_ok: int = 2,
        failed: list[dict] | None = None,
        rows: int = 40,
        error: str | None = None,
        tenant: str = "default",
    ) -> int:
        started = now_utc() - timedelta(hours=hours_ago)
        finished = None if status == "RUNNING" else started + timedelta(minutes=minutes)
        y = yesterday_cn()
        counts = {
            "db:local_promotion_daily": {"inserted": rows, "updated": 0, "unchanged": 0},
            "bitable:local_promotion_daily": {"inserted": 0, "updated": 2, "unchanged": rows - 2},
        }
        with self.engine.begin() as c:
            return c.execute(
                sa.insert(t.sync_runs).values(
                    flow=flow,
                    tenant=tenant,
                    run_id=run_id,
                    window_start=y - timedelta(days=3),
                    window_end=y,
                    status=status,
                    accounts_ok=accounts_ok,
                    accounts_failed=len(failed or []),
                    failed_accounts=json.dumps(failed or []),
                    counts=json.dumps(counts),
                    api_calls=12,
                    error=error,
                    started_at=naive(started),
                    finished_at=naive(finished) if finished else None,
                )
            ).inserted_primary_key[0]

    def add_promotions(self, account: int, day: date, n: int) -> None:
        rows = [
            {
                "stat_date": day,
                "local_account_id": account,
                "promotion_id": 7_450_000_000_000_000_000 + i,
                "promotion_name": f"单元{i}",
                "cost": Decimal("12.34"),
                "show_cnt": 100,
                "click_cnt": 5,
                "convert_cnt": 1,
                "clue_pay_order_cnt": 0,
                "updated_at": naive(now_utc()),
            }
            for i in range(n)
        ]
        with self.engine.begin() as c:
            c.execute(sa.insert(t.local_promotion_daily), rows)

    def add_history(self, account: int, days: int = 8, per_day: int = 10, upto: date | None = None):
        """``days`` days of rows ending at ``upto`` (default: yesterday, China time)."""
        end = upto or yesterday_cn()
        for i in range(days):
            self.add_promotions(account, end - timedelta(days=i), per_day)

    def add_token(self, key: str, refresh_in: timedelta, account_ids=(ACC_A,)) -> None:
        now = now_utc()
        with self.engine.begin() as c:
            c.execute(
                sa.insert(t.oauth_tokens).values(
                    key=key,
                    ciphertext=b"SECRET-CIPHERTEXT-MUST-NOT-LEAK",
                    access_expires_at=naive(now + timedelta(hours=20)),
                    refresh_expires_at=naive(now + refresh_in),
                    account_ids=json.dumps(list(account_ids)),
                    version=1,
                    updated_at=naive(now),
                )
            )

    def healthy(self, run_hours_ago: float = 1.0) -> None:
        for flow in ("laike-daily", "douplus-daily"):
            self.add_run(flow, hours_ago=run_hours_ago)
        for acc in (ACC_A, ACC_B):
            self.add_history(acc)
        self.add_token("oceanengine:1700000000:default", timedelta(days=25))


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    url = f"sqlite:///{tmp_path / 'adsync.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield Setup(url, engine)
    engine.dispose()


def monitor_env(url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ADSYNC_", "PREFECT_")) or k.startswith("ADSYNC_TEST_")
    }
    env.update({"ADSYNC_DATABASE_URL": url, "NO_COLOR": "1", "COLUMNS": "80"})
    env.update(extra)
    return env


def run_monitor(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "monitor.py"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
