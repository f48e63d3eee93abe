"""Monitor-specific settings (``ADSYNC_MONITOR_*``) and China-date helpers.

Kept apart from :mod:`integrations.settings` so the monitor's thresholds can evolve without
touching the product settings every flow loads; same sources (environment, ``.env``) and the same
one-line :class:`ConfigError` on invalid values.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from integrations.settings import ConfigError, settings_error_line
from integrations.sources.registry import known_flows

# Flow names shared by the ledger, Prefect flows and prefect.yaml deployments: the flows that load
# the declared datasets (``Dataset.flow``).
KNOWN_FLOWS: tuple[str, ...] = known_flows()
ENV_PREFIX = "ADSYNC_MONITOR_"


class MonitorSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Flows/deployments to watch. Empty = the known adsync flows (Prefect) / the flows seen in the
    # ledger in the last 30 days (ledger fallback), so an unused flow never raises noise.
    flows: list[str] = Field(default_factory=list)
    # A run still RUNNING after this long is reported (critical: it holds locks and API quota).
    run_timeout_h: float = Field(default=2.0, gt=0)
    # Ledger fallback: a flow with no SUCCESS run for this long is critical.
    max_success_age_h: float = Field(default=26.0, gt=0)
    # A scheduled run still Scheduled/Late/Pending this long after its start time is "missing".
    late_grace_min: float = Field(default=30.0, ge=0)
    # A refresh token expiring within this many days is a warning (expired: critical).
    token_warn_days: float = Field(default=7.0, ge=0)
    # Volume anomaly: rows on the expected day below ratio × median of the trailing days.
    volume_ratio: float = Field(default=0.5, gt=0, le=1)
    volume_days: int = Field(default=7, ge=2, le=60)
    # Prefect /health probe timeout: the monitor must answer in seconds even with Prefect down.
    prefect_timeout_s: float = Field(default=1.5, gt=0, le=30)
    # Bitable duplicate-key scan: skip with ADSYNC_MONITOR_BITABLE_CHECK=false (e.g. offline).
    bitable_check: bool = True


def load_monitor_settings() -> MonitorSettings:
    try:
        return MonitorSettings()
    except ValidationError as e:
        first = e.errors()[0]
        loc = first.get("loc") or ("settings",)
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise ConfigError(f"{ENV_PREFIX}{str(loc[0]).upper()}: {msg}") from None
    except SettingsError as e:  # a list/JSON setting that is not JSON
        raise ConfigError(settings_error_line(e, ENV_PREFIX)) from None


def utcnow() -> datetime:
    return datetime.now(UTC)


def china_today(tz: ZoneInfo, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(tz).date()


def expected_latest_date(tz: ZoneInfo, now: datetime | None = None) -> date:
    """The newest report date a healthy setup holds: yesterday in China time."""
    return china_today(tz, now) - timedelta(days=1)


def as_utc(dt: datetime) -> datetime:
    """DB timestamps are naive UTC by convention; Prefect's are aware."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
