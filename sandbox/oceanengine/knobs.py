"""Realism knobs of the Ocean Engine simulator. A plain mutable dataclass: tests change fields on
a running simulator (``sim.knobs.qps_limit = 5``) and the next request sees the change.

Profiles (numbers documented in README "## Sandbox" and sandbox/QUIRKS.md):
- ``fast``: no latency, no limit, no faults — unit/e2e tests.
- ``realistic``: 120 ± 40 ms per call (reports slower), 20 QPS per app → 40100.
- ``chaos``: realistic + 10 QPS + a few % of every transient fault + hostile data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

# code_40110: developer-level throttling (开发者频控, PHP error guide) answered before the handler
# runs, so nothing is consumed (e.g. a refresh token stays valid). Appended last: the seeded
# rate order of the older kinds is unchanged.
FaultKind = Literal["html_502", "timeout", "code_50000", "token_revoked", "code_40110"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
Profile = Literal["fast", "realistic", "chaos"]
PROFILES: tuple[str, ...] = get_args(Profile)


@dataclass(frozen=True)
class FaultRule:
    """Inject ``kind`` on the ``nth_call`` (1-based, since the last counter reset) of
    ``endpoint`` (normalized, e.g. ``"v3.0/local/report/promotion/get"``; ``"*"`` = any)."""

    endpoint: str
    nth_call: int
    kind: FaultKind

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")
        if self.nth_call < 1:
            raise ValueError("nth_call is 1-based")


PageFaultKind = Literal["repeat", "skip", "object"]
PAGE_FAULT_KINDS: tuple[str, ...] = get_args(PageFaultKind)


@dataclass
class PageFault:
    """Hostile paging on ``endpoint`` (normalized) for page ``page`` of a listing:

    - ``repeat``: page N answers page N-1's rows again (page N's rows are never served);
    - ``skip``: page N answers page N+1's rows (page N's rows are never served);
    - ``object``: the page's list arrives as a JSON object ``{"0": row, ...}`` instead of an array.

    ``account``: only requests naming this account (local_account_id / advertiser_id /
    aweme_sec_uid); None = any. ``times``: how often it fires (None = every time); ``fired``
    counts it. No public reference documents these; they model the reports of issue 17.
    """

    endpoint: str
    page: int
    kind: PageFaultKind
    account: int | str | None = None
    times: int | None = None
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in PAGE_FAULT_KINDS:
            raise ValueError(f"unknown page fault {self.kind!r}; one of {PAGE_FAULT_KINDS}")
        if self.page < 1 or (self.kind == "repeat" and self.page < 2):
            raise ValueError("page is 1-based (and a repeat needs a page before it)")


@dataclass
class OceanEngineKnobs:
    # -- latency: fixed + uniform jitter (ms); per-endpoint overrides as (latency, jitter) ----
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    endpoint_latency_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    # -- rate limit: requests per rolling second per app, None = unlimited (→ 40100) -----------
    qps_limit: float | None = None
    # -- faults: probability per data call, by kind; and a deterministic schedule --------------
    fault_rate: dict[str, float] = field(default_factory=dict)
    fault_schedule: list[FaultRule | tuple[str, int, str]] = field(default_factory=list)
    fault_seed: int = 0
    # A "timeout" fault handles the request, then sleeps this long before answering (past the
    # client's timeout), so side effects happen but the client never sees the answer.
    timeout_sleep_s: float = 35.0
    # -- OAuth lifetimes (seconds) -------------------------------------------------------------
    access_token_ttl_s: int = 86399
    refresh_token_ttl_s: int = 2591999
    auth_code_ttl_s: int = 600
    # Whether an access token keeps working after its refresh token is used (unconfirmed).
    refresh_keeps_old_access_token: bool = True
    # -- codes the contract leaves unconfirmed (sandbox/QUIRKS.md) -----------------------------
    # What a "code_50000" fault answers: 50000 (超时) by default; 50001 / 50002 (busy /
    # unavailable, retried by the client) or 50003 / 50004 / 50005 (parameter error / no
    # permission / not found per a public SDK's error guide: final) to test the 5xxxx table.
    system_error_code: int = 50000
    bad_param_code: int = 40001
    token_expired_code: int = 40102
    refresh_invalid_code: int = 40107
    refresh_expired_code: int = 40103
    bad_app_code: int = 40101
    # -- request-shape strictness ----------------------------------------------------------------
    # oauth2/advertiser/get reads the token from the ``access_token`` query parameter only
    # (official Go SDK api_oauth2_advertiser_get.go): a header-only call answers 40104 "The
    # access_token is empty.". True: a header is accepted there too (whether the live API reads
    # it is unconfirmed; a community SDK sends both).
    advertiser_get_accepts_header: bool = False
    # Oldest day a report serves, in days before the simulator's today: None = no limit (the
    # default; the live limit is unconfirmed, BUB documents today-365 for the account report).
    # Set: local / DOU+ report calls starting earlier answer a parameter error.
    report_max_lookback_days: int | None = None
    # -- response-shape choices the contract leaves open (sandbox/QUIRKS.md) -------------------
    # DPA product status / audit_status: ints (official Go SDK int32) by default; True serves the
    # community SDK's enum strings (STATUS_ONLINE, AUDIT_STATUS_APPROVE, ...).
    dpa_status_strings: bool = False
    # DOU+ money (order/ad budget, stat_cost, custom_convert_cost): int64 fen as the official SDKs
    # type it (default), or yuan with decimals (float in another SDK). Unit unconfirmed.
    douplus_money_unit: Literal["fen", "yuan"] = "fen"
    # DOU+ order list filter.order_create_time.{start_time,end_time}: the one format accepted
    # ("datetime" = YYYY-MM-DD HH:MM:SS, like the order's own order_create_time; "date" =
    # YYYY-MM-DD). Official Go SDK: plain strings, format unconfirmed.
    douplus_create_time_format: Literal["datetime", "date"] = "datetime"
    douplus_total_key: Literal["both", "total_num", "total_number"] = "both"
    # True: a local report call without filtering.promotion_ids returns one account-level row
    # per day (no promotion_id), as one reading of the OFF comment suggests.
    report_aggregates_without_promotion_ids: bool = False
    # -- hostile-but-documented data --------------------------------------------------------------
    hostile_numbers_as_strings: bool = False  # some metric numbers arrive quoted: "123"
    hostile_dash_for_empty: bool = False  # zero / empty metrics arrive as "-"
    hostile_missing_optional: bool = False  # optional fields sometimes absent
    hostile_fraction: float = 0.25  # share of values/rows the two toggles above touch
    # Repeated / skipped / malformed pages (see PageFault); empty = well-behaved paging.
    hostile_page_faults: list[PageFault] = field(default_factory=list)
    # Raw values forced into report rows: (promotion_id or order_id or product_id, field, value),
    # e.g. (123, "stat_cost", "1e16") or (123, "stat_time_day", "2099-01-01"). An id of None
    # hits every row. Values are sent as given (any JSON value).
    hostile_values: list[tuple[int | None, str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for kind in self.fault_rate:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")

    def rules(self) -> list[FaultRule]:
        return [r if isinstance(r, FaultRule) else FaultRule(*r) for r in self.fault_schedule]

    def latency_for(self, endpoint: str) -> tuple[float, float]:
        return self.endpoint_latency_ms.get(endpoint, (self.latency_ms, self.jitter_ms))

    @classmethod
    def for_profile(cls, profile: str) -> OceanEngineKnobs:
        if profile == "fast":
            return cls()
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; one of {', '.join(PROFILES)}")
        knobs = cls(
            latency_ms=120.0,
            jitter_ms=40.0,
            endpoint_latency_ms={
                "v3.0/local/report/promotion/get": (250.0, 80.0),
                "v3.0/douplus/order/report": (200.0, 60.0),
                "2/dpa/detail/get": (180.0, 60.0),
            },
            qps_limit=20.0,
        )
        if profile == "chaos":
            knobs.qps_limit = 10.0
            knobs.fault_rate = {
                "html_502": 0.02,
                "timeout": 0.01,
                "code_50000": 0.03,
                "token_revoked": 0.01,
            }
            knobs.hostile_numbers_as_strings = True
            knobs.hostile_dash_for_empty = True
            knobs.hostile_missing_optional = True
        return knobs
