"""头条 DPA product libraries → ``dpa_products`` → Bitable (daily, 00:30 China time).

authorised ADVERTISER accounts → each one's libraries (``2/dpa/product/availables``; one task per
advertiser) → each library's products, 100 per page (``2/dpa/detail/get``; one task per library)
→ motion-comic album/playlet ids (integrations/sources/oceanengine/transforms/dpa.py) → upsert by (product_platform_id,
product_id) → project the table into Bitable with one view per advertiser.

A product whose ids cannot be extracted is logged with its id and stored with null ids; the run
stays green. A failed advertiser or library is named in the run's state (ARCHITECTURE.md,
rule 3); the others are written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from flows import steps
from flows.context import RunContext
from flows.params import AccountId
from flows.runtime import get_runtime
from flows.summary import RunSummary
from flows.sync_run import run_name
from integrations.database import tables
from integrations.sources.oceanengine import endpoints as E
from integrations.sources.oceanengine.transforms import dpa as transform

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
    fetched = steps.authorized_accounts(rt)  # every principal's consent
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
    client = get_runtime().client_for("oceanengine", advertiser_id)  # its principal's token
    fetched = E.fetch_dpa_availables(client, advertiser_id)
    for rej in fetched.rejections:
        log.warning("advertiser %s: library listing: %s", advertiser_id, rej)
    return [Library(advertiser_id, p.platform_id, p.name or "") for p in fetched.rows]


@task(
    name="fetch-dpa-products",
    task_run_name="products-{library.advertiser_id}-{library.platform_id}",
    **steps.API_TASK,
)
def fetch_products(library: Library) -> steps.FetchResult:
    client = get_runtime().client_for("oceanengine", library.advertiser_id)
    fetched = steps.fetch_complete(
        lambda: E.collect(E.iter_dpa_products(client, library.advertiser_id, library.platform_id)),
        f"DPA library {library.advertiser_id}/{library.platform_id}",
    )
    return steps.FetchResult(library.advertiser_id, fetched.rows, fetched.rejections)


@task(name="write-db", cache_policy=NO_CACHE)
def write_db(rows: list[dict], summary: RunSummary) -> None:
    rt = get_runtime()
    rows_with_ids, failures = transform.with_motion_comic_ids(
        rows, rt.settings.motion_comic_advertiser_ids
    )
    for line in transform.failure_lines(failures):
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


def _unique(libraries: list[Library]) -> list[Library]:
    """A library shared by several advertisers is read once, by the lowest advertiser id, so its
    products' advertiser_id is stable across runs."""
    out: dict[int, Library] = {}
    for lib in sorted(libraries, key=lambda lib: lib.advertiser_id):
        out.setdefault(lib.platform_id, lib)
    return list(out.values())


@flow(
    name=FLOW_NAME,
    description="头条 DPA product libraries → DB (motion-comic album/playlet ids) → Bitable.",
    task_runner=ThreadPoolTaskRunner(max_workers=FETCH_WORKERS),
    log_prints=True,
    flow_run_name=run_name("dpa"),
)
def dpa_daily(advertisers: list[AccountId] | None = None, tenant: str = "default"):
    """Sync every authorised advertiser's product libraries.

    Args:
        advertisers: Only these advertiser ids (default: every authorised advertiser).
        tenant: Which tenant of adsync.toml's [[tenants]] to sync (its app, principals, accounts
            and bases); "default" is the single ADSYNC_* setup.
    """
    run = RunContext.today(FLOW_NAME, tenant)
    if isinstance(run, State):  # could not start: settings or tokens
        return run
    with run:
        names = run.one(list_advertisers, advertisers)
        ids = run.add_accounts(dict(sorted(names.items())))
        libraries: list[Library] = []
        for _, libs in run.fan_out(list_libraries, ids):
            libraries += libs
        rows: list[dict] = []
        for lib, fetched in run.fan_out(
            fetch_products, _unique(libraries), account=lambda lib: lib.advertiser_id
        ):
            rows += run.record(lib.advertiser_id, fetched)
        run.write(write_db, rows, run.summary)
        if run.rt.bitable_enabled:
            run.write(project_bitable, names, run.summary)
        else:
            run.summary.warnings.append(run.rt.bitable_off_warning())
    return run.state
