"""头条 DPA product libraries → ``dpa_products`` → Bitable (daily, 00:30 China time).

authorised ADVERTISER accounts → each one's libraries (``2/dpa/product/availables``; one task per
advertiser) → each library's products, 100 per page (``2/dpa/detail/get``; one task per library)
→ motion-comic album/playlet ids (integrations/sources/oceanengine/transforms/dpa.py) → upsert by (product_platform_id,
product_id) → project the table into Bitable with one view per advertiser.

A product whose ids cannot be extracted is logged with its id and stored with null ids; the run
stays green. A failed advertiser or library is named in the run's state (rule 3); the others are
written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from flows import progress, steps
from flows.runtime import Runtime, get_runtime
from flows.summary import AccountResult, RunSummary
from flows.sync_run import run_name, run_today
from integrations.database import tables
from integrations.sources.oceanengine import endpoints as E
from integrations.sources.oceanengine.transforms import dpa as T

FLOW_NAME = "dpa-daily"
DATASET = "dpa_products"
FETCH_WORKERS = 8  # threads; the client's rate limiter bounds the request rate

log = logging.getLogger("adsync.flows")


@dataclass(frozen=True)
class Library:
    advertiser_id: int
    platform_id: int
    name: str


@task(
    name="list-dpa-advertisers",
    **steps.API_TASK,
)
def list_advertisers(only: list[int] | None) -> dict[int, str]:
    """Authorised, valid ADVERTISER accounts (id → name; the user's labels win)."""
    rt = get_runtime()
    fetched = E.fetch_authorized_accounts(rt.oceanengine)
    for rej in fetched.rejections:
        log.warning("account listing: %s", rej)
    names = {
        a.id: a.account_name or a.advertiser_name or str(a.id)
        for a in fetched.rows
        if a.kind == "ADVERTISER" and a.is_valid is not False
    }
    return steps.select_accounts(rt, names, only, "advertisers")


@task(
    name="list-dpa-libraries",
    task_run_name="libraries-{advertiser_id}",
    **steps.API_TASK,
)
def list_libraries(advertiser_id: int) -> list[Library]:
    fetched = E.fetch_dpa_availables(get_runtime().oceanengine, advertiser_id)
    for rej in fetched.rejections:
        log.warning("advertiser %s: library listing: %s", advertiser_id, rej)
    return [Library(advertiser_id, p.platform_id, p.name or "") for p in fetched.rows]


@task(
    name="fetch-dpa-products",
    task_run_name="products-{library.advertiser_id}-{library.platform_id}",
    **steps.API_TASK,
)
def fetch_products(library: Library) -> steps.FetchResult:
    client = get_runtime().oceanengine
    fetched = steps.fetch_complete(
        lambda: E.collect(E.iter_dpa_products(client, library.advertiser_id, library.platform_id)),
        f"DPA library {library.advertiser_id}/{library.platform_id}",
    )
    return steps.FetchResult(library.advertiser_id, fetched.rows, fetched.rejections)


@task(name="write-db", cache_policy=NO_CACHE)
def write_db(rows: list[dict], summary: RunSummary) -> None:
    rt = get_runtime()
    rows_with_ids, failures = T.with_motion_comic_ids(rows, rt.settings.motion_comic_advertiser_ids)
    for line in T.failure_lines(failures):
        log.warning("%s", line)
    if failures:
        summary.warnings.append(
            f"{len(failures)} motion-comic product(s) stored without album/playlet ids "
            f"(malformed profession data; ids in the run log)"
        )
    rows_with_ids = steps.screen_rows(summary, tables.dpa_products, rows_with_ids, "advertiser_id")
    steps.upsert_db(rt, tables.dpa_products, rows_with_ids, summary)


@task(name="project-bitable", cache_policy=NO_CACHE)
def project_bitable(names: dict[int, str], summary: RunSummary) -> None:
    steps.project_to_bitable(
        get_runtime(),
        summary,
        datasets=(DATASET,),
        window=None,
        account_names=names,
        account_field="advertiser_id",
    )


def _libraries(ids: list[int], results: dict[int, AccountResult]) -> list[Library]:
    """Each advertiser's libraries; a library shared by several advertisers is read once
    (by the lowest advertiser id), so its products' advertiser_id is stable across runs."""
    futures = list_libraries.map(ids)
    seen: set[int] = set()
    out: list[Library] = []
    for aid, fut in zip(ids, futures, strict=True):
        try:
            libs: list[Library] = fut.result()
        except Exception as e:  # noqa: BLE001 - one advertiser's failure never hides another's
            results[aid].ok, results[aid].reason = False, steps.short_reason(e)
            log.warning("advertiser %s: libraries failed: %s", aid, results[aid].reason)
            continue
        for lib in libs:
            if lib.platform_id not in seen:
                seen.add(lib.platform_id)
                out.append(lib)
    return out


def _sync(rt: Runtime, summary: RunSummary, advertisers: list[int] | None) -> None:
    names = list_advertisers(advertisers)
    results = {aid: AccountResult(account_id=aid, name=n) for aid, n in sorted(names.items())}
    summary.accounts = list(results.values())
    libraries = _libraries(sorted(names), results)
    progress.current().add_total(len(libraries))
    futures = fetch_products.map(libraries)
    rows = steps.collect(futures, [lib.advertiser_id for lib in libraries], results)
    write_db(rows, summary)
    if rt.bitable_enabled:
        project_bitable(names, summary)
    else:
        summary.warnings.append(rt.bitable_off_warning())


@flow(
    name=FLOW_NAME,
    description="头条 DPA product libraries → DB (motion-comic album/playlet ids) → Bitable.",
    task_runner=ThreadPoolTaskRunner(max_workers=FETCH_WORKERS),
    log_prints=True,
    flow_run_name=run_name("dpa"),
)
def dpa_daily(advertisers: list[int] | None = None):
    """Sync every authorised advertiser's product libraries.

    Args:
        advertisers: Only these advertiser ids (default: every authorised advertiser).
    """
    return run_today(
        FLOW_NAME, lambda rt_, summary: _sync(rt_, summary, advertisers), artifact_key=FLOW_NAME
    )
