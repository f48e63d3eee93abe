"""The customer-center 10,000-row cap: reported only when total_number > 10000 (exact boundary)."""

from __future__ import annotations

import pytest

from integrations.sources.oceanengine.client import OceanEngineClient
from integrations.sources.oceanengine.endpoints import (
    EP_CC_ACCOUNT_LIST,
    iter_customer_center_accounts,
)
from sandbox.server import Sandbox
from tests.oceanengine.conftest import FAST_RETRY
from tests.oceanengine.token_provider import SandboxTokenProvider


@pytest.mark.parametrize(("n_accounts", "capped"), [(10_000, False), (10_001, True)])
def test_cap_is_reported_only_above_10000(n_accounts: int, capped: bool) -> None:
    with Sandbox(
        profile="fast", seed=7, n_local_accounts=n_accounts, promotions_per_account=0
    ) as sb:
        oe = sb.oe
        provider = SandboxTokenProvider(
            sb.oceanengine_url, oe.app_id, oe.app_secret, oe.issue_auth_code()
        )
        client = OceanEngineClient(
            provider, base_url=sb.oceanengine_url, qps=1000.0, timeout_s=10.0, retry=FAST_RETRY
        )
        try:
            rows, rejections = [], []
            for page, rej in iter_customer_center_accounts(client, sb.data.cc_account_id):
                rows += page
                rejections += rej
        finally:
            client.close()
            provider.close()
        assert len(rows) == 10_000  # the API never serves row 10,001
        assert len({r.account_id for r in rows}) == 10_000
        snap = oe.counters_snapshot()
        assert snap["requests"][EP_CC_ACCOUNT_LIST] == 100  # never asks past the cap
        assert snap["codes"][EP_CC_ACCOUNT_LIST] == {"0": 100}
        if capped:
            assert len(rejections) == 1
            assert "capped at 10000" in rejections[0].reason
            assert "total_number 10001" in rejections[0].reason
        else:
            assert rejections == []
