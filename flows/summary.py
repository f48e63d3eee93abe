"""What a sync run did, in one object: per-account results, per-sink counts, status.

Pure data + formatting (no Prefect, no I/O) so the flows, the CLI, the ledger, the Feishu card and
the tests all read the same facts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    SUCCESS = "SUCCESS"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


# Rejected/normalised rows named per account and per run (the counts stay exact beyond it).
MAX_NAMED = 20


@dataclass
class AccountResult:
    account_id: int | str
    name: str = ""
    ok: bool = True
    rows: int = 0
    cost: Decimal = Decimal("0")
    rejected: int = 0
    reason: str = ""
    # Named rejected rows ("key: reason"), at most MAX_NAMED; ``rejected`` counts them all.
    rejections: list[str] = field(default_factory=list)

    def reject(self, *named: str) -> None:
        self.rejected += len(named)
        room = MAX_NAMED - len(self.rejections)
        self.rejections.extend(named[: max(0, room)])


@dataclass
class SinkCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    calls: int = 0
    error: str = ""

    def add(self, **kw: int) -> None:
        for k, v in kw.items():
            setattr(self, k, getattr(self, k) + int(v))


@dataclass
class RunSummary:
    flow: str
    window_start: date
    window_end: date
    run_id: str | None = None
    accounts: list[AccountResult] = field(default_factory=list)
    sinks: dict[str, SinkCounts] = field(default_factory=dict)
    api_calls: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    # A failure that is not any one account's (e.g. account listing, DB down, schema mismatch).
    error: str = ""
    # Rows rejected that belong to no account of this run, and rows normalised by a rule
    # (integrations/database/row_rules.py), named "key: what was done".
    rejected_other: list[str] = field(default_factory=list)
    normalised: list[str] = field(default_factory=list)
    normalised_count: int = 0
    # The tenant the run served (integrations/tenants.py); shown when it is not "default".
    tenant: str = "default"

    @property
    def tenant_tag(self) -> str:
        """`` [tenant acme]`` for a named tenant, empty for the single setup."""
        return "" if self.tenant == "default" else f" [tenant {self.tenant}]"

    def account(self, account_id: object) -> AccountResult | None:
        for a in self.accounts:
            if str(a.account_id) == str(account_id):
                return a
        return None

    def reject_row(self, account_id: object, named: str) -> None:
        """A row not written (rule or parse failure), charged to its account when known."""
        acc = self.account(account_id) if account_id is not None else None
        if acc is not None:
            acc.reject(named)
        elif len(self.rejected_other) < MAX_NAMED:
            self.rejected_other.append(named)
        else:
            self.rejected_other[-1:] = [f"... more rejected rows ({named})"]

    def normalise_row(self, named: str) -> None:
        self.normalised_count += 1
        if len(self.normalised) < MAX_NAMED:
            self.normalised.append(named)

    @property
    def rejected_count(self) -> int:
        return sum(a.rejected for a in self.accounts) + len(self.rejected_other)

    def rejected_named(self) -> list[str]:
        return [r for a in self.accounts for r in a.rejections] + self.rejected_other

    def sink(self, name: str) -> SinkCounts:
        return self.sinks.setdefault(name, SinkCounts())

    @property
    def failed_accounts(self) -> list[AccountResult]:
        return [a for a in self.accounts if not a.ok]

    @property
    def ok_accounts(self) -> list[AccountResult]:
        return [a for a in self.accounts if a.ok]

    @property
    def status(self) -> RunStatus:
        sink_errors = any(s.error for s in self.sinks.values())
        if self.error and not self.ok_accounts:
            return RunStatus.FAILED
        if self.accounts and not self.ok_accounts:
            return RunStatus.FAILED
        # A rejected row is a row not written: the run did not write what it should.
        if self.error or self.failed_accounts or sink_errors or self.rejected_count:
            return RunStatus.PARTIAL
        return RunStatus.SUCCESS

    def failure_message(self) -> str:
        """One line for the Prefect state message / CLI: what failed, by name."""
        parts: list[str] = []
        if self.failed_accounts:
            names = ", ".join(
                f"{a.account_id}{f' {a.name}' if a.name else ''} ({a.reason})"
                for a in self.failed_accounts
            )
            parts.append(f"{len(self.failed_accounts)} account(s) failed: {names}")
        for name, s in self.sinks.items():
            if s.error:
                parts.append(f"{name}: {s.error}")
        if self.rejected_count:
            named = self.rejected_named()
            parts.append(
                f"{self.rejected_count} row(s) rejected: "
                + "; ".join(named[:5])
                + (" ..." if self.rejected_count > 5 else "")
            )
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)

    # --- serialisations -----------------------------------------------------------------------

    def failed_accounts_json(self) -> list[dict[str, Any]]:
        return [
            {"account_id": str(a.account_id), "name": a.name, "reason": a.reason}
            for a in self.failed_accounts
        ]

    def counts_json(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {k: asdict(v) for k, v in self.sinks.items()}
        if self.rejected_count or self.normalised_count:  # rows the row rules named
            out["db:row_rules"] = {  # kind "db", no row counts: monitor totals unchanged
                "rejected": self.rejected_count,
                "normalised": self.normalised_count,
                "rejected_rows": self.rejected_named(),
                "normalised_rows": list(self.normalised),
            }
        return out

    def account_table(self) -> list[dict[str, Any]]:
        """Rows for the Prefect table artifact: Chinese headers (the readers' language), failed
        accounts first with their full reason (ids as text: JS cannot hold int64)."""
        ordered = self.failed_accounts + self.ok_accounts
        return [
            {
                "状态": "失败" if not a.ok else "成功",
                "账户ID": str(a.account_id),
                "账户名称": a.name,
                "失败原因": a.reason,
                "行数": a.rows,
                "被拒行数": a.rejected,
                "消耗(元)": str(a.cost),
            }
            for a in ordered
        ]

    def markdown(self) -> str:
        lines = [
            f"## {self.flow}{self.tenant_tag}: {self.status.value}",
            "",
            f"- window: {self.window_start} → {self.window_end}",
            f"- accounts: {len(self.ok_accounts)} ok, {len(self.failed_accounts)} failed",
            f"- API calls: {self.api_calls}; seconds: {self.seconds:.1f}",
        ]
        if self.run_id:
            lines.append(f"- Prefect run: `{self.run_id}`")
        if self.failed_accounts:
            lines += ["", "### Failed accounts", ""]
            lines += [f"- `{a.account_id}` {a.name}: {a.reason}" for a in self.failed_accounts]
        lines += [
            "",
            "### Rows per sink",
            "",
            "| sink | inserted | updated | unchanged | deleted | calls | error |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for name, s in self.sinks.items():
            lines.append(
                f"| {name} | {s.inserted} | {s.updated} | {s.unchanged} | {s.deleted} "
                f"| {s.calls} | {s.error} |"
            )
        if self.rejected_count:
            lines += ["", f"### Rejected rows ({self.rejected_count})", ""]
            lines += [f"- {r}" for r in self.rejected_named()]
        if self.normalised_count:
            lines += ["", f"### Normalised rows ({self.normalised_count})", ""]
            lines += [f"- {r}" for r in self.normalised]
        if self.warnings:
            lines += ["", "### Warnings", ""] + [f"- {w}" for w in self.warnings]
        if self.error:
            lines += ["", f"**Error:** {self.error}"]
        return "\n".join(lines)

    def text(self) -> str:
        """Plain-text summary for terminals."""
        out = [
            f"{self.flow}{self.tenant_tag} {self.window_start}..{self.window_end}: "
            f"{self.status.value} "
            f"({len(self.ok_accounts)} ok, {len(self.failed_accounts)} failed, "
            f"{self.api_calls} API calls, {self.seconds:.1f}s)"
        ]
        for name, s in self.sinks.items():
            out.append(
                f"  {name:<34} inserted {s.inserted:>6}  updated {s.updated:>6}  "
                f"unchanged {s.unchanged:>6}"
                + (f"  deleted {s.deleted}" if s.deleted else "")
                + (f"  ERROR {s.error}" if s.error else "")
            )
        for a in self.failed_accounts:
            out.append(f"  FAILED {a.account_id} {a.name}: {a.reason}")
        if self.rejected_count:
            out.append(f"  {self.rejected_count} row(s) rejected:")
            out += [f"    REJECTED {r}" for r in self.rejected_named()]
        if self.normalised_count:
            out.append(f"  {self.normalised_count} row(s) normalised:")
            out += [f"    normalised {r}" for r in self.normalised]
        out += [f"  warning: {w}" for w in self.warnings]
        if self.error:
            out.append(f"  error: {self.error}")
        return "\n".join(out)

    def to_json(self) -> str:
        d = asdict(self)
        d["status"] = self.status.value
        return json.dumps(d, default=str, ensure_ascii=False)


class RunNotGreen(RunSummary, Exception):
    """The summary of a Partial/Failed run, as the exception its Failed state carries.

    Prefect resolves a Failed state's data into an exception when the run ends (a worker's engine
    calls ``state.result()``); a plain RunSummary there made it log "RunSummary cannot be resolved
    into an exception" with a traceback. This is still a RunSummary, so callers reading
    ``state.result(raise_on_failure=False)`` get the same facts.
    """

    __hash__ = Exception.__hash__  # raised and logged: hashable by identity

    @classmethod
    def of(cls, summary: RunSummary) -> RunNotGreen:
        return cls(**{f.name: getattr(summary, f.name) for f in fields(RunSummary)})

    def __str__(self) -> str:
        return self.failure_message() or self.status.value

    def __reduce__(self) -> tuple[Any, ...]:  # Exception's pickling would call __init__(*args)
        return (_rebuild_not_green, ({f.name: getattr(self, f.name) for f in fields(self)},))


def _rebuild_not_green(values: dict[str, Any]) -> RunNotGreen:
    return RunNotGreen(**values)
