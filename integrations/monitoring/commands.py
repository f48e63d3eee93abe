"""The exact command that fixes or reruns what a finding names (printed after "→").

Flow names map onto ``adsync run`` subcommands by their stem, so a renamed deployment of the same
flow (``laike-daily-eu``) still gets the right command. Windows are China dates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from integrations.sources.registry import all_datasets

# flow name stem → (``adsync run`` subcommand, takes --start/--end, id option)
_FLOWS: dict[str, tuple[str, bool, str | None]] = {
    "laike-daily": ("laike", True, "--accounts"),
    "douplus-daily": ("douplus", True, "--accounts"),
    "douplus-intraday": ("douplus-intraday", False, "--accounts"),
    "dpa-daily": ("dpa", False, "--advertisers"),
    "accounts-hourly": ("accounts", False, None),
    # Supplier flows: no backfill (the API has no history); the "account" is the brand.
    "supplier-daily": ("supplier-daily", False, "--brand"),
    "supplier-prices": ("supplier-prices", False, "--brand"),
    "supplier-stock": ("supplier-stock", False, "--brand"),
}
# dataset table → the flow that writes it (``Dataset.flow`` in the declarations)
DATASET_FLOW: dict[str, str] = {d.name: d.flow for d in all_datasets()}
MAX_IDS = 10  # a longer --accounts list is cut (the rest are in `monitor.py check --json`)


def _flow(flow: str) -> tuple[str, bool, str | None] | None:
    for stem, spec in _FLOWS.items():
        if flow == stem or flow.startswith(stem + "-"):
            return spec
    return None


def rerun(
    flow: str,
    start: date | None = None,
    end: date | None = None,
    accounts: Iterable[object] = (),
) -> str:
    """``adsync run <flow> [--start A --end B] [--accounts X ...]`` (or a plain rerun hint)."""
    spec = _flow(flow)
    if spec is None:
        return f"rerun flow {flow}"
    cmd, windowed, id_opt = spec
    parts = ["adsync", "run", cmd]
    if windowed and start and end:
        parts += (
            ["--date", start.isoformat()]
            if start == end
            else [
                "--start",
                start.isoformat(),
                "--end",
                end.isoformat(),
            ]
        )
    ids = [str(a) for a in accounts if str(a)]
    if id_opt and ids:
        for i in ids[:MAX_IDS]:
            parts += [id_opt, i]
    return " ".join(parts)


def reconcile(dataset: str | None, start: date | None = None, end: date | None = None) -> str:
    parts = ["adsync", "bitable", "reconcile"]
    if dataset:
        parts += ["--dataset", dataset]
    if start and end:
        parts += ["--start", start.isoformat(), "--end", end.isoformat()]
    return " ".join(parts)


REAUTHORISE = "adsync tokens auth-url, open it, then adsync tokens exchange CODE"
DB_UPGRADE = "adsync db upgrade"
PREFECT_SERVER = "prefect server start (or fix PREFECT_API_URL)"


def cancel(run_id: str | None) -> str:
    return f"prefect flow-run cancel {run_id}" if run_id else "cancel the run in the Prefect UI"


def run_deployment(flow: str, deployment: str) -> str:
    return f"prefect deployment run '{flow}/{deployment}'"
