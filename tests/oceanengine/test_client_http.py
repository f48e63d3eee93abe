"""The client against the sandbox over real HTTP: each error class, retry / no-retry, counts."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from integrations.sources.oceanengine.client import MAX_REFRESHES_PER_CALL
from integrations.sources.oceanengine.endpoints import (
    EP_LOCAL_REPORT,
    fetch_authorized_accounts,
    fetch_local_promotion_report,
)
from integrations.sources.oceanengine.errors import (
    ApiError,
    InvalidParams,
    PermissionDenied,
    Throttled,
    TokenInvalid,
    TokenMissing,
    Transient,
)
from sandbox.oceanengine.knobs import FaultRule
from tests.oceanengine.conftest import yesterday
from tests.oceanengine.expected import local_rows, same_modulo_blanks


def _account(sb, *, forbidden: bool = False) -> int:
    return next(a.id for a in sb.data.local_accounts if a.forbidden == forbidden)


def _report_params(sb, acct: int) -> dict:
    day = yesterday(sb)
    return {
        "local_account_id": acct,
        "start_date": day,
        "end_date": day,
        "metrics": ["stat_cost", "show_cnt"],
        "page": 1,
        "page_size": 100,
    }


def _server(oe) -> tuple[int, dict, dict]:
    snap = oe.counters_snapshot()
    return snap["total"], snap["requests"], snap["codes"]


def test_report_rows_match_the_data_and_every_call_is_counted(sb, oe, make_client) -> None:
    client = make_client()
    acct, day = _account(sb), yesterday(sb)
    rows, rejections = fetch_local_promotion_report(client, acct, day, day)
    expected = local_rows(sb.data, acct, day)
    assert rejections == []
    assert len(rows) == len(expected) > 0
    for row in rows:
        key = (row["stat_date"], row["local_account_id"], row["promotion_id"])
        assert same_modulo_blanks(row, expected[key]) == []
        assert row["promotion_id"] > 2**53  # int64 ids survived exactly
    total, requests, _ = _server(oe)
    assert client.stats.total == total == requests[EP_LOCAL_REPORT] == 1
    assert client.stats.by_endpoint() == {EP_LOCAL_REPORT: 1}


def test_transient_faults_are_retried_until_success(sb, oe, make_client, caplog) -> None:
    oe.knobs.fault_schedule = [
        FaultRule(EP_LOCAL_REPORT, 1, "code_50000"),
        FaultRule(EP_LOCAL_REPORT, 2, "html_502"),
    ]
    client = make_client()
    with caplog.at_level(logging.WARNING, logger="adsync.oceanengine"):
        data = client.get(EP_LOCAL_REPORT, _report_params(sb, _account(sb)))
    assert data["promotion_list"]
    total, _, codes = _server(oe)
    assert total == client.stats.total == 3
    assert codes[EP_LOCAL_REPORT] == {"50000": 1, "http_502": 1, "0": 1}
    assert client.stats.snapshot()["retries"] == {"Transient": 2}
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retry")]
    assert len(retries) == 2
    assert (
        EP_LOCAL_REPORT in retries[0] and "code 50000" in retries[0] and "attempt 1/4" in retries[0]
    )
    assert "code HTTP 502" in retries[1] and "attempt 2/4" in retries[1]


def test_timeout_is_transient_and_retried(sb, oe, make_client) -> None:
    oe.knobs.fault_schedule = [FaultRule(EP_LOCAL_REPORT, 1, "timeout")]
    oe.knobs.timeout_sleep_s = 0.6
    client = make_client(timeout_s=0.2)
    assert client.get(EP_LOCAL_REPORT, _report_params(sb, _account(sb)))["promotion_list"]
    assert _server(oe)[0] == client.stats.total == 2
    assert client.stats.snapshot()["retries"] == {"Transient": 1}
    # The server did answer the first call, too late: wait for it so it cannot leak into the
    # next test's counters.
    deadline = time.monotonic() + 3
    while _server(oe)[2][EP_LOCAL_REPORT].get("0", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _server(oe)[2][EP_LOCAL_REPORT] == {"0": 2}


def test_transient_gives_up_after_max_attempts(sb, oe, make_client) -> None:
    oe.knobs.fault_rate = {"code_50000": 1.0}
    client = make_client()
    with pytest.raises(Transient) as ei:
        client.get(EP_LOCAL_REPORT, _report_params(sb, _account(sb)))
    assert ei.value.code == 50000
    assert _server(oe)[0] == client.stats.total == 4  # FAST_RETRY.max_attempts


def test_throttling_backs_off_and_succeeds(sb, oe, make_client) -> None:
    """Server limit 5 QPS, client pacing off: the burst gets 40100s, backoff absorbs them."""
    from integrations.retry import RetryPolicy

    oe.knobs.qps_limit = 5
    client = make_client(retry=RetryPolicy(max_attempts=8, base_delay_s=0.2, max_delay_s=1.0))
    params = _report_params(sb, _account(sb))
    for _ in range(8):
        assert client.get(EP_LOCAL_REPORT, params)["promotion_list"]
    total, _, codes = _server(oe)
    throttled = codes[EP_LOCAL_REPORT].get("40100", 0)
    assert throttled >= 1
    assert codes[EP_LOCAL_REPORT]["0"] == 8
    assert client.stats.snapshot()["retries"] == {"Throttled": throttled}
    assert total == client.stats.total == 8 + throttled


def test_throttled_gives_up_after_max_attempts(sb, oe, make_client) -> None:
    oe.knobs.qps_limit = 1
    time.sleep(1.0)  # let the server's rolling window forget earlier tests' calls
    client = make_client()
    params = _report_params(sb, _account(sb))
    client.get(EP_LOCAL_REPORT, params)  # uses the second's only slot
    with pytest.raises(Throttled) as ei:
        client.get(EP_LOCAL_REPORT, params)
    assert ei.value.code == 40100
    assert _server(oe)[0] == client.stats.total == 1 + 4


def test_pacing_at_the_server_limit_avoids_throttling(sb, oe, make_client) -> None:
    oe.knobs.qps_limit = 20
    client = make_client(qps=20)
    params = _report_params(sb, _account(sb))
    for _ in range(30):
        client.get(EP_LOCAL_REPORT, params)
    _, _, codes = _server(oe)
    assert codes[EP_LOCAL_REPORT] == {"0": 30}


def test_expired_token_refreshes_once_and_retries(sb, oe, make_client, provider) -> None:
    client = make_client()
    params = _report_params(sb, _account(sb))
    client.get(EP_LOCAL_REPORT, params)
    oe.expire_access_tokens()  # mid-run expiry
    assert client.get(EP_LOCAL_REPORT, params)["promotion_list"]
    client.get(EP_LOCAL_REPORT, params)  # the new token keeps working
    total, requests, codes = _server(oe)
    assert provider.refreshes == 1
    assert codes[EP_LOCAL_REPORT] == {"0": 3, "40102": 1}
    assert requests["oauth2/refresh_token"] == 1
    assert client.stats.snapshot()["token_refreshes"] == 1
    assert client.stats.by_endpoint() == {EP_LOCAL_REPORT: 4}


def test_revoked_token_refreshes_once(sb, oe, make_client, provider) -> None:
    oe.knobs.fault_schedule = [FaultRule(EP_LOCAL_REPORT, 1, "token_revoked")]
    client = make_client()
    assert client.get(EP_LOCAL_REPORT, _report_params(sb, _account(sb)))["promotion_list"]
    _, _, codes = _server(oe)
    assert codes[EP_LOCAL_REPORT] == {"40105": 1, "0": 1}
    assert provider.refreshes == 1


class _StuckProvider:
    """A real provider whose refresh cannot produce a working token (revoked grant)."""

    def __init__(self, token: str) -> None:
        self.token, self.refreshes = token, 0

    def get(self) -> str:
        return self.token

    def refresh(self, stale: str) -> str:
        self.refreshes += 1
        return self.token


def test_refresh_that_yields_the_same_token_is_not_retried(sb, oe, make_client, provider) -> None:
    stuck = _StuckProvider(provider.get())
    oe.revoke_access_tokens()
    client = make_client(tokens=stuck)
    with pytest.raises(TokenInvalid) as ei:
        client.get(EP_LOCAL_REPORT, _report_params(sb, _account(sb)))
    assert stuck.refreshes == 1
    assert _server(oe)[0] == client.stats.total == 1  # the same token would fail the same way
    assert stuck.token not in str(ei.value)


def test_token_revoked_again_after_a_refresh_refreshes_again(sb, oe, make_client, provider) -> None:
    oe.knobs.fault_schedule = [
        FaultRule(EP_LOCAL_REPORT, 1, "token_revoked"),
        FaultRule(EP_LOCAL_REPORT, 2, "token_revoked"),
    ]
    client = make_client()
    assert client.get(EP_LOCAL_REPORT, _report_params(sb, _account(sb)))["promotion_list"]
    _, requests, codes = _server(oe)
    assert codes[EP_LOCAL_REPORT] == {"40105": 2, "0": 1}
    assert provider.refreshes == requests["oauth2/refresh_token"] == 2
    assert client.stats.snapshot()["token_refreshes"] == 2


def test_refreshes_per_call_are_bounded(sb, oe, make_client, provider) -> None:
    oe.knobs.fault_schedule = [FaultRule(EP_LOCAL_REPORT, n, "token_revoked") for n in range(1, 6)]
    client = make_client()
    with pytest.raises(TokenInvalid):
        client.get(EP_LOCAL_REPORT, _report_params(sb, _account(sb)))
    assert provider.refreshes == MAX_REFRESHES_PER_CALL == 3
    assert _server(oe)[2][EP_LOCAL_REPORT] == {"40105": 4}  # first try + one per refresh


class _NaiveProvider:
    """Refreshes on every request, whatever the stale token (no single-flight of its own)."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0
        self._lock = threading.Lock()

    def get(self) -> str:
        return self.inner.get()

    def refresh(self, stale: str) -> str:
        with self._lock:
            self.calls += 1
            return self.inner.refresh(self.inner.get())


def test_concurrent_token_errors_share_one_refresh(sb, oe, make_client, provider) -> None:
    naive = _NaiveProvider(provider)
    client = make_client(tokens=naive)
    params = _report_params(sb, _account(sb))
    client.get(EP_LOCAL_REPORT, params)
    oe.revoke_access_tokens()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: client.get(EP_LOCAL_REPORT, params), range(16)))
    assert all(r["promotion_list"] for r in results)
    assert naive.calls == provider.refreshes == 1
    assert _server(oe)[1]["oauth2/refresh_token"] == 1


def test_permission_denied_is_not_retried_and_names_account_and_endpoint(
    sb, oe, make_client, provider, caplog
) -> None:
    client = make_client()
    acct = _account(sb, forbidden=True)
    day = yesterday(sb)
    with (
        caplog.at_level(logging.DEBUG, logger="adsync.oceanengine"),
        pytest.raises(PermissionDenied) as ei,
    ):
        fetch_local_promotion_report(client, acct, day, day)
    msg = str(ei.value)
    assert EP_LOCAL_REPORT in msg and str(acct) in msg and "40002" in msg
    assert provider.get() not in msg
    assert all(provider.get() not in r.getMessage() for r in caplog.records)
    assert _server(oe)[0] == client.stats.total == 1


def test_invalid_params_is_not_retried(sb, oe, make_client) -> None:
    client = make_client()
    params = _report_params(sb, _account(sb)) | {"page_size": 7}
    with pytest.raises(InvalidParams) as ei:
        client.get(EP_LOCAL_REPORT, params)
    assert ei.value.code == 40001 and "page_size" in str(ei.value)
    assert _server(oe)[0] == client.stats.total == 1


def test_float_query_values_are_refused_before_sending(sb, oe, make_client) -> None:
    client = make_client()
    with pytest.raises(TypeError, match="float"):
        client.get(EP_LOCAL_REPORT, {"local_account_id": 1.79e18})
    assert _server(oe)[0] == client.stats.total == 0


class _CountingProvider:
    """Hands out a fixed token and counts refresh requests (which must not happen here)."""

    def __init__(self, token: str) -> None:
        self.token, self.refreshes = token, 0

    def get(self) -> str:
        return self.token

    def refresh(self, stale: str) -> str:
        self.refreshes += 1
        return "a-new-token"


def test_empty_token_40104_is_a_config_error_and_never_refreshes(sb, oe, make_client) -> None:
    empty = _CountingProvider("")
    client = make_client(tokens=empty)
    with pytest.raises(TokenMissing) as ei:
        client.get(EP_LOCAL_REPORT, _report_params(sb, _account(sb)))
    assert ei.value.code == 40104 and not ei.value.retryable
    assert empty.refreshes == 0
    total, requests, codes = _server(oe)
    assert total == client.stats.total == 1  # not retried either
    assert codes[EP_LOCAL_REPORT] == {"40104": 1}
    assert "oauth2/refresh_token" not in requests
    assert client.stats.snapshot()["token_refreshes"] == 0


def test_40110_on_a_data_call_is_throttling_and_retried(sb, oe, make_client, provider) -> None:
    oe.knobs.fault_schedule = [
        FaultRule(EP_LOCAL_REPORT, 1, "code_40110"),
        FaultRule(EP_LOCAL_REPORT, 2, "code_40110"),
    ]
    client = make_client()
    assert client.get(EP_LOCAL_REPORT, _report_params(sb, _account(sb)))["promotion_list"]
    total, requests, codes = _server(oe)
    assert codes[EP_LOCAL_REPORT] == {"40110": 2, "0": 1}
    assert client.stats.snapshot()["retries"] == {"Throttled": 2}
    assert provider.refreshes == 0 and "oauth2/refresh_token" not in requests


def test_advertiser_get_sends_the_token_in_the_query_and_logs_never_show_it(
    sb, oe, make_client, provider, caplog
) -> None:
    client = make_client()
    with caplog.at_level(logging.DEBUG):
        fetched = fetch_authorized_accounts(client)
    assert fetched.rows and fetched.rejections == []  # reference mode: query token accepted
    assert oe.counters_snapshot()["codes"]["oauth2/advertiser/get"] == {"0": 1}
    lines = [r.getMessage() for r in caplog.records]
    sent = [m for m in lines if "oauth2/advertiser/get" in m and "HTTP Request" in m]
    assert sent and all("access_token=***" in m for m in sent)  # httpx's own URL log, redacted
    assert all(provider.get() not in m for m in lines)


def test_redact_scrubs_token_query_values_of_any_length() -> None:
    from integrations.sources.oceanengine.errors import redact

    url = "GET https://x/open_api/oauth2/advertiser/get/?access_token=abc123&x=1 refresh_token=zz"
    assert redact(url) == (
        "GET https://x/open_api/oauth2/advertiser/get/?access_token=***&x=1 refresh_token=***"
    )


@pytest.mark.parametrize(
    ("code", "cls", "retried"),
    [
        (50001, Transient, True),
        (50002, Transient, True),
        (50003, InvalidParams, False),
        (50004, PermissionDenied, False),
        (50005, ApiError, False),
    ],
)
def test_5xxxx_table_retries_only_server_trouble(sb, oe, make_client, code, cls, retried) -> None:
    oe.knobs.system_error_code = code
    oe.knobs.fault_schedule = [FaultRule(EP_LOCAL_REPORT, 1, "code_50000")]
    client = make_client()
    params = _report_params(sb, _account(sb))
    if retried:
        assert client.get(EP_LOCAL_REPORT, params)["promotion_list"]
        assert _server(oe)[2][EP_LOCAL_REPORT] == {str(code): 1, "0": 1}
        return
    with pytest.raises(cls) as ei:
        client.get(EP_LOCAL_REPORT, params)
    assert (
        ei.value.code == code
        and str(code) in str(ei.value)
        and str(params["local_account_id"]) in str(ei.value)
    )
    assert _server(oe)[0] == client.stats.total == 1  # failed at once
