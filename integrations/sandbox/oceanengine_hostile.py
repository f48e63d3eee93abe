"""Hostile-but-documented response data (knobs ``hostile_*``): numbers quoted as strings,
``"-"`` for empty metrics, optional fields left out. Deterministic per (seed, row key, field)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from integrations.sandbox.data import _h
from integrations.sandbox.oceanengine_ctx import Ctx


def _hit(ctx: Ctx, *key: object) -> bool:
    return _h(ctx.data.seed, "hostile", *key) % 1000 < ctx.knobs.hostile_fraction * 1000


def metrics(ctx: Ctx, values: dict[str, Any], row_key: object) -> dict[str, Any]:
    """Apply the number toggles to one row's metric values (returns a new dict)."""
    k = ctx.knobs
    if not (k.hostile_numbers_as_strings or k.hostile_dash_for_empty):
        return values
    out: dict[str, Any] = {}
    for name, v in values.items():
        if k.hostile_dash_for_empty and v == 0 and _hit(ctx, "dash", row_key, name):
            out[name] = "-"
        elif k.hostile_numbers_as_strings and _hit(ctx, "str", row_key, name):
            out[name] = str(v)
        else:
            out[name] = v
    return out


def drop_optional(ctx: Ctx, row: dict[str, Any], optional: Iterable[str], row_key: object) -> None:
    """Remove some optional keys of ``row`` in place (when ``hostile_missing_optional``)."""
    if not ctx.knobs.hostile_missing_optional:
        return
    for name in optional:
        if name in row and _hit(ctx, "drop", row_key, name):
            del row[name]
