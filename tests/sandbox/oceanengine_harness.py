"""Test helpers for the Ocean Engine simulator: a served sim plus a thin plain-httpx caller.

Deliberately not our product client: requests are built by hand the way
docs/contracts/oceanengine.md describes (JSON-encoded query values, ``Access-Token`` header), so the
tests check the wire format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from sandbox.oceanengine.app import TOKEN_IN_QUERY, OceanEngineKnobs, OceanEngineSim
from sandbox.oceanengine.data import SandboxData
from sandbox.runner import serve_in_thread

INT53 = 2**53


@dataclass
class OE:
    sim: OceanEngineSim
    url: str
    http: httpx.Client
    token: str | None = None
    tokens: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> SandboxData:
        return self.sim.data

    def raw_get(self, endpoint: str, token: str | None = None, **params: Any) -> httpx.Response:
        query = {k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in params.items()}
        headers = {"Access-Token": token} if token else {}
        if token and endpoint.strip("/") in TOKEN_IN_QUERY:
            query["access_token"] = token  # where the reference request carries it
        return self.http.get(f"{self.url}/open_api/{endpoint}/", params=query, headers=headers)

    def get(self, endpoint: str, **params: Any) -> dict[str, Any]:
        r = self.raw_get(endpoint, self.token, **params)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, endpoint: str, body: dict[str, Any], slash: bool = True) -> dict[str, Any]:
        r = self.http.post(f"{self.url}/open_api/{endpoint}{'/' if slash else ''}", json=body)
        assert r.status_code == 200, r.text
        return r.json()

    def exchange(self, auth_code: str) -> dict[str, Any]:
        return self.post(
            "oauth2/access_token",
            {
                "app_id": self.sim.app_id,
                "secret": self.sim.app_secret,
                "grant_type": "auth_code",
                "auth_code": auth_code,
            },
        )

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return self.post(
            "oauth2/refresh_token",
            {
                "app_id": self.sim.app_id,
                "secret": self.sim.app_secret,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            },
        )

    def login(self, advertiser_ids: list[int] | None = None) -> dict[str, Any]:
        body = self.exchange(self.sim.issue_auth_code(advertiser_ids))
        assert body["code"] == 0, body
        self.tokens = body["data"]
        self.token = body["data"]["access_token"]
        return body["data"]


@contextmanager
def served_oe(
    data: SandboxData | None = None, knobs: OceanEngineKnobs | None = None, *, login: bool = True
) -> Iterator[OE]:
    sim = OceanEngineSim(data or SandboxData.generate(seed=42), knobs)
    served = serve_in_thread(sim.app)
    try:
        with httpx.Client(timeout=10) as http:
            oe = OE(sim, served.url, http)
            if login:
                oe.login()
            yield oe
    finally:
        served.stop()


def assert_envelope(body: dict[str, Any], code: int = 0) -> dict[str, Any]:
    assert set(body) >= {"code", "message", "request_id"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["request_id"], str) and len(body["request_id"]) >= 20
    if code == 0:
        assert body["message"] == "OK"
        assert isinstance(body["data"], dict)
        return body["data"]
    return body.get("data", {})


def assert_big_id(value: Any) -> None:
    assert type(value) is int, f"id {value!r} must be a JSON integer"
    assert INT53 < value < 2**63, value


def assert_page_info(info: dict[str, Any], page: int, size: int, total: int) -> None:
    assert info["page"] == page and info["page_size"] == size
    assert info["total_number"] == total
    assert info["total_page"] == (total + size - 1) // size
    assert all(type(v) is int for v in info.values())
