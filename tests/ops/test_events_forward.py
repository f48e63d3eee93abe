"""The events webhook forwarder against a real local HTTP receiver that fails on purpose."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.events import ChangeEvent, EventForwarder, stock_event
from integrations.retry import RetryPolicy
from integrations.settings import ConfigError, load_settings
from tests.ops.receiver import SECRET, Receiver

POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def account_event(i: int) -> ChangeEvent:
    return ChangeEvent(
        "adsync.account.added",
        {"prefect.resource.id": f"adsync.account.LOCAL.{9007199254740993 + i}"},
        {"account_id": str(9007199254740993 + i)},
    )


def test_events_arrive_once_in_batches_with_exact_ids(receiver: Receiver) -> None:
    events = [account_event(i) for i in range(5)] + [stock_event("acme", "sku-1", 3, 0)]
    res = EventForwarder(receiver.url, policy=POLICY, batch_size=4).forward(events)
    assert (res.sent, res.failed, res.attempts, res.ok) == (6, 0, 2, True)
    got = [e for b in receiver.bodies for e in b["events"]]
    assert [e["event"] for e in got] == ["adsync.account.added"] * 5 + ["adsync.stock.changed"]
    assert got[0]["resource"]["prefect.resource.id"] == "adsync.account.LOCAL.9007199254740993"
    assert got[5]["payload"] == {"supplier": "acme", "sku": "sku-1", "old": 3, "new": 0}


def test_transient_failures_are_retried_then_delivered(receiver: Receiver) -> None:
    receiver.statuses = [503, 429]
    res = EventForwarder(receiver.url, policy=POLICY).forward([account_event(0)])
    assert (res.sent, res.failed, res.attempts) == (1, 0, 3)
    assert len(receiver.bodies) == 3  # the same batch each time


def test_retries_are_bounded_and_failure_is_reported_without_the_url(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [500] * 10
    res = EventForwarder(receiver.url, policy=POLICY).forward([account_event(0)])
    assert (res.sent, res.failed, res.attempts) == (0, 1, POLICY.max_attempts)
    assert res.error == "HTTP 500 after 3 attempt(s)"
    assert SECRET not in caplog.text and SECRET not in repr(res)


def test_a_dead_receiver_costs_one_batchs_retries(receiver: Receiver) -> None:
    receiver.statuses = [503] * 100
    res = EventForwarder(receiver.url, policy=POLICY, batch_size=2).forward(
        [account_event(i) for i in range(5)]
    )
    assert (res.sent, res.failed, res.attempts) == (0, 5, POLICY.max_attempts)


def test_a_refusal_is_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [400]
    res = EventForwarder(receiver.url, policy=POLICY).forward([account_event(0)])
    assert (res.failed, res.attempts) == (1, 1)
    assert res.error == "receiver refused the batch: HTTP 400"


def test_a_dead_receiver_is_a_result_not_an_exception(receiver: Receiver) -> None:
    url = receiver.url
    receiver.__exit__()  # nobody listens any more
    fwd = EventForwarder(url, policy=POLICY, timeout_s=2)
    res = fwd.forward([account_event(0)])
    assert (res.sent, res.failed, res.attempts) == (0, 1, 3)
    assert res.error is not None and SECRET not in res.error and SECRET not in repr(fwd)


def test_the_setting_is_checked_and_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADSYNC_FEISHU_ENABLED", "false")
    monkeypatch.setenv("ADSYNC_EVENTS_WEBHOOK_URL", f"ftp://x/{SECRET}")
    with pytest.raises(ConfigError) as e:
        load_settings()
    assert "ADSYNC_EVENTS_WEBHOOK_URL" in str(e.value) and SECRET not in str(e.value)
    monkeypatch.setenv("ADSYNC_EVENTS_WEBHOOK_URL", f"https://hooks.example/{SECRET}")
    s = load_settings()
    assert EventForwarder.from_settings(s) is not None and SECRET not in repr(s)
