"""Tenant tokens, rate limits, write conflicts, fault injection and persistence (real lark-oapi)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import lark_oapi as lark
import pytest
import requests
from lark_oapi.api.bitable.v1 import (
    AppTableRecord,
    BatchCreateAppTableRecordRequest,
    BatchCreateAppTableRecordRequestBody,
    ListAppTableRequest,
    SearchAppTableRecordRequest,
    SearchAppTableRecordRequestBody,
)
from lark_oapi.core.exception import ObtainAccessTokenException

from sandbox.feishu.app import FeishuSim
from sandbox.feishu.knobs import FeishuKnobs
from tests.sandbox.feishu_harness import forget_tenant_token, lark_client, serve_feishu

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"


def _table(sim: FeishuSim) -> str:
    return sim.add_table(sim.app_token, "t", [{"field_name": "key", "type": 1}])


def _create(sim: FeishuSim, tid: str, keys: list[str], token: str | None = None) -> Any:
    b = BatchCreateAppTableRecordRequest.builder().app_token(sim.app_token).table_id(tid)
    if token:
        b = b.client_token(token)
    recs = [AppTableRecord.builder().fields({"key": k}).build() for k in keys]
    return b.request_body(
        BatchCreateAppTableRecordRequestBody.builder().records(recs).build()
    ).build()


def _search(sim: FeishuSim, tid: str) -> Any:
    return (
        SearchAppTableRecordRequest.builder()
        .app_token(sim.app_token)
        .table_id(tid)
        .request_body(SearchAppTableRecordRequestBody.builder().build())
        .build()
    )


def _list_tables(sim: FeishuSim) -> Any:
    return ListAppTableRequest.builder().app_token(sim.app_token).build()


def _token(url: str, sim: FeishuSim) -> dict[str, Any]:
    # No Content-Type, like lark-oapi: the endpoint must parse the body as JSON regardless.
    body = json.dumps({"app_id": sim.app_id, "app_secret": sim.app_secret}).encode()
    return httpx.post(url + TOKEN_PATH, content=body).json()


def test_short_lived_tokens_are_refetched_by_lark_and_expire_on_the_server() -> None:
    knobs = FeishuKnobs.for_profile("fast")
    knobs.tenant_token_expire_s = 1  # <= 600: lark-oapi never caches it
    with serve_feishu(knobs=knobs) as (sim, served):
        client = lark_client(sim, served.url)
        for _ in range(3):
            assert client.bitable.v1.app_table.list(_list_tables(sim)).success()
        assert sim.counters_snapshot()["token"] == 3
        issued = _token(served.url, sim)
        assert issued["code"] == 0 and issued["expire"] == 1 and "data" not in issued
        headers = {"Authorization": f"Bearer {issued['tenant_access_token']}"}
        tables_url = f"{served.url}/open-apis/bitable/v1/apps/{sim.app_token}/tables"
        assert httpx.get(tables_url, headers=headers).json()["code"] == 0
        time.sleep(1.1)
        expired = httpx.get(tables_url, headers=headers)
        assert expired.json()["code"] == 99991663 and expired.headers["X-Tt-Logid"]
        missing = httpx.get(tables_url)
        assert missing.json()["code"] == 99991661
        assert missing.headers["content-type"].startswith("application/json")


def test_token_reuse_rule_and_bad_credentials() -> None:
    with serve_feishu() as (sim, served):
        first, second = _token(served.url, sim), _token(served.url, sim)
        # More than 30 min left: the same token comes back with its remaining life.
        assert first["tenant_access_token"] == second["tenant_access_token"]
        assert 7190 <= second["expire"] <= 7200
        sim.knobs.tenant_token_expire_s = 1200  # under 30 min: a new token each time
        sim.revoke_tenant_tokens()
        a, b = _token(served.url, sim), _token(served.url, sim)
        assert a["tenant_access_token"] != b["tenant_access_token"]

        client = (
            lark.Client.builder().app_id(sim.app_id).app_secret("not-the-secret").domain(served.url)
        ).build()
        with pytest.raises(ObtainAccessTokenException) as exc:
            client.bitable.v1.app_table.list(_list_tables(sim))
        assert exc.value.code == 10015


def test_revoked_token_gets_99991663_until_the_caller_drops_its_cache() -> None:
    with serve_feishu() as (sim, served):
        client = lark_client(sim, served.url)
        assert client.bitable.v1.app_table.list(_list_tables(sim)).success()
        sim.revoke_tenant_tokens()
        resp = client.bitable.v1.app_table.list(_list_tables(sim))
        assert resp.code == 99991663 and resp.raw.status_code == 400
        assert sim.counters_snapshot()["token"] == 1  # lark-oapi did not refetch
        forget_tenant_token(sim.app_id)
        assert client.bitable.v1.app_table.list(_list_tables(sim)).success()
        assert sim.counters_snapshot()["token"] == 2


def test_overlapping_writes_to_one_base_get_1254291() -> None:
    knobs = FeishuKnobs.for_profile("fast")
    knobs.endpoint_latency_ms = {"records.batch_create": (400.0, 0.0)}
    with serve_feishu(knobs=knobs) as (sim, served):
        client = lark_client(sim, served.url)
        tid = _table(sim)
        assert client.bitable.v1.app_table.list(_list_tables(sim)).success()  # token cached

        async def both() -> list[Any]:
            api = client.bitable.v1.app_table_record
            return await asyncio.gather(
                api.abatch_create(_create(sim, tid, ["a"])),
                api.abatch_create(_create(sim, tid, ["b"])),
            )

        codes = sorted(r.code for r in asyncio.run(both()))
        assert codes == [0, 1254291]
        assert len(sim.records(sim.app_token, tid)) == 1
        # Serial writes are fine.
        assert client.bitable.v1.app_table_record.batch_create(_create(sim, tid, ["c"])).success()
        sim.knobs.write_conflicts = False
        codes = sorted(r.code for r in asyncio.run(both()))
        assert codes == [0, 0]


def test_rate_limit_alternates_1254290_and_http_429_99991400() -> None:
    knobs = FeishuKnobs.for_profile("fast")
    knobs.read_qps = 1
    with serve_feishu(knobs=knobs) as (sim, served):
        client = lark_client(sim, served.url)
        tid = _table(sim)
        results = [client.bitable.v1.app_table_record.search(_search(sim, tid)) for _ in range(3)]
        assert [r.code for r in results] == [0, 1254290, 99991400]
        assert results[1].raw.status_code == 200
        assert results[2].raw.status_code == 429
        reset = results[2].raw.headers["x-ogw-ratelimit-reset"]
        assert int(reset) >= 1 and results[2].raw.headers["x-ogw-ratelimit-limit"] == "1"
        # Writes have their own budget.
        assert client.bitable.v1.app_table_record.batch_create(_create(sim, tid, ["x"])).success()


def test_fault_schedule_html_502_not_ready_and_token_revocation() -> None:
    knobs = FeishuKnobs.for_profile("fast")
    knobs.fault_schedule = [
        ("records.search", 1, "html_502"),
        ("records.batch_create", 1, "code_1254607"),
        ("tables.list", 2, "token_revoked"),
    ]
    with serve_feishu(knobs=knobs) as (sim, served):
        client = lark_client(sim, served.url)
        tid = _table(sim)
        with pytest.raises(json.JSONDecodeError):
            client.bitable.v1.app_table_record.search(_search(sim, tid))
        assert client.bitable.v1.app_table_record.search(_search(sim, tid)).success()
        not_ready = client.bitable.v1.app_table_record.batch_create(_create(sim, tid, ["a"]))
        assert not_ready.code == 1254607 and sim.records(sim.app_token, tid) == []
        assert client.bitable.v1.app_table_record.batch_create(_create(sim, tid, ["a"])).success()
        assert client.bitable.v1.app_table.list(_list_tables(sim)).success()
        assert client.bitable.v1.app_table.list(_list_tables(sim)).code == 99991663


def test_timeout_fault_commits_the_write_and_client_token_makes_the_retry_safe() -> None:
    knobs = FeishuKnobs.for_profile("fast")
    knobs.fault_schedule = [("records.batch_create", 1, "timeout")]
    knobs.timeout_s = 1.5
    with serve_feishu(knobs=knobs) as (sim, served):
        client = lark_client(sim, served.url, timeout=0.5)
        tid = _table(sim)
        token = str(uuid.uuid4())
        with pytest.raises(requests.exceptions.Timeout):
            client.bitable.v1.app_table_record.batch_create(_create(sim, tid, ["a"], token))
        stored = sim.records(sim.app_token, tid)
        assert len(stored) == 1  # committed before the gateway timed out
        soon = client.bitable.v1.app_table_record.batch_create(_create(sim, tid, ["a"], token))
        assert soon.code == 1254608  # nothing else written since: "submitted repeatedly"
        assert len(sim.records(sim.app_token, tid)) == 1
        other = client.bitable.v1.app_table_record.batch_create(_create(sim, tid, ["b"]))
        retry = client.bitable.v1.app_table_record.batch_create(_create(sim, tid, ["a"], token))
        assert other.success() and retry.success()
        assert retry.data.records[0].record_id == stored[0]["record_id"]
        assert len(sim.records(sim.app_token, tid)) == 2


def test_random_faults_are_reproducible_from_the_seed() -> None:
    def codes(seed: int) -> list[int]:
        knobs = FeishuKnobs.for_profile("fast")
        knobs.fault_rate = {"code_1254607": 0.3, "code_1255040": 0.2}
        with serve_feishu(knobs=knobs, seed=seed) as (sim, served):
            client = lark_client(sim, served.url)
            return [client.bitable.v1.app_table.list(_list_tables(sim)).code for _ in range(15)]

    first = codes(7)
    assert first == codes(7)
    assert {0, 1254607, 1255040} == set(first)


def test_state_persists_across_restarts(tmp_path: Path) -> None:
    with serve_feishu(tmp_path) as (sim, served):
        client = lark_client(sim, served.url)
        tid = _table(sim)
        assert client.bitable.v1.app_table_record.batch_create(
            _create(sim, tid, ["kept"])
        ).success()
        creds = (sim.app_id, sim.app_secret, sim.app_token, sim.webhook_path, sim.webhook_secret)
    files = sorted(p.name for p in (tmp_path / "feishu" / "bases").iterdir())
    assert files == [f"{creds[2]}.json"]  # one file per base, no temp leftovers

    again = FeishuSim(tmp_path)
    assert (again.app_id, again.app_secret, again.app_token) == creds[:3]
    assert (again.webhook_path, again.webhook_secret) == creds[3:]
    assert [r["fields"] for r in again.records(again.app_token, tid)] == [{"key": "kept"}]
    with serve_feishu(tmp_path) as (sim2, served2):
        forget_tenant_token(sim2.app_id)  # new process-equivalent: old tokens died with the server
        client = lark_client(sim2, served2.url)
        assert client.bitable.v1.app_table_record.batch_create(
            _create(sim2, tid, ["more"])
        ).success()
        ids = [r["record_id"] for r in sim2.records(sim2.app_token, tid)]
        assert len(ids) == len(set(ids)) == 2


def test_unknown_base_and_inspection_helpers() -> None:
    with serve_feishu() as (sim, served):
        client = lark_client(sim, served.url)
        other = sim.create_base("second")
        resp = client.bitable.v1.app_table.list(
            ListAppTableRequest.builder().app_token("basNOPE").build()
        )
        assert resp.code == 1254040
        tid = sim.add_table(
            other, "seeded", [{"field_name": "key", "type": 1}, {"field_name": "n", "type": 2}]
        )
        sim.add_records(other, tid, [{"key": "dup", "n": 1}, {"key": "dup", "n": 2}])
        sim.rename_field(other, tid, "n", "amount")
        assert [r["fields"] for r in sim.records(other, tid)] == [
            {"key": "dup", "amount": 1},
            {"key": "dup", "amount": 2},
        ]
        sim.drop_table(other, tid)
        assert sim.tables(other) == []
        with pytest.raises(lark.core.exception.NoAuthorizationException):
            lark.Client.builder().domain(served.url).build().bitable.v1.app_table.list(
                ListAppTableRequest.builder().app_token(other).build()
            )
