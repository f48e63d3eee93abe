"""Customer-center account list (docs/contracts/oceanengine.md §2.4): the 工作台's LOCAL
accounts, paged.

Only the first 10,000 rows are reachable (page × page_size ≤ 10000), as documented.
"""

from __future__ import annotations

from typing import Any

from sandbox.oceanengine.ctx import Ctx, Endpoint
from sandbox.oceanengine.errors import no_permission
from sandbox.oceanengine.params import int_list, page_info, page_slice

ACCOUNT_TYPES = ("AD", "LOCAL", "QIANCHUAN")
MAX_ROWS = 10_000


def account_list(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    account_id = p.req_int("account_id")
    flt = p.json("filter", dict, required=True)
    account_type = flt.get("account_type")
    if account_type not in ACCOUNT_TYPES:
        raise ctx.bad(f"filter.account_type: Field required, one of {', '.join(ACCOUNT_TYPES)}")
    ids = int_list(flt, "account_ids", p.bad_code)
    name = flt.get("account_name")
    if name is not None and not isinstance(name, str):
        raise ctx.bad("filter.account_name: must be a string")
    page, size = p.page(default_size=10, max_size=100)
    if page * size > MAX_ROWS:
        raise ctx.bad(f"page * page_size must be <= {MAX_ROWS} (only the first 10000 rows)")
    ctx.require_grant(account_id)
    if account_id != ctx.data.cc_account_id:
        raise no_permission(account_id)  # not a 工作台 (CUSTOMER_ADMIN/OPERATOR) account

    accounts = ctx.data.local_accounts if account_type == "LOCAL" else []
    if ids is not None:
        wanted = set(ids)
        accounts = [a for a in accounts if a.id in wanted]
    if name:
        accounts = [a for a in accounts if name in a.name]
    rows = [
        {"account_id": a.id, "account_name": a.name, "account_type": "LOCAL"}
        for a in accounts[page_slice(page, size)]
    ]
    return {"accounts": rows, "page_info": page_info(page, size, len(accounts))}


LIFE_ROLES = ("ALL", "DIRECT_ACCOUNT", "VIRTUAL_ACCOUNT")


def life_advertiser_list(ctx: Ctx) -> dict[str, Any]:
    """``v3.0/local/life/advertiser/list`` (official Go SDK api_local_life_advertiser_list_v30.go):
    the local accounts of a 来客 account. Rows carry ids and roles only, no names."""
    p = ctx.params
    life_account_id = p.req_int("life_account_id")
    if life_account_id <= 1:
        raise ctx.bad("life_account_id: must be greater than 1")
    flt = p.json("filtering", dict) or {}
    role = flt.get("local_account_role", "ALL")
    if role not in LIFE_ROLES:
        raise ctx.bad(f"filtering.local_account_role: must be one of {', '.join(LIFE_ROLES)}")
    page, size = p.page(default_size=10, max_size=100)
    ctx.require_grant(life_account_id)
    if life_account_id != ctx.data.life_account_id:
        raise no_permission(life_account_id)  # not a 来客 account
    accounts = ctx.data.local_accounts if role in ("ALL", "DIRECT_ACCOUNT") else []
    rows = [
        {
            "local_account_id": a.id,
            "local_account_role": "DIRECT_ACCOUNT",
            "account_main_copy_tag": "MAIN_ACCOUNT",
        }
        for a in accounts[page_slice(page, size)]
    ]
    return {"adv_list": rows, "page_info": page_info(page, size, len(accounts))}


ROUTES: dict[str, Endpoint] = {
    "v3.0/customer_center/account/list": Endpoint("GET", account_list),
    "v3.0/local/life/advertiser/list": Endpoint("GET", life_advertiser_list),
}
