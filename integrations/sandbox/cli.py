"""``adsync sandbox ...`` (filled in by the sandbox issue)."""

import typer

app = typer.Typer(help="Local simulators of Ocean Engine and Feishu.", no_args_is_help=True)
