"""``adsync tokens ...`` (filled in by the token store issue)."""

import typer

app = typer.Typer(help="Ocean Engine OAuth token store.", no_args_is_help=True)
