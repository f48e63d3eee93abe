"""Two tenants on the sandbox (issue 20): two Ocean Engine apps with disjoint accounts, three
principals, Feishu bases per tenant (acme routes a label to a second base). Each tenant's rows land only in its own base, ledger rows carry
the tenant, and a revoked authorisation in one tenant leaves the other green."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from flows.laike import laike_daily
from flows.run_cli import execute
from flows.runtime import current_tenant, get_runtime, reset_runtime
from flows.summary import RunStatus, RunSummary
from integrations.database import tables
from integrations.database.engine import make_engine
from integrations.settings import get_settings
from integrations.tenants import PER_TENANT_SETTINGS, settings_for
from sandbox.server import Sandbox
from tests.flows.sandboxed import point_at, promo_accounts
from token_store.api import build_token_store

APP_B = 1_790_000_000_000_002
SECRET_B = "sandbox-oe-secret-app-b-5d1e"
# The promotion table (integrations/sources/oceanengine/datasets.py).
PROMOS = "本地推单元日报"


def _toml(sb: Sandbox, base_b: str, base_n: str, acme: list[int], brand: list[int]) -> str:
    return f"""
[[tenants]]
name = "acme"
principals = [{{ name = "alice" }}]
[tenants.oceanengine]
app_id = "{sb.oe.app_id}"
app_secret_env = "ACME_OE_SECRET"
[tenants.accounts]
workbench_ids = [{sb.data.cc_account_id}]
labels = ["mine"]
[tenants.labels]
mine = {acme}
north = [{acme[0]}]
[tenants.feishu]
app_id = "{sb.fs.app_id}"
app_secret_env = "FS_SECRET"
bases = [
  {{ app_token = "{base_n}", labels = ["north"] }},
  {{ app_token = "{sb.fs.app_token}" }},
]

[[tenants]]
name = "brand-b"
principals = [{{ name = "bob" }}, {{ name = "carol" }}]
views_for_labels = ["vip"]
[tenants.oceanengine]
app_id = "{APP_B}"
app_secret_env = "BRAND_B_OE_SECRET"
[tenants.accounts]
account_ids = {brand}
[tenants.labels]
vip = [{brand[0]}]
[tenants.feishu]
app_id = "{sb.fs.app_id}"
app_secret_env = "FS_SECRET"
bases = [{{ app_token = "{base_b}" }}]
"""


@pytest.mark.timeout(300)
def test_two_tenants_isolated_and_independent(prefect_server, tmp_path, monkeypatch) -> None:
    with Sandbox(
        state_dir=tmp_path / "sb", profile="fast", n_local_accounts=6, promotions_per_account=3
    ) as sb:
        sb.oe.add_app(APP_B, SECRET_B)
        base_b = sb.fs.store.create_base("brand-b").app_token
        base_n = sb.fs.store.create_base("acme north").app_token  # acme's routed base
        ok = [a.id for a in sb.data.local_accounts if not a.forbidden]
        assert len(ok) >= 4
        acme, brand = ok[:2], ok[2:4]
        db_url = f"sqlite:///{tmp_path / 'app.db'}"
        point_at(sb, tmp_path / "data", monkeypatch, db_url)  # the env of the sandbox
        # Tenants replace the flat per-tenant settings.
        for k in (f"ADSYNC_{n.upper()}" for n in PER_TENANT_SETTINGS):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("ACME_OE_SECRET", sb.oe.app_secret)
        monkeypatch.setenv("BRAND_B_OE_SECRET", SECRET_B)
        monkeypatch.setenv("FS_SECRET", str(sb.fs.app_secret))
        (tmp_path / "adsync.toml").write_text(
            _toml(sb, base_b, base_n, acme, brand), encoding="utf-8"
        )
        monkeypatch.setenv("ADSYNC_CONFIG_FILE", str(tmp_path / "adsync.toml"))
        get_settings.cache_clear()
        reset_runtime()
        s = get_settings()
        # Three principals, each with its own consent on its own app: alice (acme, the
        # 工作台), bob (brand-b, the 来客 account), carol (brand-b, the 工作台).
        consents = [
            ("acme", "alice", sb.oe.issue_auth_code()),
            ("brand-b", "bob", sb.oe.issue_auth_code([sb.data.life_account_id], app_id=APP_B)),
            ("brand-b", "carol", sb.oe.issue_auth_code(app_id=APP_B)),
        ]
        for tenant, principal, code in consents:
            ts = settings_for(s, tenant, principal=principal)
            build_token_store(ts).exchange_auth_code(code)

        a = execute(laike_daily, tenant="acme")
        b = execute(laike_daily, tenant="brand-b")
        assert isinstance(a, RunSummary) and isinstance(b, RunSummary)
        assert a.status is RunStatus.SUCCESS and b.status is RunStatus.SUCCESS
        assert a.tenant == "acme" and b.tenant == "brand-b"
        assert {int(x.account_id) for x in a.accounts} == set(acme)
        assert {int(x.account_id) for x in b.accounts} == set(brand)
        # Runs are named with their tenant (and principal) in the Prefect UI.
        for summary, who in ((a, "acme alice"), (b, "brand-b bob")):
            run = httpx.get(f"{prefect_server.api_url}/flow_runs/{summary.run_id}", timeout=10)
            assert run.json()["name"].endswith(f" {who}"), run.json()["name"]
        # brand-b's accounts came from its first principal's discovery, fetched with its token.
        rt_b = get_runtime("brand-b")
        assert {rt_b.account_principal[x] for x in brand} == {"bob"}

        # views_for_labels: brand-b's per-account views only for its labelled account.
        names = {x.id: x.name for x in sb.data.local_accounts}
        assert any("views_for_labels" in w and "1 account(s)" in w for w in b.warnings)
        table_b = next(t for t in sb.fs.tables(base_b) if t["name"] == PROMOS)
        views_b = {v["view_name"] for v in sb.fs.views(base_b, table_b["table_id"])}

        # (Accounts discovered through a 来客 grant are named by their id.)
        def has_view(views: set[str], acct: int) -> bool:
            return any(names[acct] in v or str(acct) in v for v in views)

        assert has_view(views_b, brand[0]) and not has_view(views_b, brand[1]), views_b
        for base, acct in ((base_n, acme[0]), (sb.fs.app_token, acme[1])):
            table_a = next(t for t in sb.fs.tables(base) if t["name"] == PROMOS)
            views_a = {v["view_name"] for v in sb.fs.views(base, table_a["table_id"])}
            assert has_view(views_a, acct), views_a

        # Each tenant's rows only in its own bases; acme's labelled account in its routed base.
        assert promo_accounts(sb, base_n) == {acme[0]}
        assert promo_accounts(sb, sb.fs.app_token) == {acme[1]}
        assert promo_accounts(sb, base_b) == set(brand)

        eng = make_engine(db_url)
        try:
            with eng.connect() as conn:
                t = tables.local_promotion_daily
                stored = set(conn.execute(sa.select(t.c.local_account_id).distinct()).scalars())
                runs = conn.execute(
                    sa.select(tables.sync_runs.c.tenant, tables.sync_runs.c.status)
                ).all()
            assert stored == set(acme) | set(brand)
            assert sorted(runs) == [("acme", "SUCCESS"), ("brand-b", "SUCCESS")]

            # acme's authorisation withdrawn: acme fails, brand-b stays green.
            assert sb.oe.auth.revoke_app(sb.oe.app_id) >= 1
            reset_runtime()
            a2 = execute(laike_daily, tenant="acme")
            b2 = execute(laike_daily, tenant="brand-b")
            assert a2 is None or a2.status is not RunStatus.SUCCESS
            assert isinstance(b2, RunSummary) and b2.status is RunStatus.SUCCESS
            with eng.connect() as conn:
                last = dict(
                    conn.execute(
                        sa.select(tables.sync_runs.c.tenant, tables.sync_runs.c.status).order_by(
                            tables.sync_runs.c.id
                        )
                    ).all()[-2:]
                )
            assert last["brand-b"] == "SUCCESS" and last["acme"] != "SUCCESS"

            # A deployment run with a misspelt tenant: refused in one line, a FAILED row of it.
            assert execute(laike_daily, tenant="acm") is None
            with eng.connect() as conn:
                row = conn.execute(
                    sa.select(
                        tables.sync_runs.c.tenant,
                        tables.sync_runs.c.status,
                        tables.sync_runs.c.error,
                    ).order_by(tables.sync_runs.c.id.desc())
                ).first()
            assert row is not None and row.tenant == "acm" and row.status == "FAILED"
            assert "did you mean acme" in row.error
            # Runs in this thread leave no tenant behind them (Prefect runs a flow in its
            # caller's context).
            assert current_tenant.get() == "default"
        finally:
            eng.dispose()
