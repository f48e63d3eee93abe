"""A small real token provider for tests: exchanges a sandbox auth code, refreshes on demand.

It talks to the sandbox's OAuth endpoints over HTTP (no mock) through the client's unauthenticated
POST, and implements the ``TokenProvider`` protocol (``get`` / ``refresh(stale)``) the client uses.
Production code uses ``token_store.api`` instead.
"""

from __future__ import annotations

import threading

from integrations.sources.oceanengine.client import OceanEngineClient


class SandboxTokenProvider:
    def __init__(self, base_url: str, app_id: int | str, app_secret: str, auth_code: str) -> None:
        self._oauth = OceanEngineClient(None, base_url=base_url, qps=1000, timeout_s=10)
        self._app = {"app_id": int(app_id), "secret": app_secret}
        self._lock = threading.Lock()
        self.refreshes = 0
        data = self._oauth.post(
            "oauth2/access_token",
            {**self._app, "grant_type": "auth_code", "auth_code": auth_code},
        )
        self._access: str = data["access_token"]
        self._refresh: str = data["refresh_token"]
        self.account_ids: list[int] = list(data.get("advertiser_ids") or [])

    def get(self) -> str:
        with self._lock:
            return self._access

    def refresh(self, stale: str) -> str:
        with self._lock:
            if self._access != stale:  # another thread already refreshed
                return self._access
            data = self._oauth.post(
                "oauth2/refresh_token",
                {**self._app, "grant_type": "refresh_token", "refresh_token": self._refresh},
            )
            self._access, self._refresh = data["access_token"], data["refresh_token"]
            self.refreshes += 1
            return self._access

    def close(self) -> None:
        self._oauth.close()
