"""The production topology, scaled out: a Prefect server on PostgreSQL, the app database on
PostgreSQL, two `prefect worker` processes on one process work pool, deployments from prefect.yaml.

A 本地推 run and a DOU+ run of the same Ocean Engine app, writing the same Bitable base, are
started at the same time (one per worker, so two processes). The simulator enforces the app's QPS
(rolling second, 40100 above it) and counts writes that overlap on a base. Asserted, as counts and
final state only:

- the app's QPS held: every 40100 the simulator answered was retried by a run (the runs' ledger
  rows count them) and every account ended ok;
- 0 overlapping writes on the base (the base writer lease, integrations/feishu/base_lock.py);
- every process gave its share of the app's QPS back (no heartbeat row left);
- the database and the Bitable equal the same two runs done one at a time (in this process).

Tenants (two apps, two bases) come with the ``tenant`` flow parameter (issue 20): until then both
runs belong to the tenant ``default``. A second laike run would not run alongside the first:
prefect.yaml gives each deployment ``concurrency_limit: 1``.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from flows.douplus import douplus_daily
from flows.laike import laike_daily
from flows.runtime import reset_runtime
from flows.summary import RunStatus
from flows.window import china_today
from integrations.database import tables
from integrations.database.engine import make_engine
from sandbox.server import Sandbox
from tests.conftest import PG_URL, _server_db
from tests.deployment.test_prefect_yaml import BIN, POOL, _prefect, _wait_final
from tests.flows.sandboxed import ROOT, db_snapshot, point_at, subprocess_env
from tests.flows.test_douplus import bitable_state as douplus_bitable
from tests.flows.test_douplus import db_state as douplus_db
from tests.flows.test_laike_e2e import _bitable_state as laike_bitable
from tests.prefect_server import PrefectServer, running_prefect_server

pytestmark = [pytest.mark.deployment, pytest.mark.postgres]

QPS = 4  # the app's, enforced by the simulator and configured in the flows
# Enough calls for the QPS to bind (~110 at 4/s), few rows (the point is the concurrency).
DATA = {
    "n_local_accounts": 41,
    "promotions_per_account": 4,
    "n_aweme_accounts": 20,
    "orders_per_aweme": 6,
}
LAIKE_TABLES = (tables.local_promotion_daily, tables.local_account_daily)
DOUPLUS_BITABLE = ("DOU+订单", "DOU+视频日报")


@pytest.fixture(scope="module")
def pg_prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A Prefect server whose own database is a fresh PostgreSQL database (asyncpg driver)."""
    dbs = _server_db(PG_URL, "postgresql")
    url = next(dbs)
    async_url = make_url(url).set(drivername="postgresql+asyncpg")
    try:
        home = tmp_path_factory.mktemp("prefect-pg-home")
        with running_prefect_server(home, async_url.render_as_string(hide_password=False)) as srv:
            yield srv
    finally:
        dbs.close()  # drops the database


@pytest.fixture
def app_dbs() -> Iterator[tuple[str, str]]:
    """Two fresh PostgreSQL app databases: the concurrent runs' and the reference's."""
    a, b = _server_db(PG_URL, "postgresql"), _server_db(PG_URL, "postgresql")
    try:
        yield next(a), next(b)
    finally:
        a.close()
        b.close()


def _state(sb: Sandbox, db_url: str) -> dict[str, Any]:
    return {
        "laike_db": {t.name: db_snapshot(db_url, t) for t in LAIKE_TABLES},
        "laike_bitable": laike_bitable(sb),
        "douplus_db": douplus_db(db_url),
        "douplus_bitable": {t: douplus_bitable(sb, t) for t in DOUPLUS_BITABLE},
    }


def _ledger(db_url: str) -> list[dict[str, Any]]:
    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(sa.select(tables.sync_runs).order_by(tables.sync_runs.c.id))
            return [dict(r) for r in rows.mappings()]
    finally:
        eng.dispose()


def _rate_share_rows(db_url: str) -> int:
    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            share = tables.oceanengine_rate_share
            return conn.execute(sa.select(sa.func.count()).select_from(share)).scalar_one()
    finally:
        eng.dispose()


def _slow_enough_to_overlap(sb: Sandbox) -> None:
    """Latency on both platforms, so the two runs' calls and writes really interleave (without
    the lease two writers on one base would overlap; without the shared QPS, 40100s pile up)."""
    sb.oe.knobs.qps_limit = float(QPS)
    sb.oe.knobs.latency_ms, sb.oe.knobs.jitter_ms = 20.0, 10.0
    sb.fs.knobs.endpoint_latency_ms = {
        "records.batch_create": (40.0, 20.0),
        "records.batch_update": (40.0, 20.0),
    }


def _start(deployment: str, params: dict[str, Any], env: dict[str, str]) -> str:
    out = _prefect(["deployment", "run", deployment, "--params", json.dumps(params)], env)
    m = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
    assert m, out
    return m.group(1)


@pytest.mark.timeout(900)  # a busy 2-core machine; the run itself is ~2 minutes idle
def test_two_workers_one_app_one_base(pg_prefect, app_dbs, tmp_path, monkeypatch) -> None:
    concurrent_db, reference_db = app_dbs
    end = china_today() - timedelta(days=1)
    start = end - timedelta(days=1)
    window = {"start": str(start), "end": str(end)}

    # The reference: the same two runs one after the other, in this process, on a twin sandbox.
    with Sandbox(state_dir=tmp_path / "ref-sb", profile="fast", **DATA) as ref:
        point_at(ref, tmp_path / "ref-data", monkeypatch, reference_db)
        permitted = [a.id for a in ref.data.local_accounts if not a.forbidden]
        try:
            for flow, params in (
                (laike_daily, {**window, "accounts": permitted}),
                (douplus_daily, window),
            ):
                summary = flow(return_state=True, **params).result(raise_on_failure=False)
                assert summary.status is RunStatus.SUCCESS, (flow.name, summary.text())
        finally:
            reset_runtime()
        expected = _state(ref, reference_db)

    with Sandbox(state_dir=tmp_path / "sb", profile="fast", **DATA) as sb:
        assert [a.id for a in sb.data.local_accounts if not a.forbidden] == permitted
        _slow_enough_to_overlap(sb)
        env = point_at(sb, tmp_path / "data", monkeypatch, concurrent_db)
        env = subprocess_env(env, pg_prefect.env) | {"ADSYNC_OCEANENGINE_QPS": str(QPS)}
        _prefect(["work-pool", "create", POOL, "--type", "process", "--overwrite"], env)
        _prefect(["--no-prompt", "deploy", "--all"], env, timeout=300)

        workers, logs = [], []
        for n in (1, 2):  # one run each: the two runs are two processes under two workers
            logs.append(tmp_path / f"worker-{n}.log")
            with open(logs[-1], "wb") as log:
                workers.append(
                    subprocess.Popen(
                        [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--limit", "1"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        try:
            sb.reset_counters()
            ids = [
                _start("laike-daily/laike-daily", {**window, "accounts": permitted}, env),
                _start("douplus-daily/douplus-daily", window, env),
            ]
            runs = [_wait_final(pg_prefect.api_url, i, timeout=600) for i in ids]
            tails = [Path(p).read_text()[-3000:] for p in logs]
            for run in runs:
                assert run["state"]["type"] == "COMPLETED", (run["name"], run["state"], tails)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(30)
        counters = sb.counters()
        got = _state(sb, concurrent_db)

    # The app's QPS held (the simulator answers 40100 above it) and no throttled call was lost:
    # every account of both runs ok, every request the simulator saw made and counted by one of
    # the two runs, and the 40100s the runs' clients counted as retried were all real ones.
    ledger = _ledger(concurrent_db)
    assert sorted(r["flow"] for r in ledger) == ["douplus-daily", "laike-daily"]
    for row in ledger:
        assert row["status"] == "SUCCESS" and row["accounts_failed"] == 0, row
    api = [json.loads(r["counts"])["api"] for r in ledger]
    oe = counters["oceanengine"]
    assert sum(a["calls"] for a in api) == oe["total"]
    throttled_sim = sum(int(codes.get("40100", 0)) for codes in oe["codes"].values())
    assert sum(a["throttled"] for a in api) <= throttled_sim
    # Both runs paced through the shared limiter (PostgreSQL app database: `auto` is on). How
    # many processes each saw at once depends on when the workers started them: not asserted.
    assert all(a.get("qps_processes", 0) >= 1 for a in api), api
    assert _rate_share_rows(concurrent_db) == 0  # both processes gave their share back

    # One writer at a time on the base, however the runs interleaved.
    assert counters["feishu"]["writes"] > 0
    assert counters["feishu"]["write_overlaps"] == 0

    # The same data as the runs done one at a time.
    assert got == expected
