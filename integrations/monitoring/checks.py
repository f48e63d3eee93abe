"""All health checks: each returns findings; a check that cannot run is itself a finding.

Severity policy (what an operator must do, and how soon):
- CRITICAL: last night's data is not (all) there or cannot be trusted — a scheduled run missing,
  failed or crashed; no completed run in ``max_success_age_h`` (ledger fallback); a dataset behind
  the expected date; duplicate keys in Bitable; an expired refresh token; a run hung past the
  timeout; the database unreadable.
- WARNING: something degrades soon or partly — a Partial run (good accounts were written, the
  failed ones are named), a cancelled run, one account missing or with far fewer rows than usual,
  a refresh token expiring within ``token_warn_days``, Prefect configured but unreachable.

Runs come from one list (:meth:`Monitor.all_runs`): every Prefect run of the watched flows,
deployment or not (an ``adsync run`` from a terminal counts), joined with its ledger row, plus
ledger rows Prefect does not know. The newest finished run of each flow decides its run finding,
so a successful rerun from anywhere clears an earlier failure, and a run Prefect recorded as failed
before it wrote a ledger row is still seen. Ledger mode sees what the ledger holds; flows write a
FAILED row for a failure before their regular row (flows/sync_run.py).

Completeness: an account whose listing did not add up (rows received vs the API's ``page_info``
total, repeated keys, a malformed page) is failed by the flow with an "incomplete listing" reason
in the ledger's ``failed_accounts``; rows rejected by the row rules are counted in the ledger's
``counts["rows"]``. The monitor reads both from the newest run of each flow. Every finding ends
with the command that fixes or reruns it (integrations/monitoring/commands.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, inspect

from integrations.monitoring import commands as cmd
from integrations.monitoring import freshness as fr
from integrations.monitoring import prefect_source as ps
from integrations.monitoring.config import (
    KNOWN_FLOWS,
    MonitorSettings,
    china_today,
    expected_latest_date,
)
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

    @property
    def today(self) -> Any:
        return china_today(self.tz, self.now)

    def recent_runs(self, limit: int) -> list[RunRecord]:
        """Last ``limit`` runs, newest first, from the one run list (see :meth:`all_runs`)."""
        return self.all_runs(limit)

    def all_runs(self, limit: int = 200) -> list[RunRecord]:
        """Every run of the watched flows, newest first: Prefect runs of any origin (deployment
        or not) joined with their ledger rows, plus ledger rows Prefect does not know (a run
        outside Prefect, another Prefect server). Ledger only when Prefect is not up."""
        key = f"runs:{limit}"
        if key in self._cache:
            return self._cache[key]
        if self.prefect_up and self.prefect_url:
            runs = ps.recent_runs(self.prefect_url, self.prefect_flows(), limit, self.now)
            ids = [r.run_id for r in runs if r.run_id]
            runs = join_ledger(runs, ledger_by_run_id(self.engine, ids) if ids else {})
            known = set(ids)
            oldest = min((r.sort_time for r in runs), default=None)
            since = self.now - timedelta(days=30)
            ledger_only = [
                r
                for r in ledger_runs(self.engine, limit, flows=self.prefect_flows(), since=since)
                if r.run_id not in known and (oldest is None or r.sort_time >= oldest)
            ]
            runs = sorted([*runs, *ledger_only], key=lambda r: r.sort_time, reverse=True)[:limit]
        else:
            runs = ledger_runs(self.engine, limit, flows=self.mon.flows or None)
        self._cache[key] = runs
        return runs

    def tokens(self) -> list[TokenInfo]:
        if "tokens" not in self._cache:
            self._cache["tokens"] = token_statuses(self.settings, self.engine)
        return self._cache["tokens"]

    def freshness(self) -> list[fr.AccountFreshness]:
        if "freshness" not in self._cache:
            names = fr.account_names(self.engine, self.settings.accounts)
            # Rows dated after today are bad data (own finding): they must not make a dataset
            # look fresh forever.
            self._cache["freshness"] = fr.latest_dates(
                self.engine, self.expected, names, until=self.today
            )
        return self._cache["freshness"]


# --- run checks ---------------------------------------------------------------------------------


def _fmt_time(m: Monitor, dt: datetime | None) -> str:
    return dt.astimezone(m.tz).strftime("%m-%d %H:%M") if dt else "?"


def _as_prefect(run: RunRecord) -> RunRecord:
    """A ledger-only row in Prefect's vocabulary, so one policy applies to both."""
    if run.state_type is not None:
        return run
    state, st = {
        "SUCCESS": ("Completed", "COMPLETED"),
        "PARTIAL": ("Partial", "FAILED"),
        "FAILED": ("Failed", "FAILED"),
        "RUNNING": ("Running", "RUNNING"),
        "PENDING": ("Pending", "PENDING"),
    }.get(run.ledger_status or "", (run.state, None))
    return replace(run, state=state, state_type=st)


def _rerun(run: RunRecord, accounts: bool = False) -> str:
    ids = [a.get("account_id") for a in run.failed_accounts] if accounts else []
    return cmd.rerun(run.flow, run.window_start, run.window_end, ids)


def _run_failure(m: Monitor, where: str, run: RunRecord) -> Finding | None:
    """A finished run that did not complete cleanly → finding (None for Completed)."""
    run = _as_prefect(run)
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
        return Finding(W, "run", where, what, "once fixed: " + _rerun(run, accounts=True))
    if st in ("FAILED", "CRASHED"):
        return Finding(C, "run", where, what, "see the run's logs, then: " + _rerun(run))
    if st == "CANCELLED":
        return Finding(W, "run", where, what, _rerun(run))
    return None


def _run_where(run: RunRecord) -> str:
    if run.deployment:
        return f"deployment {run.flow}/{run.deployment}"
    if run.source == "prefect":
        return f"flow {run.flow} (run without deployment)"
    return f"flow {run.flow}"


def _newest_finished(m: Monitor) -> dict[str, RunRecord]:
    """Per flow, the newest run that reached a terminal state (any origin)."""
    out: dict[str, RunRecord] = {}
    for r in m.all_runs():
        r = _as_prefect(r)
        if r.state_type in _TERMINAL:
            out.setdefault(r.flow, r)
    return out


def check_runs_prefect(m: Monitor) -> list[Finding]:
    assert m.prefect_url
    out: list[Finding] = []
    grace = timedelta(minutes=m.mon.late_grace_min)
    for d in ps.deployments_health(m.prefect_url, m.prefect_flows(), m.now):
        where = f"deployment {d.flow}/{d.name}"
        if d.paused:
            out.append(Finding(W, "run", where, "deployment is paused", "resume it in the UI"))
        # A slot before the deployment existed never had a run to miss.
        born_after = d.created is not None and d.last_due is not None and d.last_due < d.created
        if (
            d.scheduled
            and not d.paused
            and d.last_due
            and not born_after
            and m.now - d.last_due > grace
        ):
            slot = [r for r in d.past_runs if r.expected_start and r.expected_start >= d.last_due]
            due = _fmt_time(m, d.last_due)
            if not slot:
                out.append(
                    Finding(
                        C,
                        "run",
                        where,
                        f"missing: no run for the scheduled {due} start",
                        "start a worker (prefect worker start --pool adsync) or adsync serve, "
                        f"then: {cmd.run_deployment(d.flow, d.name)}",
                    )
                )
            elif all(r.state_type in _NOT_STARTED for r in slot):
                out.append(
                    Finding(
                        C,
                        "run",
                        where,
                        f"missing: the scheduled {due} run has not started ({slot[0].state})",
                        "start a worker: prefect worker start --pool adsync (or adsync serve)",
                    )
                )
    # One run finding per flow, from its newest finished run of any origin: a failed terminal
    # `adsync run` counts, and a successful rerun from anywhere clears an earlier failure.
    for _flow, last in sorted(_newest_finished(m).items()):
        if (f := _run_failure(m, _run_where(last), last)) is not None:
            out.append(f)
    return out


def _flow_tenants(flows: list[str], runs: list[RunRecord]) -> list[tuple[str, str | None]]:
    """(flow, tenant) pairs that have runs; (flow, None) for a watched flow with none."""
    out: list[tuple[str, str | None]] = []
    for flow in flows:
        seen = sorted({r.tenant or "default" for r in runs if r.flow == flow})
        out += [(flow, t) for t in seen] or [(flow, None)]
    return out


def check_runs_ledger(m: Monitor) -> list[Finding]:
    out: list[Finding] = []
    max_age = timedelta(hours=m.mon.max_success_age_h)
    runs = ledger_runs(m.engine, None, flows=m.ledger_flows(), since=m.now - timedelta(days=30))
    if not runs and not m.mon.flows:
        return [Finding(W, "run", "sync_runs", "no runs recorded in the last 30 days")]
    # Per flow and tenant: one tenant's success must not hide another tenant's failure.
    several = len({r.tenant for r in runs}) > 1
    for flow, tenant in _flow_tenants(m.ledger_flows(), runs):
        mine = [r for r in runs if r.flow == flow and (tenant is None or r.tenant == tenant)]
        where = f"flow {flow}" + (
            f" tenant {tenant}" if tenant is not None and (several or tenant != "default") else ""
        )
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
                    "check the scheduler/worker, then: "
                    + (_rerun(last) if last else cmd.rerun(flow)),
                )
            )
            continue
        if last is None:
            continue
        if (f := _run_failure(m, where, last)) is not None:
            out.append(f)
    return out


def check_hung_runs(m: Monitor) -> list[Finding]:
    timeout = timedelta(hours=m.mon.run_timeout_h)
    if m.prefect_up and m.prefect_url:
        # A run killed with its process stays RUNNING in Prefect forever; once a newer run of
        # the same flow completed, it is history, not an alert.
        done = {
            r.flow: r.sort_time
            for r in reversed(m.all_runs())
            if _as_prefect(r).state_type == "COMPLETED"
        }
        running = [
            r
            for r in ps.running_runs(m.prefect_url, m.prefect_flows())
            if not (r.flow in done and done[r.flow] > r.sort_time)
        ]
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
                    (cmd.cancel(r.run_id) + ", then: " if r.source == "prefect" else "if hung: ")
                    + _rerun(r),
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
                    cmd.rerun(_flow_of(spec.name), latest + timedelta(days=1), exp),
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
                    "check its authorisation, then: "
                    + cmd.rerun(_flow_of(spec.name), last_day + timedelta(days=1), exp, [account]),
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
                    "if the console shows more: "
                    + cmd.rerun(_flow_of(spec.name), v.day, v.day, [v.account]),
                )
            )
    return out


def _flow_of(dataset: str) -> str:
    return cmd.DATASET_FLOW.get(dataset, dataset)


def never_synced(m: Monitor) -> dict[str, dict[str, str]]:
    """dataset → {account: name} for accounts the account list knows (or the settings name)
    that have no row at all in it."""
    rows = m.freshness()
    out: dict[str, dict[str, str]] = {}
    for spec in fr.DATASETS:
        if not spec.per_account_checks:
            continue
        have = {r.account for r in rows if r.dataset == spec.name}
        never = fr.never_synced(m.engine, spec, have, m.settings.accounts)
        if never:
            out[spec.name] = never
    return out


def check_never_synced(m: Monitor) -> list[Finding]:
    out = []
    for dataset, never in never_synced(m).items():
        spec = next(s for s in fr.DATASETS if s.name == dataset)
        shown = ", ".join(f"{a} {n}".strip() for a, n in list(never.items())[:5])
        more = f" … and {len(never) - 5} more" if len(never) > 5 else ""
        start = m.expected - timedelta(days=m.settings.lookback_days)
        out.append(
            Finding(
                W,
                "freshness",
                f"dataset {spec.name}",
                f"{len(never)} account(s) never synced: {shown}{more}",
                cmd.rerun(_flow_of(spec.name), start, m.expected, list(never)),
            )
        )
    return out


def check_future_dates(m: Monitor) -> list[Finding]:
    """Rows dated after today (China): impossible report dates, e.g. 2099-01-01 from a bad
    payload. They would make freshness look fine forever, so they are named (and ignored
    there)."""
    out = []
    for spec, n, latest in fr.future_rows(m.engine, m.today):
        out.append(
            Finding(
                C,
                "future",
                f"dataset {spec.name}",
                f"{n} row(s) dated after today ({m.today}), up to {latest}",
                f"DELETE FROM {spec.name} WHERE {spec.date_column} > '{m.today}'",
            )
        )
    return out


def check_completeness(m: Monitor) -> list[Finding]:
    """Per flow's newest finished run: accounts whose listing did not add up (rows received vs
    the API's page_info total, repeated keys, malformed page), and rows the row rules rejected."""
    out = []
    for flow, run in sorted(_newest_finished(m).items()):
        incomplete = [
            a
            for a in run.failed_accounts
            if any(w in str(a.get("reason", "")).lower() for w in _INCOMPLETE)
        ]
        for a in incomplete:
            acc = a.get("account_id")
            out.append(
                Finding(
                    C,
                    "complete",
                    f"{flow} account {acc}",
                    _short(str(a.get("reason")), 160),
                    cmd.rerun(flow, run.window_start, run.window_end, [acc]),
                )
            )
        # flows/summary.py stores the row rules' counts as "db:row_rules" ("rows" before).
        rows = (
            (run.counts.get("db:row_rules") or run.counts.get("rows"))
            if isinstance(run.counts, dict)
            else None
        )
        rejected = int((rows or {}).get("rejected") or 0)
        if rejected:
            named = "; ".join(str(x) for x in (rows or {}).get("rejected_rows", [])[:3])
            out.append(
                Finding(
                    W,
                    "complete",
                    f"flow {flow}",
                    f"{rejected} row(s) rejected by the row rules"
                    + (f": {_short(named, 120)}" if named else ""),
                    "fix the source data or the rule, then: " + _rerun(run),
                )
            )
    return out


_INCOMPLETE = ("incomplete listing", "malformed page", "page_info")


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
                    cmd.REAUTHORISE,
                )
            )
        elif left <= warn:
            out.append(
                Finding(
                    W,
                    "token",
                    where,
                    f"refresh token expires in {left.total_seconds() / 86400:.1f} days ({exp})",
                    "before it expires: " + cmd.REAUTHORISE,
                )
            )
    return out


def check_bitable(m: Monitor) -> list[Finding]:
    from integrations.monitoring.bitable import scan_duplicates

    s = m.settings
    if not m.mon.bitable_check or not (s.feishu_app_token and s.feishu_app_id):
        return []  # Bitable not configured here: nothing to check
    cap = s.feishu_max_records_per_table  # Feishu's record cap per table (1254103)
    out = []
    for d in scan_duplicates(s, m.lark_client):
        if d.records >= 0.8 * cap:
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
                cmd.reconcile(d.dataset if _is_dataset(d.dataset) else None),
            )
        )
    return out


def _is_dataset(name: str) -> bool:
    return name in cmd.DATASET_FLOW


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
                cmd.DB_UPGRADE,
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
                cmd.PREFECT_SERVER,
            )
        )
    run_check = check_runs_prefect if m.prefect_up else check_runs_ledger
    checks = [
        _guard("run", m.source, C, run_check),
        _guard("running", m.source, C, check_hung_runs),
        _guard("freshness", "app database", C, check_freshness),
        _guard("freshness", "app database", W, check_never_synced),
        _guard("future", "app database", C, check_future_dates),
        _guard("complete", m.source, C, check_completeness),
        _guard("token", "token store", W, check_tokens),
        _guard("bitable", "Feishu", W, check_bitable),
    ]
    for check in checks:
        findings.extend(check(m))
    return findings
