"""products_by_playlet_ids on SQLite and PostgreSQL (real databases, migrated to head)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.database.lookups import IN_CHUNK, products_by_playlet_ids
from integrations.database.migrate import upgrade
from integrations.database.upsert import upsert

# Keys unique per process: the PostgreSQL database is shared within the session.
_ids = itertools.count(7_000_000_000_000_000_000 + os.getpid() * 10_000_000)
_upgraded: set[str] = set()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lookup.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    if url not in _upgraded:
        upgrade(url)
        _upgraded.add(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _product(platform: int, playlet: str | None, album: int | None) -> dict:
    pid = next(_ids)
    return {
        "product_platform_id": platform,
        "product_id": pid,
        "advertiser_id": 1854347260793866,
        "name": f"漫剧{pid % 1000}",
        "title": None,
        "outer_id": None,
        "status": 1,
        "audit_status": 1,
        "image_url": None,
        "price": Decimal("9.90"),
        "album_id": album,
        "playlet_id": playlet,
        "profession_json": "{}",
    }


def test_products_by_playlet_ids(engine: Engine) -> None:
    p1, p2 = next(_ids), next(_ids)
    s = str(next(_ids))  # playlet ids: unique text per test run
    a, b, c = f"{s}1", f"{s}2", f"{s}3"
    album = 7_412_345_678_901_234_567  # above 2^53
    rows = [
        _product(p1, a, album),
        _product(p2, a, album + 1),  # the same playlet in another library
        _product(p1, b, None),
        _product(p1, None, None),  # extraction failed
        _product(p2, c, album + 2),
    ]
    with engine.begin() as conn:
        upsert(conn, tables.dpa_products, rows)

    got = products_by_playlet_ids(engine, [a, int(b), "nope"])
    assert [(g.playlet_id, g.product_platform_id) for g in got] == [(a, p1), (a, p2), (b, p1)]
    assert got[0].album_id == album and type(got[0].album_id) is int
    assert got[0].product_id == rows[0]["product_id"] and got[0].price == Decimal("9.90")

    only = products_by_playlet_ids(engine, [a, b, c], platform_id=p2)
    assert [(g.playlet_id, g.album_id) for g in only] == [(a, album + 1), (c, album + 2)]
    assert products_by_playlet_ids(engine, []) == []
    assert products_by_playlet_ids(engine, [f"{s}9"]) == []


def test_many_ids_are_chunked(engine: Engine) -> None:
    platform = next(_ids)
    s = str(next(_ids))
    playlets = [f"{s}-{i}" for i in range(IN_CHUNK * 2 + 7)]
    with engine.begin() as conn:
        upsert(conn, tables.dpa_products, [_product(platform, p, None) for p in playlets])
    got = products_by_playlet_ids(engine, playlets + ["missing"], platform_id=platform)
    assert sorted(g.playlet_id for g in got) == sorted(playlets)
    with engine.connect() as conn:  # the index the lookup relies on exists
        assert "ix_dpa_products_playlet" in {
            i["name"] for i in sa.inspect(conn).get_indexes("dpa_products")
        }


def test_bad_arguments(engine: Engine) -> None:
    with pytest.raises(TypeError):
        products_by_playlet_ids(engine, [1.5])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        products_by_playlet_ids(engine, ["  "])
    with pytest.raises(TypeError):
        products_by_playlet_ids(engine, ["1"], platform_id="7")  # type: ignore[arg-type]
