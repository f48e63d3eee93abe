"""Strict parsing of Ocean Engine request parameters.

GET parameters arrive in the query string with arrays/objects JSON-encoded into one value
(docs/contracts/oceanengine.md §1.2); POST bodies are JSON. Every violation raises
``OEError(bad_param_code)`` with a message naming the parameter, like the real API's descriptive
validation errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from sandbox.oceanengine.errors import OEError


class Params:
    """Typed access to one request's parameters (query strings or a decoded JSON body)."""

    def __init__(self, raw: Mapping[str, Any], bad_code: int) -> None:
        self.raw = raw
        self.bad_code = bad_code

    def bad(self, message: str) -> OEError:
        return OEError(self.bad_code, message)

    def has(self, name: str) -> bool:
        v = self.raw.get(name)
        return v is not None and v != ""

    def int(
        self,
        name: str,
        *,
        required: bool = False,
        default: int | None = None,
        lo: int | None = None,
        hi: int | None = None,
    ) -> int | None:
        v = self.raw.get(name)
        if v is None or v == "":
            if required:
                raise self.bad(f"{name}: Field required")
            return default
        n = as_int(v)
        if n is None:
            raise self.bad(f"{name}: invalid int64 value {str(v)[:40]!r}")
        if lo is not None and n < lo:
            raise self.bad(f"{name}: must be >= {lo}")
        if hi is not None and n > hi:
            raise self.bad(f"{name}: must be <= {hi}")
        return n

    def req_int(self, name: str, **kw: Any) -> int:
        n = self.int(name, required=True, **kw)
        assert n is not None
        return n

    def str(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        v = self.raw.get(name)
        if v is None or v == "":
            if required:
                raise self.bad(f"{name}: Field required")
            return default
        if not isinstance(v, str):
            raise self.bad(f"{name}: must be a string")
        return v

    def req_str(self, name: str) -> str:
        v = self.str(name, required=True)
        assert v is not None
        return v

    def json(self, name: str, kind: type, *, required: bool = False) -> Any:
        """A JSON-encoded query value (``metrics=["a"]``, ``filtering={...}``)."""
        v = self.raw.get(name)
        if v is None or v == "":
            if required:
                raise self.bad(f"{name}: Field required")
            return None
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                raise self.bad(f"{name}: invalid JSON (arrays/objects are JSON-encoded)") from None
        if not isinstance(v, kind):
            raise self.bad(f"{name}: must be a JSON {'object' if kind is dict else 'array'}")
        return v

    def date(self, name: str) -> date:
        return parse_date(self.req_str(name), name, self.bad_code)

    def page(
        self,
        *,
        default_size: int,
        max_size: int = 100,
        allowed: tuple[int, ...] | None = None,
        zero_is_first: bool = False,
    ) -> tuple[int, int]:
        page = self.int("page", default=1, lo=0 if zero_is_first else 1)
        assert page is not None
        size = self.int("page_size", default=default_size)
        assert size is not None
        if allowed is not None and size not in allowed:
            raise self.bad(f"page_size: must be one of {', '.join(map(str, allowed))}")
        if not 1 <= size <= max_size:
            raise self.bad(f"page_size: must be between 1 and {max_size}")
        return max(page, 1), size


def as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v.strip())
    return None


def parse_date(s: Any, name: str, bad_code: int) -> date:
    try:
        if not isinstance(s, str) or len(s) != 10:
            raise ValueError
        return date.fromisoformat(s)
    except ValueError:
        raise OEError(
            bad_code, f"{name}: invalid date {str(s)[:30]!r}, expected YYYY-MM-DD"
        ) from None


def int_list(
    obj: Mapping[str, Any], key: str, bad_code: int, *, max_len: int | None = None
) -> list[int] | None:
    """``filter[key]`` as a list of int64 (ids may be sent as numbers or numeric strings)."""
    v = obj.get(key)
    if v is None:
        return None
    if not isinstance(v, list):
        raise OEError(bad_code, f"{key}: must be an array")
    out = [as_int(x) for x in v]
    if any(x is None for x in out):
        raise OEError(bad_code, f"{key}: every element must be an int64")
    if max_len is not None and len(out) > max_len:
        raise OEError(bad_code, f"{key}: at most {max_len} elements")
    return [x for x in out if x is not None]


def str_list(obj: Mapping[str, Any], key: str, bad_code: int) -> list[str] | None:
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, str):  # BUB sends some of these as scalars; accept both shapes
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise OEError(bad_code, f"{key}: must be an array of strings")
    return v


def page_info(page: int, size: int, total: int) -> dict[str, int]:
    return {
        "page": page,
        "page_size": size,
        "total_number": total,
        "total_page": (total + size - 1) // size,
    }


def page_slice(page: int, size: int) -> slice:
    return slice((page - 1) * size, page * size)
