"""DPA product-library endpoints (docs/contracts/oceanengine.md §5): the advertiser's libraries
and their products.

``profession`` is a map of strings (OFF ``map[string]string``); the motion-comic advertisers'
products carry ``album_id`` and ``album_link`` (a few links are malformed on purpose).
"""

from __future__ import annotations

from typing import Any

from sandbox.oceanengine import hostile as hostile
from sandbox.oceanengine.ctx import Ctx, Endpoint
from sandbox.oceanengine.data import DpaAdvertiser
from sandbox.oceanengine.errors import no_permission
from sandbox.oceanengine.params import as_int, page_info, page_slice

# Enum strings of the community SDK (bububa/oceanengine enum/product_status.go,
# enum/product_audit_status.go) for the ``dpa_status_strings`` knob. Audit numbers: assumed.
STATUS_NAMES = {0: "STATUS_OFFLINE", 1: "STATUS_ONLINE"}
AUDIT_STATUS_NAMES = {1: "AUDIT_STATUS_APPROVE", 2: "AUDIT_STATUS_INIT", -1: "AUDIT_STATUS_REJECT"}
_OPTIONAL = ("description", "titles", "image_urls", "price_info", "landing_info", "spu_id")
_OPTIONAL_PROFESSION = ("album_link", "micro_app_link", "chapter", "starting_unlock_episode")


def _advertiser(ctx: Ctx, advertiser_id: int) -> DpaAdvertiser:
    ctx.require_grant(advertiser_id)
    adv = ctx.data.dpa_advertiser(advertiser_id)
    if adv is None:  # an authorised account that is not a DPA advertiser
        raise no_permission(advertiser_id)
    return adv


def product_availables(ctx: Ctx) -> dict[str, Any]:
    adv = _advertiser(ctx, ctx.params.req_int("advertiser_id"))
    return {
        "list": [
            {
                "platform_id": pl.platform_id,
                "name": pl.name,
                "account_id": adv.advertiser_id,
                "account_type": "AD",  # official enum: AD | EBP | STAR
                "product_industry": pl.product_industry,
            }
            for pl in adv.platforms
        ]
    }


def detail_get(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    advertiser_id = p.req_int("advertiser_id")
    platform_id = p.req_int("product_platform_id")
    flt = p.json("filtering", dict) or {}
    page, size = p.page(default_size=20, max_size=100)
    name = flt.get("product_name")
    if name is not None and (not isinstance(name, str) or len(name) > 50):
        raise ctx.bad("filtering.product_name: a string of at most 50 characters")
    product_id = flt.get("product_id")
    if product_id is not None and as_int(product_id) is None:
        raise ctx.bad("filtering.product_id: must be an int64")
    for key in ("status", "audit_status"):
        if key in flt and flt[key] not in ((0, 1) if key == "status" else (-1, 1, 2)):
            raise ctx.bad(f"filtering.{key}: invalid value {flt[key]!r}")
    adv = _advertiser(ctx, advertiser_id)
    if all(pl.platform_id != platform_id for pl in adv.platforms):
        raise ctx.bad(f"product_platform_id: {platform_id} is not a library of this advertiser")

    products = ctx.data.dpa_products(platform_id)
    if product_id is not None:  # exact id wins over the name (OFF)
        products = [x for x in products if x["product_id"] == as_int(product_id)]
    elif name:
        products = [x for x in products if name in x["name"]]
    for key in ("status", "audit_status"):
        if key in flt:
            products = [x for x in products if x[key] == flt[key]]
    rows = [_shape(ctx, x) for x in products[page_slice(page, size)]]
    return {"list": rows, "page_info": page_info(page, size, len(products))}


def _shape(ctx: Ctx, product: dict[str, Any]) -> dict[str, Any]:
    row = dict(product)
    row["profession"] = dict(product["profession"])
    if ctx.knobs.dpa_status_strings:
        row["status"] = STATUS_NAMES[row["status"]]
        row["audit_status"] = AUDIT_STATUS_NAMES[row["audit_status"]]
    hostile.drop_optional(ctx, row, _OPTIONAL, product["product_id"])
    hostile.drop_optional(ctx, row["profession"], _OPTIONAL_PROFESSION, product["product_id"])
    hostile.forced_values(ctx, row, product["product_id"])
    return row


ROUTES: dict[str, Endpoint] = {
    "2/dpa/product/availables": Endpoint("GET", product_availables),
    "2/dpa/detail/get": Endpoint("GET", detail_get),
}
