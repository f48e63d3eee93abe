"""A tenant selects its 抖音号 (DOU+) accounts by account id like any other (issue 20): the DOU+
flow keys them by aweme_sec_uid, and the tenant's ``account_ids`` / labels name account ids, so
the selection matches a 抖音号 through its id (``oauth2/advertiser/get``'s ``id``)."""

from __future__ import annotations

from types import SimpleNamespace

from flows import steps
from integrations.tenants import Tenant

# aweme_sec_uid → name, as flows/douplus.py lists them; and account id (text) → aweme_sec_uid.
NAMES = {"MS4wLjABAAAA-a": "号 A", "MS4wLjABAAAA-b": "号 B"}
ALIASES = {"501": "MS4wLjABAAAA-a", "502": "MS4wLjABAAAA-b"}


def _rt(**spec: object) -> SimpleNamespace:
    tenant = Tenant(
        name="t1",
        oceanengine_app_id="1",
        oceanengine_app_secret=None,
        principals=("ops",),
        qps=4.0,
        **spec,  # type: ignore[arg-type]
    )
    return SimpleNamespace(tenant_spec=tenant, settings=SimpleNamespace(accounts={}))


def _select(rt: SimpleNamespace, only: list[str] | None = None) -> dict[str, str]:
    return steps.select_accounts(rt, NAMES, only, "抖音号 accounts", aliases=ALIASES)  # type: ignore[arg-type]


def test_explicit_account_ids_select_douplus_accounts_by_id() -> None:
    assert _select(_rt(account_ids=(1001, 501))) == {"MS4wLjABAAAA-a": "号 A"}
    assert _select(_rt(account_ids=(1001,))) == {}  # none of its 抖音号: none synced


def test_labels_select_douplus_accounts_by_id() -> None:
    rt = _rt(workbench_ids=(9001,), labels=("north",), label_accounts={"north": frozenset({502})})
    assert _select(rt) == {"MS4wLjABAAAA-b": "号 B"}


def test_an_account_the_tenant_left_out_stays_out() -> None:
    rt = _rt(account_ids=(501,))
    rt.settings.accounts = {"502": "renamed"}  # ADSYNC_ACCOUNTS naming another tenant's 抖音号
    assert _select(rt) == {"MS4wLjABAAAA-a": "号 A"}
    assert _select(rt, only=["502"]) == {}  # authorised to the app, not this tenant's


def test_workbench_tenant_keeps_every_douplus_account() -> None:
    assert _select(_rt(workbench_ids=(9001,))) == NAMES
