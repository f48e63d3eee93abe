"""Walk every page of a list endpoint and parse its items row by row.

A row that does not parse becomes a :class:`Rejection` (key + reason) and the rest of the page is
kept: one dirty row never costs a page, an account or a run. Callers count and report rejections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from integrations.sources.oceanengine.client import OceanEngineClient
from integrations.sources.oceanengine.errors import ApiError
from integrations.sources.oceanengine.models import PageInfo

T = TypeVar("T")

# Hard stop against a server that keeps saying "more pages" (10,000 rows cap at 100 per page is
# the largest documented listing; this is far above it).
MAX_PAGES = 1000


@dataclass(frozen=True)
class Rejection:
    """A row we could not use: ``key`` identifies it (endpoint, account, its ids) for the log."""

    key: str
    reason: str


@dataclass
class Fetched(Generic[T]):
    """Rows and rejections accumulated over pages."""

    rows: list[T] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def add(self, rows: Iterable[T], rejections: Iterable[Rejection]) -> None:
        self.rows.extend(rows)
        self.rejections.extend(rejections)

    def __iter__(self) -> Iterator[Any]:  # allows ``rows, rejections = fetched``
        yield self.rows
        yield self.rejections


def reason_of(err: Exception) -> str:
    if isinstance(err, ValidationError):
        parts = []
        for e in err.errors()[:3]:
            loc = ".".join(str(x) for x in e.get("loc", ())) or "row"
            parts.append(f"{loc}: {str(e.get('msg', 'invalid')).removeprefix('Value error, ')}")
        return "; ".join(parts)
    return f"{type(err).__name__}: {err}"[:300]


def parse_items(
    items: Any, parse: Callable[[Mapping[str, Any]], T], key_of: Callable[[Any], str]
) -> tuple[list[T], list[Rejection]]:
    """Parse each raw item; failures become rejections keyed by ``key_of(raw)``."""
    rows: list[T] = []
    rejections: list[Rejection] = []
    if items is None:
        return rows, rejections
    if not isinstance(items, list):
        return rows, [Rejection(key_of(None), f"list is a {type(items).__name__}, not an array")]
    for raw in items:
        try:
            if not isinstance(raw, Mapping):
                raise ValueError(f"item is a {type(raw).__name__}, not an object")
            rows.append(parse(raw))
        except (ValidationError, ValueError, TypeError, ArithmeticError) as e:
            rejections.append(Rejection(key_of(raw), reason_of(e)))
    return rows, rejections


def raw_key(endpoint: str, account: object, *names: str) -> Callable[[Any], str]:
    """A ``key_of`` that names endpoint, account and the item's id fields (as raw text)."""

    def key_of(raw: Any) -> str:
        parts = [endpoint, f"account={account}"]
        if isinstance(raw, Mapping):
            for name in names:
                obj: Any = raw
                for step in name.split("."):
                    obj = obj.get(step) if isinstance(obj, Mapping) else None
                parts.append(f"{name.rsplit('.', 1)[-1]}={obj}")
        return "|".join(parts)

    return key_of


class IncompleteListing(ApiError):
    """A listing walk did not add up: rows received differ from ``page_info``'s total, or a row
    key came back on two pages (a repeated or skipped page). Callers re-fetch once, then fail
    the account with this message — never "ok" with rows silently missing."""


class MalformedPage(IncompleteListing):
    """A page whose list is not an array (e.g. an object): its rows cannot be trusted or counted."""


@dataclass
class _Tally:
    """What one walk received: raw items and their keys (for the completeness check)."""

    endpoint: str
    key_of: Callable[[Any], str]
    account: str = ""  # the account part of key_of(None), for error messages
    received: int = 0
    seen: set[str] = field(default_factory=set)
    repeated: list[str] = field(default_factory=list)

    def page(self, page: int, list_key: str, items: Any) -> None:
        if items is None:
            return
        if not isinstance(items, list):
            raise MalformedPage(
                f"page {page}: {list_key!r} is a {type(items).__name__}, not an array",
                endpoint=self.endpoint,
                account=self.account,
            )
        self.received += len(items)
        for raw in items:
            if not isinstance(raw, Mapping):
                continue  # rejected by parse_items; it has no key to compare
            key = self.key_of(raw)
            if key in self.seen:
                self.repeated.append(key)
            self.seen.add(key)

    def check(self, total: int | None) -> None:
        problems = []
        if total is not None and self.received != total:
            problems.append(f"received {self.received} rows, page_info says {total}")
        if self.repeated:
            example = self.repeated[0].removeprefix(self.key_of(None) + "|")
            problems.append(
                f"{len(self.repeated)} row key(s) repeated across pages, e.g. {example}"
            )
        if problems:
            raise IncompleteListing(
                "incomplete listing: " + "; ".join(problems),
                endpoint=self.endpoint,
                account=self.account,
            )


def iter_pages(
    client: OceanEngineClient,
    endpoint: str,
    params: Mapping[str, Any],
    *,
    list_key: str,
    parse: Callable[[Mapping[str, Any]], T],
    key_of: Callable[[Any], str],
    page_size: int = 100,
    parallel: int = 1,
    max_pages: int = MAX_PAGES,
    on_page_info: Callable[[Any], None] | None = None,
) -> Iterator[tuple[list[T], list[Rejection]]]:
    """Yield ``(rows, rejections)`` per page, from page 1 to ``page_info.total_page``.

    Without a usable ``total_page`` it falls back to ``total_number``/``total_num`` and, failing
    that, stops at the first short page. ``parallel > 1``: once page 1 has told the page count,
    the other pages are requested ``parallel`` at a time (still paced by the client's rate
    limiter; yielded in page order) — for listings a run waits on before it can start.
    ``max_pages``: the deepest page the API serves (no request goes beyond it; the caller says
    whether rows were left behind). ``on_page_info``: called with page 1's raw ``page_info``.

    Completeness (checked after the last page of a walk that was not capped): the raw items
    received must equal page 1's ``page_info`` total, and no item key (``key_of``) may come back
    twice — else :class:`IncompleteListing`. A page whose list is not an array raises
    :class:`MalformedPage` when it arrives.
    """

    def get_page(page: int) -> dict[str, Any]:
        return client.get(endpoint, {**params, "page": page, "page_size": page_size})

    tally = _Tally(endpoint, key_of, key_of(None).removeprefix(f"{endpoint}|account="))
    page = 1
    total: int | None = None
    while True:
        data = get_page(page)
        if page == 1 and on_page_info is not None:
            on_page_info(data.get("page_info"))
        items = data.get(list_key)
        tally.page(page, list_key, items)
        if page == 1:
            total = _total_rows(data.get("page_info"))
        yield parse_items(items, parse, key_of)
        n_items = len(items) if isinstance(items, list) else 0
        total_page = _total_pages(data.get("page_info"), page_size)
        if total_page is None:
            if n_items < page_size:
                break
        elif page >= total_page or n_items == 0:
            break
        if total_page is not None and parallel > 1:
            if total_page > MAX_PAGES and max_pages >= MAX_PAGES:
                raise ApiError(
                    f"{total_page} pages, more than {MAX_PAGES}; refusing to continue",
                    endpoint=endpoint,
                    account=key_of(None),
                )
            capped = total_page > max_pages
            total_page = min(total_page, max_pages)
            with ThreadPoolExecutor(max_workers=parallel) as pool:
                for p, data in enumerate(
                    pool.map(get_page, range(page + 1, total_page + 1)), start=page + 1
                ):
                    tally.page(p, list_key, data.get(list_key))
                    yield parse_items(data.get(list_key), parse, key_of)
            if not capped:
                tally.check(total)
            return
        page += 1
        if page > max_pages and max_pages < MAX_PAGES:
            return  # the API serves no deeper page; the caller reports what was left
        if page > MAX_PAGES:
            raise ApiError(
                f"more than {MAX_PAGES} pages; refusing to continue",
                endpoint=endpoint,
                account=key_of(None),
            )
    tally.check(total)


def _total_rows(raw: Any) -> int | None:
    if not isinstance(raw, Mapping):
        return None
    try:
        return PageInfo.model_validate(raw).total
    except ValidationError:
        return None


def _total_pages(raw: Any, page_size: int) -> int | None:
    if not isinstance(raw, Mapping):
        return None
    try:
        info = PageInfo.model_validate(raw)
    except ValidationError:
        return None
    if info.total_page is not None:
        return info.total_page
    if info.total is not None:
        size = info.page_size or page_size
        return -(-info.total // size) if size else None
    return None
