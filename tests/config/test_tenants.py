"""Tenants in adsync.toml (issue 20, item 1): strict keys, secrets by variable name, one-line
errors naming the tenant and key, per-tenant Settings views, account selection and routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrations.settings import ConfigError, load_settings
from integrations.tenants import (
    get_tenant,
    route_accounts,
    select_accounts,
    tenant_settings,
    tenants,
    views_over_cap,
)

TWO = """
[[tenants]]
name = "acme"
principals = [{ name = "alice" }, { name = "bob" }]

[tenants.oceanengine]
app_id = "1790000000000001"
app_secret_env = "ACME_OE_SECRET"
qps = 8

[tenants.accounts]
workbench_ids = [9001]
account_ids = [1001]

[tenants.labels]
north = [1001, 1002]
south = [1003]

[tenants.feishu]
app_id = "cli_acme"
app_secret_env = "ACME_FS_SECRET"
bases = [
  { app_token = "bascnNorth0001", labels = ["north"] },
  { app_token = "bascnRest00001" },
]

[[tenants]]
name = "brand-b"
principals = [{ name = "carol" }]

[tenants.oceanengine]
app_id = "1790000000000002"
app_secret_env = "BRAND_B_OE_SECRET"
"""

SECRETS = {
    "ACME_OE_SECRET": "oe-secret-acme",
    "ACME_FS_SECRET": "fs-secret-acme",
    "BRAND_B_OE_SECRET": "oe-secret-b",
}


def _write(tmp_path: Path, text: str) -> None:
    (tmp_path / "adsync.toml").write_text(text, encoding="utf-8")


def _env(monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    for k, v in {**SECRETS, **extra}.items():
        monkeypatch.setenv(k, v)


def _error(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    _write(tmp_path, text)
    _env(monkeypatch)
    with pytest.raises(ConfigError) as ex:
        tenants(load_settings())
    msg = str(ex.value)
    assert "\n" not in msg
    for secret in SECRETS.values():
        assert secret not in msg
    return msg


def test_single_tenant_is_default_from_today_variables(monkeypatch):
    monkeypatch.setenv("ADSYNC_OCEANENGINE_APP_ID", "123")
    monkeypatch.setenv("ADSYNC_OCEANENGINE_APP_SECRET", "shh")
    monkeypatch.setenv("ADSYNC_OCEANENGINE_CC_ACCOUNT_ID", "77")
    monkeypatch.setenv("ADSYNC_FEISHU_APP_ID", "cli_x")
    monkeypatch.setenv("ADSYNC_FEISHU_APP_SECRET", "fsh")
    monkeypatch.setenv("ADSYNC_FEISHU_APP_TOKEN", "bascnOnly0001")
    s = load_settings()
    (t,) = tenants(s)
    assert t.name == "default" and t.principals == ("default",)
    assert t.oceanengine_app_id == "123" and t.workbench_ids == (77,)
    assert t.default_base == "bascnOnly0001"
    view = tenant_settings(s, "default")
    # The view of the only tenant is today's Settings, field for field.
    assert view.model_dump() == s.model_dump()


def test_two_tenants_and_their_settings_views(tmp_path, monkeypatch):
    _write(tmp_path, TWO)
    _env(monkeypatch, ADSYNC_OCEANENGINE_QPS="20")
    s = load_settings()
    acme, b = tenants(s)
    assert (acme.name, b.name) == ("acme", "brand-b")
    assert acme.principals == ("alice", "bob") and acme.qps == 8.0 and b.qps == 20.0
    assert acme.oceanengine_app_secret is not None
    assert acme.oceanengine_app_secret.get_secret_value() == "oe-secret-acme"
    assert "oe-secret-acme" not in repr(acme)

    v = tenant_settings(s, "acme")
    assert v.oceanengine_app_id == "1790000000000001" and v.oceanengine_principal == "alice"
    assert v.oceanengine_cc_account_id == 9001 and v.oceanengine_qps == 8.0
    assert v.feishu_app_id == "cli_acme" and v.feishu_app_token == "bascnRest00001"
    assert v.feishu_app_secret is not None
    assert v.feishu_app_secret.get_secret_value() == "fs-secret-acme"
    v2 = tenant_settings(s, "acme", principal="bob", base="bascnNorth0001")
    assert (v2.oceanengine_principal, v2.feishu_app_token) == ("bob", "bascnNorth0001")

    vb = tenant_settings(s, "brand-b")
    assert vb.oceanengine_principal == "carol" and vb.feishu_app_token is None
    assert vb.feishu_enabled is False  # no [tenants.feishu]: this tenant writes the DB only
    assert s.oceanengine_app_id is None  # the shared Settings is not changed by a view


def test_unknown_tenant_and_principal_name_the_choices(tmp_path, monkeypatch):
    _write(tmp_path, TWO)
    _env(monkeypatch)
    s = load_settings()
    with pytest.raises(ConfigError, match=r"tenant 'acmee': not configured \(did you mean acme"):
        get_tenant(s, "acmee")
    with pytest.raises(ConfigError, match=r"tenant 'acme': principals: no principal 'eve'"):
        tenant_settings(s, "acme", principal="eve")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'app_secret_env = "ACME_OE_SECRET"',
            'app_secert_env = "ACME_OE_SECRET"',
            "tenant 'acme': unknown key 'oceanengine.app_secert_env' (did you mean app_secret_env?)",
        ),
        (
            'app_secret_env = "ACME_OE_SECRET"',
            'app_secret = "plain"',
            "tenant 'acme': oceanengine.app_secret is a secret; name the environment variable",
        ),
        ('name = "brand-b"', 'name = "Brand B"', "tenant 'Brand B': name: 'Brand B' is not a"),
        ("qps = 8", "qps = 0", "tenant 'acme': oceanengine.qps: Input should be greater than 0"),
        (
            'principals = [{ name = "carol" }]',
            "principals = []",
            "tenant 'brand-b': principals: List should have at least 1 item",
        ),
        (
            'principals = [{ name = "alice" }, { name = "bob" }]',
            'principals = [{ name = "alice" }, { name = "alice" }]',
            "tenant 'acme': principals: Value error, principal 'alice' is listed twice",
        ),
        (
            "account_ids = [1001]",
            "acount_ids = [1001]",
            "tenant 'acme': unknown key 'accounts.acount_ids' (did you mean account_ids?)",
        ),
        (
            '{ app_token = "bascnRest00001" }',
            '{ app_token = "bascnRest00001", lables = ["x"] }',
            "tenant 'acme': unknown key 'feishu.bases.lables' (did you mean labels?)",
        ),
    ],
)
def test_bad_tenant_keys_are_one_line_naming_tenant_and_key(
    old, new, expected, tmp_path, monkeypatch
):
    assert old in TWO
    _write(tmp_path, TWO.replace(old, new, 1))
    _env(monkeypatch)
    with pytest.raises(ConfigError) as ex:
        load_settings()
    msg = str(ex.value).replace("Value error, ", "")
    assert "\n" not in msg
    assert expected.replace("Value error, ", "") in msg, msg


def test_cross_field_rules(tmp_path, monkeypatch):
    undefined = TWO.replace('labels = ["north"] }', 'labels = ["east"] }')
    msg = _error(undefined, tmp_path, monkeypatch)
    assert "tenant 'acme': feishu.bases: label 'east'" in msg and "not defined" in msg
    two_defaults = TWO.replace(', labels = ["north"] }', " }")
    msg = _error(two_defaults, tmp_path, monkeypatch)
    assert "tenant 'acme': feishu.bases: 2 bases have no labels" in msg
    shared = TWO + "\n[tenants.accounts]\naccount_ids = [1001]\n"
    msg = _error(shared, tmp_path, monkeypatch)
    assert msg.startswith("tenant 'brand-b': accounts.account_ids: account 1001 is also selected")
    assert "by tenant 'acme'" in msg
    twice = TWO.replace('name = "brand-b"', 'name = "acme"')
    msg = _error(twice, tmp_path, monkeypatch)
    assert msg.startswith("tenant 'acme': name is used by two")


def test_secret_variable_must_be_set_and_is_named(tmp_path, monkeypatch):
    _write(tmp_path, TWO)
    _env(monkeypatch)
    monkeypatch.delenv("BRAND_B_OE_SECRET")
    with pytest.raises(ConfigError) as ex:
        tenants(load_settings())
    assert str(ex.value) == (
        "tenant 'brand-b': oceanengine.app_secret_env names BRAND_B_OE_SECRET, "
        "which is not set in the environment or .env"
    )


def test_secret_from_dotenv_and_adsync_prefixed_variable_is_not_unknown(tmp_path, monkeypatch):
    _write(tmp_path, TWO.replace("BRAND_B_OE_SECRET", "ADSYNC_BRAND_B_SECRET"))
    _env(monkeypatch)
    (tmp_path / ".env").write_text("ADSYNC_BRAND_B_SECRET=from-dotenv\n", encoding="utf-8")
    b = get_tenant(load_settings(), "brand-b")
    assert b.oceanengine_app_secret is not None
    assert b.oceanengine_app_secret.get_secret_value() == "from-dotenv"
    # Another unknown ADSYNC_ variable is still an error.
    monkeypatch.setenv("ADSYNC_BRAND_C_SECRET", "x")
    with pytest.raises(ConfigError, match="ADSYNC_BRAND_C_SECRET: unknown setting"):
        load_settings()


def test_flat_per_tenant_settings_conflict_with_tenants(tmp_path, monkeypatch):
    _write(tmp_path, TWO)
    _env(monkeypatch, ADSYNC_OCEANENGINE_APP_ID="123")
    with pytest.raises(ConfigError, match=r"^ADSYNC_OCEANENGINE_APP_ID is set but adsync.toml"):
        tenants(load_settings())


def test_selection_routing_and_view_cap(tmp_path, monkeypatch):
    _write(tmp_path, TWO)
    _env(monkeypatch)
    acme = get_tenant(load_settings(), "acme")
    chosen = select_accounts(acme, {9001: [1002, 1003, 1004]})
    assert chosen == [1001, 1002, 1003, 1004]
    with pytest.raises(ConfigError, match=r"tenant 'acme': accounts.workbench_ids: workbench 9001"):
        select_accounts(acme, {})
    assert route_accounts(acme, chosen) == {
        "bascnNorth0001": [1001, 1002],
        "bascnRest00001": [1003, 1004],
    }
    routing = {"bascnRest00001": list(range(1, 206)), "bascnNorth0001": [1, 2]}
    (over,) = views_over_cap(routing)
    assert over.app_token == "bascnRest00001" and over.without_view == (201, 202, 203, 204, 205)
    line = over.line(first=3)
    assert "5 account(s) without a view (first: 201, 202, 203…)" in line and "\n" not in line


def test_label_filter_and_unrouted_accounts(tmp_path, monkeypatch):
    text = TWO.replace("account_ids = [1001]", 'account_ids = [1001]\nlabels = ["north"]')
    text = text.replace('{ app_token = "bascnRest00001" },', "")
    _write(tmp_path, text)
    _env(monkeypatch)
    acme = get_tenant(load_settings(), "acme")
    assert select_accounts(acme, {9001: [1002, 1003]}) == [1001, 1002]
    # No default base: accounts no label routes are reported under None, not dropped.
    assert route_accounts(acme, [1001, 1003]) == {"bascnNorth0001": [1001], None: [1003]}


def test_tenants_only_from_the_file(monkeypatch):
    monkeypatch.setenv("ADSYNC_TENANTS", "[]")
    with pytest.raises(
        ConfigError, match=r"^ADSYNC_TENANTS: tenants are configured in adsync.toml"
    ):
        load_settings()


def test_one_tenants_unset_secret_does_not_block_another(tmp_path, monkeypatch):
    """A failure in one tenant never blocks another: brand-b's secret variable unset stops
    brand-b (one line naming it) and the listing of every tenant, not acme's runs."""
    _write(tmp_path, TWO)
    _env(monkeypatch)
    monkeypatch.delenv("BRAND_B_OE_SECRET")
    s = load_settings()
    assert tenant_settings(s, "acme").oceanengine_app_id == "1790000000000001"
    with pytest.raises(ConfigError, match="brand-b.*BRAND_B_OE_SECRET"):
        tenant_settings(s, "brand-b")
    with pytest.raises(ConfigError, match="BRAND_B_OE_SECRET"):
        tenants(s)
    with pytest.raises(ConfigError, match="did you mean"):
        get_tenant(s, "acm")
