"""Account-list changes: what the API lists now vs what ``ad_accounts`` holds. Pure functions.

An account is keyed by ``(account_type, account_id)``. Against the stored rows, a listing gives:

- ``added``: not stored, or stored as removed and listed again (``payload.reappeared``);
- ``removed``: stored, not removed, and absent from a listing that *covers its type* and was
  complete (a failed or truncated listing never removes anything);
- ``renamed``: listed with a (non-empty) name different from the stored one;
- ``disabled``: ``is_valid`` or ``is_enabled`` turned false (``enabled`` when it turns back).

:func:`plan` returns the changes and the rows to upsert (listed accounts, plus removed accounts
with ``removed = True``). ``first_seen_at`` is written by the upsert on insert only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

Key = tuple[str, int]

# Columns of ad_accounts a listing provides (the rest is bookkeeping).
DATA_COLUMNS = ("account_name", "account_string_id", "is_valid", "is_enabled")


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    RENAMED = "renamed"
    DISABLED = "disabled"
    ENABLED = "enabled"

    @property
    def event(self) -> str:
        """Prefect event name, e.g. ``adsync.account.renamed``."""
        return f"adsync.account.{self.value}"


@dataclass(frozen=True)
class AccountChange:
    kind: ChangeKind
    account_type: str
    account_id: int
    name: str  # current name (the stored one for a removed account)
    old: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return f"adsync.account.{self.account_type}.{self.account_id}"

    def resource(self) -> dict[str, str]:
        """The event's resource (labels are strings; the id stays exact as text)."""
        return {
            "prefect.resource.id": self.resource_id,
            "prefect.resource.name": self.name or str(self.account_id),
            "adsync.account.type": self.account_type,
            "adsync.account.id": str(self.account_id),
        }

    def payload(self) -> dict[str, Any]:
        return {
            "account_type": self.account_type,
            "account_id": str(self.account_id),
            "old": _jsonable(self.old),
            "new": _jsonable(self.new),
            **self.extra,
        }


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in d.items()
    }


def key_of(row: Mapping[str, Any]) -> Key:
    return (str(row["account_type"]), int(row["account_id"]))


def _active(row: Mapping[str, Any]) -> bool:
    return bool(row.get("is_valid", True)) and row.get("is_enabled") is not False


@dataclass
class Plan:
    changes: list[AccountChange]
    rows: list[dict[str, Any]]  # to upsert into ad_accounts
    seen: list[Key]  # listed now (their last_seen_at is touched)


def plan(
    stored: Mapping[Key, Mapping[str, Any]],
    listed: Iterable[Mapping[str, Any]],
    *,
    covers: Callable[[str], bool],
    now: datetime,
) -> Plan:
    """Diff ``listed`` rows (``AdvertiserAccount/CustomerCenterAccount.to_row`` shape) against
    ``stored`` ad_accounts rows. ``covers(account_type)`` tells whether a complete listing of
    that type was made in this run (only then can an absent account be called removed).
    ``now`` is naive UTC (the schema's timestamps)."""
    changes: list[AccountChange] = []
    rows: list[dict[str, Any]] = []
    by_key: dict[Key, dict[str, Any]] = {}
    for r in listed:
        by_key[key_of(r)] = dict(r)  # the same account listed twice: the last listing wins

    for key in sorted(by_key):
        new = by_key[key]
        atype, aid = key
        old = stored.get(key)
        name = new.get("account_name") or (old or {}).get("account_name") or ""
        row = {
            "account_type": atype,
            "account_id": aid,
            "account_name": name or None,
            "account_string_id": new.get("account_string_id"),
            "is_valid": bool(new.get("is_valid", True)),
            "is_enabled": new.get("is_enabled"),
            "removed": False,
            "first_seen_at": now,
            "last_seen_at": now,
        }
        rows.append(row)
        if old is None or old.get("removed"):
            extra = {"reappeared": True} if old is not None else {}
            changes.append(
                AccountChange(ChangeKind.ADDED, atype, aid, name, {}, _state(row), extra=extra)
            )
            continue
        if new.get("account_name") and new["account_name"] != old.get("account_name"):
            changes.append(
                AccountChange(
                    ChangeKind.RENAMED,
                    atype,
                    aid,
                    name,
                    {"account_name": old.get("account_name")},
                    {"account_name": new["account_name"]},
                )
            )
        was, now_active = _active(old), _active(row)
        if was != now_active:
            changes.append(
                AccountChange(
                    ChangeKind.ENABLED if now_active else ChangeKind.DISABLED,
                    atype,
                    aid,
                    name,
                    {"is_valid": old.get("is_valid"), "is_enabled": old.get("is_enabled")},
                    {"is_valid": row["is_valid"], "is_enabled": row["is_enabled"]},
                )
            )

    for key in sorted(stored):
        old = stored[key]
        if key in by_key or old.get("removed") or not covers(key[0]):
            continue
        atype, aid = key
        rows.append(
            {
                "account_type": atype,
                "account_id": aid,
                "account_name": old.get("account_name"),
                "account_string_id": old.get("account_string_id"),
                "is_valid": bool(old.get("is_valid", True)),
                "is_enabled": old.get("is_enabled"),
                "removed": True,
                "first_seen_at": old.get("first_seen_at") or now,
                "last_seen_at": old.get("last_seen_at") or now,
            }
        )
        changes.append(
            AccountChange(
                ChangeKind.REMOVED,
                atype,
                aid,
                old.get("account_name") or "",
                _state(old),
                {},
                extra={"last_seen_at": _iso(old.get("last_seen_at"))},
            )
        )
    return Plan(changes=changes, rows=rows, seen=sorted(by_key))


def _state(row: Mapping[str, Any]) -> dict[str, Any]:
    return {c: row.get(c) for c in DATA_COLUMNS}


def _iso(v: Any) -> str | None:
    return v.isoformat() if isinstance(v, datetime) else None
