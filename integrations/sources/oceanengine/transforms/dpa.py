"""Motion-comic (漫剧) product ids from a DPA product's ``profession`` map. Pure functions.

For the motion-comic advertisers (``settings.motion_comic_advertiser_ids``):

- ``album_id``  ← ``profession.album_id`` (decimal int64 text, e.g. ``"7412345678901234567"``);
- ``playlet_id`` ← the ``playlet_id`` query parameter of ``profession.album_link``
  (``https://www.douyin.com/playlet?playlet_id=7412…&enter_from=dpa``).

Extraction is all-or-nothing: when either id cannot be taken (missing key, malformed URL, missing
or empty or repeated-with-different-values parameter, non-numeric album id), both are None and
``error`` says why. The product is still stored (with null ids); the caller logs it with its id.
Other advertisers' products carry no such ids and are not extracted at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

INT64_MAX = 2**63 - 1
PLAYLET_PARAM = "playlet_id"
MAX_PLAYLET_ID_LEN = 128  # dpa_products.playlet_id is VARCHAR(128)


@dataclass(frozen=True, slots=True)
class MotionComicIds:
    album_id: int | None
    playlet_id: str | None
    error: str | None = None  # why extraction failed (None: both ids present)

    @property
    def ok(self) -> bool:
        return self.error is None


def _fail(reason: str) -> MotionComicIds:
    return MotionComicIds(None, None, reason)


def parse_album_id(value: str | None) -> int:
    """``profession.album_id`` → int64; ValueError naming the problem."""
    if value is None:
        raise ValueError("profession.album_id is missing")
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"profession.album_id is not a number: {value!r}")
    n = int(text)
    if not 0 < n <= INT64_MAX:
        raise ValueError(f"profession.album_id is out of the int64 range: {value!r}")
    return n


def parse_playlet_id(link: str | None) -> str:
    """The ``playlet_id`` query parameter of ``profession.album_link``; ValueError otherwise."""
    if link is None:
        raise ValueError("profession.album_link is missing")
    text = link.strip()
    try:
        parts = urlsplit(text)
    except ValueError as e:  # e.g. an unbalanced "[" in the host
        raise ValueError(f"profession.album_link is not a URL ({e}): {link!r}") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"profession.album_link is not an http(s) URL: {link!r}")
    values = {
        v.strip() for v in parse_qs(parts.query, keep_blank_values=True).get(PLAYLET_PARAM, [])
    }
    if not values:
        raise ValueError(f"profession.album_link has no {PLAYLET_PARAM} parameter: {link!r}")
    if len(values) > 1:
        raise ValueError(f"profession.album_link has conflicting {PLAYLET_PARAM} values: {link!r}")
    (value,) = values
    if not value:
        raise ValueError(f"profession.album_link has an empty {PLAYLET_PARAM}: {link!r}")
    if len(value) > MAX_PLAYLET_ID_LEN or any(c.isspace() for c in value):
        raise ValueError(f"profession.album_link has an invalid {PLAYLET_PARAM}: {link!r}")
    return value


def motion_comic_ids(profession: Mapping[str, str]) -> MotionComicIds:
    """Both ids, or neither with the reason (never raises for bad data)."""
    try:
        album_id = parse_album_id(profession.get("album_id"))
        playlet_id = parse_playlet_id(profession.get("album_link"))
    except ValueError as e:
        return _fail(str(e))
    return MotionComicIds(album_id, playlet_id)


@dataclass(frozen=True, slots=True)
class ExtractionFailure:
    product_platform_id: int
    product_id: int
    advertiser_id: int
    reason: str


def with_motion_comic_ids(
    rows: Iterable[Mapping[str, Any]], motion_comic_advertiser_ids: Iterable[int]
) -> tuple[list[dict[str, Any]], list[ExtractionFailure]]:
    """``dpa_products`` rows (with ``profession_json``) → rows with ``album_id``/``playlet_id``.

    Every row gets both columns (None for other advertisers and for failed extractions), so the
    upsert writes them on conflict too. Failures are returned, never raised.
    """
    comic = {int(a) for a in motion_comic_advertiser_ids}
    out: list[dict[str, Any]] = []
    failures: list[ExtractionFailure] = []
    for row in rows:
        r = dict(row)
        r["album_id"] = r["playlet_id"] = None
        if int(r["advertiser_id"]) in comic:
            ids = motion_comic_ids(_profession(r.get("profession_json")))
            r["album_id"], r["playlet_id"] = ids.album_id, ids.playlet_id
            if ids.error is not None:
                failures.append(
                    ExtractionFailure(
                        int(r["product_platform_id"]),
                        int(r["product_id"]),
                        int(r["advertiser_id"]),
                        ids.error,
                    )
                )
        out.append(r)
    return out, failures


def _profession(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def failure_lines(failures: Sequence[ExtractionFailure]) -> list[str]:
    """One log line per failure, naming the product (for the run log)."""
    return [
        f"DPA product {f.product_id} (library {f.product_platform_id}, advertiser "
        f"{f.advertiser_id}): no album/playlet ids stored: {f.reason}"
        for f in failures
    ]
