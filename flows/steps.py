"""I/O steps the flows share: fetch completely, upsert into the DB, project to Bitable.

Plain functions (no Prefect decorators): the flows wrap them in tasks. Every step records what
it did in the run's :class:`RunSummary`, so the ledger, artifacts and card all agree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from prefect import get_run_logger
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from sqlalchemy import Table, select

from flows import progress
from flows.runtime import Runtime
from flows.summary import RunSummary
from flows.window import Window
from integrations.database import row_rules, tables
from integrations.database.upsert import upsert
from integrations.feishu.specs import table_spec
from integrations.settings import ConfigError
from integrations.sources.oceanengine import endpoints as E
from integrations.sources.oceanengine.errors import OceanEngineError
from integrations.sources.oceanengine.pagination import IncompleteListing
from integrations.sources.registry import all_datasets
from token_store.errors import TokenStoreError, TransientOAuthError

log = logging.getLogger("adsync.flows")
K = TypeVar("K", int, str)

# Bitable projection: each dated dataset's China-date column (from the declarations).
DATE_COLUMNS = {d.name: d.date_column for d in all_datasets() if d.date_column}


@dataclass
class FetchResult:
    account_id: int | str
    rows: list[dict[str, Any]]
    rejections: list[Any] = field(default_factory=list)


def is_transient(error: BaseException) -> bool:
    """Worth another try: transient API trouble only, never permission/parameter errors."""
    if isinstance(error, OceanEngineError):
        return error.retryable
    if isinstance(error, TransientOAuthError):
        return True
    deterministic = (
        ValueError,
        ConfigError,
        TokenStoreError,  # no tokens, re-authorise, key mismatch: a person must act
        httpx.UnsupportedProtocol,  # a malformed base URL
        httpx.InvalidURL,
    )  # our own validation (bad parameters, settings)
    # Unknown failures (network stack, bugs): one more try is cheap.
    return isinstance(error, Exception) and not isinstance(error, deterministic)


def retry_if_transient(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's hook signature
    """Prefect retry condition for a step run as its own task run: :func:`is_transient`."""
    try:
        state.result()
    except Exception as e:  # noqa: BLE001 - judged by is_transient
        return is_transient(e)
    return False


# Task options for steps that call Ocean Engine: the client already retried within the call;
# a task retry covers what is left of an outage, never permission/parameter errors. No result
# caching: every run must read the API again.
API_TASK: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [5, 30],
    "retry_condition_fn": retry_if_transient,
    "cache_policy": NO_CACHE,
}


R = TypeVar("R")


def fetch_complete(fetch: Callable[[], R], what: object) -> R:
    """Run one account's whole fetch; when its listing does not add up (rows vs page_info
    total, repeated keys, a malformed page) fetch it once more, and if that does not add up
    either raise, so the account is marked failed with the reason (never "ok" with rows lost)."""
    try:
        return fetch()
    except IncompleteListing as e:
        log.warning("%s: %s; re-fetching once", what, short_reason(e))
    try:
        return fetch()
    except IncompleteListing as e:
        raise type(e)(
            f"again after one re-fetch: {e.api_message}", endpoint=e.endpoint, account=e.account
        ) from None


# A failure reason as stored (ledger, artifact, card, state message): the exception's whole text
# on one line up to this length; beyond it, cut with a marker and logged in full on the run.
MAX_REASON_CHARS = 2000


def short_reason(e: BaseException) -> str:
    """``e``'s text as one line (its lines joined by `` | ``), whole up to MAX_REASON_CHARS."""
    full = str(e).strip()
    text = " | ".join(ln.strip() for ln in full.splitlines() if ln.strip()) or type(e).__name__
    if len(text) <= MAX_REASON_CHARS:
        return text
    try:  # the run's own log (Prefect UI), else this module's (outside a run)
        logger: logging.Logger | logging.LoggerAdapter = get_run_logger()
    except MissingContextError:
        logger = log
    logger.warning("full text of a reason cut in the summary: %s", full)
    more = len(text) - MAX_REASON_CHARS
    return f"{text[:MAX_REASON_CHARS]}… ({more} more chars; full text in the run's logs)"


def screen_rows(
    summary: RunSummary,
    table: Table,
    rows: Sequence[dict[str, Any]],
    account_field: str | None,
) -> list[dict[str, Any]]:
    """Apply the row rules (integrations/database/row_rules.py) before any batch conversion:
    rejected rows are named on their account (the run ends PARTIAL), normalised rows are named
    in the summary; the rest of the batch goes on."""
    screened = row_rules.screen(table, rows)
    if not screened.issues:
        return screened.rows
    by_key = {}
    if account_field is not None:
        rules = row_rules.rules_for(table)
        by_key = {rules.key_of(r): r.get(account_field) for r in rows}
    for issue in screened.issues:
        if issue.action == "rejected":
            log.warning("rejected row %s", issue)
            summary.reject_row(by_key.get(issue.key), str(issue))
        else:
            log.warning("normalised row %s", issue)
            summary.normalise_row(str(issue))
    return screened.rows


CC_ACCOUNT_TYPES = frozenset({"CUSTOMER_ADMIN", "CUSTOMER_OPERATOR"})


LIFE_ACCOUNT_TYPE = "PLATFORM_ROLE_LIFE"


def authorized_accounts(rt: Runtime) -> E.Fetched:
    """The accounts the consents cover (``oauth2/advertiser/get``), of every principal of the
    tenant: each account is remembered with the first principal whose consent covers it (its
    fetches use that principal's token, ``Runtime.client_for``), keyed by id and, for a 抖音号,
    by its aweme_sec_uid too."""
    rows: list[Any] = []
    rejections: list[Any] = []
    seen: set[int] = set()
    for principal in rt.principals:
        got = E.fetch_authorized_accounts(rt.for_principal(principal).client("oceanengine"))
        rejections += got.rejections
        for a in got.rows:
            if a.id in seen:
                continue
            seen.add(a.id)
            rows.append(a)
            rt.account_principal.setdefault(a.id, principal)
            if getattr(a, "account_string_id", None):
                rt.account_principal.setdefault(a.account_string_id, principal)
    return E.Fetched(rows, rejections)


def local_parents(rt: Runtime) -> tuple[list[int], list[int]]:
    """Where LOCAL accounts are listed: (工作台 ids, 来客 ids). The configured 工作台, else the
    consent's CUSTOMER_ADMIN/OPERATOR accounts; plus its 来客 (PLATFORM_ROLE_LIFE) accounts,
    whose local accounts come from v3.0/local/life/advertiser/list, not from a 工作台."""
    authorised = E.fetch_authorized_accounts(rt.client("oceanengine")).rows
    life = [a.id for a in authorised if (a.account_type or "") == LIFE_ACCOUNT_TYPE]
    if rt.settings.oceanengine_cc_account_id is not None:
        return [rt.settings.oceanengine_cc_account_id], life
    ids = [a.id for a in authorised if (a.account_type or "") in CC_ACCOUNT_TYPES]
    if not ids and not life:
        raise ConfigError(
            "ADSYNC_OCEANENGINE_CC_ACCOUNT_ID: not set, and the authorised accounts include no "
            "工作台 (CUSTOMER_ADMIN/CUSTOMER_OPERATOR) or 来客 (PLATFORM_ROLE_LIFE) account to "
            "list LOCAL accounts under"
        )
    return ids, life


def workbench_ids(rt: Runtime) -> list[int]:
    """工作台 (customer-center) ids: the configured one, else those the token's consent covers."""
    return local_parents(rt)[0]


def local_accounts(rt: Runtime) -> dict[int, str]:
    """Authorised LOCAL accounts (id → name): under each 工作台 and each 来客 account. The 来客
    listing sends no names: such an account is named by its id unless a 工作台 names it. A
    listing that does not add up is read again once.

    A tenant with several principals lists with each (its token sees the accounts it
    authorised) and remembers which principal an account came from (its first): the fetch of
    that account uses that principal's token (``Runtime.client_for``)."""
    names: dict[int, str] = {}
    for principal in rt.principals:
        prt = rt.for_principal(principal)
        what = "LOCAL account listing" + ("" if prt is rt else f" (principal {principal})")
        for aid, name in fetch_complete(lambda prt=prt: _local_accounts(prt), what).items():
            if aid not in names:
                names[aid] = name
                rt.account_principal.setdefault(aid, principal)
    return names


def tenant_selection(
    rt: Runtime, names: Mapping[K, str], aliases: Mapping[str, K] | None = None
) -> dict[K, str]:
    """The discovered accounts the tenant syncs (integrations/tenants.py ``select_accounts``):
    all of them under its workbenches, plus its explicit ids, then only labelled ones when the
    tenant filters by label. The single ``ADSYNC_*`` setup keeps every account.

    A key that is not an account id (a 抖音号's aweme_sec_uid) is matched by the account id an
    alias gives it (``aliases``: id text → key), so ``account_ids`` and labels select 抖音号
    accounts by their id like any other."""
    spec = rt.tenant_spec
    if spec is None or not (spec.workbench_ids or spec.account_ids or spec.labels):
        return dict(names)
    from integrations.tenants import labels_of

    id_of = {key: int(text) for text, key in (aliases or {}).items() if str(text).isdigit()}
    wanted = set(spec.labels)
    out: dict[K, str] = {}
    for key, name in names.items():
        aid = int(str(key)) if str(key).isdigit() else id_of.get(key)
        if not spec.workbench_ids and (aid is None or aid not in spec.account_ids):
            continue  # only explicit ids were selected
        if wanted and (aid is None or not labels_of(spec, aid) & wanted):
            continue
        out[key] = name
    return out


def _local_accounts(rt: Runtime) -> dict[int, str]:
    names: dict[int, str] = {}
    workbenches, lives = local_parents(rt)
    for cc in workbenches:
        for page, rejections in E.iter_customer_center_accounts(
            rt.client("oceanengine"), cc, "LOCAL"
        ):
            for a in page:
                names[a.account_id] = a.account_name or str(a.account_id)
            for rej in rejections:
                log.warning("account listing: %s", rej)
    for life in lives:
        for rows, rejections in E.iter_life_local_accounts(rt.client("oceanengine"), life):
            for r in rows:
                names.setdefault(r.local_account_id, str(r.local_account_id))
            for rej in rejections:
                log.warning("account listing: %s", rej)
    return names


def select_accounts(
    rt: Runtime,
    names: Mapping[K, str],
    only: Iterable[Any] | None,
    what: str,
    aliases: Mapping[str, K] | None = None,
) -> dict[K, str]:
    """The run's accounts: ``names`` with the user's labels (``settings.accounts``) applied,
    limited to ``only`` when given. An id in ``only`` that is not authorised is a ValueError
    naming it. ``aliases`` maps other spellings of an id (text) to the key used in ``names``.
    """
    names = tenant_selection(rt, names, aliases)
    by_text = {str(k): k for k in names} | dict(aliases or {})
    out = dict(names)
    for k, label in rt.settings.accounts.items():  # keys may name accounts of other flows
        if (key := by_text.get(str(k))) in out:  # never one the tenant left out
            out[key] = label
    if only:
        wanted = [by_text.get(str(x)) for x in only]
        unknown = sorted(str(x) for x, key in zip(only, wanted, strict=True) if key is None)
        if unknown:
            raise ValueError(f"{what} not authorised for this app: {unknown}")
        out = {k: v for k, v in out.items() if k in set(wanted)}
    return out


def upsert_db(
    rt: Runtime, table: Table, rows: Sequence[dict[str, Any]], summary: RunSummary
) -> None:
    with rt.engine.begin() as conn:
        res = upsert(conn, table, rows)
    summary.sink(f"db:{table.name}").add(
        inserted=res.inserted, updated=res.updated, unchanged=res.unchanged
    )
    progress.current().batch_written(len(rows))  # moves the run's progress artifact


def window_rows(
    rt: Runtime,
    dataset: str,
    window: Window | None,
    *,
    account_field: str = "local_account_id",
    accounts: Collection[Any] | None = None,
    exclude_accounts: Collection[Any] | None = None,
) -> list[dict[str, Any]]:
    """DB rows of a dataset (for the window when the dataset is dated): Bitable's source.
    ``accounts`` / ``exclude_accounts`` narrow it to / away from some accounts."""
    table = tables.DATASET_TABLES[dataset]
    q = select(table)
    col = DATE_COLUMNS.get(dataset)
    if col is not None and window is not None:
        q = q.where(table.c[col].between(window.start, window.end))
    if accounts is not None:
        q = q.where(table.c[account_field].in_(list(accounts)))
    if exclude_accounts:
        q = q.where(table.c[account_field].not_in(list(exclude_accounts)))
    with rt.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def project_rows(
    rt: Runtime,
    summary: RunSummary,
    dataset: str,
    rows: Sequence[dict[str, Any]],
    *,
    account_names: Mapping[Any, str],
    account_field: str = "local_account_id",
) -> None:
    """Upsert DB rows of one dataset into its Bitable table; the outcome goes on the dataset's
    sink. After a failure (e.g. a renamed field) the dataset is skipped for the rest of the run."""
    out = summary.sink(f"bitable:{dataset}")
    if out.error:
        return
    try:
        for r in rows:
            r.setdefault("account_name", account_names.get(r.get(account_field), ""))
        res = rt.bitable.upsert(table_spec(dataset, rt.settings), rows)
        out.add(
            inserted=res.created,
            updated=res.updated,
            unchanged=res.unchanged,
            deleted=res.deleted_duplicates,
            calls=res.calls,
        )
    except Exception as e:  # noqa: BLE001 - recorded per sink, run ends PARTIAL
        log.exception("Bitable %s failed", dataset)
        out.error = short_reason(e)


def count_ahead(rt: Runtime, dataset: str) -> None:
    """The dataset's table's record count, taken now for this run's cap check (see
    ``BitableSink.count_ahead``). A failure here costs nothing: the write counts again."""
    try:
        rt.bitable.count_ahead(table_spec(dataset, rt.settings))
    except Exception as e:  # noqa: BLE001 - the write that needs the count reads it itself
        log.info("Bitable %s: record count deferred to its write (%s)", dataset, short_reason(e))


def ensure_account_views(
    rt: Runtime, summary: RunSummary, datasets: Iterable[str], account_names: Mapping[Any, str]
) -> None:
    """One view per account on each dataset's table (see integrations/feishu/views.py).

    A view failure is recorded on the dataset's ``bitable:views:`` sink (the run ends PARTIAL,
    the next run retries the views), never on its records sink: record writes go on.

    A tenant's ``views_for_labels`` limits the views to its labelled accounts; accounts over
    Feishu's 200-per-table cap get none, said once per run as a count plus the first few
    (``OverCap.line``), with the choices (route by label to another base, or views_for_labels).
    """
    from integrations.tenants import OverCap

    spec = rt.tenant_spec
    with_views = {
        k: v
        for k, v in account_names.items()
        if spec is None or not str(k).isdigit() or spec.gets_view(int(str(k)))
    }
    if len(with_views) < len(account_names):
        summary.warnings.append(
            f"views only for accounts labelled {', '.join(spec.views_for_labels)} "  # type: ignore[union-attr]
            f"(views_for_labels): {len(account_names) - len(with_views)} account(s) have none"
        )
    base = rt.settings.feishu_app_token or ""
    for dataset in datasets:
        if summary.sink(f"bitable:{dataset}").error:
            continue  # the table itself failed (e.g. a renamed field): no views to fix
        try:
            views = rt.bitable.ensure_views(table_spec(dataset, rt.settings), with_views)
        except Exception as e:  # noqa: BLE001 - recorded per sink, run ends PARTIAL
            log.exception("Bitable views of %s failed", dataset)
            summary.sink(
                f"bitable:views:{dataset}"
            ).error = f"views not ensured (retried next run): {short_reason(e)}"
            continue
        if views.failed:
            summary.sink(f"bitable:views:{dataset}").error = (
                f"{len(views.failed)} view(s) failed (retried next run): "
                + "; ".join(views.failed[:3])
            )
        if views.without_view:
            # Once per base and run (its tables have the same accounts): the count and the
            # first few ids, never hundreds of ids on one line.
            line = OverCap(base, tuple(_id_of(v.split(" ")[0]) for v in views.without_view)).line()
            if not any(w.startswith(line.split(":")[0] + ":") for w in summary.warnings):
                summary.warnings.append(f"{line} or set views_for_labels")


def _id_of(text: str) -> Any:
    return int(text) if text.isdigit() else text


def _tenant_window_rows(
    rt: Runtime,
    dataset: str,
    window: Window | None,
    account_field: str,
    account_names: Mapping[Any, str],
) -> list[dict[str, Any]]:
    """The window's DB rows; for a tenant only its run's accounts' (the database holds every
    tenant's rows, a tenant's base only its own). A table without the account column: all."""
    table = tables.DATASET_TABLES[dataset]
    if rt.tenant_spec is None or account_field not in table.c:
        return window_rows(rt, dataset, window)
    return window_rows(
        rt, dataset, window, account_field=account_field, accounts=list(account_names)
    )


def project_to_bitable(
    rt: Runtime,
    summary: RunSummary,
    *,
    datasets: Iterable[str],
    window: Window | None,
    account_names: dict[Any, str],
    account_field: str = "local_account_id",
    rows: Mapping[str, Sequence[dict[str, Any]]] | None = None,
) -> None:
    """Write the window's DB rows of each dataset to Bitable and ensure per-account views.

    ``rows`` gives a dataset's rows ready-made (still read from the DB, e.g. joined) instead of
    the dataset table's window rows. One table's failure (e.g. a renamed field) is recorded on
    that sink and the others go on.
    """
    datasets = list(datasets)
    # A tenant routing accounts to several bases: each base gets its own accounts (one sink
    # per base, each with its one-writer lease).
    for base_rt, accounts in rt.routed(account_names):
        _project_base(
            rt,
            base_rt,
            summary,
            datasets,
            window,
            {a: account_names[a] for a in accounts},
            account_field,
            rows,
        )


def _project_base(
    rt: Runtime,
    base_rt: Runtime,
    summary: RunSummary,
    datasets: list[str],
    window: Window | None,
    account_names: dict[Any, str],
    account_field: str,
    rows: Mapping[str, Sequence[dict[str, Any]]] | None,
) -> None:
    for dataset in datasets:
        try:
            rows_ = (
                list(rows[dataset])
                if rows is not None and dataset in rows
                else _tenant_window_rows(rt, dataset, window, account_field, account_names)
            )
            if rt.tenant_spec is not None:  # a tenant's base holds its own accounts' rows only
                mine = {str(k) for k in account_names}
                rows_ = [
                    r for r in rows_ if account_field not in r or str(r[account_field]) in mine
                ]
        except Exception as e:  # noqa: BLE001 - recorded per sink, run ends PARTIAL
            log.exception("reading %s for Bitable failed", dataset)
            summary.sink(f"bitable:{dataset}").error = short_reason(e)
            continue
        project_rows(
            base_rt,
            summary,
            dataset,
            rows_,
            account_names=account_names,
            account_field=account_field,
        )
        ensure_account_views(base_rt, summary, [dataset], account_names)
