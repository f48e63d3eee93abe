"""Process-wide resources a flow run needs, built once from settings.

Tasks run in threads of the same process (Prefect's ThreadPoolTaskRunner), so they share one
engine, one token store, one client per source (``rt.client("oceanengine")``, built by the
source's ``connect``, integrations/sources/registry.py) and one Bitable writer per base.
Nothing here is passed as a task argument (Prefect would try to hash it); tasks call
:func:`get_runtime` instead.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from flows.memory import limit_malloc_arenas
from integrations.database.engine import make_engine
from integrations.database.migrate import upgrade
from integrations.settings import (
    ConfigError,
    Settings,
    bitable_configured,
    get_settings,
    require,
    require_supplier,
)
from integrations.sources.registry import get_source

if TYPE_CHECKING:
    from flows.summary import RunSummary
    from integrations.feishu.sink import BitableSink
    from integrations.tenants import Tenant
    from token_store.api import TokenStore

log = logging.getLogger("adsync.flows")

# Flows that write Bitable: the sink must be configured or explicitly disabled before they start.
BITABLE_FLOWS = (
    "laike-daily",
    "douplus-daily",
    "dpa-daily",
    "supplier-daily",
    "supplier-prices",
    "supplier-stock",
)
# Flows of the supplier source: they need its settings, not Ocean Engine's (flows/supplier.py).
SUPPLIER_FLOWS = ("supplier-daily", "supplier-prices", "supplier-stock")


def uses_oceanengine(flow_name: str) -> bool:
    """Whether ``flow_name`` needs Ocean Engine settings and its stored (consented) tokens."""
    return flow_name not in SUPPLIER_FLOWS


def check_flow_settings(settings: Settings, flow_name: str) -> None:
    """What a flow needs from the settings, checked before anything runs; ConfigError names it.

    Cheap (no I/O): the CLI calls it before starting Prefect, ``RunContext`` (flows/context.py) before the ledger row.
    """
    if uses_oceanengine(flow_name):
        require(settings, "oceanengine_app_id", "oceanengine_app_secret")
    else:
        require_supplier(settings)
    if settings.token_backend == "database":
        from token_store.crypto import TokenCipher

        TokenCipher(settings.token_encryption_key)  # missing or malformed key: one line
    if flow_name in BITABLE_FLOWS and bitable_configured(settings) is None:
        raise ConfigError(
            "Feishu Bitable is not configured: set ADSYNC_FEISHU_APP_ID, ADSYNC_FEISHU_APP_SECRET "
            "and ADSYNC_FEISHU_APP_TOKEN, or ADSYNC_FEISHU_ENABLED=false to run without Bitable"
        )


@dataclass
class Runtime:
    settings: Settings
    tenant: str = "default"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _run_cache: ExitStack | None = field(default=None, repr=False)
    # Source clients by name, built on first use; re-entrant: a source may connect another.
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _clients_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # The tenant's other principals (token sets), each a runtime sharing this one's engine;
    # and which principal authorised each account (filled by the account discovery).
    _principals: dict[str, Runtime] = field(default_factory=dict, repr=False)
    _bases: dict[str, Runtime] = field(default_factory=dict, repr=False)  # other bases' sinks
    account_principal: dict[Any, str] = field(default_factory=dict, repr=False)
    process_settings: Settings | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        limit_malloc_arenas()  # before the run's thread pools allocate (see flows/memory.py)

    @cached_property
    def tenant_spec(self) -> Tenant | None:
        """The tenant's configuration (accounts, labels, principals, bases); None for the
        single ``ADSYNC_*`` setup."""
        base = self.process_settings or self.settings
        if not base.tenants:
            return None
        from integrations.tenants import get_tenant

        return get_tenant(base, self.tenant)

    @property
    def principals(self) -> list[str]:
        """The tenant's principals, its first (this runtime's own) first."""
        spec = self.tenant_spec
        return list(spec.principals) if spec is not None else [self.settings.oceanengine_principal]

    def for_principal(self, principal: str) -> Runtime:
        """The runtime of one of the tenant's principals (its own token set and client; the
        engine is shared). This runtime for its own principal."""
        if principal == self.settings.oceanengine_principal:
            return self
        with self._lock:
            rt = self._principals.get(principal)
            if rt is None:
                from integrations.tenants import tenant_settings

                base = self.process_settings or self.settings
                rt = Runtime(
                    settings=tenant_settings(base, self.tenant, principal=principal),
                    tenant=self.tenant,
                    process_settings=base,
                )
                rt.__dict__["engine"] = self.engine  # one pool per tenant, not per principal
                self._principals[principal] = rt
            return rt

    def for_base(self, app_token: str) -> Runtime:
        """The runtime writing the tenant's base ``app_token``: its own sink (and one-writer
        lease), this runtime's engine and source clients. This runtime for its own base."""
        if app_token == self.settings.feishu_app_token:
            return self
        with self._lock:
            rt = self._bases.get(app_token)
            if rt is None:
                from integrations.tenants import tenant_settings

                base = self.process_settings or self.settings
                rt = Runtime(
                    settings=tenant_settings(
                        base,
                        self.tenant,
                        principal=self.settings.oceanengine_principal,
                        base=app_token,
                    ),
                    tenant=self.tenant,
                    process_settings=base,
                )
                rt.__dict__["engine"] = self.engine
                rt._clients = self._clients  # one client (rate limiter, tokens) per app
                rt._clients_lock = self._clients_lock
                rt._principals = self._principals
                rt.account_principal = self.account_principal
                self._bases[app_token] = rt
            rt._run_cache = self._run_cache
            return rt

    def routed(self, account_ids: Iterable[Any]) -> list[tuple[Runtime, list[Any]]]:
        """Accounts grouped by the base they are written to (the tenant's routing by label,
        integrations/tenants.py ``route_accounts``), each with that base's runtime; one group
        on this runtime for the single setup or a tenant with one base. Accounts no base takes
        (no default base) are left out."""
        ids = list(account_ids)
        spec = self.tenant_spec
        if spec is None or len(spec.bases) <= 1:
            return [(self, ids)]
        from integrations.tenants import route_accounts

        by_int = {int(str(a)): a for a in ids if str(a).isdigit()}
        out: list[tuple[Runtime, list[Any]]] = []
        for token, accts in route_accounts(spec, by_int).items():
            if token is not None:
                out.append((self.for_base(token), [by_int[a] for a in accts]))
        other = [a for a in ids if not str(a).isdigit()]  # e.g. 抖音号 keys: the default base
        if other:
            out.append((self, other))
        return out

    def client_for(self, name: str, account_id: Any) -> Any:
        """The client of source ``name`` with the token of the principal that authorised
        ``account_id`` (as discovered; this runtime's own principal when not known)."""
        principal = self.account_principal.get(account_id)
        rt = self if principal is None else self.for_principal(principal)
        return rt.client(name)

    @cached_property
    def engine(self) -> Engine:
        # Migrations are idempotent and cheap when at head: a fresh machine just works.
        upgrade(self.settings.db_url)
        return make_engine(self.settings.db_url)

    @cached_property
    def tokens(self) -> TokenStore:
        from token_store.api import build_token_store

        return build_token_store(self.settings, engine=self.engine)

    def client(self, name: str) -> Any:
        """The client of source ``name``, built by the source's ``connect`` once per process
        and shared by all threads (one rate limiter and token provider per app)."""
        with self._clients_lock:
            built = self._clients.get(name)
            if built is None:
                built = get_source(name).connect(self.settings, self)
                self._clients[name] = built
            return built

    @property
    def bitable_enabled(self) -> bool:
        return bitable_configured(self.settings) is True

    def bitable_off_warning(self) -> str:
        """The run summary's line when Bitable is not written, saying why.

        A flow only gets here with Bitable explicitly disabled: not configured and not disabled
        is refused before the run starts (:func:`check_flow_settings`).
        """
        if bitable_configured(self.settings) is False:
            return (
                "Bitable disabled (ADSYNC_FEISHU_ENABLED=false): nothing written to Feishu, "
                "the database has every row"
            )
        return "Feishu Bitable not configured (ADSYNC_FEISHU_APP_*): Bitable skipped"

    def check_tokens(self, flow_name: str | None = None) -> None:
        """Every principal's stored token set exists and decrypts (no network):
        TokenStoreError/ConfigError. A flow of a client-credentials source has nothing to
        check: it obtains its own token."""
        if flow_name is None or uses_oceanengine(flow_name):
            for p in self.principals:
                self.for_principal(p).tokens.get()

    @cached_property
    def bitable(self) -> BitableSink:
        from integrations.feishu.sink import BitableSink

        require(self.settings, "feishu_app_id", "feishu_app_secret", "feishu_app_token")
        sink = BitableSink.from_settings(self.settings, engine=self.engine)
        if self._run_cache is not None:  # first built inside a run: scope its cache to the run
            self._run_cache.enter_context(sink.tables_cached())
        return sink

    @contextmanager
    def run_scope(self) -> Iterator[None]:
        """One run's caches (Bitable table handles): each run looks at Feishu afresh; at the
        end the source clients are told the run ended (:meth:`end_run`).

        The sink is not built here but at its first use: building it imports lark-oapi
        (seconds of CPU), which a run needs only at its first write, by then behind the fetch.
        """
        try:
            if not self.bitable_enabled:
                yield
                return
            with ExitStack() as stack:
                if "bitable" in self.__dict__:
                    stack.enter_context(self.bitable.tables_cached())
                for other in list(self._bases.values()):  # the tenant's other bases
                    if "bitable" in other.__dict__:
                        stack.enter_context(other.bitable.tables_cached())
                self._run_cache = stack
                try:
                    yield
                finally:
                    self._run_cache = None
        finally:
            self.end_run()

    def end_run(self) -> None:
        """Tell each source client a run ended (``end_run()``, optional: e.g. the Ocean Engine
        client gives back its share of the app's QPS). Never raises: the run's data is in."""
        with self._clients_lock:
            clients = list(self._clients.items())
        for child in list(self._principals.values()):  # the tenant's other principals' clients
            with child._clients_lock:
                clients += list(child._clients.items())
        for name, c in clients:
            end = getattr(c, "end_run", None)
            if end is None:
                continue
            try:
                end()
            except Exception as e:  # noqa: BLE001 - a stale row expires by itself (its TTL)
                log.warning("%s: end of run not recorded: %s", name, type(e).__name__)

    def _stats(self) -> list[Any]:
        with self._clients_lock:
            clients = list(self._clients.values())
        with self._lock:
            children = list(self._principals.values())
        for rt in children:
            with rt._clients_lock:
                clients += list(rt._clients.values())
        return [c.stats for c in clients if getattr(c, "stats", None) is not None]

    def api_calls(self) -> int:
        """Requests sent so far by the source clients built in this process."""
        return sum(int(st.total) for st in self._stats())

    def api_latency(self) -> dict[str, Any]:
        """The clients' call-latency histograms summed: {"le": bounds, "bins": calls per bin
        (last: +Inf), "seconds": total}; clients with other bounds or none are left out."""
        from integrations.sources.call_stats import LATENCY_BUCKETS_S

        bins, seconds = [0] * (len(LATENCY_BUCKETS_S) + 1), 0.0
        for st in self._stats():
            got = getattr(st, "latency", None)
            if got is None:
                continue
            b, sec = got()
            if len(b) == len(bins):
                bins = [x + y for x, y in zip(bins, b, strict=True)]
                seconds += sec
        return {"le": list(LATENCY_BUCKETS_S), "bins": bins, "seconds": seconds}

    def throttled_calls(self) -> int:
        """Throttled answers so far (Ocean Engine 40100 / HTTP 429), retried by the clients."""
        return sum(int(st.snapshot()["retries"].get("Throttled", 0)) for st in self._stats())

    def qps_processes(self) -> int | None:
        """The most processes seen sharing an app's QPS with this one (a client's limiter
        ``max_holders``, shared_ratelimit.py); None when no client paces shared."""
        with self._clients_lock:
            clients = list(self._clients.values())
        seen = [getattr(getattr(c, "limiter", None), "max_holders", None) for c in clients]
        counts = [int(n) for n in seen if n is not None]
        return max(counts) if counts else None

    def run_url(self, summary: RunSummary) -> str | None:
        ui = self.settings.prefect_ui_url
        if not ui or not summary.run_id:
            return None
        return f"{ui.rstrip('/')}/runs/flow-run/{summary.run_id}"

    def notify(self, summary: RunSummary) -> None:
        """Send the run card when a webhook is configured. Never raises."""
        if self.settings.feishu_webhook_url is None:
            return
        try:
            from integrations.feishu.notifier import (
                BotNotifier,
                CardReport,
                base_web_url,
                build_card,
            )

            notifier = BotNotifier.from_settings(self.settings)
            if notifier is not None:
                report = CardReport.from_summary(
                    summary, self.run_url(summary), base_web_url(self.settings)
                )
                if not notifier.send_card(build_card(report, notifier.keyword)):
                    # 19021 / 19022 / 19024 … explained, on the run's summary and in its log.
                    summary.warnings.append(notifier.last_error or "Feishu bot: card not delivered")
        except Exception as e:  # noqa: BLE001 - a failed notification never fails the sync
            log.warning("Feishu notification failed: %s", type(e).__name__)


# The tenant of the flow run in this context: set by RunContext (flows/context.py) for the whole
# run. Prefect's task runner and the write lane copy the context into their threads, so a task
# calling get_runtime() gets its run's tenant even when one process runs two tenants' flows.
DEFAULT_TENANT = "default"
current_tenant: contextvars.ContextVar[str] = contextvars.ContextVar(
    "adsync_tenant", default=DEFAULT_TENANT
)

# tenant → (the process settings it was built from, its runtime). One runtime per tenant: its
# own clients (app, QPS, tokens), sink and caches; the engine is per tenant too (cheap: a pool).
_runtimes: dict[str, tuple[Settings, Runtime]] = {}
_runtime_lock = threading.Lock()


def tenant_runtime_settings(settings: Settings, tenant: str) -> Settings:
    """The settings a tenant's runtime uses: the process settings themselves for the single
    setup (no ``[[tenants]]``), else the tenant's view (integrations/tenants.py)."""
    if tenant == DEFAULT_TENANT and not settings.tenants:
        return settings
    from integrations.tenants import tenant_settings

    return tenant_settings(settings, tenant)


def get_runtime(tenant: str | None = None) -> Runtime:
    """The runtime of ``tenant`` (default: the current run's tenant), built once per process
    and tenant; rebuilt when settings were reloaded (tests clear the cache). An unknown tenant
    is a ConfigError naming it (with "did you mean")."""
    name = tenant or current_tenant.get()
    with _runtime_lock:
        s = get_settings()
        cached = _runtimes.get(name)
        if cached is None or cached[0] is not s:
            rt = Runtime(settings=tenant_runtime_settings(s, name), tenant=name, process_settings=s)
            _runtimes[name] = (s, rt)
            return rt
        return cached[1]


def reset_runtime() -> None:
    with _runtime_lock:
        _runtimes.clear()
