"""``monitor.py`` commands: view, freshness, check, metrics, tokens, serve (HTTP /health, /metrics).

Exit codes: ``check`` 0 healthy / 1 warning / 2 critical; every command exits 2 with one line on
stderr for invalid configuration or an unreadable database. Nothing secret is ever printed.
"""

from __future__ import annotations

import functools
import json
import socket
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

import typer

from integrations.settings import ConfigError

app = typer.Typer(
    name="monitor.py",
    help="adsync health: run history, data freshness, checks, metrics, token status.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class SourceOpt(StrEnum):
    auto = "auto"
    prefect = "prefect"
    ledger = "ledger"


SOURCE = typer.Option(
    SourceOpt.auto, "--source", help="Run history from the Prefect API, the ledger, or auto."
)
JSON = typer.Option(False, "--json", help="Machine-readable JSON on stdout.")


def _fail(msg: str) -> NoReturn:
    print(f"monitor: {msg}", file=sys.stderr)
    raise typer.Exit(2)


def _factory(source: SourceOpt = SourceOpt.auto):
    """A function returning a fresh :class:`Monitor` (now, Prefect probe) on one engine."""
    from sqlalchemy.exc import SQLAlchemyError

    from integrations.monitoring import prefect_source as ps
    from integrations.monitoring.checks import Monitor
    from integrations.monitoring.config import load_monitor_settings, utcnow
    from integrations.monitoring.db import open_engine
    from integrations.settings import get_settings

    settings = get_settings()
    mon = load_monitor_settings()
    url = None if source is SourceOpt.ledger else ps.api_url_from_env()
    try:
        engine = open_engine(settings.db_url)
    except SQLAlchemyError as e:
        _fail(f"ADSYNC_DATABASE_URL: {type(e).__name__}")

    def new() -> Monitor:
        up = ps.reachable(url, mon.prefect_timeout_s)
        if source is SourceOpt.prefect and not up:  # one line, exit 2 (main); 503 when serving
            raise ConfigError(f"PREFECT_API_URL: Prefect API not reachable at {url or '(not set)'}")
        return Monitor(
            settings=settings, mon=mon, engine=engine, now=utcnow(), prefect_url=url, prefect_up=up
        )

    return new


def _build(source: SourceOpt = SourceOpt.auto):
    return _factory(source)()


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _print_lines(lines: list[str]) -> None:
    con = _console()
    for line in lines:
        con.print(line)


def _dump(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _source_line(m: Any) -> str:
    if m.prefect_up:
        return f"source: Prefect API {m.prefect_url} + sync_runs ledger"
    why = f" (Prefect API not reachable at {m.prefect_url})" if m.prefect_url else ""
    return f"source: sync_runs ledger{why}"


def _db_guard(fn):
    """Turn database errors into one line + exit 2 (never a traceback with the URL in it)."""

    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return fn(*a, **kw)
        except SQLAlchemyError as e:
            detail = str(getattr(e, "orig", None) or type(e).__name__).splitlines()[0][:160]
            _fail(f"database error: {detail}")

    return wrapper


@app.command()
@_db_guard
def view(
    count: int = typer.Argument(20, min=1, max=1000, help="How many runs (newest first)."),
    as_json: bool = JSON,
    source: SourceOpt = SOURCE,
) -> None:
    """The last COUNT runs across flows: window, state, duration, accounts ok/failed, rows."""
    from integrations.monitoring.render import runs_table

    m = _build(source)
    if not m.prefect_up and not m.schema_ready():
        _fail("database not initialised (no sync_runs table): run `adsync db upgrade`")
    runs = m.recent_runs(count)
    if as_json:
        _dump({"source": m.source, "runs": [r.to_json() for r in runs]})
        return
    _print_lines(runs_table(runs, m.tz, _source_line(m)))


@app.command()
@_db_guard
def freshness(as_json: bool = JSON) -> None:
    """Latest date per dataset and account against the expected one (yesterday, China time)."""
    from integrations.monitoring.render import freshness_table

    m = _build(SourceOpt.ledger)
    if not m.schema_ready():
        _fail("database not initialised (no sync_runs table): run `adsync db upgrade`")
    from integrations.monitoring.checks import never_synced

    rows = m.freshness()
    never = never_synced(m)
    if as_json:
        _dump(
            {
                "expected": m.expected.isoformat(),
                "rows": [r.to_json() for r in rows],
                "never_synced": [
                    {"dataset": ds, "account": a, "account_name": n}
                    for ds, accounts in never.items()
                    for a, n in accounts.items()
                ],
            }
        )
        return
    _print_lines(freshness_table(rows, m.expected, m.settings.timezone, never))


@app.command()
@_db_guard
def check(
    notify: bool = typer.Option(False, "--notify", help="Send findings as a Feishu bot card."),
    as_json: bool = JSON,
    source: SourceOpt = SOURCE,
) -> None:
    """Health check. Exit 0 healthy, 1 warning, 2 critical; one line per finding."""
    from integrations.monitoring.checks import run_checks
    from integrations.monitoring.findings import report, sort_findings

    m = _build(source)
    findings = sort_findings(run_checks(m))
    body = report(findings, m.source)
    code = body["exit_code"]
    if as_json:
        _dump(body)
    else:
        from integrations.monitoring.render import findings_lines

        _print_lines(findings_lines(findings, m.source))
    if notify and findings:
        from integrations.monitoring.notify import NotifyError, send

        try:
            send(m.settings, findings, socket.gethostname())
        except (NotifyError, ConfigError) as e:
            print(f"monitor: notification not sent: {e}", file=sys.stderr)
            code = 2  # alerting itself is broken: nobody would learn about the findings
    raise typer.Exit(code)


@app.command()
@_db_guard
def metrics(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write atomically to this file (textfile collector)."
    ),
    source: SourceOpt = SOURCE,
) -> None:
    """The same facts in Prometheus text format (for node_exporter's textfile collector)."""
    from integrations.monitoring import metrics as mx

    text = mx.render(mx.collect(_build(source)))
    if output:
        mx.write_atomic(output, text)
    else:
        sys.stdout.write(text)


@app.command()
@_db_guard
def tokens(as_json: bool = JSON) -> None:
    """Ocean Engine token status: expiries and authorised account ids (never the tokens)."""
    from integrations.monitoring.render import tokens_table
    from integrations.monitoring.tokens import sorted_by_expiry

    m = _build(SourceOpt.ledger)
    if not m.schema_ready() and m.settings.token_backend == "database":
        _fail("database not initialised (no oauth_tokens table): run `adsync db upgrade`")
    toks = sorted_by_expiry(m.tokens())
    if as_json:
        _dump({"tokens": [t.to_json(m.now) for t in toks]})
        return
    _print_lines(tokens_table(toks, m.now, m.tz, m.mon.token_warn_days))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(
        9845, "--port", min=0, max=65535, help="TCP port (0: any free port, printed)."
    ),
    source: SourceOpt = SOURCE,
    quiet: bool = typer.Option(False, "--quiet", help="No access log on stderr."),
) -> None:
    """HTTP GET /health (200, or 503 on a critical finding; JSON as `check --json`) and
    GET /metrics (Prometheus text), each computed afresh per request. Ctrl-C stops it."""
    from integrations.monitoring.serve import make_server

    new = _factory(source)
    try:
        server = make_server(new, host, port, quiet=quiet)
    except OSError as e:
        _fail(f"cannot listen on {host}:{port}: {e.strerror or e}")
    print(f"monitor: serving /health and /metrics on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except ConfigError as e:
        print(f"monitor: {e}", file=sys.stderr)
        sys.exit(2)
