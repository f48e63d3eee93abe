"""Product settings: environment (``ADSYNC_*``), ``.env``, and an optional TOML file.

Secrets (app secrets, encryption key, webhook) come from the environment or ``.env`` only and are
``SecretStr``: their repr is masked, so a settings object can be logged safely. Non-secret,
structured config (accounts, Bitable table/field names) may live in a TOML file named by
``ADSYNC_CONFIG_FILE`` (default ``adsync.toml`` in the working directory, if present).

Invalid settings raise :class:`ConfigError` whose message is one line naming the setting; the CLI
turns that into exit code 2 without a traceback. Nothing is ignored silently: an unknown
``ADSYNC_*`` variable (environment or ``.env``) or an unknown TOML key is an error with a "did you
mean" suggestion, a secret in the TOML file is an error, and each sink is either fully configured
or explicitly disabled (``ADSYNC_FEISHU_ENABLED=false``).
"""

from __future__ import annotations

import difflib
import io
import os
import re
import tomllib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from integrations.tenant_config import TenantConfig

ENV_PREFIX = "ADSYNC_"
SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")
# Variables with the ADSYNC_ prefix that are not product settings: the config file's name, the
# monitor's thresholds (integrations/monitoring/config.py) and the test suite's server URLs.
_OTHER_VARIABLES = ("CONFIG_FILE",)
# The Bitable sink needs all of these (ADSYNC_FEISHU_ENABLED=false switches it off instead).
FEISHU_BITABLE_SETTINGS = ("feishu_app_id", "feishu_app_secret", "feishu_app_token")


class ConfigError(Exception):
    """An invalid or missing setting. ``str(err)`` is one line naming the setting."""


class BitableTableConfig(BaseModel):
    """Per-dataset Bitable overrides: table name and field-name mapping (ours → theirs)."""

    model_config = ConfigDict(extra="forbid")  # a typo ("feilds") must not be dropped silently

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
    # Split the app's QPS among every process using it, through the app database
    # (shared_ratelimit.py). auto: when the database is a server (PostgreSQL/MariaDB), where
    # several workers may run; SQLite means one host, usually one process: the in-process bucket.
    oceanengine_shared_qps: Literal["auto", "on", "off"] = "auto"
    oceanengine_timeout_s: float = Field(default=30.0, gt=0)
    # Oldest day the reports serve, in days before China today (unconfirmed; BUB documents
    # today-365 for the account report). Older backfill starts are clamped with a warning.
    oceanengine_report_max_lookback_days: int = Field(default=365, ge=1)
    # DOU+ money unit is unconfirmed by public sources (docs/contracts/oceanengine.md §4.2).
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
    # None: on when its settings are present; false: off even if they are; true: must be set.
    feishu_enabled: bool | None = None
    feishu_base_url: str = "https://open.feishu.cn"
    feishu_app_id: str | None = None
    feishu_app_secret: SecretStr | None = None
    feishu_app_token: str | None = None  # the Bitable base
    feishu_webhook_url: SecretStr | None = None
    feishu_webhook_secret: SecretStr | None = None
    # Your tenant's web address (e.g. https://example.feishu.cn): links on the run card.
    feishu_web_url: str | None = None
    # The bot's keyword security (关键词): put in every card's title, or Feishu answers 19024.
    feishu_webhook_keyword: str | None = None
    # Change events (accounts, stock) forwarded beyond Prefect (integrations/events.py). A URL
    # may carry a token: secret, never printed.
    events_webhook_url: SecretStr | None = None
    bitable_tables: dict[str, BitableTableConfig] = Field(default_factory=dict)
    # Records one Bitable table may hold (Feishu answers 1254103 past it). Every error table
    # documents 20,000; the exact cap depends on the tenant's plan, so a smaller (or, on a
    # plan that allows it, larger) tenant sets it here. The sink's fit check, rotation advice
    # and monitor.py's 80 % warning all use it.
    feishu_max_records_per_table: int = Field(default=20_000, ge=1, le=10_000_000)

    # --- supplier (海尔 open platform) ---------------------------------------------------------
    # Optional: required (require_supplier) only when a supplier flow runs.
    supplier_base_url: str | None = None
    supplier_token_url: str | None = None  # default: <supplier_base_url>/oauth2/auth
    supplier_client_id: str | None = None
    supplier_client_secret: SecretStr | None = None
    supplier_customer_code: str | None = None  # customerCode / sellerCode
    supplier_send_to_code: str | None = None  # salesCode of the stock query (送达方)
    supplier_code: str | None = None  # supplierCode
    supplier_timeout_s: float = Field(default=30.0, gt=0)
    supplier_media_dir: Path | None = None  # product images; default <data_dir>/media/supplier
    # A stock change of at least this many units (vs the previous observation) emits a Prefect
    # event adsync.supplier.stock.changed (flows/supplier.py).
    supplier_stock_alert_threshold: int = Field(default=20, ge=1)

    # --- Prefect -----------------------------------------------------------------------------
    prefect_ui_url: str | None = None  # for links in notifications

    # --- tenants (adsync.toml [[tenants]]; integrations/tenants.py) --------------------------
    # Empty: the flat settings above are the one tenant "default".
    tenants: list[TenantConfig] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown IANA timezone {v!r}") from e
        return v

    @field_validator(
        "oceanengine_base_url",
        "feishu_base_url",
        "prefect_ui_url",
        "supplier_base_url",
        "supplier_token_url",
    )
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        check_http_url(v)
        return v

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, v: Path) -> Path:
        if v.exists() and not v.is_dir():
            raise ValueError(f"{v} exists and is not a directory")
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
        db = url.database or ""
        if url.get_backend_name() == "sqlite" and db and db != ":memory:":
            # An explicit SQLite path must be in an existing directory: creating /nonexistent/dir
            # for a mistyped URL would hide the typo (the default in the data dir is created).
            parent = Path(db).expanduser().parent
            if not db.startswith("file:") and not parent.is_dir():
                raise ValueError(f"directory {parent} does not exist (create it or fix the path)")
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def supplier_media_path(self) -> Path:
        return self.supplier_media_dir or self.data_dir / "media" / "supplier"

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


def check_http_url(v: str) -> None:
    """ValueError unless ``v`` is an absolute http(s) URL with a host (no retrying a typo)."""
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host: {v!r} (e.g. https://api.example.com)")
    try:
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError(f"bad port in URL {v!r}") from None


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _known_env_names() -> set[str]:
    from integrations.monitoring.config import MonitorSettings

    names = {f"{ENV_PREFIX}{n.upper()}" for n in Settings.model_fields}
    names |= {f"{ENV_PREFIX}{n}" for n in _OTHER_VARIABLES}
    names |= {f"{ENV_PREFIX}MONITOR_{n.upper()}" for n in MonitorSettings.model_fields}
    return names


def _check_variable_names(names: Iterable[str], where: str, extra: Iterable[str] = ()) -> None:
    known = _known_env_names() | {n.upper() for n in extra}
    for raw in names:
        name = raw.upper()
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        if name.startswith(f"{ENV_PREFIX}TEST_"):  # the test suite's database URLs
            continue
        raise ConfigError(
            f"{raw}{where}: unknown setting{_did_you_mean(name, known)}; "
            "remove it or fix its name (the README lists every setting)"
        )


def read_dotenv(path: Path = Path(".env")) -> dict[str, str | None]:
    """The variables of a ``.env`` file; ConfigError (one line) if any line cannot be parsed.

    python-dotenv would print a warning per bad line (hundreds for a file that is not a .env at
    all) and go on; a half-read configuration is worse than a clear stop.
    """
    if not path.is_file():
        return {}
    from dotenv.parser import parse_stream

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read ({type(e).__name__}); is it a .env file?") from None
    out: dict[str, str | None] = {}
    bad = [b.original.line for b in parse_stream(io.StringIO(text)) if b.error]
    if bad:
        raise ConfigError(
            f"{path}: {len(bad)} line(s) are not KEY=value (first: line {bad[0]}); "
            "fix or remove them"
        )
    for b in parse_stream(io.StringIO(text)):
        if b.key is not None:
            out[b.key] = b.value
    return out


def _secret_fields() -> set[str]:
    return {n for n, f in Settings.model_fields.items() if "SecretStr" in repr(f.annotation)}


def _check_toml(path: Path) -> dict[str, Any]:
    """Parse the TOML config and reject unknown keys/tables and secrets, naming them."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{ENV_PREFIX}CONFIG_FILE ({path}): invalid TOML: {e}") from None
    fields = set(Settings.model_fields)
    secrets = _secret_fields()
    for key in data:
        if key in secrets:
            raise ConfigError(
                f"{path}: {key} is a secret; set {ENV_PREFIX}{key.upper()} in the environment "
                "or .env instead, and remove it from the file"
            )
        if key not in fields:
            raise ConfigError(f"{path}: unknown key {key!r}{_did_you_mean(key, fields)}")
    _check_toml_tenants(path, data.get("tenants", []))
    tables = data.get("bitable_tables", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: bitable_tables must be a table of [bitable_tables.<dataset>]")
    table_keys = set(BitableTableConfig.model_fields)
    # Datasets with a Bitable table (declared in integrations/sources/*/datasets.py). Imported
    # here, not at the top: the sources' modules read settings themselves.
    from integrations.sources.registry import bitable_datasets

    known = bitable_datasets()
    for dataset, cfg in tables.items():
        if dataset not in known:
            raise ConfigError(
                f"{path}: unknown table [bitable_tables.{dataset}]"
                f"{_did_you_mean(dataset, known)}; known: {', '.join(known)}"
            )
        for key in cfg if isinstance(cfg, dict) else ():
            if key not in table_keys:
                raise ConfigError(
                    f"{path}: unknown key {key!r} in [bitable_tables.{dataset}]"
                    f"{_did_you_mean(key, table_keys)}"
                )
    return data


def _tenant_keys(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """Key → nested model (or None for a leaf) of a tenant table, for unknown-key checks."""
    out: dict[str, type[BaseModel] | None] = {}
    for name, f in model.model_fields.items():
        nested = [a for a in (f.annotation, *getattr(f.annotation, "__args__", ())) if a]
        sub = next((a for a in nested if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if sub is None:  # list[Model]
            for a in nested:
                for inner in getattr(a, "__args__", ()):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        sub = inner
        out[name] = sub
    return out


def _check_tenant_table(path: Path, tenant: str, where: str, table: Any, model: type) -> None:
    if isinstance(table, list):
        for item in table:
            _check_tenant_table(path, tenant, where, item, model)
        return
    if not isinstance(table, dict):
        return  # a wrong type: pydantic names it (with the tenant) below
    keys = _tenant_keys(model)
    for key, value in table.items():
        at = f"{where}.{key}" if where else key
        if key.endswith("secret") or key in ("app_secret", "token", "access_token"):
            raise ConfigError(
                f"{path}: tenant {tenant!r}: {at} is a secret; name the environment variable "
                f'holding it instead ({key}_env = "SOME_VARIABLE") and remove it from the file'
            )
        if key not in keys:
            raise ConfigError(
                f"{path}: tenant {tenant!r}: unknown key {at!r}{_did_you_mean(key, keys)}"
            )
        sub = keys[key]
        if sub is not None and key != "labels":
            _check_tenant_table(path, tenant, at, value, sub)


def _check_toml_tenants(path: Path, raw: Any) -> None:
    """Unknown keys, secrets and invalid values in [[tenants]], naming the tenant and key."""
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: tenants must be an array of tables ([[tenants]] entries)")
    for i, table in enumerate(raw):
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: tenants[{i}] must be a table ([[tenants]] entry)")
        tenant = str(table.get("name") or f"#{i + 1}")
        _check_tenant_table(path, tenant, "", table, TenantConfig)
        try:
            TenantConfig.model_validate(table)
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc") or ()) or "tenant"
            msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            raise ConfigError(f"{path}: tenant {tenant!r}: {loc}: {msg}") from None


def _tenant_secret_variables(toml_data: dict[str, Any]) -> set[str]:
    """Environment variables the tenants name for their secrets (ADSYNC_-prefixed ones too)."""
    out: set[str] = set()
    for t in toml_data.get("tenants", []):
        for app in ("oceanengine", "feishu"):
            var = (t.get(app) or {}).get("app_secret_env") if isinstance(t, dict) else None
            if isinstance(var, str):
                out.add(var)
    return out


def _one_line(err: ValidationError, toml_keys: Iterable[str] = (), toml: Path | None = None) -> str:
    first = err.errors()[0]
    loc = tuple(str(p) for p in first.get("loc") or ())
    name = loc[0] if loc else "settings"
    msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    env_name = f"{ENV_PREFIX}{name.upper()}"
    from_env = env_name in {k.upper() for k in os.environ}
    if name in set(toml_keys) and toml is not None and not from_env:
        return f"{toml}: {'.'.join(loc)}: {msg}"
    where = f" ({'.'.join(loc[1:])})" if len(loc) > 1 else ""
    return f"{env_name}{where}: {msg}"


def settings_error_line(err: SettingsError, prefix: str = ENV_PREFIX) -> str:
    """One line for pydantic-settings' "error parsing value for field X from source Y"."""
    m = re.search(r'field "(\w+)" from source "(\w+)"', str(err))
    if not m:
        return f"{prefix}*: {err}"
    field, source = m.groups()
    where = " (.env)" if source.startswith("DotEnv") else ""
    return f"{prefix}{field.upper()}{where}: not valid JSON (a JSON list or object is expected)"


def check_sinks(s: Settings) -> None:
    """Each sink is configured in full or explicitly disabled; ConfigError naming what is missing."""
    set_ = [n for n in FEISHU_BITABLE_SETTINGS if getattr(s, n) not in (None, "")]
    missing = [f"{ENV_PREFIX}{n.upper()}" for n in FEISHU_BITABLE_SETTINGS if n not in set_]
    if s.feishu_enabled is not False and missing and (set_ or s.feishu_enabled):
        raise ConfigError(
            f"Feishu Bitable is partly configured: {', '.join(missing)} not set "
            f"(set {'them' if len(missing) > 1 else 'it'}, or {ENV_PREFIX}FEISHU_ENABLED=false "
            "to run without Bitable)"
        )
    if s.feishu_webhook_secret is not None and s.feishu_webhook_url is None:
        raise ConfigError(
            f"{ENV_PREFIX}FEISHU_WEBHOOK_SECRET is set but {ENV_PREFIX}FEISHU_WEBHOOK_URL is not"
        )
    if s.feishu_webhook_url is not None:
        try:
            check_http_url(s.feishu_webhook_url.get_secret_value())
        except ValueError:
            raise ConfigError(
                f"{ENV_PREFIX}FEISHU_WEBHOOK_URL: not an http(s) URL (value not shown: secret)"
            ) from None


def _check_events_webhook(s: Settings) -> None:
    if s.events_webhook_url is not None:
        try:
            check_http_url(s.events_webhook_url.get_secret_value())
        except ValueError:
            raise ConfigError(
                f"{ENV_PREFIX}EVENTS_WEBHOOK_URL: not an http(s) URL (value not shown: secret)"
            ) from None


def bitable_configured(s: Settings) -> bool | None:
    """True: write Bitable; False: explicitly disabled; None: neither configured nor disabled."""
    if s.feishu_enabled is False:
        return False
    if all(getattr(s, n) not in (None, "") for n in FEISHU_BITABLE_SETTINGS):
        return True
    return None


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, .env and TOML; ConfigError on anything invalid."""
    toml = _config_file()
    toml_data = _check_toml(toml) if toml is not None else {}
    named = _tenant_secret_variables(toml_data)
    for where, names in (("", os.environ), (" (in .env)", read_dotenv())):
        if f"{ENV_PREFIX}TENANTS" in {n.upper() for n in names}:
            raise ConfigError(
                f"{ENV_PREFIX}TENANTS{where}: tenants are configured in adsync.toml "
                "([[tenants]] entries), not in a variable; remove it"
            )
    _check_variable_names(os.environ, "", named)
    _check_variable_names(read_dotenv(), " (in .env)", named)
    try:
        s = Settings(**overrides)
    except ValidationError as e:
        raise ConfigError(_one_line(e, toml_data, toml)) from None
    except SettingsError as e:
        raise ConfigError(settings_error_line(e)) from None
    except (OSError, ValueError) as e:  # unreadable files
        raise ConfigError(f"{ENV_PREFIX}CONFIG_FILE: {e}") from None
    check_sinks(s)
    _check_events_webhook(s)
    return s


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached). Tests call ``get_settings.cache_clear()``."""
    return load_settings()


def require(settings: Settings, *names: str) -> None:
    """Raise ConfigError naming the first missing setting among ``names``."""
    for n in names:
        if getattr(settings, n) in (None, ""):
            raise ConfigError(f"{ENV_PREFIX}{n.upper()}: required but not set")


# What a supplier flow needs (the token URL, timeout and media directory have defaults).
SUPPLIER_SETTINGS = (
    "supplier_base_url",
    "supplier_client_id",
    "supplier_client_secret",
    "supplier_customer_code",
    "supplier_send_to_code",
    "supplier_code",
)


def require_supplier(settings: Settings) -> None:
    """ConfigError naming the first missing supplier setting (called when a supplier flow runs)."""
    require(settings, *SUPPLIER_SETTINGS)
