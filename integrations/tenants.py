"""Tenants: resolve ``[[tenants]]`` (or the single ``ADSYNC_*`` setup) into runnable units.

``tenants(settings)`` lists them, secrets read from the environment variables each app names;
``tenant_settings(settings, name)`` is a :class:`Settings` view of one tenant (its app, principal,
workbench and base in the flat fields), so code that reads one ``Settings`` runs unchanged for a
tenant. Without ``[[tenants]]`` the flat ``ADSYNC_*`` settings are the tenant ``default``.

Account selection and routing are pure functions over account ids (:func:`select_accounts`,
:func:`route_accounts`): the flows discover workbench accounts and labels live, this module
decides which ones a tenant syncs and which base each goes to, and how many a base's tables
cannot give a view (:func:`views_over_cap`).

Every error is a :class:`ConfigError` of one line naming the tenant and the key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import SecretStr

from integrations.settings import ConfigError, Settings, read_dotenv
from integrations.tenant_config import (
    DEFAULT_TENANT,
    MAX_VIEWS_PER_TABLE,
    Base,
    TenantConfig,
)

# Flat settings that belong to one tenant: with [[tenants]] they must be unset (each tenant has
# its own), or which tenant they meant would be a guess.
PER_TENANT_SETTINGS = (
    "oceanengine_app_id",
    "oceanengine_app_secret",
    "oceanengine_cc_account_id",
    "feishu_app_id",
    "feishu_app_secret",
    "feishu_app_token",
)


@dataclass(frozen=True)
class Tenant:
    """One tenant, secrets resolved (``SecretStr``: masked in repr and logs)."""

    name: str
    oceanengine_app_id: str | None
    oceanengine_app_secret: SecretStr | None
    principals: tuple[str, ...]
    qps: float
    workbench_ids: tuple[int, ...] = ()
    account_ids: tuple[int, ...] = ()
    labels: tuple[str, ...] = ()  # selection filter: empty = every selected account
    label_accounts: Mapping[str, frozenset[int]] = field(default_factory=dict)
    feishu_app_id: str | None = None
    feishu_app_secret: SecretStr | None = None
    bases: tuple[Base, ...] = ()
    views_for_labels: tuple[str, ...] = ()  # views only for accounts with one of these labels

    def gets_view(self, account_id: int) -> bool:
        """Whether the account gets per-account views (``views_for_labels``; empty: all)."""
        if not self.views_for_labels:
            return True
        return bool(labels_of(self, account_id) & set(self.views_for_labels))

    @property
    def default_base(self) -> str | None:
        """The base of accounts no routed label claims (the one base without labels)."""
        return next((b.app_token for b in self.bases if not b.labels), None)


def _where(name: str, key: str) -> str:
    return f"tenant {name!r}: {key}"


def _secret(tenant: str, key: str, var: str, dotenv: Mapping[str, str | None]) -> SecretStr:
    value = os.environ.get(var)
    if value is None:
        value = dotenv.get(var)
    if not value:
        raise ConfigError(
            f"{_where(tenant, key)} names {var}, which is not set in the environment or .env"
        )
    return SecretStr(value)


def _check(cfg: TenantConfig) -> None:
    """Cross-field rules pydantic cannot see: labels defined, one default base, no duplicates."""
    defined = set(cfg.labels)
    for key, used in (
        ("accounts.labels", cfg.accounts.labels),
        ("views_for_labels", cfg.views_for_labels),
    ):
        for label in used:
            if label not in defined:
                raise ConfigError(
                    f"{_where(cfg.name, key)}: label {label!r} is not defined "
                    f"under [tenants.labels] (defined: {', '.join(sorted(defined)) or 'none'})"
                )
    if cfg.feishu is None:
        return
    tokens = [b.app_token for b in cfg.feishu.bases]
    dup = next((t for t in tokens if tokens.count(t) > 1), None)
    if dup is not None:
        raise ConfigError(f"{_where(cfg.name, 'feishu.bases')}: base {dup[:8]}… is listed twice")
    defaults = [b.app_token for b in cfg.feishu.bases if not b.labels]
    if len(defaults) > 1:
        raise ConfigError(
            f"{_where(cfg.name, 'feishu.bases')}: {len(defaults)} bases have no labels; at most "
            "one may be the default (give the others labels to route accounts to them)"
        )
    routed: dict[str, str] = {}
    for b in cfg.feishu.bases:
        for label in b.labels:
            if label not in defined:
                raise ConfigError(
                    f"{_where(cfg.name, 'feishu.bases')}: label {label!r} of base "
                    f"{b.app_token[:8]}… is not defined under [tenants.labels]"
                )
            if label in routed:
                raise ConfigError(
                    f"{_where(cfg.name, 'feishu.bases')}: label {label!r} routes to two bases"
                )
            routed[label] = b.app_token


def _from_config(cfg: TenantConfig, s: Settings, dotenv: Mapping[str, str | None]) -> Tenant:
    _check(cfg)
    oe_secret = _secret(
        cfg.name, "oceanengine.app_secret_env", cfg.oceanengine.app_secret_env, dotenv
    )
    fs_secret = (
        _secret(cfg.name, "feishu.app_secret_env", cfg.feishu.app_secret_env, dotenv)
        if cfg.feishu is not None
        else None
    )
    return Tenant(
        name=cfg.name,
        oceanengine_app_id=cfg.oceanengine.app_id,
        oceanengine_app_secret=oe_secret,
        principals=tuple(p.name for p in cfg.principals),
        qps=cfg.oceanengine.qps or s.oceanengine_qps,
        workbench_ids=tuple(cfg.accounts.workbench_ids),
        account_ids=tuple(cfg.accounts.account_ids),
        labels=tuple(cfg.accounts.labels),
        label_accounts={k: frozenset(v) for k, v in cfg.labels.items()},
        feishu_app_id=cfg.feishu.app_id if cfg.feishu else None,
        feishu_app_secret=fs_secret,
        bases=tuple(cfg.feishu.bases) if cfg.feishu else (),
        views_for_labels=tuple(cfg.views_for_labels),
    )


def _default(s: Settings) -> Tenant:
    """Today's single setup (ADSYNC_* unchanged) as the tenant ``default``."""
    accounts = tuple(int(a) for a in s.accounts if str(a).isdigit())
    return Tenant(
        name=DEFAULT_TENANT,
        oceanengine_app_id=s.oceanengine_app_id,
        oceanengine_app_secret=s.oceanengine_app_secret,
        principals=(s.oceanengine_principal,),
        qps=s.oceanengine_qps,
        workbench_ids=(s.oceanengine_cc_account_id,) if s.oceanengine_cc_account_id else (),
        account_ids=accounts,
        feishu_app_id=s.feishu_app_id,
        feishu_app_secret=s.feishu_app_secret,
        bases=(Base(app_token=s.feishu_app_token),) if s.feishu_app_token else (),
    )


def tenants(settings: Settings) -> list[Tenant]:
    """Every tenant, in file order; ``[default]`` when the file has no ``[[tenants]]``."""
    if not settings.tenants:
        return [_default(settings)]
    _check_file(settings)
    dotenv = read_dotenv()
    return [_from_config(cfg, settings, dotenv) for cfg in settings.tenants]


def _check_file(settings: Settings) -> None:
    """What concerns the whole file (no secrets read): flat settings unset, names unique,
    explicit accounts disjoint."""
    flat = [n for n in PER_TENANT_SETTINGS if getattr(settings, n) not in (None, "")]
    if flat:
        raise ConfigError(
            f"ADSYNC_{flat[0].upper()} is set but adsync.toml lists [[tenants]]: move it into "
            'a tenant (e.g. name = "default") and unset it, or remove [[tenants]]'
        )
    names = [t.name for t in settings.tenants]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ConfigError(f"tenant {dup!r}: name is used by two [[tenants]] entries")
    _check_disjoint(settings.tenants)


def _check_disjoint(cfgs: Sequence[TenantConfig]) -> None:
    """An explicit account in two tenants would be fetched twice and its rows written by two
    runs (dataset rows have no tenant column: ids are global, an account has one owner)."""
    owner: dict[int, str] = {}
    for cfg in cfgs:
        for acct in cfg.accounts.account_ids:
            if acct in owner and owner[acct] != cfg.name:
                raise ConfigError(
                    f"{_where(cfg.name, 'accounts.account_ids')}: account {acct} is also selected "
                    f"by tenant {owner[acct]!r}; an account belongs to one tenant"
                )
            owner[acct] = cfg.name


def get_tenant(settings: Settings, name: str) -> Tenant:
    """One tenant, only its own secrets resolved: another tenant's unset secret variable does
    not stop this one (a failure in one tenant never blocks another)."""
    if not settings.tenants:
        found = [_default(settings)]
        if found[0].name == name:
            return found[0]
        known = [found[0].name]
    else:
        _check_file(settings)
        for cfg in settings.tenants:
            if cfg.name == name:
                return _from_config(cfg, settings, read_dotenv())
        known = [cfg.name for cfg in settings.tenants]
    from integrations.settings import _did_you_mean

    raise ConfigError(
        f"tenant {name!r}: not configured{_did_you_mean(name, known)} (known: {', '.join(known)})"
    )


def tenant_settings(
    settings: Settings, name: str, *, principal: str | None = None, base: str | None = None
) -> Settings:
    """A ``Settings`` for one tenant: its app, principal (default: its first), first workbench
    and base (default: its default base, else its first) in the flat fields."""
    t = get_tenant(settings, name)
    if principal is not None and principal not in t.principals:
        raise ConfigError(
            f"{_where(name, 'principals')}: no principal {principal!r} "
            f"(known: {', '.join(t.principals)})"
        )
    tokens = [b.app_token for b in t.bases]
    if base is not None and base not in tokens:
        raise ConfigError(f"{_where(name, 'feishu.bases')}: no base {base[:8]}…")
    chosen = base or t.default_base or (tokens[0] if tokens else None)
    update = {
        "oceanengine_app_id": t.oceanengine_app_id,
        "oceanengine_app_secret": t.oceanengine_app_secret,
        "oceanengine_principal": principal or t.principals[0],
        "oceanengine_cc_account_id": t.workbench_ids[0] if t.workbench_ids else None,
        "oceanengine_qps": t.qps,
        "feishu_app_id": t.feishu_app_id,
        "feishu_app_secret": t.feishu_app_secret,
        "feishu_app_token": chosen,
    }
    if settings.tenants and t.feishu_app_id is None and settings.feishu_enabled is None:
        update["feishu_enabled"] = False  # a tenant without [tenants.feishu] writes the DB only
    return settings.model_copy(update=update)


def settings_for(
    settings: Settings,
    tenant: str | None,
    *,
    principal: str | None = None,
    base: str | None = None,
) -> Settings:
    """What a command works on for ``--tenant`` (``None``/``default`` on the single setup: the
    settings themselves, ``principal`` applied). An unknown tenant is a ConfigError of one line
    with "did you mean"."""
    name = tenant or DEFAULT_TENANT
    if name == DEFAULT_TENANT and not settings.tenants:
        if principal is None and base is None:
            return settings
        update: dict[str, object] = {}
        if principal is not None:
            update["oceanengine_principal"] = principal
        if base is not None:
            update["feishu_app_token"] = base
        return settings.model_copy(update=update)
    return tenant_settings(settings, name, principal=principal, base=base)


# --- account selection and routing (pure) ----------------------------------------------------


def labels_of(tenant: Tenant, account_id: int) -> set[str]:
    return {label for label, ids in tenant.label_accounts.items() if account_id in ids}


def select_accounts(tenant: Tenant, workbench_accounts: Mapping[int, Iterable[int]]) -> list[int]:
    """The tenant's accounts: those under its workbenches (as discovered) plus its explicit
    ids, kept only if they carry one of ``accounts.labels`` when that is set. Sorted, unique.

    A workbench the discovery did not return is an error (naming it), not an empty selection.
    """
    missing = [w for w in tenant.workbench_ids if w not in workbench_accounts]
    if missing:
        raise ConfigError(
            f"{_where(tenant.name, 'accounts.workbench_ids')}: workbench {missing[0]} was not "
            "discovered (not authorised for this app, or a wrong id)"
        )
    chosen = set(tenant.account_ids)
    for w in tenant.workbench_ids:
        chosen.update(int(a) for a in workbench_accounts[w])
    if tenant.labels:
        wanted = set(tenant.labels)
        chosen = {a for a in chosen if labels_of(tenant, a) & wanted}
    return sorted(chosen)


def route_accounts(tenant: Tenant, account_ids: Iterable[int]) -> dict[str | None, list[int]]:
    """Base app_token → its accounts (sorted). An account goes to the base one of its labels
    routes to (the first such base in file order), else to the default base; ``None`` collects
    accounts no base takes (no default base configured)."""
    route: dict[str, str] = {}
    for b in tenant.bases:
        for label in b.labels:
            route.setdefault(label, b.app_token)
    out: dict[str | None, list[int]] = {}
    for a in sorted(set(account_ids)):
        targets = [route[lb] for lb in sorted(labels_of(tenant, a)) if lb in route]
        target = (
            next((b.app_token for b in tenant.bases if b.app_token in targets), None)
            if targets
            else tenant.default_base
        )
        out.setdefault(target, []).append(a)
    return out


@dataclass(frozen=True)
class OverCap:
    """Accounts of one base beyond the per-table view cap: they get rows but no view."""

    app_token: str
    without_view: tuple[int, ...]

    def line(self, first: int = 5) -> str:
        """One short line: a count and the first few ids (never hundreds of ids)."""
        head = ", ".join(str(a) for a in self.without_view[:first])
        more = "…" if len(self.without_view) > first else ""
        return (
            f"base {self.app_token[:8]}…: {len(self.without_view)} account(s) without a view "
            f"(first: {head}{more}); route some to another base by label"
        )


def views_over_cap(
    routing: Mapping[str | None, Sequence[int]], max_views: int = MAX_VIEWS_PER_TABLE
) -> list[OverCap]:
    """Bases whose accounts need more views per table than Feishu allows (one per account)."""
    return [
        OverCap(token, tuple(sorted(ids)[max_views:]))
        for token, ids in routing.items()
        if token is not None and len(ids) > max_views
    ]
