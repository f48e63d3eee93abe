"""Value types: the key naming a token set, the token set itself, and its non-secret status."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, field_validator

PROVIDER_OCEANENGINE = "oceanengine"
# The refresh expiry of a token set without a refresh token (client credentials): the grant itself
# never expires, it is re-obtained with the client secret. A real date, so the NOT NULL column of
# oauth_tokens and every status/monitor reader take it as is (it is never "expiring soon").
NO_REFRESH_EXPIRY = datetime(9999, 12, 31, tzinfo=UTC)
# A refresh token closer than this to its expiry is flagged (monitor.py, notifications).
REFRESH_WARNING_WINDOW = timedelta(days=7)


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken to be UTC (how the database stores them)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@dataclass(frozen=True, order=True)
class TokenKey:
    """Names one token set: vendor (``provider``), app id and the authorising principal.

    The vendor comes first, so two vendors' tokens share one store without colliding; it also picks
    the store's refresh strategy (token_store/strategies.py). One app authorises many accounts, so
    the key is not an account id; ``principal`` tells apart several consents of the same app (e.g.
    two agencies). String form: ``provider:app_id:principal``.
    """

    provider: str
    app_id: str
    principal: str = "default"

    def __post_init__(self) -> None:
        object.__setattr__(self, "app_id", str(self.app_id))
        for name in ("provider", "app_id", "principal"):
            value = getattr(self, name)
            if not value or value.strip() != value:
                raise ValueError(f"token key {name} must be a non-empty string without spaces")
        if ":" in self.provider or ":" in self.app_id:
            raise ValueError("token key provider and app_id must not contain ':'")
        if len(str(self)) > 255:
            raise ValueError("token key is longer than 255 characters")

    def __str__(self) -> str:
        return f"{self.provider}:{self.app_id}:{self.principal}"

    @property
    def vendor(self) -> str:
        return self.provider

    @classmethod
    def parse(cls, text: str) -> TokenKey:
        parts = text.split(":", 2)
        if len(parts) != 3:
            raise ValueError(f"not a token key {text!r} (expected provider:app_id:principal)")
        return cls(*parts)

    @classmethod
    def oceanengine(cls, app_id: str | int, principal: str = "default") -> TokenKey:
        return cls(PROVIDER_OCEANENGINE, str(app_id), principal)

    for_oceanengine = oceanengine  # alias used by flows/runtime.py


class TokenSet(BaseModel):
    """An access/refresh token pair with expiry times (UTC) and the accounts it authorises.

    ``refresh_token`` is None for a grant without one (client credentials); its
    ``refresh_expires_at`` is then :data:`NO_REFRESH_EXPIRY`.

    Secrets are ``SecretStr``: repr, str and ``model_dump`` mask them. Only
    :meth:`to_secret_json` reveals them, for writing to a secret store.
    """

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    refresh_token: SecretStr | None
    access_expires_at: AwareDatetime
    refresh_expires_at: AwareDatetime
    account_ids: list[int] = Field(default_factory=list)

    @field_validator("access_expires_at", "refresh_expires_at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.astimezone(UTC)

    def access_valid_for(self, margin: timedelta, now: datetime | None = None) -> bool:
        return self.access_expires_at - margin > (now or utcnow())

    def to_secret_json(self) -> str:
        """JSON including the secret values: only for a secret store (keyring, encrypted DB)."""
        return json.dumps(
            {
                "access_token": self.access_token.get_secret_value(),
                "refresh_token": self.refresh_token.get_secret_value()
                if self.refresh_token is not None
                else None,
                "access_expires_at": self.access_expires_at.isoformat(),
                "refresh_expires_at": self.refresh_expires_at.isoformat(),
                "account_ids": self.account_ids,
            }
        )

    @classmethod
    def from_secret_json(cls, text: str | bytes) -> TokenSet:
        data: dict[str, Any] = json.loads(text)
        return cls.model_validate(data)


class TokenStatus(BaseModel):
    """What ``status()`` reports about a stored token set: times and ids, never secrets."""

    key: str
    provider: str
    app_id: str
    principal: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    account_ids: list[int]
    access_valid: bool
    refresh_expired: bool
    refresh_expiring_soon: bool  # within 7 days (and not yet expired)
    has_refresh_token: bool = True  # False: client credentials, re-obtained when expired
    updated_at: datetime | None = None

    @classmethod
    def of(
        cls,
        key: TokenKey,
        access_expires_at: datetime,
        refresh_expires_at: datetime,
        account_ids: list[int],
        updated_at: datetime | None = None,
        now: datetime | None = None,
    ) -> TokenStatus:
        now = now or utcnow()
        access_expires_at, refresh_expires_at = (
            as_utc(access_expires_at),
            as_utc(refresh_expires_at),
        )
        refresh_expired = refresh_expires_at <= now
        has_refresh = refresh_expires_at < NO_REFRESH_EXPIRY
        return cls(
            key=str(key),
            provider=key.provider,
            app_id=key.app_id,
            principal=key.principal,
            access_expires_at=access_expires_at,
            refresh_expires_at=refresh_expires_at,
            account_ids=list(account_ids),
            access_valid=access_expires_at > now,
            refresh_expired=refresh_expired,
            refresh_expiring_soon=not refresh_expired
            and refresh_expires_at - now <= REFRESH_WARNING_WINDOW,
            has_refresh_token=has_refresh,
            updated_at=as_utc(updated_at) if updated_at else None,
        )
