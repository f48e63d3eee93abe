"""Parse a token pair given as JSON: our own format, or the older scripts' token cache file.

Accepted (possibly nested under ``"data"``, as in a saved API response):

- ours: ``access_token``, ``refresh_token``, ``access_expires_at``, ``refresh_expires_at``
  (ISO 8601), ``account_ids``;
- theirs: ``access_token``, ``refresh_token``, ``expires_in`` / ``expires_at``,
  ``refresh_token_expires_in`` / ``refresh_token_expires_at``, ``advertiser_ids`` /
  ``advertiser_id``; ``*_in`` counts from a saved-at time (``timestamp``, ``created_at``, ...)
  when there is one.

When a lifetime cannot be anchored in time the access token is taken as expired (the first use
refreshes it and learns the true expiries) and the refresh token as living its full ``*_in`` from
now; :class:`ImportResult` says which times are estimates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from token_store.models import TokenSet, utcnow

_SAVED_AT_FIELDS = (
    "saved_at",
    "timestamp",
    "created_at",
    "create_time",
    "updated_at",
    "update_time",
    "obtained_at",
    "time",
)
# Without any expiry information: assume the documented refresh lifetime (30 days).
DEFAULT_REFRESH_LIFETIME = timedelta(seconds=2591999)


class ImportFormatError(ValueError):
    """The JSON is not a token pair we understand (message names fields, never values)."""


@dataclass
class ImportResult:
    token_set: TokenSet
    estimated: list[str] = field(default_factory=list)  # e.g. ["access_expires_at"]


def parse_token_json(text: str, now: datetime | None = None) -> ImportResult:
    try:
        doc = json.loads(text)
    except ValueError:
        raise ImportFormatError("input is not JSON") from None
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict):
        doc = doc["data"]
    if not isinstance(doc, dict):
        raise ImportFormatError("expected a JSON object")
    for name in ("access_token", "refresh_token"):
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise ImportFormatError(f"missing {name!r} (found fields: {sorted(doc)})")

    now = now or utcnow()
    saved_at = next((_time(doc[f]) for f in _SAVED_AT_FIELDS if doc.get(f) is not None), None)
    estimated: list[str] = []

    access = _expiry(doc, ("access_expires_at", "expires_at"), "expires_in", saved_at)
    if access is None:
        access = now  # unknown: treat as expired, the first use refreshes
        estimated.append("access_expires_at")
    refresh = _expiry(
        doc,
        ("refresh_expires_at", "refresh_token_expires_at"),
        "refresh_token_expires_in",
        saved_at,
    )
    if refresh is None:
        lifetime = (
            _seconds(doc.get("refresh_token_expires_in"), "refresh_token_expires_in")
            or DEFAULT_REFRESH_LIFETIME
        )
        refresh = now + lifetime
        estimated.append("refresh_expires_at")

    ids = doc.get("account_ids") or doc.get("advertiser_ids") or []
    if not ids and doc.get("advertiser_id"):
        ids = [doc["advertiser_id"]]
    try:
        account_ids = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise ImportFormatError("account ids must be integers") from None

    ts = TokenSet(
        access_token=doc["access_token"],
        refresh_token=doc["refresh_token"],
        access_expires_at=access,
        refresh_expires_at=refresh,
        account_ids=account_ids,
    )
    return ImportResult(ts, estimated)


def _expiry(
    doc: dict[str, Any], at_fields: tuple[str, ...], in_field: str, saved_at: datetime | None
) -> datetime | None:
    for f in at_fields:
        if doc.get(f) is not None:
            return _time(doc[f], f)
    seconds = _seconds(doc.get(in_field), in_field)
    if seconds is not None and saved_at is not None:
        return saved_at + seconds
    return None


# Longest lifetime accepted: Ocean Engine's are a day (access) and 30 days (refresh).
_MAX_LIFETIME_S = 10 * 365 * 86400


def _seconds(v: Any, name: str = "lifetime") -> timedelta | None:
    if v is None:
        return None
    try:
        seconds = int(v)
    except (TypeError, ValueError, OverflowError):
        raise ImportFormatError(f"{name!r} must be seconds, got {v!r}") from None
    if not 0 <= seconds <= _MAX_LIFETIME_S:
        raise ImportFormatError(f"{name!r} must be 0..{_MAX_LIFETIME_S} seconds, got {v!r}")
    return timedelta(seconds=seconds)


def _time(v: Any, name: str = "time") -> datetime:
    """Epoch seconds or milliseconds, or ISO 8601 (naive = UTC)."""
    try:
        if isinstance(v, int | float) or (isinstance(v, str) and v.replace(".", "", 1).isdigit()):
            x = float(v)
            return datetime.fromtimestamp(x / 1000 if x > 1e11 else x, UTC)
        dt = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except (TypeError, ValueError, OverflowError):
        raise ImportFormatError(f"{name!r} is not a time (epoch seconds or ISO 8601)") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
