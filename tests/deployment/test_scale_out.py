"""The production topology, scaled out, with two tenants (issue 20): a Prefect server on
PostgreSQL, the app database on PostgreSQL, two `prefect worker` processes on one process work
pool, each tenant's deployments from ``adsync deployments generate``.

Two tenants in adsync.toml, each its own Ocean Engine app and Bitable base: t1 = the sandbox's
first app and base X, half of the permitted 本地推 accounts and every 抖音号 (DOU+) account;
t2 = a second app and base Y, the other half. Three runs start at the same time: t1's laike,
t2's laike and t1's DOU+ (the same app and base as t1's laike). The workers take two runs
each (``--limit 2``: four slots for three runs, so all three run at once whichever worker picks
which; each flow run is its own process). The simulator enforces each app's QPS (its own
rolling second, 40100 above it), counts per app the calls accepted and throttled and the most
accepted in one second, and counts writes that overlap on a base. Asserted, as counts and final
state only:

- each app under its QPS (the simulator's ``peak_per_s``) and no throttled call lost: every
  account ok, each tenant's runs made exactly the calls the simulator saw for its app, and the
  40100s they retried are real ones of that app;
- 0 overlapping writes on either base (the base writer lease, integrations/feishu/base_lock.py),
  and writes on both;
- every process gave its share of its app's QPS back (no heartbeat row left);
- the database and each base equal the same three runs done one at a time (in this process,
  on a twin sandbox); each tenant's rows only in its own base.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
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
from flows.sync_run import summary_of
from flows.window import china_today
from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.settings import get_settings
from integrations.tenants import PER_TENANT_SETTINGS, settings_for
from sandbox.server import Sandbox
from tests.conftest import PG_URL, _server_db
from tests.deployment.test_prefect_yaml import BIN, POOL, _prefect, _wait_final
from tests.flows.sandboxed import ROOT, db_snapshot, point_at, promo_accounts, subprocess_env
from tests.flows.test_douplus import bitable_state as douplus_bitable
from tests.flows.test_douplus import db_state as douplus_db
from tests.flows.test_laike_e2e import _bitable_state as laike_bitable
from tests.prefect_server import PrefectServer, running_prefect_server
from token_store.api import build_token_store

pytestmark = [pytest.mark.deployment, pytest.mark.postgres]

QPS = 4  # each app's, enforced by the simulator and configured in the flows
# Enough calls for the QPS to bind (~110 at 4/s), few rows (the point is the concurrency).
DATA = {
    "n_local_accounts": 41,
    "promotions_per_account": 4,
    "n_aweme_accounts": 20,
    "orders_per_aweme": 6,
}
LAIKE_TABLES = (tables.local_promotion_daily, tables.local_account_daily)
DOUPLUS_BITABLE = ("DOU+订单", "DOU+视频日报")
APP_B, SECRET_B = 1_790_000_000_000_002, "sandbox-oe-secret-scale-out-b-7c21"
# Flat per-tenant settings: with [[tenants]] they must be unset (integrations/tenants.py).
FLAT = tuple(f"ADSYNC_{n.upper()}" for n in PER_TENANT_SETTINGS)
# The three runs: (flow, tenant), in the order the reference does them one at a time.
RUNS = (("laike-daily", "t1"), ("laike-daily", "t2"), ("douplus-daily", "t1"))
FLOWS = {"laike-daily": laike_daily, "douplus-daily": douplus_daily}


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


def _toml(sb: Sandbox, base_y: str, t1: list[int], t2: list[int]) -> str:
    return f"""
[[tenants]]
name = "t1"
principals = [{{ name = "ops" }}]
[tenants.oceanengine]
app_id = "{sb.oe.app_id}"
app_secret_env = "T1_OE_SECRET"
[tenants.accounts]
account_ids = {t1}
[tenants.feishu]
app_id = "{sb.fs.app_id}"
app_secret_env = "FS_SECRET"
bases = [{{ app_token = "{sb.fs.app_token}" }}]

[[tenants]]
name = "t2"
principals = [{{ name = "ops" }}]
[tenants.oceanengine]
app_id = "{APP_B}"
app_secret_env = "T2_OE_SECRET"
[tenants.accounts]
account_ids = {t2}
[tenants.feishu]
app_id = "{sb.fs.app_id}"
app_secret_env = "FS_SECRET"
bases = [{{ app_token = "{base_y}" }}]
"""


def _two_tenants(
    sb: Sandbox, env: dict[str, str], tmp: Path, monkeypatch
) -> tuple[dict[str, str], str, dict[str, list[int]]]:
    """Second app and base Y on ``sb``, adsync.toml with t1 and t2 in place of the flat settings
    of ``env`` (point_at's), each tenant's principal consented on its own app. Returns (the
    subprocess env, base Y, tenant → its 本地推 accounts)."""
    sb.oe.add_app(APP_B, SECRET_B)
    base_y = sb.fs.store.create_base("tenant t2").app_token
    permitted = [a.id for a in sb.data.local_accounts if not a.forbidden]
    half = len(permitted) // 2
    local = {"t1": permitted[:half], "t2": permitted[half:]}
    aweme = [a.account_id for a in sb.data.aweme_accounts]
    config = tmp / "adsync.toml"
    config.write_text(_toml(sb, base_y, local["t1"] + aweme, local["t2"]), encoding="utf-8")
    extra = {
        "ADSYNC_CONFIG_FILE": str(config),
        "T1_OE_SECRET": sb.oe.app_secret,
        "T2_OE_SECRET": SECRET_B,
        "FS_SECRET": str(sb.fs.app_secret),
    }
    for k in FLAT:
        monkeypatch.delenv(k, raising=False)
    for k, v in extra.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    reset_runtime()
    s = get_settings()
    for tenant, app in (("t1", sb.oe.app_id), ("t2", APP_B)):
        build_token_store(settings_for(s, tenant)).exchange_auth_code(
            sb.oe.issue_auth_code(app_id=app)
        )
    return {k: v for k, v in env.items() if k not in FLAT} | extra, base_y, local


def _state(sb: Sandbox, db_url: str, base_y: str) -> dict[str, Any]:
    x, y = sb.fs.app_token, base_y
    return {
        "laike_db": {t.name: db_snapshot(db_url, t) for t in LAIKE_TABLES},
        "douplus_db": douplus_db(db_url),
        "tables_x": sorted(t["name"] for t in sb.fs.tables(x)),
        "tables_y": sorted(t["name"] for t in sb.fs.tables(y)),
        "laike_x": laike_bitable(sb, x),
        "laike_y": laike_bitable(sb, y),
        "douplus_x": {t: douplus_bitable(sb, t, x) for t in DOUPLUS_BITABLE},
    }


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


def _deploy(env: dict[str, str], tmp: Path) -> None:
    """Each tenant's deployments, generated in one command; the three this test runs deployed
    (a tenant's accounts-hourly would add scheduled runs, and calls, to the counts)."""
    out = ROOT / f".prefect.tenants.{tmp.name}.yaml"  # entrypoints are relative to ROOT
    try:
        gen = subprocess.run(
            [str(BIN / "adsync"), "deployments", "generate", "--output", str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert gen.returncode == 0, gen.stderr
        names = [f"{flow}-{tenant}" for flow, tenant in RUNS]
        picked = [arg for n in names for arg in ("--name", n)]
        _prefect(["--no-prompt", "deploy", "--prefect-file", str(out), *picked], env, timeout=300)
    finally:
        out.unlink(missing_ok=True)


@pytest.mark.timeout(1800)  # a busy 2-core machine; the runs themselves are ~2 minutes idle
def test_two_workers_two_tenants_three_runs(pg_prefect, app_dbs, tmp_path, monkeypatch) -> None:
    concurrent_db, reference_db = app_dbs
    end = china_today() - timedelta(days=1)
    start = end - timedelta(days=1)
    window = {"start": str(start), "end": str(end)}

    # The reference: the same three runs one after the other, in this process, on a twin sandbox.
    with Sandbox(state_dir=tmp_path / "ref-sb", profile="fast", **DATA) as ref:
        env = point_at(ref, tmp_path / "ref-data", monkeypatch, reference_db)
        _, ref_y, local = _two_tenants(ref, env, tmp_path / "ref-data", monkeypatch)
        try:
            for flow, tenant in RUNS:
                state = FLOWS[flow](return_state=True, tenant=tenant, **window)
                summary = summary_of(state)
                assert summary.status is RunStatus.SUCCESS, (flow, tenant, summary.text())
        finally:
            reset_runtime()
        expected = _state(ref, reference_db, ref_y)

    with Sandbox(state_dir=tmp_path / "sb", profile="fast", **DATA) as sb:
        _slow_enough_to_overlap(sb)
        monkeypatch.delenv("ADSYNC_CONFIG_FILE")  # the reference's tenants, not this sandbox's
        env = point_at(sb, tmp_path / "data", monkeypatch, concurrent_db)
        env, base_y, got_local = _two_tenants(sb, env, tmp_path / "data", monkeypatch)
        assert got_local == local
        env = subprocess_env(env, pg_prefect.env) | {"ADSYNC_OCEANENGINE_QPS": str(QPS)}
        _prefect(["work-pool", "create", POOL, "--type", "process", "--overwrite"], env)
        _deploy(env, tmp_path)

        workers, logs = [], []
        for n in (1, 2):  # two slots each: the three runs at once, whichever worker takes which
            logs.append(tmp_path / f"worker-{n}.log")
            with open(logs[-1], "wb") as log:
                workers.append(
                    subprocess.Popen(
                        [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--limit", "2"],
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
                _start(f"{flow}/{flow}-{tenant}", {**window, "tenant": tenant}, env)
                for flow, tenant in RUNS
            ]
            runs = [_wait_final(pg_prefect.api_url, i, timeout=900) for i in ids]
            tails = [Path(p).read_text()[-3000:] for p in logs]
            for run in runs:
                assert run["state"]["type"] == "COMPLETED", (run["name"], run["state"], tails)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.wait(30)
        counters = sb.counters()
        got = _state(sb, concurrent_db, base_y)
        in_base = {t: promo_accounts(sb, b) for t, b in (("t1", sb.fs.app_token), ("t2", base_y))}

    # Every run ok, with its tenant, on that tenant's accounts.
    ledger = _ledger(concurrent_db)
    assert sorted((r["flow"], r["tenant"]) for r in ledger) == sorted(RUNS)
    for row in ledger:
        assert row["status"] == "SUCCESS" and row["accounts_failed"] == 0, row
        want = (
            DATA["n_aweme_accounts"]
            if row["flow"] == "douplus-daily"
            else len(local[row["tenant"]])
        )
        assert row["accounts_ok"] == want, row

    # Each app's QPS held (the simulator answers 40100 above it) and no throttled call was lost:
    # each tenant's runs made exactly the calls the simulator saw for its app (40100s included),
    # and the 40100s they counted as retried were real ones of that app.
    oe = counters["oceanengine"]
    apps = oe["apps"]
    app_of = {"t1": str(sb.oe.app_id), "t2": str(APP_B)}
    assert set(apps) == set(app_of.values()), apps
    calls: dict[str, int] = defaultdict(int)
    throttled: dict[str, int] = defaultdict(int)
    for row in ledger:
        api = json.loads(row["counts"])["api"]
        calls[row["tenant"]] += api["calls"]
        throttled[row["tenant"]] += api["throttled"]
        # Paced through the shared limiter (PostgreSQL app database: `auto` is on). How many
        # processes shared an app at once depends on when the workers started them: not asserted.
        assert api.get("qps_processes", 0) >= 1, api
    for tenant, app in app_of.items():
        seen = apps[app]
        assert 1 <= seen["peak_per_s"] <= QPS, (tenant, seen)
        assert calls[tenant] == seen["accepted"] + seen["throttled"], (tenant, calls, seen)
        assert throttled[tenant] <= seen["throttled"], (tenant, throttled, seen)
    assert sum(calls.values()) == oe["total"]
    assert _rate_share_rows(concurrent_db) == 0  # every process gave its share back

    # One writer at a time on each base (the counter counts a write arriving while another write
    # to the same base is in flight), however the runs interleaved; both bases written.
    assert counters["feishu"]["write_overlaps"] == 0
    assert counters["feishu"]["writes"] > 0
    assert got["laike_x"] and got["laike_y"] and got["douplus_x"]
    # Each tenant's rows only in its own base; DOU+ (t1's) only in base X.
    assert in_base == {t: set(ids) for t, ids in local.items()}
    assert not set(DOUPLUS_BITABLE) & set(got["tables_y"]), got["tables_y"]

    # The same data as the runs done one at a time.
    assert got == expected
