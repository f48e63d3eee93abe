"""Realism knobs of the supplier (海尔 open platform) simulator. A plain mutable dataclass: tests
change fields on a running simulator (``sim.knobs.token_ttl_s = 5``) and the next request sees it.

No public contract exists for this API: every shape the simulator picks is either a knob below
(both variants tested) or a documented assumption in ``sandbox/QUIRKS.md`` (section "Supplier").

Profiles: ``fast`` (no latency, no faults), ``realistic`` (150 ± 50 ms, 20 requests/s),
``chaos`` (realistic + a few % of every fault + hostile items).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

# http_500: JSON 500; html_502: a gateway's HTML page; timeout: handled, answered too late;
# throttle: 429-like (see ``throttle_style``); token_expired: the presented token dies now (401).
FaultKind = Literal["http_500", "html_502", "timeout", "throttle", "token_expired"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
Profile = Literal["fast", "realistic", "chaos"]
PROFILES: tuple[str, ...] = get_args(Profile)


@dataclass(frozen=True)
class FaultRule:
    """Inject ``kind`` on the ``nth_call`` (1-based, since the last counter reset) of
    ``endpoint`` (the path without its leading slash; ``"*"`` = any data endpoint)."""

    endpoint: str
    nth_call: int
    kind: FaultKind

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")
        if self.nth_call < 1:
            raise ValueError("nth_call is 1-based")


@dataclass
class SupplierKnobs:
    # -- latency (ms): fixed + uniform jitter ---------------------------------------------------
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    # -- throttling: requests per rolling second per client id, None = unlimited ---------------
    rate_limit: float | None = None
    # How throttling is answered: HTTP 429 with the error envelope (default), or HTTP 200 with
    # the envelope's code "429" (a gateway that wraps everything; both seen on Java platforms).
    throttle_style: Literal["http_429", "envelope"] = "http_429"
    # -- faults: probability per data call, by kind; and a deterministic schedule -------------
    fault_rate: dict[str, float] = field(default_factory=dict)
    fault_schedule: list[FaultRule | tuple[str, int, str]] = field(default_factory=list)
    fault_seed: int = 0
    timeout_sleep_s: float = 35.0
    # -- auth ----------------------------------------------------------------------------------
    token_ttl_s: int = 7200  # expires_in of /oauth2/auth (assumption: 2 h, QUIRKS.md)
    # -- envelope ------------------------------------------------------------------------------
    # "wrapped": HTTP 200 + {"success", "code", "message", "data"} for answers and business
    # errors (default: the usual shape of Chinese Java open platforms). "bare": the data itself
    # on success, errors as HTTP 4xx/5xx with {"code", "message"}.
    envelope_style: Literal["wrapped", "bare"] = "wrapped"
    # -- shapes ----------------------------------------------------------------------------------
    # Price item keys: camelCase (supplyPrice, default: the request keys are camelCase) or the
    # snake_case names of the old system's model (supply_price).
    price_field_case: Literal["camel", "snake"] = "camel"
    # Money as JSON strings ("1299.00", default: Java BigDecimal through a string serializer)
    # or JSON numbers (1299.0).
    money_as_strings: bool = True
    # check-procurable-products without productCodes lists every procurable product, paged
    # with pageNum/pageSize; this is the largest pageSize accepted (and the default).
    max_page_size: int = 50
    # At most this many productCodes per call (check-procurable-products / price query).
    max_codes_per_call: int = 50
    # Images: ETag + If-None-Match → 304 (default). False: no validator, every GET sends the
    # body (the client must compare hashes).
    image_etags: bool = True
    # -- hostile data ------------------------------------------------------------------------------
    # A deterministic share of items (by seed and productCode) comes back broken: missing
    # productCode, a money value "暂无"/"1,299.00", a stock quantity as a list.
    hostile_items: bool = False
    hostile_fraction: float = 0.1
    # Raw values forced into items: (productCode or None = every item, key, value); the value
    # None deletes the key. Sent as given (any JSON value).
    hostile_values: list[tuple[str | None, str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for kind in self.fault_rate:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")

    def rules(self) -> list[FaultRule]:
        return [r if isinstance(r, FaultRule) else FaultRule(*r) for r in self.fault_schedule]

    @classmethod
    def for_profile(cls, profile: str) -> SupplierKnobs:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")
        if profile == "fast":
            return cls()
        knobs = cls(latency_ms=150.0, jitter_ms=50.0, rate_limit=20.0)
        if profile == "chaos":
            knobs.rate_limit = 10.0
            knobs.fault_rate = {
                "http_500": 0.02,
                "html_502": 0.02,
                "timeout": 0.01,
                "throttle": 0.02,
                "token_expired": 0.01,
            }
            knobs.hostile_items = True
        return knobs
