"""The ``adsync`` command line. Subcommands live next to what they drive; this module wires them.

Every command turns :class:`integrations.settings.ConfigError` into one line on stderr and exit
code 2 (no traceback), and never prints secrets.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

import typer

from integrations.settings import ConfigError

app = typer.Typer(
    name="adsync",
    help="Ocean Engine → SQL database + Feishu Bitable daily sync.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="App database: migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _version() -> str:
    try:
        return version("adsync")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    show_version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if show_version:
        typer.echo(f"adsync {_version()}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is not None and not _asks_for_help():
        # Every command checks every setting first: a typo or a half-configured sink stops it
        # with one line (ConfigError → exit 2 in main), whatever the command would have used.
        from integrations.settings import get_settings

        get_settings()


def _asks_for_help() -> bool:
    return any(a in ("--help", "-h") for a in sys.argv[1:])


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head", help="Alembic revision to upgrade to."),
) -> None:
    """Create or upgrade the app database (ADSYNC_DATABASE_URL; default SQLite in data dir)."""
    from sqlalchemy.exc import SQLAlchemyError

    from integrations.database.engine import mask_url
    from integrations.database.migrate import upgrade
    from integrations.settings import get_settings

    s = get_settings()
    try:
        url = upgrade(s.db_url, revision)
    except SQLAlchemyError as e:
        # One line, no traceback; the driver's message names host/database, never the password.
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        typer.echo(f"adsync: cannot upgrade {mask_url(s.db_url)}: {reason}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"database at revision {revision}: {url}")


def _register_subcommands() -> None:
    # Imported here so `adsync --version` / `db upgrade` stay fast and Prefect-free.
    from flows.run_cli import register as register_run
    from integrations.feishu.cli import app as bitable_app
    from token_store.cli import app as tokens_app

    try:  # the simulators are their own distribution (sandbox/), absent from a product-only install
        from sandbox.cli import app as sandbox_app
    except ImportError:
        pass
    else:
        app.add_typer(sandbox_app, name="sandbox")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(bitable_app, name="bitable")
    from integrations.monitoring.cli import serve as serve_ops  # = `monitor.py serve`

    app.command("serve-ops")(serve_ops)
    register_run(app)


def main(argv: list[str] | None = None) -> None:
    from flows.run_cli import prepare_prefect

    # Before anything imports Prefect: its settings are read once, at import.
    prepare_prefect()
    _register_subcommands()
    try:
        app(args=argv, standalone_mode=True)
    except ConfigError as e:
        print(f"adsync: {e}", file=sys.stderr)
        sys.exit(2)
