"""Data freshness and volume per dataset and account, read from the app database.

Only dated datasets with an account column are covered (DPA products and the account list have no
report date; their health shows in the run checks). Accounts are compared as text because DOU+
keys accounts by ``aweme_sec_uid`` and the local reports by a BIGINT id.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Engine, func, select

from integrations.database.tables import ad_accounts, metadata
from integrations.datasets import FreshnessSpec
from integrations.sources.registry import all_datasets

# The monitor's view of a dataset (date and account columns, which checks), derived from the
# declarations (integrations/sources/*/datasets.py, ``checks=``); registry order.
DatasetSpec = FreshnessSpec
DATASETS: tuple[DatasetSpec, ...] = tuple(d.freshness for d in all_datasets() if d.freshness)


@dataclass(frozen=True)
class AccountFreshness:
    dataset: str
    account: str
    account_name: str
    latest: date
    expected: date

    @property
    def lag_days(self) -> int:
        return max((self.expected - self.latest).days, 0)

    @property
    def stale(self) -> bool:
        return self.latest < self.expected

    def to_json(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "account": self.account,
            "account_name": self.account_name,
            "latest": self.latest.isoformat(),
            "expected": self.expected.isoformat(),
            "lag_days": self.lag_days,
            "stale": self.stale,
        }


def account_names(engine: Engine, configured: dict[str, str] | None = None) -> dict[str, str]:
    """Display names by account id / aweme_sec_uid: ad_accounts, overridden by settings."""
    names: dict[str, str] = {}
    # The local daily aggregate carries names even where the account list was not synced.
    agg = metadata.tables["local_account_daily"]
    with engine.connect() as conn:
        q0 = select(agg.c.local_account_id, agg.c.account_name).distinct()
        for acc_id, name in conn.execute(q0):
            if name:
                names[str(acc_id)] = name
    q = select(
        ad_accounts.c.account_id, ad_accounts.c.account_string_id, ad_accounts.c.account_name
    )
    with engine.connect() as conn:
        for acc_id, string_id, name in conn.execute(q):
            if name:
                names[str(acc_id)] = name
                if string_id:
                    names[string_id] = name
    names.update(configured or {})
    return names


def latest_dates(
    engine: Engine,
    expected: date,
    names: dict[str, str] | None = None,
    until: date | None = None,
) -> list[AccountFreshness]:
    """Latest report date per dataset and account (datasets with no rows at all are skipped).

    ``until``: ignore rows dated after it (today: a future date is bad data, reported by
    :func:`future_rows`, and must not make a stale account look fresh)."""
    names = names or {}
    out: list[AccountFreshness] = []
    with engine.connect() as conn:
        for spec in DATASETS:
            t = metadata.tables[spec.name]
            acc, d = t.c[spec.account_column], t.c[spec.date_column]
            q = select(acc, func.max(d)).group_by(acc).order_by(acc)
            if until is not None:
                q = q.where(d <= until)
            for account, latest in conn.execute(q):
                a = str(account)
                out.append(AccountFreshness(spec.name, a, names.get(a, ""), latest, expected))
    return out


def future_rows(engine: Engine, today: date) -> list[tuple[DatasetSpec, int, date]]:
    """(dataset, rows, latest date) for every dataset holding rows dated after ``today``."""
    out = []
    with engine.connect() as conn:
        for spec in DATASETS:
            t = metadata.tables[spec.name]
            d = t.c[spec.date_column]
            n, latest = conn.execute(select(func.count(), func.max(d)).where(d > today)).one()
            if n:
                out.append((spec, int(n), latest))
    return out


def never_synced(
    engine: Engine, spec: DatasetSpec, have: set[str], configured: dict[str, str] | None = None
) -> dict[str, str]:
    """Accounts expected in ``spec`` (active in ``ad_accounts`` for its type, or named in the
    settings' account labels) with no row in it at all → {account: name}."""
    expected: dict[str, str] = {}
    account_type = spec.account_type  # the ad_accounts type feeding it (the accounts flow)
    if account_type:
        q = select(ad_accounts.c.account_id, ad_accounts.c.account_name).where(
            ad_accounts.c.account_type == account_type,
            ad_accounts.c.removed.is_(False),
            ad_accounts.c.is_valid.is_(True),
        )
        with engine.connect() as conn:
            for acc, name in conn.execute(q):
                expected[str(acc)] = name or ""
    # Numeric labels in the settings name accounts of the dataset fed by an account type.
    for acc, name in (configured or {}).items():
        if account_type and str(acc).isdigit():
            expected[str(acc)] = name
    return {a: n for a, n in sorted(expected.items()) if a not in have}


@dataclass(frozen=True)
class VolumeAnomaly:
    dataset: str
    account: str
    day: date
    rows: int
    median: float


def daily_counts(
    engine: Engine, spec: DatasetSpec, first: date, last: date
) -> dict[str, dict[date, int]]:
    """Rows per account per day in [first, last]."""
    t = metadata.tables[spec.name]
    acc, d = t.c[spec.account_column], t.c[spec.date_column]
    q = select(acc, d, func.count()).where(d >= first, d <= last).group_by(acc, d)
    out: dict[str, dict[date, int]] = defaultdict(dict)
    with engine.connect() as conn:
        for account, day, n in conn.execute(q):
            out[str(account)][day] = int(n)
    return out


def volume_anomalies(
    dataset: str,
    counts: dict[str, dict[date, int]],
    day: date,
    trailing_days: int,
    ratio: float,
) -> list[VolumeAnomaly]:
    """Accounts present on ``day`` with rows below ``ratio`` × the median of the ``trailing_days``
    before it (missing days count as 0, so a new account never trips it)."""
    out = []
    for account, by_day in sorted(counts.items()):
        rows = by_day.get(day, 0)
        if rows == 0:
            continue  # absent: reported as a disappearance, not as a drop
        trailing = [by_day.get(day - timedelta(days=i), 0) for i in range(1, trailing_days + 1)]
        median = statistics.median(trailing)
        if median > 0 and rows < ratio * median:
            out.append(VolumeAnomaly(dataset, account, day, rows, median))
    return out


def disappeared(
    counts: dict[str, dict[date, int]], day: date, trailing_days: int
) -> dict[str, date]:
    """Accounts with rows in the ``trailing_days`` before ``day`` but none on it → last date."""
    first = day - timedelta(days=trailing_days)
    out = {}
    for account, by_day in sorted(counts.items()):
        if by_day.get(day, 0):
            continue
        seen = [d for d, n in by_day.items() if n and first <= d < day]
        if seen:
            out[account] = max(seen)
    return out
