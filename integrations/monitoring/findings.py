"""Findings: one fact an operator must act on, with a severity and where it was seen."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    """Ordered so ``max()`` gives the overall state; the value is the process exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str  # e.g. "run", "freshness", "volume", "bitable", "token", "running"
    where: str  # e.g. "deployment laike-daily", "local_promotion_daily account 123"
    message: str  # what is wrong, one line
    hint: str = ""  # what to do, one line

    def line(self) -> str:
        """One line per finding: ``CRITICAL run deployment laike-daily: ... (hint)``."""
        text = f"{self.severity.name:<8} {self.check:<9} {self.where}: {self.message}"
        return f"{text} → {self.hint}" if self.hint else text

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.label
        return d


def overall(findings: Iterable[Finding]) -> Severity:
    return max((f.severity for f in findings), default=Severity.OK)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; stable within a severity (checks run in a meaningful order)."""
    return sorted(findings, key=lambda f: -int(f.severity))


def report(findings: Iterable[Finding], source: str) -> dict[str, Any]:
    """The body of ``check --json`` and of ``GET /health``: most severe first."""
    ordered = sort_findings(findings)
    state = overall(ordered)
    return {
        "status": state.label,
        "exit_code": int(state),
        "source": source,
        "findings": [f.to_json() for f in ordered],
    }
