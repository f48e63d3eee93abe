"""Run history as one record type, read from the ``sync_runs`` ledger (and joined with Prefect).

The ledger is read with SQLAlchemy Core against the schema contract (``tables.sync_runs``): the
monitor only reads, and must keep working when the writer side changes its helpers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, select

from integrations.database.tables import sync_runs
from integrations.monitoring.config import as_utc

Source = Literal["prefect", "ledger"]
# Short names for sink kinds in the 80-column view ("db:<table>", "bitable:<table>").
_SINK_ABBREV = {"db": "db", "bitable": "bt"}


@dataclass
class RunRecord:
    flow: str
    state: str  # Prefect state name (Completed, Failed, Late, ...) or ledger status
    source: Source
    run_id: str | None = None
    run_name: str | None = None
    deployment: str | None = None
    state_type: str | None = None  # Prefect StateType value; None for ledger-only rows
    ledger_status: str | None = None  # SUCCESS/PARTIAL/FAILED/RUNNING from sync_runs
    window_start: date | None = None
    window_end: date | None = None
    expected_start: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    accounts_ok: int | None = None
    accounts_failed: int | None = None
    failed_accounts: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    api_calls: int | None = None
    error: str | None = None
    auto_scheduled: bool | None = None
    # From the ledger row (integrations/tenants.py); None for a Prefect run without one.
    tenant: str | None = None

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def sort_time(self) -> datetime:
        return self.started_at or self.expected_start or datetime.min.replace(tzinfo=UTC)

    def rows_by_kind(self) -> dict[str, int]:
        """Rows synced per sink kind (inserted + updated + unchanged), e.g. {"db": 120, "bt": 120}."""
        out: dict[str, int] = {}
        for sink, c in self.counts.items():
            if not isinstance(c, dict) or ":" not in sink:
                continue  # e.g. the row-rules entry "rows"
            kind = sink.split(":", 1)[0]
            abbrev = _SINK_ABBREV.get(kind, kind[:2])
            n = sum(int(c.get(k) or 0) for k in ("inserted", "updated", "unchanged"))
            out[abbrev] = out.get(abbrev, 0) + n
        return dict(sorted(out.items(), key=lambda kv: (kv[0] != "db", kv[0])))  # db first

    def rows_detail(self) -> dict[str, dict[str, int]]:
        """Per sink kind: inserted, updated and unchanged rows, kept apart (db first)."""
        out: dict[str, dict[str, int]] = {}
        for sink, c in self.counts.items():
            if not isinstance(c, dict) or ":" not in sink:
                continue  # e.g. the row-rules entry "rows"
            kind = sink.split(":", 1)[0]
            d = out.setdefault(
                _SINK_ABBREV.get(kind, kind[:2]), {"inserted": 0, "updated": 0, "unchanged": 0}
            )
            for k in d:
                d[k] += int(c.get(k) or 0)
        return dict(sorted(out.items(), key=lambda kv: (kv[0] != "db", kv[0])))

    def sink_errors(self) -> list[str]:
        return [
            f"{sink}: {c['error']}"
            for sink, c in self.counts.items()
            if isinstance(c, dict) and c.get("error")
        ]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            k: v.isoformat() if isinstance(v, date | datetime) else v
            for k, v in self.__dict__.items()
        }
        d["duration_s"] = self.duration.total_seconds() if self.duration else None
        d["rows"] = self.rows_by_kind()
        d["rows_detail"] = self.rows_detail()
        return d


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default  # a hand-edited or truncated cell must not break the monitor


def _from_ledger_row(r: Any) -> RunRecord:
    return RunRecord(
        flow=r.flow,
        state=r.status,
        source="ledger",
        run_id=r.run_id,
        ledger_status=r.status,
        window_start=r.window_start,
        window_end=r.window_end,
        started_at=as_utc(r.started_at) if r.started_at else None,
        finished_at=as_utc(r.finished_at) if r.finished_at else None,
        accounts_ok=r.accounts_ok,
        accounts_failed=r.accounts_failed,
        failed_accounts=_json(r.failed_accounts, []),
        counts=_json(r.counts, {}),
        api_calls=r.api_calls,
        error=r.error,
        tenant=r.tenant,
    )


def ledger_runs(
    engine: Engine,
    limit: int | None = 20,
    flows: Sequence[str] | None = None,
    since: datetime | None = None,
) -> list[RunRecord]:
    """Newest first. ``since`` is aware or naive-UTC (the ledger stores naive UTC)."""
    q = select(sync_runs).order_by(sync_runs.c.started_at.desc(), sync_runs.c.id.desc())
    if flows:
        q = q.where(sync_runs.c.flow.in_(list(flows)))
    if since is not None:
        q = q.where(sync_runs.c.started_at >= as_utc(since).replace(tzinfo=None))
    if limit is not None:
        q = q.limit(limit)
    with engine.connect() as conn:
        return [_from_ledger_row(r) for r in conn.execute(q)]


def ledger_by_run_id(engine: Engine, run_ids: Sequence[str]) -> dict[str, RunRecord]:
    if not run_ids:
        return {}
    q = select(sync_runs).where(sync_runs.c.run_id.in_(list(run_ids)))
    with engine.connect() as conn:
        return {r.run_id: _from_ledger_row(r) for r in conn.execute(q)}


def join_ledger(prefect_runs: list[RunRecord], ledger: dict[str, RunRecord]) -> list[RunRecord]:
    """Fill accounts/rows/window from the ledger row written by the same flow run."""
    out = []
    for run in prefect_runs:
        lr = ledger.get(run.run_id or "")
        if lr is None:
            out.append(run)
            continue
        out.append(
            replace(
                run,
                ledger_status=lr.ledger_status,
                window_start=run.window_start or lr.window_start,
                window_end=run.window_end or lr.window_end,
                accounts_ok=lr.accounts_ok,
                accounts_failed=lr.accounts_failed,
                failed_accounts=lr.failed_accounts,
                counts=lr.counts,
                api_calls=lr.api_calls,
                error=run.error or lr.error,
                tenant=lr.tenant,
            )
        )
    return out


# Sink counts that are rows (``counts["db:<table>"]["inserted"]`` ...): written = inserted +
# updated; unchanged rows were compared and left alone.
ROW_ACTIONS = ("inserted", "updated", "unchanged")
_FINAL = ("SUCCESS", "PARTIAL", "FAILED")


@dataclass
class LedgerTotals:
    """Counters over the whole ``sync_runs`` ledger (monotonic while rows are only added), keyed
    by (flow, tenant) first: one tenant's failures and volume never hide in another's."""

    runs: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (flow, tenant, status)
    in_progress: Counter[tuple[str, str]] = field(default_factory=Counter)  # RUNNING/PENDING rows
    api_calls: Counter[tuple[str, str]] = field(default_factory=Counter)  # → calls
    rows: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)
    # (flow, tenant, dataset, sink kind, action)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # rows rejected by rules
    throttled: Counter[tuple[str, str]] = field(default_factory=Counter)  # 40100/429 answers
    sink_errors: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    # (flow, tenant, dataset, sink kind) → runs whose sink reported an error
    # (flow, tenant) → Ocean Engine call-latency histogram summed over runs: (bounds, calls per
    # bin with +Inf last, seconds); runs recorded before it, or with other bounds, are left out
    latency: dict[tuple[str, str], tuple[tuple[float, ...], list[int], float]] = field(
        default_factory=dict
    )


def _add_latency(
    into: dict[tuple[str, str], tuple[tuple[float, ...], list[int], float]],
    flow: tuple[str, str],
    h: Any,
) -> None:
    """Add one run's latency histogram (flows/context.py) to its flow's; skip malformed ones."""
    if not isinstance(h, dict):
        return
    le, bins, seconds = h.get("le"), h.get("bins"), h.get("seconds")
    if not (isinstance(le, list) and isinstance(bins, list) and len(bins) == len(le) + 1):
        return
    bounds = tuple(float(x) for x in le)
    have = into.get(flow)
    if have is None:
        into[flow] = (bounds, [int(x) for x in bins], float(seconds or 0))
    elif have[0] == bounds:
        into[flow] = (
            bounds,
            [a + int(b) for a, b in zip(have[1], bins, strict=True)],
            have[2] + float(seconds or 0),
        )


def ledger_totals(engine: Engine) -> LedgerTotals:
    """One pass over the ledger (a few rows per flow per day: years fit in memory)."""
    c = sync_runs.c
    out = LedgerTotals()
    q = select(c.flow, c.tenant, c.status, c.counts, c.api_calls)
    with engine.connect() as conn:
        for flow_name, tenant, status, counts_text, calls in conn.execute(q):
            key = (flow_name, tenant or "default")
            if status not in _FINAL:
                out.in_progress[key] += 1
                continue
            out.runs[(*key, status.lower())] += 1
            out.api_calls[key] += int(calls or 0)
            counts = _json(counts_text, {})
            if not isinstance(counts, dict):
                continue
            for sink, n in counts.items():
                if not isinstance(n, dict):
                    continue
                if sink == "api":  # flows/sync_run.py; older rows have none (counted 0)
                    out.throttled[key] += int(n.get("throttled") or 0)
                    _add_latency(out.latency, key, n.get("latency"))
                    continue
                if sink in ("rows", "db:row_rules"):  # the row rules' entry (old and new key)
                    out.rejected[key] += int(n.get("rejected") or 0)
                    continue
                if ":" not in sink:
                    continue
                kind, dataset = sink.split(":", 1)
                for action in ROW_ACTIONS:
                    if action in n:
                        out.rows[(*key, dataset, kind, action)] += int(n.get(action) or 0)
                if n.get("error"):
                    out.sink_errors[(*key, dataset, kind)] += 1
    return out
