"""The ``[[tenants]]`` tables of ``adsync.toml``: pydantic models only (no I/O, no secrets).

A tenant is one customer's setup: its Ocean Engine app, the principals that authorised it (one
token set each), which accounts it syncs, and its Feishu app with one or more Bitable bases. This
module holds the shapes; :mod:`integrations.tenants` resolves secrets and builds per-tenant
:class:`~integrations.settings.Settings` views. Kept apart from ``settings`` so ``Settings`` can
declare a ``tenants`` field without an import cycle.

Secrets never live here: each app names the *environment variable* holding its secret
(``app_secret_env = "ACME_OE_APP_SECRET"``), so the file can be committed and reviewed.

Example::

    [[tenants]]
    name = "acme"
    principals = [{ name = "alice" }, { name = "bob" }]
    views_for_labels = ["north"]   # optional: per-account views only for these (200-view cap)

    [tenants.oceanengine]
    app_id = "1790000000000001"
    app_secret_env = "ACME_OE_APP_SECRET"

    [tenants.accounts]
    workbench_ids = [1790000000000100]   # 工作台 (customer centre): all its 本地推 accounts
    account_ids = [1790000000000201]     # and/or explicit accounts
    labels = ["north", "south"]          # optional: keep only accounts carrying one of these

    [tenants.labels]                     # label → account ids (the routing and filter vocabulary)
    north = [1790000000000201]

    [tenants.feishu]
    app_id = "cli_a1b2"
    app_secret_env = "ACME_FEISHU_APP_SECRET"
    bases = [
      { app_token = "bascnNorth", labels = ["north"] },  # accounts labelled north go here
      { app_token = "bascnRest" },                       # the default: every other account
    ]
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# Lower-case, usable in a deployment name, a run name and a String(64) ledger column.
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# POSIX shell variable names: what systemd EnvironmentFile= and `export` accept.
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_TENANT = "default"
# Feishu: a table holds at most 200 views (docs/contracts/feishu.md); one view per account.
MAX_VIEWS_PER_TABLE = 200

Id = Annotated[int, Field(gt=0)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_name(v: str) -> str:
    if not ENV_NAME.match(v):
        raise ValueError(f"{v!r} is not an environment variable name (letters, digits, _)")
    return v


class OceanEngineApp(_Strict):
    app_id: str = Field(pattern=r"^[0-9]{1,20}$")  # a string: ids > 2^53 never pass a float
    app_secret_env: str
    qps: float | None = Field(default=None, gt=0, le=1000)  # default: ADSYNC_OCEANENGINE_QPS

    _check_env = field_validator("app_secret_env")(_env_name)


class Principal(_Strict):
    """One authorising principal: the token set stored as ``oceanengine:<app_id>:<name>``."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class AccountSelection(_Strict):
    """Which accounts the tenant syncs: (workbench accounts ∪ explicit ids), then, if ``labels``
    is set, only those carrying one of the labels. A 抖音号 (DOU+) account is named by its account
    id (``oauth2/advertiser/get``'s ``id``) like any other."""

    workbench_ids: list[Id] = Field(default_factory=list)
    account_ids: list[Id] = Field(default_factory=list)
    labels: list[Label] = Field(default_factory=list)


class Base(_Strict):
    """One Bitable base. ``labels``: the accounts routed here; none = the default base."""

    app_token: str = Field(pattern=r"^[A-Za-z0-9]{8,64}$")
    labels: list[Label] = Field(default_factory=list)


class FeishuApp(_Strict):
    app_id: str = Field(min_length=1, max_length=64)
    app_secret_env: str
    bases: list[Base] = Field(min_length=1)

    _check_env = field_validator("app_secret_env")(_env_name)


class TenantConfig(_Strict):
    name: str
    oceanengine: OceanEngineApp
    principals: list[Principal] = Field(min_length=1)
    accounts: AccountSelection = Field(default_factory=AccountSelection)
    labels: dict[Label, list[Id]] = Field(default_factory=dict)
    feishu: FeishuApp | None = None  # none: this tenant writes the database only
    # Views over Feishu's 200-per-table cap: give per-account views only to accounts carrying
    # one of these labels (empty: every account gets one, up to the cap).
    views_for_labels: list[Label] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not TENANT_NAME.match(v):
            raise ValueError(
                f"{v!r} is not a tenant name (lower-case letters, digits, - and _, at most 64)"
            )
        return v

    @field_validator("principals")
    @classmethod
    def _unique_principals(cls, v: list[Principal]) -> list[Principal]:
        names = [p.name for p in v]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ValueError(f"principal {dup!r} is listed twice")
        return v
