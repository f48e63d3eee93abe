"""All health checks: each returns findings; a check that cannot run is itself a finding.

Severity policy (what an operator must do, and how soon):
- CRITICAL: last night's data is not (all) there or cannot be trusted — a scheduled run missing,
  failed or crashed; no completed run in ``max_success_age_h`` (ledger fallback); a dataset behind
  the expected date; duplicate keys in Bitable; an expired refresh token; a run hung past the
  timeout; the database unreadable.
- WARNING: something degrades soon or partly — a Partial run (good accounts were written, the
  failed ones are named), a cancelled run, one account missing or with far fewer rows than usual,
  a refresh token expiring within ``token_warn_days``, Prefect configured but unreachable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, inspect

from integrations.monitoring import freshness as fr
from integrations.monitoring import prefect_source as ps
from integrations.monitoring.config import KNOWN_FLOWS, MonitorSettings, expected_latest_date
from integrations.monitoring.findings import Finding, Severity
from integrations.monitoring.render import duration
from integrations.monitoring.runs import RunRecord, join_ledger, ledger_by_run_id, ledger_runs
from integrations.monitoring.tokens import TokenInfo, token_statuses
from integrations.settings import ConfigError, Settings

C, W = Severity.CRITICAL, Severity.WARNING
_TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
_NOT_STARTED = ("SCHEDULED", "PENDING")
MAX_MESSAGE = 180


def _short(text: str | None, n: int = MAX_MESSAGE) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass
class Monitor:
    """Everything the checks read, resolved once per invocation."""

    settings: Settings
    mon: MonitorSettings
    engine: Engine
    now: datetime
    prefect_url: str | None = None  # configured Prefect API (may be down)
    prefect_up: bool = False
    lark_client: Any | None = None  # injected in tests; built from settings otherwise
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # --- shared facts -------------------------------------------------------------------------
    @property
    def source(self) -> str:
        return "prefect" if self.prefect_up else "ledger"

    @property
    def tz(self) -> Any:
        return self.settings.tz

    @property
    def expected(self) -> Any:
        return expected_latest_date(self.tz, self.now)

    def prefect_flows(self) -> list[str]:
        return list(self.mon.flows or KNOWN_FLOWS)

    def ledger_flows(self) -> list[str]:
        """Configured flows, else those seen in the ledger in the last 30 days."""
        if self.mon.flows:
            return list(self.mon.flows)
        if "ledger_flows" not in self._cache:
            seen = ledger_runs(self.engine, None, since=self.now - timedelta(days=30))
            self._cache["ledger_flows"] = sorted({r.flow for r in seen})
        return self._cache["ledger_flows"]

    def schema_ready(self) -> bool:
        if "schema" not in self._cache:
            self._cache["schema"] = inspect(self.engine).has_table("sync_runs")
        return self._cache["schema"]

    def recent_runs(self, limit: int) -> list[RunRecord]:
        """Last ``limit`` runs: Prefect (joined with the ledger) when up, else the ledger."""
        if self.prefect_up and self.prefect_url:
            runs = ps.recent_runs(self.prefect_url, self.prefect_flows(), limit, self.now)
            ids = [r.run_id for r in runs if r.run_id]
            return join_ledger(runs, ledger_by_run_id(self.engine, ids) if ids else {})
        flows = self.mon.flows or None
        return ledger_runs(self.engine, limit, flows=flows)

    def tokens(self) -> list[TokenInfo]:
        if "tokens" not in self._cache:
            self._cache["tokens"] = token_statuses(self.settings, self.engine)
        return self._cache["tokens"]

    def freshness(self) -> list[fr.AccountFreshness]:
        if "freshness" not in self._cache:
            names = fr.account_names(self.engine, self.settings.accounts)
            self._cache["freshness"] = fr.latest_dates(self.engine, self.expected, names)
        return self._cache["freshness"]


# --- run checks ---------------------------------------------------------------------------------


def _fmt_time(m: Monitor, dt: datetime | None) -> str:
    return dt.astimezone(m.tz).strftime("%m-%d %H:%M") if dt else "?"


def _run_failure(m: Monitor, where: str, run: RunRecord) -> Finding | None:
    """A finished run that did not complete cleanly → finding (None for Completed)."""
    st = run.state_type or ""
    detail = run.error or ""
    if run.failed_accounts and not detail:
        # The flows' error already names failed accounts; otherwise list them from the ledger.
        names = ", ".join(str(a.get("account_id")) for a in run.failed_accounts[:5])
        detail = f"failed accounts: {names}"
    when = _fmt_time(m, run.started_at or run.expected_start)
    what = f"last run ({when}) {run.state}"
    if detail:
        what += f": {_short(detail)}"
    if st == "FAILED" and run.state == "Partial":
        return Finding(W, "run", where, what, "rerun the flow for the window once fixed")
    if st in ("FAILED", "CRASHED"):
        return Finding(C, "run", where, what, "see the run's logs in the Prefect UI, then rerun")
    if st == "CANCELLED":
        return Finding(W, "run", where, what, "rerun the flow for the window")
    return None


def check_runs_prefect(m: Monitor) -> list[Finding]:
    assert m.prefect_url
    out: list[Finding] = []
    grace = timedelta(minutes=m.mon.late_grace_min)
    for d in ps.deployments_health(m.prefect_url, m.prefect_flows(), m.now):
        where = f"deployment {d.flow}/{d.name}"
        if d.paused:
            out.append(Finding(W, "run", where, "deployment is paused", "resume it in the UI"))
        if d.scheduled and not d.paused and d.last_due and m.now - d.last_due > grace:
            slot = [r for r in d.past_runs if r.expected_start and r.expected_start >= d.last_due]
            due = _fmt_time(m, d.last_due)
            if not slot:
                out.append(
                    Finding(
                        C,
                        "run",
                        where,
                        f"missing: no run for the scheduled {due} start",
                        "check the Prefect scheduler and that a worker/serve process is up",
                    )
                )
            elif all(r.state_type in _NOT_STARTED for r in slot):
                out.append(
                    Finding(
                        C,
                        "run",
                        where,
                        f"missing: the scheduled {due} run has not started ({slot[0].state})",
                        "start a worker/serve process for this deployment",
                    )
                )
        finished = [r for r in d.past_runs if r.state_type in _TERMINAL]
        if finished:
            last = finished[0]
            ledger = ledger_by_run_id(m.engine, [last.run_id]) if last.run_id else {}
            last = join_ledger([last], ledger)[0]
            if (f := _run_failure(m, where, last)) is not None:
                out.append(f)
    return out


def check_runs_ledger(m: Monitor) -> list[Finding]:
    out: list[Finding] = []
    max_age = timedelta(hours=m.mon.max_success_age_h)
    runs = ledger_runs(m.engine, None, flows=m.ledger_flows(), since=m.now - timedelta(days=30))
    if not runs and not m.mon.flows:
        return [Finding(W, "run", "sync_runs", "no runs recorded in the last 30 days")]
    for flow in m.ledger_flows():
        mine = [r for r in runs if r.flow == flow]
        where = f"flow {flow}"
        done = [r for r in mine if r.ledger_status in ("SUCCESS", "PARTIAL")]
        recent_done = [r for r in done if r.started_at and m.now - r.started_at <= max_age]
        last = next((r for r in mine if r.ledger_status not in ("RUNNING", "PENDING")), None)
        if not recent_done:
            age = f"{m.mon.max_success_age_h:g} h"
            tail = f" (last: {last.state} {_fmt_time(m, last.started_at)}" if last else ""
            if last and last.error:
                tail += f": {_short(last.error, 100)}"
            tail += ")" if last else ""
            out.append(
                Finding(
                    C,
                    "run",
                    where,
                    f"no successful run in the last {age}{tail}",
                    "check the scheduler/worker and the flow's logs",
                )
            )
            continue
        if last is None:
            continue
        # Map ledger statuses onto the Prefect vocabulary so one policy applies.
        state, st = {"PARTIAL": ("Partial", "FAILED"), "FAILED": ("Failed", "FAILED")}.get(
            last.ledger_status or "", (last.state, "COMPLETED")
        )
        as_prefect = RunRecord(**{**last.__dict__, "state": state, "state_type": st})
        if (f := _run_failure(m, where, as_prefect)) is not None:
            out.append(f)
    return out


def check_hung_runs(m: Monitor) -> list[Finding]:
    timeout = timedelta(hours=m.mon.run_timeout_h)
    if m.prefect_up and m.prefect_url:
        running = ps.running_runs(m.prefect_url, m.prefect_flows())
    else:
        # Only each flow's newest ledger row: a row left RUNNING by a killed process is
        # superseded by the next run instead of alerting forever.
        newest: dict[str, RunRecord] = {}
        for r in ledger_runs(m.engine, 200, flows=m.ledger_flows()):
            newest.setdefault(r.flow, r)
        running = [r for r in newest.values() if r.ledger_status in ("RUNNING", "PENDING")]
    out = []
    for r in running:
        if r.started_at and m.now - r.started_at > timeout:
            where = f"flow {r.flow}" + (f" run {r.run_name}" if r.run_name else "")
            out.append(
                Finding(
                    C,
                    "running",
                    where,
                    f"RUNNING for {duration(m.now - r.started_at)} (timeout {duration(timeout)}), "
                    f"started {_fmt_time(m, r.started_at)}",
                    "inspect the run; cancel it if hung, then rerun",
                )
            )
    return out


# --- data checks --------------------------------------------------------------------------------


def check_freshness(m: Monitor) -> list[Finding]:
    out: list[Finding] = []
    rows = m.freshness()
    by_ds: dict[str, list[fr.AccountFreshness]] = {}
    for r in rows:
        by_ds.setdefault(r.dataset, []).append(r)
    exp = m.expected
    for spec in fr.DATASETS:
        accounts = by_ds.get(spec.name)
        if not accounts:
            continue  # dataset not synced in this setup
        latest = max(a.latest for a in accounts)
        if latest < exp:
            lag = (exp - latest).days
            out.append(
                Finding(
                    C,
                    "freshness",
                    f"dataset {spec.name}",
                    f"stale: latest date {latest}, expected {exp} ({lag} day(s) behind)",
                    "run the flow / backfill the missing dates",
                )
            )
            continue  # per-account findings would only repeat this
        if not spec.per_account_checks:
            continue
        first = exp - timedelta(days=m.mon.volume_days)
        counts = fr.daily_counts(m.engine, spec, first, exp)
        names = {a.account: a.account_name for a in accounts}
        for account, last_day in fr.disappeared(counts, exp, m.mon.volume_days).items():
            label = f"{account} {names.get(account, '')}".strip()
            out.append(
                Finding(
                    W,
                    "volume",
                    f"{spec.name} account {label}",
                    f"account disappeared: no rows for {exp} (present on {last_day})",
                    "check the account's authorisation and the run's failed accounts",
                )
            )
        for v in fr.volume_anomalies(spec.name, counts, exp, m.mon.volume_days, m.mon.volume_ratio):
            label = f"{v.account} {names.get(v.account, '')}".strip()
            out.append(
                Finding(
                    W,
                    "volume",
                    f"{spec.name} account {label}",
                    f"{v.rows} rows on {v.day}, below {m.mon.volume_ratio:g} × the trailing "
                    f"{m.mon.volume_days}-day median ({v.median:g})",
                    "compare with the Ocean Engine console; rerun the day if it was cut short",
                )
            )
    return out


def check_tokens(m: Monitor) -> list[Finding]:
    out = []
    warn = timedelta(days=m.mon.token_warn_days)
    for t in m.tokens():
        left = t.refresh_left(m.now)
        where = f"token {t.key}"
        exp = _fmt_time(m, t.refresh_expires_at)
        if left <= timedelta(0):
            out.append(
                Finding(
                    C,
                    "token",
                    where,
                    f"refresh token expired at {exp}",
                    "re-authorise the app in Ocean Engine and `adsync tokens import`",
                )
            )
        elif left <= warn:
            out.append(
                Finding(
                    W,
                    "token",
                    where,
                    f"refresh token expires in {left.total_seconds() / 86400:.1f} days ({exp})",
                    "re-authorise before it expires",
                )
            )
    return out


def check_bitable(m: Monitor) -> list[Finding]:
    from integrations.monitoring.bitable import scan_duplicates

    s = m.settings
    if not m.mon.bitable_check or not (s.feishu_app_token and s.feishu_app_id):
        return []  # Bitable not configured here: nothing to check
    from integrations.feishu.capacity import DEFAULT_RECORD_CAP as cap

    out = []
    for d in scan_duplicates(s, m.lark_client):
        if d.records >= 0.8 * cap:  # Feishu's record cap per table (1254103)
            out.append(
                Finding(
                    W,
                    "bitable",
                    f"table {d.table_name} ({d.table_id})",
                    f"{d.records:,} records, {d.records / cap:.0%} of Feishu's {cap:,} cap",
                    f"set bitable_tables.{d.dataset}.rotate or retention_days before it fills",
                )
            )
        if not d.duplicates:
            continue
        sample = ", ".join(list(d.duplicates)[:3])
        out.append(
            Finding(
                C,
                "bitable",
                f"table {d.table_name} ({d.table_id})",
                f"{len(d.duplicates)} duplicate business key(s), {d.extra_records} extra "
                f"record(s); e.g. {sample}",
                "rerun the dataset's flow: its reconcile deletes duplicates",
            )
        )
    return out


# --- orchestration ------------------------------------------------------------------------------


def _guard(name: str, where: str, sev: Severity, fn: Callable[[Monitor], list[Finding]]):
    def run(m: Monitor) -> list[Finding]:
        try:
            return fn(m)
        except ConfigError as e:
            return [Finding(sev, name, where, f"misconfigured: {e}")]
        except Exception as e:  # noqa: BLE001 - one broken source must not hide the others
            msg = _short(f"{type(e).__name__}: {e}", 200)
            return [Finding(sev, name, where, f"check could not run: {msg}")]

    return run


def run_checks(m: Monitor) -> list[Finding]:
    if not m.schema_ready():
        return [
            Finding(
                C,
                "database",
                "app database",
                "not initialised (no sync_runs table)",
                "run `adsync db upgrade`",
            )
        ]
    findings: list[Finding] = []
    if m.prefect_url and not m.prefect_up:
        findings.append(
            Finding(
                W,
                "prefect",
                m.prefect_url,
                "Prefect API not reachable; run checks fell back to the sync_runs ledger",
                "start `prefect server start` (or check PREFECT_API_URL)",
            )
        )
    run_check = check_runs_prefect if m.prefect_up else check_runs_ledger
    checks = [
        _guard("run", m.source, C, run_check),
        _guard("running", m.source, C, check_hung_runs),
        _guard("freshness", "app database", C, check_freshness),
        _guard("token", "token store", W, check_tokens),
        _guard("bitable", "Feishu", W, check_bitable),
    ]
    for check in checks:
        findings.extend(check(m))
    return findings
