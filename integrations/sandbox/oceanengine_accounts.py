"""Ocean Engine accounts endpoints (being filled in)."""

from __future__ import annotations

from integrations.sandbox.oceanengine_ctx import Endpoint

ROUTES: dict[str, Endpoint] = {}
