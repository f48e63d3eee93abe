"""Product settings: environment (``ADSYNC_*``), ``.env``, and an optional TOML file.

Secrets (app secrets, encryption key, webhook) come from the environment or ``.env`` only and are
``SecretStr``: their repr is masked, so a settings object can be logged safely. Non-secret,
structured config (accounts, Bitable table/field names) may live in a TOML file named by
``ADSYNC_CONFIG_FILE`` (default ``adsync.toml`` in the working directory, if present).

Invalid settings raise :class:`ConfigError` whose message is one line naming the setting; the CLI
turns that into exit code 2 without a traceback.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "ADSYNC_"
SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")


class ConfigError(Exception):
    """An invalid or missing setting. ``str(err)`` is one line naming the setting."""


class BitableTableConfig(BaseModel):
    """Per-dataset Bitable overrides: table name and field-name mapping (ours → theirs)."""

    name: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    # For adopting an existing table without a key field: the business key is derived from
    # these (mapped) fields, joined with "|" (e.g. ["时间", "单元ID"]).
    key_from: list[str] | None = None
    # Feishu caps a table at ~20,000 records (1254103). ``rotate``: one table per period, named
    # "<name> 2026-11" (month), "<name> 2026-W48" (week) or "<name> 2026-11-22" (day), each
    # with its own per-account views. ``retention_days``: rows older than that many days are
    # deleted from Bitable (never from the database). Defaults: one table, everything kept.
    rotate: Literal["none", "month", "week", "day"] = "none"
    retention_days: int | None = Field(default=None, ge=1)


def _default_data_dir() -> Path:
    return Path.cwd() / "data"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- storage -----------------------------------------------------------------------------
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None  # default: sqlite:///<data_dir>/adsync.db
    timezone: str = "Asia/Shanghai"
    lookback_days: int = Field(default=3, ge=0, le=60)

    # --- Ocean Engine ------------------------------------------------------------------------
    oceanengine_base_url: str = "https://api.oceanengine.com"
    oceanengine_app_id: str | None = None
    oceanengine_app_secret: SecretStr | None = None
    # Authorising principal of the token set to use (see token_store key); default "default".
    oceanengine_principal: str = "default"
    # 工作台 (customer-center) account id used to list LOCAL accounts.
    oceanengine_cc_account_id: int | None = None
    oceanengine_qps: float = Field(default=10.0, gt=0, le=1000)
    oceanengine_timeout_s: float = Field(default=30.0, gt=0)
    # DOU+ money unit is unconfirmed by public sources (contracts/oceanengine.md §4.2).
    douplus_money_unit: Literal["fen", "yuan"] = "fen"
    # Account ids → display names (optional; otherwise names come from the API).
    accounts: dict[str, str] = Field(default_factory=dict)
    # Motion-comic (漫剧) DPA advertisers whose products carry album/playlet ids.
    motion_comic_advertiser_ids: list[int] = Field(
        default_factory=lambda: [1854347260793866, 1854528518086986]
    )

    # --- token store -------------------------------------------------------------------------
    token_backend: Literal["database", "keyring"] = "database"
    token_encryption_key: SecretStr | None = None
    token_refresh_margin_s: int = Field(default=3600, ge=0)

    # --- Feishu ------------------------------------------------------------------------------
    feishu_base_url: str = "https://open.feishu.cn"
    feishu_app_id: str | None = None
    feishu_app_secret: SecretStr | None = None
    feishu_app_token: str | None = None  # the Bitable base
    feishu_webhook_url: SecretStr | None = None
    feishu_webhook_secret: SecretStr | None = None
    # The bot's keyword security (关键词): put in every card's title, or Feishu answers 19024.
    feishu_webhook_keyword: str | None = None
    bitable_tables: dict[str, BitableTableConfig] = Field(default_factory=dict)

    # --- Prefect -----------------------------------------------------------------------------
    prefect_ui_url: str | None = None  # for links in notifications

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown IANA timezone {v!r}") from e
        return v

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
        except ArgumentError:
            raise ValueError(
                "not a database URL (expected e.g. sqlite:///data/adsync.db, "
                "postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db)"
            ) from None
        if url.get_backend_name() not in SUPPORTED_BACKENDS:
            raise ValueError(
                f"unsupported database {url.get_backend_name()!r}; "
                f"use one of {', '.join(SUPPORTED_BACKENDS)}"
            )
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def db_url(self) -> str:
        """The effective SQLAlchemy URL (drivers filled in for the supported backends)."""
        if self.database_url:
            return normalize_db_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'adsync.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        toml = _config_file()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)


def _config_file() -> Path | None:
    named = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if named:
        p = Path(named)
        if not p.is_file():
            raise ConfigError(f"{ENV_PREFIX}CONFIG_FILE: no such file {named!r}")
        return p
    default = Path.cwd() / "adsync.toml"
    return default if default.is_file() else None


def normalize_db_url(url: str) -> str:
    """Pick the drivers this project ships for bare ``postgresql://`` / ``mysql://`` URLs."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    elif u.drivername in ("mysql", "mariadb"):
        u = u.set(drivername="mysql+pymysql")
    return u.render_as_string(hide_password=False)


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = first.get("loc") or ()
    name = str(loc[0]) if loc else "settings"
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{ENV_PREFIX}{name.upper()}: {msg}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, .env and TOML; ConfigError on anything invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise ConfigError(_one_line(e)) from None
    except (OSError, ValueError) as e:  # unreadable/invalid TOML, bad .env
        raise ConfigError(f"{ENV_PREFIX}CONFIG_FILE: {e}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached). Tests call ``get_settings.cache_clear()``."""
    return load_settings()


def require(settings: Settings, *names: str) -> None:
    """Raise ConfigError naming the first missing setting among ``names``."""
    for n in names:
        if getattr(settings, n) in (None, ""):
            raise ConfigError(f"{ENV_PREFIX}{n.upper()}: required but not set")
