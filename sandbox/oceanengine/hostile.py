"""Hostile-but-documented response data (knobs ``hostile_*``): numbers quoted as strings,
``"-"`` for empty metrics, optional fields left out. Deterministic per (seed, row key, field)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sandbox.data import _h
from sandbox.oceanengine.ctx import Ctx, Handler
from sandbox.oceanengine.knobs import PageFault
from sandbox.oceanengine.params import Params, as_int

_ACCOUNT_PARAMS = ("local_account_id", "advertiser_id", "aweme_sec_uid", "account_id")


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


def forced_values(ctx: Ctx, row: dict[str, Any], row_id: object) -> None:
    """Overwrite fields of ``row`` in place per ``knobs.hostile_values`` (id None = every row)."""
    for target, name, value in ctx.knobs.hostile_values:
        if target is None or str(target) == str(row_id):
            row[name] = value


def _page_fault(ctx: Ctx, endpoint: str, page: int) -> PageFault | None:
    raw = ctx.params.raw
    for f in ctx.knobs.hostile_page_faults:
        if f.endpoint != endpoint or f.page != page:
            continue
        if f.times is not None and f.fired >= f.times:
            continue
        if f.account is not None and str(f.account) not in {
            str(raw.get(k)) for k in _ACCOUNT_PARAMS
        }:
            continue
        return f
    return None


def _list_key(data: dict[str, Any]) -> str | None:
    keys = [k for k, v in data.items() if isinstance(v, list)]
    return keys[0] if len(keys) == 1 else None


def _page(ctx: Ctx, handler: Handler, page: int) -> dict[str, Any]:
    params = Params({**ctx.params.raw, "page": page}, ctx.params.bad_code)
    return handler(replace(ctx, params=params))


def serve(ctx: Ctx, endpoint: str, handler: Handler) -> dict[str, Any]:
    """Run ``handler``, then apply a matching :class:`PageFault` of ``knobs.hostile_page_faults``
    (page_info is left as the honest page would have it)."""
    if not ctx.knobs.hostile_page_faults:
        return handler(ctx)
    page = as_int(ctx.params.raw.get("page")) or 1
    fault = _page_fault(ctx, endpoint, page)
    data = handler(ctx)
    key = _list_key(data) if fault is not None else None
    if fault is None or key is None:
        return data
    fault.fired += 1
    if fault.kind == "object":
        data[key] = {str(i): row for i, row in enumerate(data[key])}
    else:
        other = _page(ctx, handler, page - 1 if fault.kind == "repeat" else page + 1)
        data[key] = other.get(key, [])
    return data
