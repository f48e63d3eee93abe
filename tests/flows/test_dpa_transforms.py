"""Motion-comic id extraction (integrations/sources/oceanengine/transforms/dpa.py): pure, no I/O."""

from __future__ import annotations

import json

import pytest

from integrations.sources.oceanengine.transforms.dpa import (
    motion_comic_ids,
    parse_album_id,
    parse_playlet_id,
    with_motion_comic_ids,
)

COMIC = 1854347260793866
OTHER = 1853906671532036
ALBUM = 7412345678901234567  # above 2^53: must stay exact
GOOD_LINK = f"https://www.douyin.com/playlet?playlet_id={ALBUM}&enter_from=dpa&sid=1234"


def test_good_link_and_album_id() -> None:
    ids = motion_comic_ids({"album_id": str(ALBUM), "album_link": GOOD_LINK})
    assert ids.ok and ids.error is None
    assert ids.album_id == ALBUM and type(ids.album_id) is int
    assert ids.playlet_id == str(ALBUM)


def test_playlet_id_is_taken_from_the_query_not_the_album_id() -> None:
    link = "http://m.douyin.com/playlet?enter_from=dpa&playlet_id=12345"
    ids = motion_comic_ids({"album_id": " 42 ", "album_link": f"  {link} "})
    assert (ids.album_id, ids.playlet_id) == (42, "12345")


@pytest.mark.parametrize(
    ("link", "reason"),
    [
        (f"https://www.douyin.com/playlet?playletid={ALBUM}", "no playlet_id parameter"),
        ("https://www.douyin.com/playlet?playlet_id=&enter_from=dpa", "empty playlet_id"),
        ("https://www.douyin.com/playlet", "no playlet_id parameter"),
        ("https://x.com/p?playlet_id=1&playlet_id=2", "conflicting playlet_id"),
    ],
)
def test_missing_or_empty_param(link: str, reason: str) -> None:
    ids = motion_comic_ids({"album_id": str(ALBUM), "album_link": link})
    assert (ids.album_id, ids.playlet_id) == (None, None)
    assert ids.error is not None and reason in ids.error


@pytest.mark.parametrize(
    "link",
    [
        "暂无",
        f"www.douyin.com/playlet/{ALBUM}",
        f"ftp://www.douyin.com/playlet?playlet_id={ALBUM}",
        "https://[::1/playlet?playlet_id=1",  # unbalanced IPv6 bracket: urlsplit raises
        "",
    ],
)
def test_malformed_url(link: str) -> None:
    ids = motion_comic_ids({"album_id": str(ALBUM), "album_link": link})
    assert (ids.album_id, ids.playlet_id) == (None, None)
    assert ids.error and "album_link" in ids.error


def test_same_value_twice_is_fine() -> None:
    assert parse_playlet_id("https://x.com/p?playlet_id=7&playlet_id=7") == "7"


@pytest.mark.parametrize("album", ["abc", "12a", "-5", "1.5", "", "０１２", str(2**63), "0"])
def test_non_numeric_or_out_of_range_album_id(album: str) -> None:
    ids = motion_comic_ids({"album_id": album, "album_link": GOOD_LINK})
    assert (ids.album_id, ids.playlet_id) == (None, None)
    assert ids.error and "album_id" in ids.error
    with pytest.raises(ValueError, match="album_id"):
        parse_album_id(album)


def test_missing_keys() -> None:
    assert "album_id is missing" in (motion_comic_ids({"album_link": GOOD_LINK}).error or "")
    assert "album_link is missing" in (motion_comic_ids({"album_id": "1"}).error or "")


def _row(advertiser: int, product_id: int, profession: dict[str, str] | None) -> dict:
    return {
        "product_platform_id": 7100000000000000001,
        "product_id": product_id,
        "advertiser_id": advertiser,
        "name": "x",
        "profession_json": None if profession is None else json.dumps(profession),
    }


def test_rows_get_ids_only_for_motion_comic_advertisers_and_failures_are_named() -> None:
    good = {"album_id": str(ALBUM), "album_link": GOOD_LINK}
    bad = {"album_id": str(ALBUM), "album_link": "暂无"}
    rows = [
        _row(COMIC, 7000000000000000001, good),
        _row(COMIC, 7000000000000000002, bad),
        _row(OTHER, 7000000000000000003, good),  # not motion-comic: no extraction, no failure
        _row(COMIC, 7000000000000000004, None),  # no profession at all
    ]
    out, failures = with_motion_comic_ids(rows, [COMIC])
    assert [(r["album_id"], r["playlet_id"]) for r in out] == [
        (ALBUM, str(ALBUM)),
        (None, None),
        (None, None),
        (None, None),
    ]
    assert [f.product_id for f in failures] == [7000000000000000002, 7000000000000000004]
    assert failures[0].advertiser_id == COMIC and "not an http(s) URL" in failures[0].reason
    assert rows[0].get("album_id") is None  # inputs are not mutated
