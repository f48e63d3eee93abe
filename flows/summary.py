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


@dataclass
class AccountResult:
    account_id: int | str
    name: str = ""
    ok: bool = True
    rows: int = 0
    cost: Decimal = Decimal("0")
    rejected: int = 0
    reason: str = ""


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
        if self.error or self.failed_accounts or sink_errors:
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
        return {k: asdict(v) for k, v in self.sinks.items()}

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
            f"## {self.flow}: {self.status.value}",
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
        if self.warnings:
            lines += ["", "### Warnings", ""] + [f"- {w}" for w in self.warnings]
        if self.error:
            lines += ["", f"**Error:** {self.error}"]
        return "\n".join(lines)

    def text(self) -> str:
        """Plain-text summary for terminals."""
        out = [
            f"{self.flow} {self.window_start}..{self.window_end}: {self.status.value} "
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
