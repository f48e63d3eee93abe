"""Realism knobs of the Feishu simulator. Plain mutable dataclass: tests change fields at runtime.

Endpoint names (used by the per-endpoint dicts, ``fault_schedule`` and the counters):
``token``, ``app.get``, ``roles.list``, ``tables.list``, ``tables.create``, ``tables.delete``,
``fields.list``, ``fields.create``,
``records.search``, ``records.batch_create``, ``records.batch_update``, ``records.batch_delete``,
``views.list``, ``views.get``, ``views.create``, ``views.patch``, ``webhook``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

READ_ENDPOINTS = frozenset(
    {
        "app.get",
        "roles.list",
        "tables.list",
        "fields.list",
        "records.search",
        "views.list",
        "views.get",
    }
)
WRITE_ENDPOINTS = frozenset(
    {
        "tables.create",
        "tables.delete",
        "fields.create",
        "records.batch_create",
        "records.batch_update",
        "records.batch_delete",
        "views.create",
        "views.patch",
    }
)
BITABLE_ENDPOINTS = READ_ENDPOINTS | WRITE_ENDPOINTS

# Fault kinds: "html_502" (an HTML gateway page, HTTP 502), "timeout" (hang for ``timeout_s``,
# then 1255040/HTTP 504; a write commits first), "token_revoked" (all tenant tokens die before
# the call, so it fails with 99991663), and "code_<N>" for any Feishu code, e.g. "code_1254607",
# "code_99991400" (HTTP 429 + x-ogw-ratelimit-reset), "code_1254290", "code_1255040".
FaultKind = str
Profile = Literal["fast", "realistic", "chaos"]


@dataclass
class FeishuKnobs:
    # Latency added to every call: latency_ms + uniform(0, jitter_ms); per-endpoint overrides as
    # {endpoint: (latency_ms, jitter_ms)}.
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    endpoint_latency_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Per-app, per-endpoint request rates over a sliding 1 s window (None = unlimited). Over the
    # limit, rejections alternate 1254290 (HTTP 200) and 99991400 (HTTP 429 + x-ogw-ratelimit-*).
    write_qps: float | None = 50
    read_qps: float | None = 20
    endpoint_qps: dict[str, float] = field(default_factory=dict)
    # A write arriving while another write to the same base is in flight → 1254291.
    write_conflicts: bool = True
    # Random faults: {kind: probability per Bitable call}, drawn from the seeded RNG.
    fault_rate: dict[FaultKind, float] = field(default_factory=dict)
    # Deterministic faults: (endpoint, nth_call, kind); nth_call is 1-based per endpoint counter.
    fault_schedule: list[tuple[str, int, FaultKind]] = field(default_factory=list)
    timeout_s: float = (
        35.0  # how long a "timeout" fault hangs (lark-oapi's default timeout is 30 s)
    )
    tenant_token_expire_s: int = 7200
    max_tables_per_base: int = 100
    max_views_per_table: int = 200
    max_fields_per_table: int = 300
    # 1254103 beyond it (documented 20,000; the real cap depends on the tenant's plan). None in
    # the fast profile, 20,000 in realistic and chaos.
    max_records_per_table: int | None = None
    batch_create_limit: int = 1000
    batch_update_limit: int = 1000
    batch_delete_limit: int = 500
    # views.list items carry no "property"; views.get returns the filter
    # (docs/contracts/feishu.md §3).
    views_list_includes_property: bool = False
    # Advanced-permission bases (``sim.set_advanced``): does the app hold manage rights (可管理)?
    # Without them, roles.list answers 1254302 and records.search succeeds with no records
    # (documented); batch_update/delete of a hidden record → 1254043 (unconfirmed).
    app_can_manage: bool = True
    # Hide every record from the app's searches whatever the base's settings (a role whose
    # record rules exclude the app's rows while the role check passes; unconfirmed variant).
    hide_records_from_app: bool = False
    # A batch_create/batch_update resubmitted with the same client_token while the base's
    # revision is unchanged → 1254608 (documented); once the base has moved on, the first
    # response is replayed and nothing written (unconfirmed). False: always replay.
    resubmit_1254608: bool = True
    # The next N records.search calls on a table miss the newer half of its last API-created
    # batch: a read that lags a write (what ignore_consistency_check=true allows; how long the
    # real lag lasts is unconfirmed). Decremented per listing
    # (on its last page).
    stale_reads: int = 0
    # Custom bot security settings: keywords (a message without one → 19024) and an IP
    # allow-list that excludes the caller (→ 19022). Off by default (a new bot has neither).
    webhook_keywords: list[str] = field(default_factory=list)
    webhook_ip_denied: bool = False
    # Custom bot: 5/s and 100/min per bot → 11232.
    webhook_rate_limit: bool = True

    @classmethod
    def for_profile(cls, profile: Profile) -> FeishuKnobs:
        if profile == "fast":
            # Tests and quick demos: no latency, no rate limits; conflicts still on (they only
            # fire when writes really overlap).
            return cls(write_qps=None, read_qps=None)
        if profile == "realistic":
            return cls(
                # Every Bitable error table: 1254103, at most 20,000 records per table.
                max_records_per_table=20_000,
                latency_ms=60,
                jitter_ms=60,
                endpoint_latency_ms={
                    "token": (30.0, 20.0),
                    "records.search": (150.0, 100.0),
                    "records.batch_create": (350.0, 250.0),
                    "records.batch_update": (350.0, 250.0),
                    "records.batch_delete": (250.0, 150.0),
                    "webhook": (80.0, 40.0),
                },
                # Documented per-endpoint limits (docs/contracts/feishu.md §3 table).
                endpoint_qps={
                    "tables.create": 10,
                    "fields.create": 10,
                    "views.create": 10,
                    "views.patch": 10,
                },
            )
        if profile == "chaos":
            knobs = cls.for_profile("realistic")
            knobs.fault_rate = {
                "html_502": 0.02,
                "timeout": 0.005,
                "code_1254607": 0.03,
                "code_99991400": 0.02,
                "code_1254290": 0.02,
                "token_revoked": 0.002,
            }
            knobs.timeout_s = 12.0
            return knobs
        raise ValueError(f"unknown profile {profile!r} (fast, realistic, chaos)")
