"""``adsync bitable reconcile``: force the reconcile a warm run skips.

A run with a trusted record map never searches the table, so duplicates made outside the sync
(an old script, a person copying rows, a restored base) stay until something asks. This command
asks: for each dataset's table (or the ones given), scan it (whole, or the ``--start``..``--end``
dates for dated tables), keep one record per business key (the mapped one if any), delete the
others, and rebuild the map from what is there (integrations/feishu/reconcile.py).
"""

from __future__ import annotations

from datetime import date, timedelta

import typer

from integrations.feishu.cli import BASE_HELP, TENANT_HELP, app
from integrations.settings import ConfigError, get_settings, require

MAX_DAYS = 366  # a date-scoped scan builds one filter per 50 dates: keep it to a year


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{option}: {value!r} is not a date (YYYY-MM-DD)") from None


def _dates(start: str | None, end: str | None) -> list[date] | None:
    s, e = _date(start, "--start"), _date(end, "--end")
    if s is None and e is None:
        return None
    if s is None or e is None:
        raise ConfigError("--start and --end: give both (or neither, for the whole table)")
    if e < s:
        raise ConfigError(f"--end {e} is before --start {s}")
    days = (e - s).days + 1
    if days > MAX_DAYS:
        raise ConfigError(f"--start..--end spans {days} days; at most {MAX_DAYS} per reconcile")
    return [s + timedelta(days=i) for i in range(days)]


@app.command("reconcile")
def reconcile_cmd(
    dataset: list[str] | None = typer.Option(
        None, "--dataset", help="Dataset (table) to reconcile; repeatable (default: all)."
    ),
    start: str | None = typer.Option(None, "--start", help="First date (YYYY-MM-DD)."),
    end: str | None = typer.Option(None, "--end", help="Last date (YYYY-MM-DD), inclusive."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
    base: str | None = typer.Option(None, "--base", help=BASE_HELP),
) -> None:
    """Scan tables, delete duplicate business keys, rebuild the record map."""
    from integrations.feishu.specs import SPECS, table_spec

    unknown = [d for d in dataset or [] if d not in SPECS]
    if unknown:
        raise ConfigError(f"--dataset {unknown[0]!r}: unknown; known: {', '.join(sorted(SPECS))}")
    dates = _dates(start, end)
    from integrations.tenants import settings_for

    settings = settings_for(get_settings(), tenant, base=base)
    require(settings, "feishu_app_id", "feishu_app_secret", "feishu_app_token")

    from integrations.database.engine import make_engine
    from integrations.database.migrate import upgrade
    from integrations.feishu.sink import BitableSink

    upgrade(settings.db_url)  # the record map lives in the app DB
    engine = make_engine(settings.db_url)
    sink = BitableSink.from_settings(settings, engine=engine)
    failed = 0
    try:
        for name in dataset or list(SPECS):
            spec = table_spec(name, settings)
            scope = "" if dates is None or spec.date_field is None else f" {start}..{end}"
            try:
                r = sink.reconcile(spec, dates if spec.date_field is not None else None)
            except ConfigError:
                raise
            except Exception as e:  # noqa: BLE001 - one table's failure must not hide the others
                failed += 1
                typer.echo(
                    f"{spec.name} ({name}){scope}: FAILED: {type(e).__name__}: {e}", err=True
                )
                continue
            typer.echo(
                f"{spec.name} ({name}){scope}: {r.records_seen} record(s), {r.keys_found} key(s), "
                f"{r.duplicates_deleted} duplicate(s) deleted, "
                f"{r.stale_entries_removed} stale map entr(y/ies) removed"
            )
    finally:
        engine.dispose()
    raise typer.Exit(1 if failed else 0)
