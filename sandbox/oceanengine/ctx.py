"""What an Ocean Engine endpoint handler sees: parameters, the caller's grant, data and knobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sandbox.oceanengine.auth import AuthStore, Grant
from sandbox.oceanengine.data import SandboxData
from sandbox.oceanengine.errors import OEError, no_permission
from sandbox.oceanengine.knobs import OceanEngineKnobs
from sandbox.oceanengine.params import Params


@dataclass
class Ctx:
    data: SandboxData
    knobs: OceanEngineKnobs
    params: Params
    auth: AuthStore
    app_id: int
    app_secret: str
    grant: Grant | None = None
    # Every app the simulator serves (app_id → secret); the first is app_id/app_secret.
    apps: dict[int, str] | None = None
    access_token: str | None = None

    def bad(self, message: str) -> OEError:
        return OEError(self.knobs.bad_param_code, message)

    def check_lookback(self, start: date, name: str) -> None:
        """Parameter error for a report starting before the ``report_max_lookback_days`` knob."""
        limit = self.knobs.report_max_lookback_days
        if limit is not None and start < self.data.today - timedelta(days=limit):
            raise self.bad(f"{name}: must not be earlier than {limit} days before today")

    def require_grant(self, account_id: int) -> None:
        """40002 unless the token's consent covers ``account_id``."""
        if self.grant is None or account_id not in self.grant.advertiser_ids:
            raise no_permission(account_id)


Handler = Callable[[Ctx], dict[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str  # "GET" | "POST"
    handler: Handler
    needs_token: bool = True
