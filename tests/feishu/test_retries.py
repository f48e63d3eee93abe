"""Retries on throttling/conflict/not-ready/HTML 502, token recovery, ambiguous creates."""

from __future__ import annotations

import pytest

from integrations.feishu.errors import FeishuApiError
from integrations.feishu.sink import BitableSink, StaleRead
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY as SPEC
from tests.feishu.conftest import Feishu, keys_in, promotion_rows, table_id


def test_scheduled_faults_are_retried_and_counted(feishu: Feishu, sink: BitableSink) -> None:
    feishu.sim.knobs.fault_schedule = [
        ("records.batch_create", 1, "code_1254291"),
        ("records.batch_create", 3, "code_99991400"),
        ("records.batch_create", 5, "html_502"),  # after the create: ambiguous → reconcile
        ("records.batch_update", 1, "code_1254607"),
        ("records.search", 1, "html_502"),
        ("tables.list", 1, "code_1254290"),
    ]
    rows = promotion_rows(1200)
    res = sink.upsert(SPEC, rows)
    assert res.retries == {"1254291": 1, "99991400": 1, "1254290": 1, "html": 1}
    keys = keys_in(feishu, table_id(feishu, SPEC.name))
    assert len(keys) == len(set(keys)) == 1200
    for r in rows[:3]:
        r["show_cnt"] += 1
    upd = sink.upsert(SPEC, rows)
    assert upd.updated == 3 and upd.retries == {"1254607": 1}


def test_retries_give_up_with_the_code(feishu: Feishu, sink: BitableSink) -> None:
    sink.ensure_table(SPEC)
    feishu.sim.knobs.fault_schedule = [
        ("records.batch_create", n, "code_1254607") for n in range(1, 7)
    ]
    with pytest.raises(FeishuApiError) as ei:
        sink.upsert(SPEC, promotion_rows(3))
    assert ei.value.code == 1254607 and "records.batch_create" in str(ei.value)


def test_revoked_token_is_refetched_once(feishu: Feishu, sink: BitableSink) -> None:
    sink.upsert(SPEC, promotion_rows(5))
    tokens = feishu.count("token")
    feishu.sim.revoke_tenant_tokens()
    rows = promotion_rows(8)
    res = sink.upsert(SPEC, rows)
    assert res.created == 3
    assert feishu.count("token") == tokens + 1
    assert sink.api.stats.token_refreshes == 1


def test_transport_timeout_after_create_is_settled_by_reconcile(feishu: Feishu, engine) -> None:
    feishu.sim.knobs.timeout_s = 3.0  # the server commits, then hangs past the client timeout
    feishu.sim.knobs.fault_schedule = [("records.batch_create", 2, "timeout")]
    sink = BitableSink(feishu.api(timeout_s=1.0), engine)
    rows = promotion_rows(1000)
    res = sink.upsert(SPEC, rows)
    assert res.created == 1000 and res.reconciled
    assert feishu.count("records.batch_create") == 2  # never a blind second create
    keys = keys_in(feishu, table_id(feishu, SPEC.name))
    assert len(keys) == len(set(keys)) == 1000
    assert sink.upsert(SPEC, rows).unchanged == 1000


@pytest.mark.parametrize("stale_reads, settles", [(1, True), (50, False)])
def test_partial_match_of_an_atomic_batch_is_rescanned_never_created(
    feishu: Feishu, engine, stale_reads: int, settles: bool
) -> None:
    """The create commits, then times out; the recovery scan lags and sees half the batch."""
    feishu.sim.knobs.timeout_s = 3.0
    feishu.sim.knobs.fault_schedule = [("records.batch_create", 2, "timeout")]
    sink = BitableSink(feishu.api(timeout_s=1.0), engine)
    sink.ensure_table(SPEC)
    sink.upsert(SPEC, promotion_rows(500))  # batch 1
    feishu.sim.knobs.stale_reads = stale_reads
    rows = promotion_rows(1000)
    if settles:
        res = sink.upsert(SPEC, rows)
        assert res.stale_rescans == 1 and res.created == 500
    else:
        with pytest.raises(StaleRead, match="250 of 500"):
            sink.upsert(SPEC, rows)
        feishu.sim.knobs.stale_reads = 0
        res = BitableSink(feishu.api(), engine).upsert(SPEC, rows)  # the next run settles
        assert res.reconciled and res.created == 0 and res.unchanged == 1000
    assert feishu.count("records.batch_create") == 2  # never a create from a partial read
    keys = keys_in(feishu, table_id(feishu, SPEC.name))
    assert len(keys) == len(set(keys)) == 1000


def test_1254608_is_retried_with_the_same_token_and_settled_by_reconcile(
    feishu: Feishu, engine
) -> None:
    """The create commits, the gateway answers 1255040; the retry (same token, base revision
    unchanged) gets 1254608 until the budget is spent; reconcile finds the batch: no re-create."""
    feishu.sim.knobs.timeout_s = 0.1
    feishu.sim.knobs.fault_schedule = [("records.batch_create", 1, "timeout")]
    sink = BitableSink(feishu.api(), engine)
    rows = promotion_rows(300)
    res = sink.upsert(SPEC, rows)
    assert res.retries == {"1255040": 1, "1254608": 2}
    assert res.reconciled and res.created == 300
    assert feishu.count("records.batch_create") == 4  # 1 + 1 (1255040 retry) + 2 (1254608)
    keys = keys_in(feishu, table_id(feishu, SPEC.name))
    assert len(keys) == len(set(keys)) == 300
    feishu.sim.reset_counters()
    assert sink.upsert(SPEC, rows).unchanged == 300 and feishu.writes() == 0


def test_1254608_once_then_accepted(feishu: Feishu, sink: BitableSink) -> None:
    feishu.sim.knobs.fault_schedule = [("records.batch_create", 1, "code_1254608")]
    res = sink.upsert(SPEC, promotion_rows(20))
    assert res.retries == {"1254608": 1} and res.created == 20 and not res.reconciled


def test_1254002_and_1255001_have_their_own_small_budget(feishu: Feishu, sink: BitableSink) -> None:
    feishu.sim.knobs.fault_schedule = [
        ("records.batch_create", 1, "code_1254002"),
        ("records.batch_create", 2, "code_1255001"),
        ("records.search", 2, "code_1255002"),  # 1: the fit check's count
    ]
    rows = promotion_rows(20)
    res = sink.upsert(SPEC, rows)
    assert res.retries == {"1254002": 1, "1255001": 1} and res.created == 20
    assert sink.reconcile(SPEC).keys_found == 20  # its search: 1255002 once, then answered
    rows[0]["show_cnt"] += 1
    feishu.sim.knobs.fault_schedule = [
        ("records.batch_update", n, "code_1254002") for n in range(1, 4)
    ]
    with pytest.raises(FeishuApiError) as ei:  # 1 try + 2 retries, then the code
        sink.upsert(SPEC, rows)
    assert ei.value.code == 1254002 and feishu.count("records.batch_update") == 3


def test_1255006_reconciles_then_creates_with_a_new_token(
    feishu: Feishu, sink: BitableSink
) -> None:
    feishu.sim.knobs.fault_schedule = [("records.batch_create", 1, "code_1255006")]
    res = sink.upsert(SPEC, promotion_rows(20))
    assert res.reconciled and res.created == 20
    assert feishu.count("records.batch_create") == 2
    keys = keys_in(feishu, table_id(feishu, SPEC.name))
    assert len(keys) == len(set(keys)) == 20
