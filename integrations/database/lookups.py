"""Read-only lookups downstream systems use against the app database (no Prefect, no API).

    from integrations.database.lookups import products_by_playlet_ids
    products_by_playlet_ids(engine, ["7412345678901234567"], platform_id=7100…)

Ids are int64 throughout (exact; never a float). ``playlet_id`` is stored as text (it comes
from a URL query), so playlet ids may be given as int or str; they are compared as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, select

from integrations.database.tables import dpa_products

# Ids per IN (...) statement: well inside every backend's bound-parameter limit.
IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class PlayletProduct:
    """A DPA product carrying a motion-comic playlet id."""

    playlet_id: str
    album_id: int | None
    product_platform_id: int
    product_id: int
    advertiser_id: int
    name: str | None
    title: str | None
    status: int | None
    price: Decimal | None


def _playlet_key(v: int | str) -> str:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise TypeError(f"playlet id must be int or str, got {type(v).__name__} {v!r}")
    text = str(v).strip()
    if not text:
        raise ValueError("playlet id must not be empty")
    return text


def products_by_playlet_ids(
    engine: Engine,
    playlet_ids: Iterable[int | str],
    platform_id: int | None = None,
) -> list[PlayletProduct]:
    """Products whose playlet id is one of ``playlet_ids`` (optionally in one product library).

    Ordered by (playlet_id, product_platform_id, product_id). Unknown ids are simply absent;
    products whose extraction failed (playlet_id NULL) are never returned.
    """
    wanted = sorted({_playlet_key(p) for p in playlet_ids})
    if not wanted:
        return []
    if platform_id is not None and (
        isinstance(platform_id, bool) or not isinstance(platform_id, int)
    ):
        raise TypeError(f"platform_id must be an int, got {type(platform_id).__name__}")
    t = dpa_products
    cols = (
        t.c.playlet_id,
        t.c.album_id,
        t.c.product_platform_id,
        t.c.product_id,
        t.c.advertiser_id,
        t.c.name,
        t.c.title,
        t.c.status,
        t.c.price,
    )
    out: list[PlayletProduct] = []
    with engine.connect() as conn:
        for i in range(0, len(wanted), IN_CHUNK):
            q = select(*cols).where(t.c.playlet_id.in_(wanted[i : i + IN_CHUNK]))
            if platform_id is not None:
                q = q.where(t.c.product_platform_id == platform_id)
            out.extend(PlayletProduct(*r) for r in conn.execute(q))
    out.sort(key=lambda p: (p.playlet_id, p.product_platform_id, p.product_id))
    return out
