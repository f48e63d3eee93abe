"""Terminal output that fits 80 columns (CJK-aware padding) and colours only on a terminal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from rich.cells import cell_len, set_cell_size
from rich.markup import escape

from integrations.monitoring.findings import Finding, Severity, overall
from integrations.monitoring.freshness import AccountFreshness
from integrations.monitoring.runs import RunRecord
from integrations.monitoring.tokens import TokenInfo

WIDTH = 80
_STATE_STYLE = {
    "COMPLETED": "green",
    "SUCCESS": "green",
    "FAILED": "red",
    "CRASHED": "red",
    "CANCELLED": "yellow",
    "RUNNING": "cyan",
    "PARTIAL": "yellow",
}
_SEV_STYLE = {Severity.CRITICAL: "bold red", Severity.WARNING: "yellow", Severity.OK: "green"}


def cell(text: str, width: int, right: bool = False) -> str:
    """Pad/truncate to ``width`` terminal cells (Chinese names take two cells each)."""
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…"
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


def styled(text: str, style: str | None) -> str:
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def compact(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return str(n)


def duration(d: timedelta | None) -> str:
    if d is None:
        return "-"
    s = int(d.total_seconds())
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _md(d: date | None) -> str:
    return d.strftime("%m-%d") if d else "?"


def window(r: RunRecord) -> str:
    if r.window_start is None and r.window_end is None:
        return "-"
    if r.window_start == r.window_end:
        return _md(r.window_start)
    return f"{_md(r.window_start)}..{_md(r.window_end)}"


def _when(dt: datetime | None, tz: ZoneInfo) -> str:
    return dt.astimezone(tz).strftime("%m-%d %H:%M") if dt else "-"


# START(11) FLOW(15) WINDOW(12) STATE(9) DUR(6) ACC(5) ROWS(16) + 6 separators = 80
_RUN_COLS = (("start", 11), ("flow", 15), ("window", 12), ("state", 9), ("dur", 6))


def by_tenant(runs: Sequence[RunRecord]) -> list[tuple[str | None, list[RunRecord]]]:
    """Runs grouped by tenant (order of each tenant's newest run; runs keep their order)."""
    groups: dict[str | None, list[RunRecord]] = {}
    for r in runs:
        groups.setdefault(r.tenant, []).append(r)
    return list(groups.items())


def runs_table(runs: Sequence[RunRecord], tz: ZoneInfo, source_line: str) -> list[str]:
    """Lines (rich markup) for ``view``: a header naming the source, then one line per run;
    with several tenants, under one heading per tenant (one tenant's failures stay together
    and are not pushed off the list by another tenant's many runs)."""
    head = " ".join(cell(n.upper(), w) for n, w in _RUN_COLS)
    lines = [escape(source_line), f"[bold]{head} {cell('OK/F', 5, True)} ROWS[/]"]
    groups = by_tenant(runs)
    if len(groups) <= 1:
        lines += _run_lines(runs, tz)
    else:
        for tenant, group in groups:
            lines.append(f"[bold]tenant {escape(tenant or '(no ledger row)')}[/]")
            lines += _run_lines(group, tz)
    if not runs:
        lines.append("(no runs recorded)")
    else:
        lines.append("rows: +inserted ~updated =unchanged (db = database, bt = Bitable)")
    return lines


def _run_lines(runs: Sequence[RunRecord], tz: ZoneInfo) -> list[str]:
    lines: list[str] = []
    rows_width = WIDTH - 11 - 15 - 12 - 9 - 6 - 5 - 6
    indent = " " * (WIDTH - rows_width)
    for r in runs:
        acc = "-" if r.accounts_ok is None else f"{r.accounts_ok}/{r.accounts_failed or 0}"
        # Inserted, updated and unchanged apart: "+new ~changed =same" per sink kind, the first
        # kind on the run's line and each further kind on a line of its own below it.
        per_kind = [
            f"{k} +{compact(c['inserted'])} ~{compact(c['updated'])} ={compact(c['unchanged'])}"
            for k, c in r.rows_detail().items()
        ] or ["-"]
        rows = per_kind[0]
        if r.sink_errors():
            rows += " !"
        state = r.state if r.ledger_status != "PARTIAL" or r.source == "ledger" else "Partial"
        st = (r.state_type or r.ledger_status or "").upper()
        style = _STATE_STYLE.get(st) if state != "Partial" else "yellow"
        parts = [
            escape(cell(_when(r.started_at or r.expected_start, tz), 11)),
            escape(cell(r.flow, 15)),
            escape(cell(window(r), 12)),
            styled(cell(state, 9), style),
            escape(cell(duration(r.duration), 6, right=True)),
            escape(cell(acc, 5, right=True)),
            escape(cell(rows, rows_width)),
        ]
        lines.append(" ".join(parts).rstrip())
        lines += [escape(indent + cell(more, rows_width)).rstrip() for more in per_kind[1:]]
    return lines


def freshness_table(
    rows: Sequence[AccountFreshness],
    expected: date,
    tz_name: str,
    never: dict[str, dict[str, str]] | None = None,
) -> list[str]:
    lines = [
        f"expected latest date: {expected} (yesterday, {escape(tz_name)})",
        f"[bold]{cell('DATASET', 21)} {cell('ACCOUNT', 29)} {cell('LATEST', 10)} "
        f"{cell('LAG', 4, True)} STATUS[/]",
    ]
    for r in rows:
        account = f"{r.account} {r.account_name}".strip()
        status = styled("STALE", "bold red") if r.stale else styled("ok", "green")
        lag = f"{r.lag_days}d"
        lines.append(
            f"{escape(cell(r.dataset, 21))} {escape(cell(account, 29))} {r.latest} "
            f"{styled(cell(lag, 4, True), 'red' if r.stale else None)} {status}"
        )
    n_never = 0
    for dataset, accounts in (never or {}).items():
        for acc, name in accounts.items():
            n_never += 1
            account = f"{acc} {name}".strip()
            lines.append(
                f"{escape(cell(dataset, 21))} {escape(cell(account, 29))} {cell('never', 10)} "
                f"{cell('-', 4, True)} {styled('NEVER SYNCED', 'bold red')}"
            )
    if not rows and not n_never:
        lines.append("(no dated data in the database yet)")
    stale = sum(r.stale for r in rows)
    tail = f"{stale} stale of {len(rows)}" if rows else ""
    if n_never:
        tail = (tail + ", " if tail else "") + f"{n_never} never synced"
    lines.append(tail)
    return [ln for ln in lines if ln]


def findings_lines(findings: Sequence[Finding], source: str) -> list[str]:
    lines = [styled(f.line(), _SEV_STYLE[f.severity]) for f in findings]
    sev = overall(findings)
    crit = sum(f.severity is Severity.CRITICAL for f in findings)
    warn = sum(f.severity is Severity.WARNING for f in findings)
    summary = (
        f"{sev.name}: {crit} critical, {warn} warning (runs from {source})"
        if findings
        else f"OK: no findings (runs from {source})"
    )
    lines.append(styled(summary, _SEV_STYLE[sev]))
    return lines


def tokens_table(tokens: Sequence[TokenInfo], now: datetime, tz: ZoneInfo, warn_days: float):
    # KEY(36) EXPIRES(11) LEFT(6) ACCESS(7) ACCOUNTS(rest) — full id lists are in --json.
    lines = [
        f"[bold]{cell('KEY', 36)} {cell('REFRESH EXP', 11)} {cell('LEFT', 6, True)} "
        f"{cell('ACCESS', 7)} ACCOUNTS[/]"
    ]
    for t in tokens:
        days = t.refresh_left(now).total_seconds() / 86400
        style = "bold red" if days <= 0 else "yellow" if days <= warn_days else None
        access = "valid" if t.access_expires_at > now else "expired"
        n = len(t.account_ids)
        ids = t.account_ids[0] if n == 1 else f"{n} accounts" if n else "-"
        lines.append(
            f"{escape(cell(t.key, 36))} {_when(t.refresh_expires_at, tz)} "
            f"{styled(cell(f'{days:.1f}d', 6, True), style)} {cell(access, 7)} "
            f"{escape(cell(ids or '-', WIDTH - 36 - 11 - 6 - 7 - 4))}".rstrip()
        )
    if not tokens:
        lines.append("(no tokens stored)")
    return lines
