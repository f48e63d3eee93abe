"""200 accounts through the chaos profile (faults + hostile data), latency cut for speed."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from integrations.retry import RetryPolicy
from integrations.sources.oceanengine.client import OceanEngineClient
from integrations.sources.oceanengine.endpoints import EP_LOCAL_REPORT, fetch_local_promotion_report
from integrations.sources.oceanengine.errors import OceanEngineError, PermissionDenied, TokenError
from sandbox.server import Sandbox
from tests.oceanengine.conftest import yesterday
from tests.oceanengine.expected import OPTIONAL_NAMES, local_rows, same_modulo_blanks
from tests.oceanengine.token_provider import SandboxTokenProvider

N_ACCOUNTS = 200
QPS = 60.0


@pytest.mark.timeout(120)
def test_chaos_200_accounts_complete_and_correct() -> None:
    with Sandbox(
        profile="chaos", seed=42, n_local_accounts=N_ACCOUNTS, promotions_per_account=20
    ) as sb:
        k = sb.oe.knobs
        # Keep the chaos (fault rates, hostile data, QPS limit) but shrink time.
        k.latency_ms, k.jitter_ms, k.endpoint_latency_ms = 5.0, 3.0, {}
        k.timeout_sleep_s = 0.6
        k.qps_limit = QPS
        assert k.fault_rate and k.hostile_numbers_as_strings and k.hostile_dash_for_empty
        provider = SandboxTokenProvider(
            sb.oceanengine_url, sb.oe.app_id, sb.oe.app_secret, sb.oe.issue_auth_code()
        )
        sb.oe.reset_counters()
        client = OceanEngineClient(
            provider,
            base_url=sb.oceanengine_url,
            qps=QPS,
            timeout_s=0.3,
            retry=RetryPolicy(max_attempts=6, base_delay_s=0.02, max_delay_s=0.3),
        )
        day = yesterday(sb)
        accounts = [a.id for a in sb.data.local_accounts]

        def pull(acct: int) -> tuple[int, Any]:
            try:
                return acct, fetch_local_promotion_report(client, acct, day, day)
            except OceanEngineError as e:
                return acct, e

        t0 = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = dict(pool.map(pull, accounts))
            # A token revoked again after its refresh is refreshed again inside the call
            # (bounded), so revocations never fail an account, not even on the first pass.
            token_failed = {a: str(r) for a, r in results.items() if isinstance(r, TokenError)}
            assert token_failed == {}
            # What a Prefect task retry does: one more try for accounts that failed on
            # something else transient (a busy CI box can exhaust 6 quick retries).
            again = [a for a, r in results.items() if isinstance(r, OceanEngineError)
                     and not isinstance(r, PermissionDenied)]  # fmt: skip
            results.update(dict(pool.map(pull, again)))
        elapsed = time.monotonic() - t0
        client.close()
        provider.close()

        forbidden = {a.id for a in sb.data.local_accounts if a.forbidden}
        failed = {a: r for a, r in results.items() if isinstance(r, OceanEngineError)}
        assert set(failed) == forbidden, {a: str(e) for a, e in failed.items()}
        assert all(isinstance(e, PermissionDenied) for e in failed.values())

        n_rows = 0
        for acct in set(accounts) - forbidden:
            rows, rejections = results[acct]
            assert rejections == []
            expected = local_rows(sb.data, acct, day)
            got = {(r["stat_date"], r["local_account_id"], r["promotion_id"]): r for r in rows}
            assert got.keys() == expected.keys() and len(rows) == len(expected)
            for key, exp in expected.items():
                assert same_modulo_blanks(got[key], exp, OPTIONAL_NAMES) == [], key
            n_rows += len(rows)
        assert n_rows > 1000

        server = sb.oe.counters_snapshot()
        # Every report call was counted on both sides (the provider's refreshes are its own).
        assert server["requests"][EP_LOCAL_REPORT] == client.stats.total
        # Successful refreshes (a throttled refresh request is retried by the provider).
        refresh_codes = server["codes"].get("oauth2/refresh_token", {})
        assert refresh_codes.get("0", 0) == provider.refreshes
        assert sum(server["faults"].values()) > 0  # chaos really happened
        retries = client.stats.snapshot()["retries"]
        assert retries.get("Transient", 0) >= server["faults"].get("code_50000", 0)
        print(
            f"\nchaos: {len(accounts)} accounts, {n_rows} rows, {client.stats.total} calls, "
            f"faults {server['faults']}, retries {retries}, "
            f"refreshes {provider.refreshes}, account re-tries {len(again)}, {elapsed:.1f}s"
        )
