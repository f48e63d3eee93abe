"""Prometheus text exposition (format 0.0.4) for node_exporter's textfile collector."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from integrations.monitoring.findings import Finding, Severity, overall
from integrations.monitoring.freshness import AccountFreshness
from integrations.monitoring.runs import RunRecord
from integrations.monitoring.tokens import TokenInfo


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(v: float) -> str:
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


@dataclass
class Metric:
    name: str
    help: str
    type: str = "gauge"
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((labels, value))

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.type}"]
        for labels, value in self.samples:
            lab = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
            lines.append(
                f"{self.name}{{{lab}}} {_num(value)}" if lab else f"{self.name} {_num(value)}"
            )
        return lines


def _status(r: RunRecord) -> str:
    """One status vocabulary for both sources: success/partial/failed/crashed/cancelled/..."""
    if r.ledger_status and r.source == "ledger":
        return r.ledger_status.lower()
    if r.state == "Partial" or r.ledger_status == "PARTIAL":
        return "partial"
    st = (r.state_type or r.state).lower()
    return {"completed": "success"}.get(st, st)


def build(
    runs: Sequence[RunRecord],
    freshness: Sequence[AccountFreshness],
    findings: Sequence[Finding],
    tokens: Sequence[TokenInfo] | None,
    now: datetime,
    prefect_up: bool,
) -> list[Metric]:
    last_run = Metric(
        "adsync_last_run_timestamp_seconds",
        "Start time of the newest run per flow and final status (unix seconds).",
    )
    seen: set[tuple[str, str]] = set()
    last_dur = Metric("adsync_last_run_duration_seconds", "Duration of the newest finished run.")
    last_failed = Metric(
        "adsync_last_run_accounts_failed", "Accounts that failed in the newest finished run."
    )
    done_flows: set[str] = set()
    for r in runs:  # newest first
        t = r.started_at or r.expected_start
        key = (r.flow, _status(r))
        if t and key not in seen:
            seen.add(key)
            last_run.add(t.timestamp(), flow=r.flow, status=key[1])
        if r.finished_at and r.flow not in done_flows:
            done_flows.add(r.flow)
            if r.duration is not None:
                last_dur.add(r.duration.total_seconds(), flow=r.flow)
            if r.accounts_failed is not None:
                last_failed.add(r.accounts_failed, flow=r.flow)

    lag = Metric("adsync_dataset_lag_days", "Days the newest date lags the expected (yesterday).")
    latest = Metric(
        "adsync_dataset_latest_date_timestamp_seconds",
        "Newest report date per dataset and account (midnight UTC of that date).",
    )
    for f in freshness:
        lag.add(f.lag_days, dataset=f.dataset, account=f.account)
        midnight = datetime(f.latest.year, f.latest.month, f.latest.day, tzinfo=UTC)
        latest.add(midnight.timestamp(), dataset=f.dataset, account=f.account)

    fnd = Metric("adsync_findings", "Current findings of `monitor.py check` by severity.")
    for sev in (Severity.WARNING, Severity.CRITICAL):
        fnd.add(sum(f.severity is sev for f in findings), severity=sev.label)
    status = Metric("adsync_health_status", "Overall health: 0 ok, 1 warning, 2 critical.")
    status.add(int(overall(findings)))

    tok = Metric(
        "adsync_refresh_token_expiry_seconds",
        "Seconds until the refresh token expires (negative when expired).",
    )
    for t in tokens or []:
        tok.add(round(t.refresh_left(now).total_seconds()), key=t.key)

    up = Metric("adsync_prefect_api_up", "1 when the Prefect API answered /health.")
    up.add(1 if prefect_up else 0)
    ts = Metric("adsync_monitor_last_run_timestamp_seconds", "When these metrics were computed.")
    ts.add(round(now.timestamp()))
    return [last_run, last_dur, last_failed, lag, latest, fnd, status, tok, up, ts]


def render(metrics: Iterable[Metric]) -> str:
    return "\n".join(line for m in metrics for line in m.render()) + "\n"


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
