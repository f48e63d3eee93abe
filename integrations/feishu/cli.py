"""``adsync bitable …``: check the configured Bitable tables (plan.py), force a reconcile."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Feishu Bitable: check, adopt and reconcile the configured tables.", no_args_is_help=True
)


TENANT_HELP = "Tenant of adsync.toml's [[tenants]] (its Feishu app and base)."
BASE_HELP = "One of the tenant's bases (app_token; default: its default base)."


@app.command("plan")
def plan_cmd(
    apply: bool = typer.Option(False, "--apply", help="Create the missing columns (only them)."),
    tenant: str | None = typer.Option(None, "--tenant", help=TENANT_HELP),
    base: str | None = typer.Option(None, "--base", help=BASE_HELP),
) -> None:
    """List every mismatch of every table at once (missing, renamed?, wrong type)."""
    from integrations.database.engine import make_engine
    from integrations.feishu import plan as p
    from integrations.feishu.errors import FeishuError
    from integrations.feishu.sink import BitableSink
    from integrations.feishu.specs import SPECS, table_spec
    from integrations.settings import get_settings
    from integrations.tenants import settings_for

    s = settings_for(get_settings(), tenant, base=base)
    engine = make_engine(s.db_url)
    try:
        api = BitableSink.from_settings(s, engine).api  # with the base's writer lock
        specs = [table_spec(d, s) for d in SPECS]
        found = p.plan(api, specs)
        for m in found:
            typer.echo(m.line())
        if apply and found:
            done = p.apply(api, found)
            for m in done:
                typer.echo(f"created {m.table}: {m.field}")
            found = [m for m in found if m not in done]
    except FeishuError as e:
        typer.echo(f"adsync: {e}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(f"{len(found)} mismatch(es) left" if found else "all tables match")
    raise typer.Exit(1 if found else 0)


# `adsync bitable reconcile` lives in its own module; importing it registers it on ``app``.
from integrations.feishu import reconcile_cli  # noqa: E402, F401
