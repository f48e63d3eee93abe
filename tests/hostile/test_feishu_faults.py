"""Feishu faults that must not cost record writes or turn a correct run PARTIAL:

- one HTML 502 on a view create: every record is still written (the records sink has no error),
  the failed view is reported on the ``bitable:views:`` sink and created by the next run;
- a spurious 1254043 (RecordIdNotFound) on batch_delete, because a concurrent run deleted the
  same duplicate first, counts as already deleted.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from flows.summary import RunStatus
from flows.window import Window
from integrations.feishu.sink import BitableSink
from integrations.feishu.specs import LOCAL_PROMOTION_DAILY as SPEC
from integrations.feishu.views import view_names
from sandbox.server import Sandbox
from tests.feishu.conftest import Feishu, keys_in, promotion_rows, table_id
from tests.hostile import harness as H

VIEWS_SINK = "bitable:views:local_promotion_daily"


def test_html_502_on_a_view_create_is_settled_in_the_same_run(
    tmp_path, monkeypatch, caplog
) -> None:
    """A view create lost in transport (HTML 502) never stops record writes, and the run settles
    it itself (lists the views, adopts or creates once more): no view is missing, none doubled."""
    with Sandbox(state_dir=tmp_path / "sb", profile="fast", n_local_accounts=4) as sb:
        accounts = [a.id for a in sb.data.local_accounts if not a.forbidden]
        names = {str(a.id): a.name for a in sb.data.local_accounts if not a.forbidden}
        end = sb.data.today - timedelta(days=1)
        window = Window(end - timedelta(days=14), end)
        expected = set().union(*(H.expected_keys(sb, a, window) for a in accounts))
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        H.prepare(sb, db_url, tmp_path, monkeypatch)
        sb.fs.knobs.fault_schedule = [("views.create", 1, "html_502")]
        try:
            first = H.run_laike(window, accounts)
            in_bitable = H.bitable_keys(sb)
            tid = next(
                t["table_id"] for t in sb.fs.tables(sb.fs.app_token) if t["name"] == H.PROMO_TABLE
            )
            views_after_first = [v["view_name"] for v in sb.fs.views(sb.fs.app_token, tid)]
            sb.fs.knobs.fault_schedule = []
            second = H.run_laike(window, accounts)
            views_after_second = [v["view_name"] for v in sb.fs.views(sb.fs.app_token, tid)]
        finally:
            H.done()
        stored = H.db_promotions(db_url)
    assert len(expected) > 500  # more than one write batch
    assert set(stored) == expected
    assert len(in_bitable) == len(set(in_bitable)) == len(expected)  # every record written
    assert not first.sinks["bitable:local_promotion_daily"].error
    assert "failed in transport" in caplog.text and "settling by listing" in caplog.text
    assert VIEWS_SINK not in first.sinks or not first.sinks[VIEWS_SINK].error
    assert first.status is RunStatus.SUCCESS, first.failure_message()
    assert second.status is RunStatus.SUCCESS, second.failure_message()
    wanted = set(view_names(names).values())
    assert wanted <= set(views_after_first)  # the 502'd create settled in the same run
    assert len(views_after_first) == len(set(views_after_first))  # none doubled
    assert sorted(views_after_second) == sorted(views_after_first)  # the rerun adds none


def test_spurious_1254043_on_batch_delete_counts_as_already_deleted(
    feishu: Feishu, sink: BitableSink, monkeypatch
) -> None:
    rows = promotion_rows(300)
    sink.upsert(SPEC, rows)
    tid = table_id(feishu, SPEC.name)
    originals = feishu.sim.records(feishu.sim.app_token, tid)
    feishu.sim.add_records(feishu.sim.app_token, tid, [r["fields"] for r in originals[:30]])
    other_run = feishu.api()  # a concurrent run reconciling the same table
    real = sink.api.batch_delete
    raced: list[str] = []

    def racing_delete(table_id_: str, record_ids: list[str]) -> None:
        if not raced:  # the other run deletes one of the same duplicates just before us
            raced.append(record_ids[0])
            other_run.batch_delete(table_id_, [record_ids[0]])
        real(table_id_, record_ids)

    monkeypatch.setattr(sink.api, "batch_delete", racing_delete)
    res = sink.reconcile(SPEC)
    assert raced and res.duplicates_deleted == 30
    keys = Counter(keys_in(feishu, tid))
    assert len(keys) == 300 and set(keys.values()) == {1}
    assert sink.upsert(SPEC, rows).unchanged == 300
