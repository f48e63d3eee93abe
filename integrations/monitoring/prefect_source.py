"""Read run history and deployment health from the Prefect API (imported only when it answers).

``reachable()`` is a plain httpx probe of ``/health`` with a short timeout, so a monitor with
Prefect down (or not configured) falls back to the ledger in about a second instead of hanging
in the client's retries.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx

from integrations.monitoring.config import as_utc, utcnow
from integrations.monitoring.runs import RunRecord

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient


def api_url_from_env() -> str | None:
    url = os.environ.get("PREFECT_API_URL", "").strip()
    return url.rstrip("/") or None


def reachable(api_url: str | None, timeout_s: float) -> bool:
    if not api_url:
        return False
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def client(api_url: str) -> Iterator[SyncPrefectClient]:
    from prefect.client.orchestration import SyncPrefectClient

    with SyncPrefectClient(api_url, httpx_settings={"timeout": 10}) as c:
        yield c


def _flow_names(c: SyncPrefectClient, flows: Sequence[str]) -> dict[Any, str]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    found = c.read_flows(flow_filter=FlowFilter(name=FlowFilterName(any_=list(flows))))
    return {f.id: f.name for f in found}


def _record(r: Any, flow: str, deployment: str | None) -> RunRecord:
    end = r.end_time  # None while the run is still going
    return RunRecord(
        flow=flow,
        state=r.state_name or (r.state_type.value if r.state_type else "?"),
        source="prefect",
        run_id=str(r.id),
        run_name=r.name,
        deployment=deployment,
        state_type=r.state_type.value if r.state_type else None,
        expected_start=as_utc(r.expected_start_time) if r.expected_start_time else None,
        started_at=as_utc(r.start_time) if r.start_time else None,
        finished_at=as_utc(end) if end else None,
        error=(r.state.message or None) if r.state and r.state_type and _bad(r) else None,
        auto_scheduled=r.auto_scheduled,
    )


def _bad(r: Any) -> bool:
    return r.state_type.value in ("FAILED", "CRASHED", "CANCELLED")


def recent_runs(
    api_url: str, flows: Sequence[str], limit: int, now: datetime | None = None
) -> list[RunRecord]:
    """The newest ``limit`` runs of ``flows`` whose expected start is in the past (no future
    Scheduled runs), newest first."""
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    now = now or utcnow()
    with client(api_url) as c:
        names = _flow_names(c, flows)
        if not names:
            return []
        runs = c.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(flows))),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(before_=now)
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=limit,
        )
        dep_names = _deployment_names(c, {r.deployment_id for r in runs if r.deployment_id})
    return [_record(r, names.get(r.flow_id, "?"), dep_names.get(r.deployment_id)) for r in runs]


def _deployment_names(c: SyncPrefectClient, ids: set[Any]) -> dict[Any, str]:
    if not ids:
        return {}
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deps = c.read_deployments(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=ids)))
    return {d.id: d.name for d in deps}


@dataclass
class DeploymentHealth:
    """What the checks need about one deployment: schedule, last due slot, recent past runs."""

    name: str
    flow: str
    paused: bool
    scheduled: bool  # has at least one active schedule
    last_due: datetime | None  # the latest schedule slot at or before now (UTC), if computable
    past_runs: list[RunRecord] = field(default_factory=list)  # newest first
    # When the deployment was created: slots before it never had a run to miss.
    created: datetime | None = None


def _previous_slot(schedule: Any, now: datetime) -> datetime | None:
    """The latest time at or before ``now`` the schedule fires (cron or interval), UTC."""
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    if isinstance(schedule, CronSchedule):
        from prefect._vendor.croniter import croniter

        tz = ZoneInfo(schedule.timezone or "UTC")
        prev = croniter(schedule.cron, now.astimezone(tz), day_or=schedule.day_or).get_prev(
            datetime
        )
        return as_utc(prev)
    if isinstance(schedule, IntervalSchedule):
        # Plain datetime/seconds arithmetic: Prefect's anchor is a pendulum-style datetime whose
        # difference does not divide by a timedelta.
        anchor = datetime.fromtimestamp(schedule.anchor_date.timestamp(), UTC)
        step = timedelta(seconds=schedule.interval.total_seconds())
        if now < anchor:
            return None
        return anchor + step * int((now - anchor).total_seconds() // step.total_seconds())
    return None  # RRule: not worth a dependency; last-run checks still apply


def deployments_health(
    api_url: str, flows: Sequence[str], now: datetime | None = None, history: int = 10
) -> list[DeploymentHealth]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    now = now or utcnow()
    out: list[DeploymentHealth] = []
    with client(api_url) as c:
        names = _flow_names(c, flows)
        if not names:
            return []
        deps = c.read_deployments(flow_filter=FlowFilter(name=FlowFilterName(any_=list(flows))))
        for d in sorted(deps, key=lambda d: d.name):
            flow = names.get(d.flow_id, "?")
            active = [s for s in d.schedules if s.active]
            slots = [p for s in active if (p := _previous_slot(s.schedule, now)) is not None]
            dep_filter = DeploymentFilter(id=DeploymentFilterId(any_=[d.id]))
            past = c.read_flow_runs(
                deployment_filter=dep_filter,
                flow_run_filter=FlowRunFilter(
                    expected_start_time=FlowRunFilterExpectedStartTime(before_=now)
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                limit=history,
            )
            out.append(
                DeploymentHealth(
                    name=d.name,
                    flow=flow,
                    paused=bool(d.paused),
                    scheduled=bool(active),
                    last_due=max(slots) if slots else None,
                    past_runs=[_record(r, flow, d.name) for r in past],
                    created=as_utc(d.created) if d.created else None,
                )
            )
    return out


def running_runs(api_url: str, flows: Sequence[str]) -> list[RunRecord]:
    """RUNNING runs of ``flows`` with or without a deployment (ad-hoc runs can hang too)."""
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with client(api_url) as c:
        names = _flow_names(c, flows)
        if not names:
            return []
        runs = c.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(flows))),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
            ),
            limit=100,
        )
        dep_names = _deployment_names(c, {r.deployment_id for r in runs if r.deployment_id})
    return [_record(r, names.get(r.flow_id, "?"), dep_names.get(r.deployment_id)) for r in runs]
