"""``adsync run <flow>``, ``adsync demo``, ``adsync serve``: running flows from a terminal.

``run`` prints the run summary and exits 0 when every account succeeded, 1 when the run was
partial or failed (so cron/CI wrappers can tell). Settings, parameters, the database and the
stored tokens are checked before Prefect starts: a run that cannot start is one line and exit 2
(:class:`ConfigError`), with no temporary server, no traceback and no ledger row.
"""

from __future__ import annotations

import os
import sys
from datetime import date as Date
from pathlib import Path
from typing import NoReturn

import typer

from integrations.settings import ConfigError, get_settings

run_app = typer.Typer(help="Run one flow now, in this terminal.", no_args_is_help=True)

_DATE = typer.Option(None, "--date", help="One China date, YYYY-MM-DD.")
_START = typer.Option(None, "--start", help="Backfill start (inclusive), YYYY-MM-DD.")
_END = typer.Option(None, "--end", help="Backfill end (inclusive), YYYY-MM-DD.")
_ACCOUNTS = typer.Option(None, "--accounts", help="Only these account ids (repeatable).")


def prepare_prefect(start_server: bool = False) -> None:
    # Without a Prefect server, Prefect starts a temporary one backed by ~/.prefect/prefect.db
    # (the same database `prefect server start` uses, so the run shows up in the UI later).
    # Its default 20 s startup timeout is too tight for a cold start on a small machine.
    # Prefect reads its settings when first imported: the CLI calls this before that.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # No machine here reaches Prefect's telemetry host; don't log an error about it every run.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Its client side too (Prefect 3.8 prints a 3-line usage-data notice on a terminal's first run).
    os.environ.setdefault("DO_NOT_TRACK", "1")
    if start_server:
        # Only when a flow is about to run (never for --help or a refused command): a
        # temporary server started here dies with this process, even on SIGKILL.
        from flows.ephemeral_server import ensure_guarded_server

        ensure_guarded_server()


def parse_day(value: str | None, option: str) -> Date | None:
    """``YYYY-MM-DD`` → date; ConfigError naming the option (e.g. ``--date 2026-02-30``)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) != 10:
            raise ValueError
        return Date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{option} {value}: not a date (expected YYYY-MM-DD, a real calendar day)"
        ) from None


_TENANT = typer.Option(
    "default",
    "--tenant",
    help="Tenant of adsync.toml's [[tenants]] (its app, principals, accounts, bases).",
)


def preflight(flow_name: str, tenant: str = "default", **window: object) -> None:
    """Everything a run of ``flow_name`` for ``tenant`` needs, checked before Prefect starts
    (ConfigError; an unknown tenant names the known ones, with "did you mean").

    ``window``: date/start/end/lookback_days for dated flows (checked like the flow will).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from flows.runtime import check_flow_settings, tenant_runtime_settings, uses_oceanengine
    from integrations.database.engine import mask_url
    from token_store.errors import TokenStoreError

    s = tenant_runtime_settings(get_settings(), tenant)
    if window:
        from flows.window import resolve_window

        lookback = window.get("lookback_days")
        if lookback is not None and (not isinstance(lookback, int) or lookback < 0):
            raise ConfigError(f"--lookback-days {lookback}: must be an integer >= 0")
        try:
            resolve_window(
                date=window.get("date"),  # type: ignore[arg-type]
                start=window.get("start"),  # type: ignore[arg-type]
                end=window.get("end"),  # type: ignore[arg-type]
                lookback_days=s.lookback_days if lookback is None else lookback,
                tz=s.timezone,
            )
        except ValueError as e:
            raise ConfigError(f"--date/--start/--end: {e}") from None
    check_flow_settings(s, flow_name)
    try:
        from integrations.database.migrate import upgrade
        from token_store.api import build_token_store

        upgrade(s.db_url)  # what the run does first anyway; idempotent
        if uses_oceanengine(flow_name):
            for p in _principals(tenant):  # each principal's set: stored and decryptable
                build_token_store(s.model_copy(update={"oceanengine_principal": p})).get()
    except SQLAlchemyError as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        raise ConfigError(f"ADSYNC_DATABASE_URL ({mask_url(s.db_url)}): {reason}") from None
    except TokenStoreError as e:
        raise ConfigError(str(e)) from None


def _principals(tenant: str) -> list[str]:
    s = get_settings()
    if not s.tenants:
        return [s.oceanengine_principal]
    from integrations.tenants import get_tenant

    return list(get_tenant(s, tenant).principals)


def execute(flow_fn, **params):
    """Run a flow in this process; return its RunSummary (None if the flow crashed before one)."""
    from flows.progress import live_display, quiet_task_logging
    from flows.summary import RunSummary
    from flows.sync_run import summary_of

    prepare_prefect(start_server=True)
    quiet_task_logging()
    with live_display(sys.stdout.isatty()):
        state = flow_fn(**{k: v for k, v in params.items() if v is not None}, return_state=True)
    summary = summary_of(state)
    if isinstance(summary, RunSummary):
        typer.echo(summary.text())
        return summary
    typer.echo(f"adsync: {flow_fn.name}: {state.name}: {state.message or summary}", err=True)
    return None


def finish(code: int) -> NoReturn:
    """End a run command with ``code``; from the ``adsync`` console script, without the
    interpreter's teardown.

    After a run, freeing the process's heap (Prefect, pydantic, polars, every module) took
    10+ s on a loaded 2-core machine (bench/RESULTS.md), all after the work was done. What a
    normal exit does before that teardown is done here, in the same order: the threads' exit
    hooks (Prefect's log and event workers deliver what they hold), the atexit handlers (e.g.
    stopping a temporary Prefect server), flushing the output; then the process ends. Called
    in-process (tests, ``python -c``), it is an ordinary exit.
    """
    if Path(sys.argv[0]).name != "adsync":
        raise typer.Exit(code)
    import atexit
    import threading

    threading._shutdown()  # type: ignore[attr-defined]  # noqa: SLF001 - see docstring
    atexit._run_exitfuncs()  # noqa: SLF001
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_flow(flow_fn, **params) -> int:
    """Run a flow, print its summary, return the exit code (0 = every account succeeded)."""
    from flows.summary import RunStatus

    summary = execute(flow_fn, **params)
    return 0 if summary is not None and summary.status is RunStatus.SUCCESS else 1


def _window(
    date: str | None, start: str | None, end: str | None, lookback_days: int | None
) -> dict[str, object]:
    return {
        "date": parse_day(date, "--date"),
        "start": parse_day(start, "--start"),
        "end": parse_day(end, "--end"),
        "lookback_days": lookback_days,
    }


@run_app.command("laike")
def run_laike(
    date: str | None = _DATE,
    start: str | None = _START,
    end: str | None = _END,
    accounts: list[int] | None = _ACCOUNTS,
    lookback_days: int | None = typer.Option(None, "--lookback-days"),
    tenant: str = _TENANT,
) -> None:
    """抖音来客 / 本地推 promotion report (default: yesterday + lookback)."""
    window = _window(date, start, end, lookback_days)
    preflight("laike-daily", tenant, **window)
    from flows.laike import laike_daily

    finish(run_flow(laike_daily, accounts=accounts or None, tenant=tenant, **window))


@run_app.command("douplus")
def run_douplus(
    date: str | None = _DATE,
    start: str | None = _START,
    end: str | None = _END,
    accounts: list[str] | None = typer.Option(
        None, "--accounts", help="Only these 抖音号 (aweme_sec_uid or account id; repeatable)."
    ),
    full: bool = typer.Option(
        False, "--full", help="Orders created in the last 90 days (default: the last 7)."
    ),
    lookback_days: int | None = typer.Option(None, "--lookback-days"),
    tenant: str = _TENANT,
) -> None:
    """DOU+ orders, daily order stats and the video ranking (default: yesterday + lookback)."""
    window = _window(date, start, end, lookback_days)
    preflight("douplus-daily", tenant, **window)
    from flows.douplus import douplus_daily

    finish(run_flow(douplus_daily, accounts=accounts or None, full=full, tenant=tenant, **window))


@run_app.command("douplus-intraday")
def run_douplus_intraday(
    accounts: list[str] | None = typer.Option(
        None, "--accounts", help="Only these 抖音号 (aweme_sec_uid or account id; repeatable)."
    ),
    tenant: str = _TENANT,
) -> None:
    """Today's numbers of the DOU+ orders delivering now (the intraday refresh)."""
    preflight("douplus-intraday", tenant)
    from flows.douplus_intraday import douplus_intraday

    finish(run_flow(douplus_intraday, accounts=accounts or None, tenant=tenant))


@run_app.command("accounts")
def run_accounts(
    cc_account_types: list[str] | None = typer.Option(
        None,
        "--cc-account-type",
        help="Customer-center account types listed under each 工作台 (repeatable; default LOCAL).",
    ),
    tenant: str = _TENANT,
) -> None:
    """Authorised accounts → ad_accounts; a Prefect event per added/removed/renamed/disabled."""
    preflight("accounts-hourly", tenant)
    from flows.accounts import accounts_hourly

    finish(run_flow(accounts_hourly, cc_account_types=cc_account_types or None, tenant=tenant))


@run_app.command("dpa")
def run_dpa(
    advertisers: list[int] | None = typer.Option(
        None, "--advertisers", help="Only these advertiser ids (repeatable)."
    ),
    tenant: str = _TENANT,
) -> None:
    """头条 DPA product libraries (motion-comic album/playlet ids) → DB → Bitable."""
    preflight("dpa-daily", tenant)
    from flows.dpa import dpa_daily

    finish(run_flow(dpa_daily, advertisers=advertisers or None, tenant=tenant))


_CODES = typer.Option(None, "--product-codes", help="Only these product codes (repeatable).")
_BRAND = typer.Option(None, "--brand", help="Only products of this brand (repeatable).")
_CATEGORY = typer.Option(None, "--category", help="Only products of this category (repeatable).")
_COUNTIES = typer.Option(None, "--county", help="Stock of this county code (repeatable; 110101).")
_AS_OF = typer.Option(
    None, "--as-of", help="Stock observation time with its zone (default: now), ISO 8601."
)


def _as_of(value: str | None) -> object:
    if value is None:
        return None
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--as-of {value}: not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ConfigError(f"--as-of {value}: needs a zone, e.g. +08:00")
    return parsed


@run_app.command("supplier-daily")
def run_supplier_daily(
    product_codes: list[str] | None = _CODES,
    brand: list[str] | None = _BRAND,
    category: list[str] | None = _CATEGORY,
    counties: list[str] | None = _COUNTIES,
    orders: list[str] | None = typer.Option(
        None, "--order", help="Also fetch the logistics of this order code (repeatable)."
    ),
    as_of: str | None = _AS_OF,
) -> None:
    """Supplier products (+ images), prices and stock → DB → Bitable."""
    when = _as_of(as_of)
    preflight("supplier-daily")
    from flows.supplier import supplier_daily

    finish(
        run_flow(
            supplier_daily,
            product_codes=product_codes or None,
            brand=brand or None,
            category=category or None,
            counties=counties or None,
            orders=orders or None,
            as_of=when,
        )
    )


@run_app.command("supplier-prices")
def run_supplier_prices(
    product_codes: list[str] | None = _CODES,
    brand: list[str] | None = _BRAND,
    category: list[str] | None = _CATEGORY,
) -> None:
    """Supplier prices of the stored products → DB → Bitable 供应商价格."""
    preflight("supplier-prices")
    from flows.supplier import supplier_prices

    finish(
        run_flow(
            supplier_prices,
            product_codes=product_codes or None,
            brand=brand or None,
            category=category or None,
        )
    )


@run_app.command("supplier-stock")
def run_supplier_stock(
    product_codes: list[str] | None = _CODES,
    brand: list[str] | None = _BRAND,
    category: list[str] | None = _CATEGORY,
    counties: list[str] | None = _COUNTIES,
    as_of: str | None = _AS_OF,
) -> None:
    """Supplier stock per county → DB → Bitable 供应商库存 (+ change events)."""
    when = _as_of(as_of)
    preflight("supplier-stock")
    from flows.supplier import supplier_stock

    finish(
        run_flow(
            supplier_stock,
            product_codes=product_codes or None,
            brand=brand or None,
            category=category or None,
            counties=counties or None,
            as_of=when,
        )
    )


def demo(
    state_dir: Path = typer.Option(Path("data/sandbox"), help="Sandbox state directory."),
    keep_serving: bool = typer.Option(
        False, "--keep-serving", help="Keep the sandbox up afterwards to browse its page."
    ),
) -> None:
    """Zero-credential demo: sandbox + SQLite + the 来客, DOU+, accounts, DPA and supplier flows."""
    from flows.demo import run_demo

    finish(run_demo(state_dir=state_dir, keep_serving=keep_serving))


def serve(
    prefect_yaml: Path = typer.Option(Path("prefect.yaml"), help="Deployments to serve."),
    limit: int = typer.Option(4, help="Max concurrent flow runs."),
) -> None:
    """Serve every deployment of prefect.yaml from this process (one machine, no work pool)."""
    from flows.serve import serve_deployments

    serve_deployments(prefect_yaml, limit=limit)


deployments_app = typer.Typer(help="Prefect deployments per tenant.", no_args_is_help=True)


@deployments_app.command("generate")
def deployments_generate(
    prefect_yaml: Path = typer.Option(Path("prefect.yaml"), help="The deployments to copy."),
    output: Path = typer.Option(Path("prefect.tenants.yaml"), help="The file written."),
) -> None:
    """Each [[tenants]] entry's deployments and schedules → prefect.tenants.yaml (deploy it
    with `prefect --no-prompt deploy --all --prefect-file prefect.tenants.yaml`)."""
    from flows.tenant_deployments import generate

    names = generate(get_settings(), prefect_yaml, output)
    typer.echo(f"wrote {len(names)} deployment(s) to {output}: {', '.join(names)}")
    typer.echo(f"deploy: prefect --no-prompt deploy --all --prefect-file {output}")


def register(app: typer.Typer) -> None:
    """Attach the flow commands to the root app (``main`` prepared Prefect's environment)."""
    app.add_typer(run_app, name="run")
    app.add_typer(deployments_app, name="deployments")
    app.command("demo")(demo)
    app.command("serve")(serve)
