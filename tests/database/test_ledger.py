"""sync_runs ledger round trip on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import Engine

from integrations.database.ledger import RunStatus, finish_run, recent_runs, start_run
from integrations.database.upsert import UpsertResult


def test_start_finish_and_read_back(db_engine: Engine) -> None:
    flow = f"local_daily_{uuid.uuid4().hex[:8]}"
    first = start_run(db_engine, flow, date(2026, 11, 19), date(2026, 11, 22), run_id="r-1")
    second = start_run(db_engine, flow, date(2026, 11, 20), date(2026, 11, 23))
    assert second != first

    (running,) = [r for r in recent_runs(db_engine, flow=flow) if r.id == second]
    assert running.status is RunStatus.RUNNING
    assert running.finished_at is None and running.duration_s is None

    failed = [{"account_id": 1854347260793866123, "reason": "40100 限流 😵"}]
    finish_run(
        db_engine,
        second,
        status=RunStatus.PARTIAL,
        accounts_ok=3,
        accounts_failed=1,
        failed_accounts=failed,
        counts={"db:local_promotion_daily": UpsertResult(5, 2, 1), "api": {"pages": 7}},
        api_calls=42,
        error="account 1854347260793866123 failed",
    )
    runs = recent_runs(db_engine, flow=flow)
    assert [r.id for r in runs] == [second, first]  # newest first
    done = runs[0]
    assert done.status is RunStatus.PARTIAL
    assert (done.accounts_ok, done.accounts_failed, done.api_calls) == (3, 1, 42)
    assert done.failed_accounts == failed  # int64 account id survives the JSON round trip
    assert done.counts["db:local_promotion_daily"] == {"inserted": 5, "updated": 2, "unchanged": 1}
    assert done.window_start == date(2026, 11, 20) and done.window_end == date(2026, 11, 23)
    assert done.duration_s is not None and done.duration_s >= 0
    assert runs[1].run_id == "r-1" and runs[1].status is RunStatus.RUNNING
    assert len(recent_runs(db_engine, limit=1, flow=flow)) == 1


def test_finish_rejects_non_final_status_and_unknown_run(db_engine: Engine) -> None:
    pk = start_run(db_engine, f"f_{uuid.uuid4().hex[:8]}", None, None)
    with pytest.raises(ValueError, match="not a final status"):
        finish_run(db_engine, pk, status=RunStatus.RUNNING)
    with pytest.raises(ValueError, match="no sync_runs row"):
        finish_run(db_engine, pk + 10_000_000, status="SUCCESS")


def test_runs_carry_their_tenant_and_latest_by_tenant(db_engine: Engine) -> None:
    from integrations.database.ledger import latest_by_tenant

    flow = f"laike_{uuid.uuid4().hex[:8]}"
    a1 = start_run(db_engine, flow, None, None, tenant="acme")
    b1 = start_run(db_engine, flow, None, None, tenant="brand-b")
    d1 = start_run(db_engine, flow, None, None)  # the single setup: tenant "default"
    finish_run(db_engine, a1, status=RunStatus.FAILED, error="token revoked")
    a2 = start_run(db_engine, f"other_{flow}", None, None, tenant="acme")
    finish_run(db_engine, b1, status=RunStatus.SUCCESS)

    assert [r.id for r in recent_runs(db_engine, flow=flow, tenant="acme")] == [a1]
    assert {r.tenant for r in recent_runs(db_engine, flow=flow)} == {"acme", "brand-b", "default"}
    latest = latest_by_tenant(db_engine, flow=flow)
    # acme's failure is still its latest run of this flow, whatever other tenants did since.
    assert {t: (r.id, r.status) for t, r in latest.items() if r.flow == flow} == {
        "acme": (a1, RunStatus.FAILED),
        "brand-b": (b1, RunStatus.SUCCESS),
        "default": (d1, RunStatus.RUNNING),
    }
    assert latest_by_tenant(db_engine)["acme"].id == a2  # any flow: its newest run
    with pytest.raises(ValueError, match="tenant must be 1-64 characters"):
        start_run(db_engine, flow, None, None, tenant="x" * 65)


def test_rows_written_before_tenants_are_the_default_tenant(db_engine: Engine) -> None:
    """The column's server default: a row inserted without it (an older adsync) is 'default'."""
    import sqlalchemy as sa

    from integrations.database.tables import sync_runs

    flow = f"legacy_{uuid.uuid4().hex[:8]}"
    with db_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO sync_runs (flow, status, accounts_ok, accounts_failed, started_at) "
                "VALUES (:f, 'SUCCESS', 0, 0, '2026-11-01 00:00:00')"
            ),
            {"f": flow},
        )
        tenant = conn.execute(sa.select(sync_runs.c.tenant).where(sync_runs.c.flow == flow))
        assert tenant.scalar_one() == "default"


def test_many_failed_accounts_with_full_reasons_close_the_run(db_engine: Engine) -> None:
    # 1,000 failed accounts, each named with a 2,000-character reason (flows/steps.py keeps the
    # whole reason up to that length): ~2.4 MB of JSON, beyond MySQL's 64 KB TEXT.
    flow = f"laike_{uuid.uuid4().hex[:8]}"
    pk = start_run(db_engine, flow, date(2026, 11, 19), date(2026, 11, 22))
    failed = [
        {
            "account_id": str(1790213725000000000 + i),
            "name": "西安·元气健身",
            "reason": "原因" * 1000,
        }
        for i in range(1000)
    ]
    finish_run(db_engine, pk, status=RunStatus.FAILED, accounts_failed=1000, failed_accounts=failed)
    (done,) = recent_runs(db_engine, flow=flow)
    assert done.status is RunStatus.FAILED
    assert done.failed_accounts == failed
