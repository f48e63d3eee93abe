"""Prometheus metrics, built with ``prometheus_client`` and shared by ``monitor.py metrics``
(text file for node_exporter's textfile collector) and ``monitor.py serve`` (``GET /metrics``).

Exported: runs per flow/tenant/status, runs in progress, API calls and rows written per dataset
and sink (counters over the whole ``sync_runs`` ledger), the newest run per flow, data lag per
dataset and per account, token expiries per token key, the current findings of ``check``.

40100 throttles come from the ledger's ``counts["api"]["throttled"]`` (written by
flows/sync_run.py; runs recorded before it count 0). The call-latency histogram
``adsync_api_call_duration_seconds`` comes from ``counts["api"]["latency"]``: the Ocean Engine
client times each HTTP call into fixed buckets and each run records its share (flows/context.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from integrations.monitoring.findings import Finding, Severity, overall
from integrations.monitoring.freshness import AccountFreshness
from integrations.monitoring.runs import LedgerTotals, RunRecord
from integrations.monitoring.tokens import TokenInfo

if TYPE_CHECKING:
    from integrations.monitoring.checks import Monitor

# Ledger metrics carry the run's tenant (sync_runs.tenant). Dataset tables have no tenant column
# (an account belongs to one tenant), so dataset freshness is labelled with this one.
TENANT = "default"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _status(r: RunRecord) -> str:
    """One status vocabulary for both sources: success/partial/failed/crashed/cancelled/..."""
    if r.ledger_status and r.source == "ledger":
        return r.ledger_status.lower()
    if r.state == "Partial" or r.ledger_status == "PARTIAL":
        return "partial"
    st = (r.state_type or r.state).lower()
    return {"completed": "success"}.get(st, st)


def _gauge(name: str, doc: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _ledger_counters(totals: LedgerTotals) -> list[Metric]:
    runs = CounterMetricFamily(
        "adsync_runs",
        "Finished runs in the sync_runs ledger by flow, tenant and final status.",
        labels=["flow", "tenant", "status"],
    )
    for (flow, tenant, status), n in sorted(totals.runs.items()):
        runs.add_metric([flow, tenant, status], n)
    running = _gauge(
        "adsync_runs_in_progress",
        "Ledger rows still RUNNING/PENDING (a killed run stays here until its row is closed).",
        ["flow", "tenant"],
    )
    for (flow, tenant), n in sorted(totals.in_progress.items()):
        running.add_metric([flow, tenant], n)
    calls = CounterMetricFamily(
        "adsync_api_calls",
        "Ocean Engine API calls made by finished runs (ledger api_calls).",
        labels=["flow", "tenant"],
    )
    for (flow, tenant), n in sorted(totals.api_calls.items()):
        calls.add_metric([flow, tenant], n)
    throttled = CounterMetricFamily(
        "adsync_api_throttled",
        "Ocean Engine 40100 / HTTP 429 answers in finished runs (each retried by the client).",
        labels=["flow", "tenant"],
    )
    for (flow, tenant), n in sorted(totals.throttled.items()):
        throttled.add_metric([flow, tenant], n)
    rows = CounterMetricFamily(
        "adsync_rows",
        "Rows per dataset and sink by action (inserted/updated = written; unchanged = compared "
        "and left alone), from the ledger's per-sink counts.",
        labels=["flow", "tenant", "dataset", "sink", "action"],
    )
    for (flow, tenant, dataset, sink, action), n in sorted(totals.rows.items()):
        rows.add_metric([flow, tenant, dataset, sink, action], n)
    rejected = CounterMetricFamily(
        "adsync_rows_rejected",
        "Rows the row rules rejected (not written), from the ledger.",
        labels=["flow", "tenant"],
    )
    for (flow, tenant), n in sorted(totals.rejected.items()):
        rejected.add_metric([flow, tenant], n)
    errors = CounterMetricFamily(
        "adsync_sink_errors",
        "Finished runs in which a sink reported an error, per dataset and sink.",
        labels=["flow", "tenant", "dataset", "sink"],
    )
    for (flow, tenant, dataset, sink), n in sorted(totals.sink_errors.items()):
        errors.add_metric([flow, tenant, dataset, sink], n)
    latency = HistogramMetricFamily(
        "adsync_api_call_duration_seconds",
        "Ocean Engine HTTP call durations in finished runs (request sent to response).",
        labels=["flow", "tenant"],
    )
    for (flow, tenant), (bounds, bins, seconds) in sorted(totals.latency.items()):
        cumulative, buckets = 0, []
        for bound, n in zip([*(repr(b) for b in bounds), "+Inf"], bins, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        latency.add_metric([flow, tenant], buckets, seconds)
    return [runs, running, calls, throttled, rows, rejected, errors, latency]


def build(
    runs: Sequence[RunRecord],
    freshness: Sequence[AccountFreshness],
    findings: Sequence[Finding],
    tokens: Sequence[TokenInfo] | None,
    now: datetime,
    prefect_up: bool,
    totals: LedgerTotals | None = None,
) -> list[Metric]:
    last_run = _gauge(
        "adsync_last_run_timestamp_seconds",
        "Start time of the newest run per flow and final status (unix seconds).",
        ["flow", "status"],
    )
    seen: set[tuple[str, str]] = set()
    last_dur = _gauge(
        "adsync_last_run_duration_seconds", "Duration of the newest finished run.", ["flow"]
    )
    last_failed = _gauge(
        "adsync_last_run_accounts_failed",
        "Accounts that failed in the newest finished run.",
        ["flow"],
    )
    done_flows: set[str] = set()
    for r in runs:  # newest first
        t = r.started_at or r.expected_start
        key = (r.flow, _status(r))
        if t and key not in seen:
            seen.add(key)
            last_run.add_metric(list(key), t.timestamp())
        if r.finished_at and r.flow not in done_flows:
            done_flows.add(r.flow)
            if r.duration is not None:
                last_dur.add_metric([r.flow], r.duration.total_seconds())
            if r.accounts_failed is not None:
                last_failed.add_metric([r.flow], r.accounts_failed)

    lag = _gauge(
        "adsync_dataset_lag_days",
        "Days the newest date per account lags the expected (yesterday, China time).",
        ["dataset", "account"],
    )
    latest = _gauge(
        "adsync_dataset_latest_date_timestamp_seconds",
        "Newest report date per dataset and account (midnight UTC of that date).",
        ["dataset", "account"],
    )
    newest: dict[str, AccountFreshness] = {}
    for f in freshness:
        lag.add_metric([f.dataset, f.account], f.lag_days)
        midnight = datetime(f.latest.year, f.latest.month, f.latest.day, tzinfo=UTC)
        latest.add_metric([f.dataset, f.account], midnight.timestamp())
        if f.dataset not in newest or f.latest > newest[f.dataset].latest:
            newest[f.dataset] = f
    ds_lag = _gauge(
        "adsync_dataset_freshness_lag_days",
        "Days the dataset's newest date (any account) lags the expected one; what the "
        "freshness check alerts on.",
        ["dataset", "tenant"],
    )
    for name, f in sorted(newest.items()):
        ds_lag.add_metric([name, TENANT], f.lag_days)

    fnd = _gauge(
        "adsync_findings", "Current findings of `monitor.py check` by severity.", ["severity"]
    )
    for sev in (Severity.WARNING, Severity.CRITICAL):
        fnd.add_metric([sev.label], sum(f.severity is sev for f in findings))
    status = _gauge("adsync_health_status", "Overall health: 0 ok, 1 warning, 2 critical.")
    status.add_metric([], int(overall(findings)))

    tok = _gauge(
        "adsync_refresh_token_expiry_seconds",
        "Seconds until the refresh token expires (negative when expired).",
        ["key"],
    )
    acc = _gauge(
        "adsync_access_token_expiry_seconds",
        "Seconds until the access token expires (refreshed on use; negative when expired).",
        ["key"],
    )
    for t in tokens or []:
        tok.add_metric([t.key], round(t.refresh_left(now).total_seconds()))
        acc.add_metric([t.key], round((t.access_expires_at - now).total_seconds()))

    up = _gauge("adsync_prefect_api_up", "1 when the Prefect API answered /health.")
    up.add_metric([], 1 if prefect_up else 0)
    ts = _gauge("adsync_monitor_last_run_timestamp_seconds", "When these metrics were computed.")
    ts.add_metric([], round(now.timestamp()))
    out: list[Metric] = [last_run, last_dur, last_failed, lag, latest, ds_lag, fnd, status]
    out += [tok, acc, up, ts]
    if totals is not None:
        out += _ledger_counters(totals)
    return out


def collect(m: Monitor) -> list[Metric]:
    """Every metric for one monitor snapshot (the facts ``check`` reads, plus ledger totals)."""
    from integrations.monitoring.checks import run_checks
    from integrations.monitoring.runs import ledger_totals

    findings = run_checks(m)
    ready = m.schema_ready()
    runs = m.recent_runs(200) if ready or m.prefect_up else []
    fresh = m.freshness() if ready else []
    try:
        tokens = m.tokens() if ready else []
    except Exception:  # noqa: BLE001 - reported as a finding by run_checks already
        tokens = []
    totals = ledger_totals(m.engine) if ready else None
    return build(runs, fresh, findings, tokens, m.now, m.prefect_up, totals)


class _Snapshot(Collector):
    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterator[Metric]:
        yield from self._metrics


def render(metrics: Iterable[Metric]) -> str:
    """Prometheus text exposition format 0.0.4 (counters get their ``_total`` suffix)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(metrics))
    return generate_latest(registry).decode("utf-8")


def write_atomic(path: Path, text: str) -> None:
    """Textfile collectors may read at any moment: write a temp file, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
