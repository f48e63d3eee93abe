"""OAuth2 endpoints (docs/contracts/oceanengine.md §2): auth-code exchange, refresh rotation,
authorized accounts."""

from __future__ import annotations

from typing import Any

from sandbox.oceanengine.auth import TokenPair
from sandbox.oceanengine.ctx import Ctx, Endpoint
from sandbox.oceanengine.errors import OEError


def _check_app(ctx: Ctx, *, required: bool = True) -> None:
    p = ctx.params
    if not required and not p.has("app_id") and not p.has("secret"):
        return
    app_id = p.req_int("app_id")
    secret = p.req_str("secret")
    apps = ctx.apps or {ctx.app_id: ctx.app_secret}
    if apps.get(app_id) != secret:
        raise OEError(ctx.knobs.bad_app_code, "app_id or secret is invalid")
    ctx.app_id, ctx.app_secret = app_id, secret  # the calling app (codes are bound to it)


def _grant_type(ctx: Ctx, expected: str) -> None:
    # OFF's request model omits grant_type; BUB/ZS send it. Accept absence, reject a wrong one.
    gt = ctx.params.str("grant_type")
    if gt is not None and gt != expected:
        raise ctx.bad(f"grant_type: must be {expected!r}")


def _pair(pair: TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "refresh_token_expires_in": pair.refresh_token_expires_in,
    }


def access_token(ctx: Ctx) -> dict[str, Any]:
    _check_app(ctx)
    _grant_type(ctx, "auth_code")
    pair = ctx.auth.exchange(ctx.params.req_str("auth_code"), app_id=_app(ctx))
    ids = list(pair.grant.advertiser_ids)
    out = _pair(pair)
    out["advertiser_ids"] = ids
    if ids:  # deprecated fields, still sent (ZS capture)
        out["advertiser_id"] = ids[0]
        out["advertiser_name"] = _account_name(ctx, ids[0])
    return out


def refresh_token(ctx: Ctx) -> dict[str, Any]:
    _check_app(ctx)
    _grant_type(ctx, "refresh_token")
    return _pair(ctx.auth.refresh(ctx.params.req_str("refresh_token"), app_id=_app(ctx)))


def _app(ctx: Ctx) -> int | None:
    """The app bound to codes and tokens, when the simulator serves several (else None: the
    single-app simulator keeps its behaviour exactly)."""
    return ctx.app_id if ctx.apps and len(ctx.apps) > 1 else None


def _account_name(ctx: Ctx, account_id: int) -> str:
    for row in all_accounts(ctx):
        if row["account_id"] == account_id:
            return row["account_name"]
    return ""


def all_accounts(ctx: Ctx) -> list[dict[str, Any]]:
    """Every account a consent can cover, in oauth2/advertiser/get shape."""
    d = ctx.data
    rows = [
        _row(d.cc_account_id, d.cc_account_name, "CUSTOMER_ADMIN", 2),
        # No advertiser_role number is documented for 来客 accounts; the new field says it.
        _row(d.life_account_id, d.life_account_name, "PLATFORM_ROLE_LIFE", 0),
    ]
    for a in d.aweme_accounts:
        row = _row(a.account_id, a.account_name, "PLATFORM_ROLE_AWEME", 10)
        row["account_string_id"] = a.aweme_sec_uid
        rows.append(row)
    for adv in d.dpa_advertisers:
        rows.append(_row(adv.advertiser_id, adv.name, "ADVERTISER", 1))
    for row in rows:
        row["is_valid"] = row["account_id"] not in d.invalid_account_ids
    return rows


def _row(account_id: int, name: str, account_type: str, role: int) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "account_name": name,
        "account_type": account_type,
        # Deprecated ("废弃") in OFF but still returned by the live API (ZS capture).
        "advertiser_id": account_id,
        "advertiser_name": name,
        "advertiser_role": role,
        "account_role": account_type,
        "is_valid": True,
        "company_list": [],
    }


def advertiser_get(ctx: Ctx) -> dict[str, Any]:
    _check_app(ctx, required=False)  # BUB sends app_id + secret here too; OFF does not
    assert ctx.grant is not None
    granted = set(ctx.grant.advertiser_ids)
    return {"list": [r for r in all_accounts(ctx) if r["account_id"] in granted]}


ROUTES: dict[str, Endpoint] = {
    "oauth2/access_token": Endpoint("POST", access_token, needs_token=False),
    "oauth2/refresh_token": Endpoint("POST", refresh_token, needs_token=False),
    "oauth2/advertiser/get": Endpoint("GET", advertiser_get),
}
