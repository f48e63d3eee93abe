"""The ``sync_runs`` ledger: one row per flow run (window, status, per-sink counts, failures).

Written by every flow (start, then finish) and read by ``monitor.py``. It is the record that
survives outside Prefect: a run that failed for one account is PARTIAL here and names the
account, so a partly failed run never looks green.

Every row names its tenant (integrations/tenants.py; ``"default"`` for the single setup), so one
database can hold several tenants' runs and the monitor can tell them apart.

Timestamps are naive UTC (like every timestamp in the schema). JSON columns (failed_accounts,
counts) are decoded into Python objects by :func:`recent_runs`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, func, insert, select, true, update

from integrations.database.tables import sync_runs

DEFAULT_TENANT = "default"  # as integrations.tenant_config (integrations keep this module light)

# Error text is kept for the operator, not as a log sink: long tracebacks are cut.
MAX_ERROR_CHARS = 8000


class RunStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    PARTIAL = "PARTIAL"  # some accounts failed; the good ones were written
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (RunStatus.SUCCESS, RunStatus.PARTIAL, RunStatus.FAILED)


class RunRecord(BaseModel):
    """One ``sync_runs`` row, JSON columns decoded."""

    model_config = ConfigDict(frozen=True)

    id: int
    flow: str
    tenant: str = DEFAULT_TENANT
    run_id: str | None = None
    window_start: date | None = None
    window_end: date | None = None
    status: RunStatus
    accounts_ok: int = 0
    accounts_failed: int = 0
    failed_accounts: list[dict[str, Any]] = Field(default_factory=list)
    counts: dict[str, Any] = Field(default_factory=dict)
    api_calls: int | None = None
    error: str | None = None
    started_at: datetime
    finished_at: datetime | None = None

    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _json_default(o: Any) -> Any:
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return o.as_dict() if hasattr(o, "as_dict") else dataclasses.asdict(o)
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, date | datetime):
        return o.isoformat()
    if isinstance(o, BaseModel):
        return o.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _dumps(value: Any) -> str:
    # ensure_ascii=False: account names stay readable Chinese in the DB and in BI tools.
    return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)


def start_run(
    engine: Engine,
    flow: str,
    window_start: date | None,
    window_end: date | None,
    run_id: str | None = None,
    *,
    tenant: str = DEFAULT_TENANT,
) -> int:
    """Record a run of ``tenant`` as RUNNING; return its ledger id (for :func:`finish_run`)."""
    if not tenant or len(tenant) > 64:
        raise ValueError(f"start_run: tenant must be 1-64 characters, got {tenant!r}")
    with engine.begin() as conn:
        result = conn.execute(
            insert(sync_runs).values(
                flow=flow,
                tenant=tenant,
                run_id=run_id,
                window_start=window_start,
                window_end=window_end,
                status=RunStatus.RUNNING.value,
                accounts_ok=0,
                accounts_failed=0,
                started_at=_utc_now(),
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        return int(pk[0])


def finish_run(
    engine: Engine,
    run_pk: int,
    *,
    status: RunStatus | str,
    accounts_ok: int = 0,
    accounts_failed: int = 0,
    failed_accounts: Sequence[Mapping[str, Any]] = (),
    counts: Mapping[str, Any] | None = None,
    api_calls: int | None = None,
    error: str | None = None,
) -> None:
    """Close a run with its final status, counts and failures.

    ``counts`` maps a sink (e.g. ``"db:local_promotion_daily"``) to its counts; UpsertResult
    values are stored as ``{"inserted":..,"updated":..,"unchanged":..}``.
    """
    final = RunStatus(status)
    if not final.is_final:
        raise ValueError(f"finish_run: {final.value} is not a final status")
    if error is not None and len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 20] + "\n…(truncated)"
    with engine.begin() as conn:
        result = conn.execute(
            update(sync_runs)
            .where(sync_runs.c.id == run_pk)
            .values(
                status=final.value,
                accounts_ok=accounts_ok,
                accounts_failed=accounts_failed,
                failed_accounts=_dumps([dict(a) for a in failed_accounts]),
                counts=_dumps(dict(counts or {})),
                api_calls=api_calls,
                error=error,
                finished_at=_utc_now(),
            )
        )
        if result.rowcount == 0:
            raise ValueError(f"finish_run: no sync_runs row with id {run_pk}")


def recent_runs(
    engine: Engine, limit: int = 20, flow: str | None = None, tenant: str | None = None
) -> list[RunRecord]:
    """The newest runs first (optionally of one flow and/or one tenant)."""
    stmt = select(sync_runs).order_by(sync_runs.c.started_at.desc(), sync_runs.c.id.desc())
    if flow is not None:
        stmt = stmt.where(sync_runs.c.flow == flow)
    if tenant is not None:
        stmt = stmt.where(sync_runs.c.tenant == tenant)
    with engine.connect() as conn:
        rows = conn.execute(stmt.limit(limit)).mappings().all()
    return [_record(r) for r in rows]


def _record(r: Mapping[str, Any]) -> RunRecord:
    return RunRecord.model_validate(
        {
            **r,
            "failed_accounts": json.loads(r["failed_accounts"] or "[]"),
            "counts": json.loads(r["counts"] or "{}"),
        }
    )


def latest_by_tenant(engine: Engine, flow: str | None = None) -> dict[str, RunRecord]:
    """Each tenant's newest run (of ``flow`` if given): a failure in one tenant is seen even
    when another tenant ran more recently."""
    newest = (
        select(sync_runs.c.tenant, func.max(sync_runs.c.id).label("id"))
        .group_by(sync_runs.c.tenant)
        .where(sync_runs.c.flow == flow if flow is not None else true())
        .subquery()
    )
    stmt = (
        select(sync_runs).join(newest, sync_runs.c.id == newest.c.id).order_by(sync_runs.c.tenant)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return {r["tenant"]: _record(r) for r in rows}
