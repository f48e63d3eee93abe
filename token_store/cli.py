"""``adsync tokens ...``: consent URL, auth-code exchange, status, import. Never prints secrets.

``ConfigError`` propagates to ``flows.cli.main`` (one line, exit 2); token store errors are
printed here as one line with exit 1.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from integrations.settings import Settings, get_settings, require
from token_store.api import CODE_NOT_USED, TokenStore, build_token_store
from token_store.errors import TokenNotFound, TokenStoreError
from token_store.importer import ImportFormatError, parse_token_json
from token_store.models import TokenKey, TokenStatus
from token_store.oauth import OceanEngineOAuth

app = typer.Typer(help="Ocean Engine OAuth token store.", no_args_is_help=True)

PRINCIPAL_HELP = (
    "Authorising principal (default: the tenant's first, or ADSYNC_OCEANENGINE_PRINCIPAL)."
)
TENANT_HELP = "Tenant of adsync.toml's [[tenants]] whose app the tokens belong to."


def _settings(tenant: str | None, principal: str | None = None) -> Settings:
    """The settings of ``--tenant`` (its app and principal) or the single setup."""
    from integrations.tenants import settings_for

    return settings_for(get_settings(), tenant, principal=principal)


@contextmanager
def _errors() -> Iterator[None]:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (TokenStoreError, ImportFormatError) as e:
        typer.echo(f"adsync tokens: {e}", err=True)
        raise typer.Exit(1) from None
    except SQLAlchemyError as e:
        # One line naming the database (password masked), not a driver traceback.
        from integrations.database.engine import mask_url

        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        url = mask_url(get_settings().db_url)
        typer.echo(f"adsync tokens: cannot use ADSYNC_DATABASE_URL ({url}): {reason}", err=True)
        raise typer.Exit(1) from None


def _interactive() -> bool:
    # A keyring may prompt for its password only when a person is at the terminal.
    return sys.stdin.isatty()


def _store_and_key(principal: str | None, tenant: str | None = None) -> tuple[TokenStore, TokenKey]:
    s = _settings(tenant, principal)
    require(s, "oceanengine_app_id")
    key = TokenKey.oceanengine(str(s.oceanengine_app_id), principal or s.oceanengine_principal)
    if s.token_backend == "database":
        from sqlalchemy.exc import SQLAlchemyError

        from integrations.database.engine import mask_url
        from integrations.database.migrate import upgrade

        try:  # storing the first pair on a fresh machine creates the app database
            upgrade(s.db_url)
        except SQLAlchemyError as e:
            reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0][:200]
            raise TokenStoreError(
                f"token store database {mask_url(s.db_url)} is not writable: {reason}"
            ) from None
    return build_token_store(s, interactive=_interactive()), key


def _tz() -> ZoneInfo:
    return get_settings().tz  # ADSYNC_TIMEZONE: China time (Asia/Shanghai) by default


def _t(dt: datetime) -> str:
    """China time (the zone every date of the product is in), with its offset: unambiguous."""
    return f"{dt.astimezone(_tz()).isoformat(sep=' ', timespec='seconds')} ({_tz().key})"


def _describe(st: TokenStatus, echo: Callable[[str], None] = typer.echo) -> None:
    ids = ", ".join(str(i) for i in st.account_ids) or "(none recorded)"
    echo(f"key: {st.key}")
    echo(f"  vendor: {st.provider}")
    echo(f"  accounts: {ids}")
    echo(f"  access token expires:  {_t(st.access_expires_at)}")
    if not st.has_refresh_token:
        echo("  refresh token: none (client credentials: a new token is obtained when needed)")
        return
    flag = " (EXPIRES WITHIN 7 DAYS)" if st.refresh_expiring_soon else ""
    flag = " (EXPIRED: re-authorise)" if st.refresh_expired else flag
    echo(f"  refresh token expires: {_t(st.refresh_expires_at)}{flag}")


def _status_of(key: TokenKey, ts) -> TokenStatus:  # noqa: ANN001 - a TokenSet
    return TokenStatus.of(key, ts.access_expires_at, ts.refresh_expires_at, ts.account_ids)


@app.command("auth-url")
def auth_url(
    redirect_uri: str | None = typer.Option(None, help="Redirect URI registered for the app."),
    state: str | None = typer.Option(None, help="Opaque state echoed back (default: random)."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Print the consent URL; after consent, pass the auth_code to `adsync tokens exchange`."""
    s = _settings(tenant)
    require(s, "oceanengine_app_id")
    url = OceanEngineOAuth.consent_url_for(
        str(s.oceanengine_app_id), state or secrets.token_urlsafe(12), redirect_uri
    )
    typer.echo(url)


@app.command("exchange")
def exchange(
    code: str = typer.Argument(..., help="The auth_code from the consent redirect."),
    principal: str | None = typer.Option(None, help=PRINCIPAL_HELP),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
) -> None:
    """Exchange an auth code (10 minutes, single use) and store the token pair."""
    with _errors():
        try:
            store, key = _store_and_key(principal, tenant)
        except TokenStoreError as e:
            raise TokenStoreError(f"{e}; {CODE_NOT_USED}") from None
        st = store.exchange_auth_code(code, key)
    typer.echo("stored a new token pair")
    _describe(st)


@app.command("status")
def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    tenant: str | None = typer.Option(
        None, "--tenant", help=TENANT_HELP + " Only its app's keys (default: every key)."
    ),
    principal: str | None = typer.Option(None, help="Only this principal's key (with --tenant)."),
) -> None:
    """Expiry times and authorised accounts of every stored key (no secrets)."""
    with _errors():
        # No --tenant: every stored key, whichever app (the store is shared by the tenants).
        s = _settings(tenant, principal) if tenant or principal else get_settings()
        statuses = build_token_store(s, interactive=_interactive()).status()
        if tenant is not None or principal is not None:
            prefix = f"oceanengine:{s.oceanengine_app_id}:"
            statuses = [
                st
                for st in statuses
                if str(st.key).startswith(prefix)
                and (principal is None or str(st.key) == prefix + principal)
            ]
    if as_json:
        out = [st.model_dump(mode="json") for st in statuses]
        for st, doc in zip(statuses, out, strict=True):
            for name in ("access_expires_at", "refresh_expires_at"):
                doc[name] = getattr(st, name).astimezone(_tz()).isoformat(timespec="seconds")
        typer.echo(json.dumps(out, indent=2))
        return
    if not statuses:
        typer.echo("no tokens stored; run `adsync tokens auth-url` to start")
        return
    for st in statuses:
        _describe(st)


@app.command("import")
def import_(
    principal: str | None = typer.Option(None, help=PRINCIPAL_HELP),
    rescue_file: Path | None = typer.Option(
        None,
        "--rescue-file",
        help="A rescue file written by a failed `tokens exchange` (stored under its own key; "
        "deleted once stored).",
    ),
) -> None:
    """Store a token pair read as JSON from stdin (ours, or an older script's token cache).

    Stop the old script first: refresh tokens are single use, so two users of one pair break it.
    """
    if rescue_file is not None:
        s = get_settings()
        with _errors():
            st = build_token_store(s, interactive=_interactive()).import_rescue(rescue_file)
        typer.echo(f"imported the rescued token pair; removed {rescue_file}")
        _describe(st)
        return
    with _errors():
        store, key = _store_and_key(principal)
        result = parse_token_json(sys.stdin.read())
        try:
            old: TokenStatus | None = _status_of(key, store.get(key))
        except TokenNotFound:
            old = None
        store.put(key, result.token_set)
    ts = result.token_set
    if old is None:
        typer.echo("imported a token pair (access + refresh token)")
    else:
        # Say so: the replaced refresh token is gone from the store for good.
        typer.echo(f"imported a token pair, REPLACING the pair stored under {key}:")
        typer.echo(f"  replaced: accounts {', '.join(map(str, old.account_ids)) or '(none)'}")
        typer.echo(f"  replaced: refresh token expires {_t(old.refresh_expires_at)}")
    _describe(_status_of(key, ts))
    if result.estimated:
        typer.echo(
            f"  note: {', '.join(result.estimated)} not in the input: estimated "
            "(the access token counts as expired, so the first use refreshes and records the "
            "real times)"
        )
