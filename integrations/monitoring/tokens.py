"""Token status without secrets: expiries and authorised account ids only.

Prefers the token store's own ``status()``; when that package is unavailable (or the keyring
backend cannot be opened here) and the backend is the database, reads the non-secret columns of
``oauth_tokens`` directly — the ciphertext is never selected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from integrations.database.tables import oauth_tokens
from integrations.monitoring.config import as_utc
from integrations.settings import Settings


@dataclass(frozen=True)
class TokenInfo:
    key: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    account_ids: tuple[str, ...]

    def refresh_left(self, now: datetime) -> timedelta:
        return self.refresh_expires_at - now

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "key": self.key,
            "access_expires_at": self.access_expires_at.isoformat(),
            "refresh_expires_at": self.refresh_expires_at.isoformat(),
            "refresh_expires_in_s": int(self.refresh_left(now).total_seconds()),
            "access_valid": self.access_expires_at > now,
            "account_ids": list(self.account_ids),
        }


def _from_status(s: Any) -> TokenInfo:
    return TokenInfo(
        key=str(s.key),
        access_expires_at=as_utc(s.access_expires_at),
        refresh_expires_at=as_utc(s.refresh_expires_at),
        account_ids=tuple(str(a) for a in (s.account_ids or ())),
    )


def _from_table(engine: Engine) -> list[TokenInfo]:
    c = oauth_tokens.c
    q = select(c.key, c.access_expires_at, c.refresh_expires_at, c.account_ids).order_by(c.key)
    out = []
    with engine.connect() as conn:
        for key, acc_exp, ref_exp, ids in conn.execute(q):
            try:
                parsed = json.loads(ids) if ids else []
            except ValueError:
                parsed = []
            out.append(TokenInfo(key, as_utc(acc_exp), as_utc(ref_exp), tuple(map(str, parsed))))
    return out


def token_statuses(settings: Settings, engine: Engine) -> list[TokenInfo]:
    try:
        from token_store import build_token_store  # type: ignore[attr-defined]
    except ImportError:
        build_token_store = None
    if build_token_store is not None:
        # Reuse the monitor's engine: same database, no second pool.
        return [_from_status(s) for s in build_token_store(settings, engine=engine).status()]
    if settings.token_backend == "database":
        return _from_table(engine)
    raise RuntimeError("token_store package unavailable; cannot read the keyring backend")


def sorted_by_expiry(tokens: list[TokenInfo]) -> list[TokenInfo]:
    return sorted(tokens, key=lambda t: t.refresh_expires_at)
