"""``adsync run``, ``adsync demo``, ``adsync serve`` (filled in by the flow issues)."""

import typer


def register(app: typer.Typer) -> None:
    """Attach the flow commands to the root app."""
