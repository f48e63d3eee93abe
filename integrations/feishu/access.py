"""Before the first write to a base in a run: can this app really see and manage it?

A base with **advanced permissions** (高级权限) where the app lacks manage rights answers
``records.search`` with success and *no records* (docs/contracts/feishu.md §3 R1): an empty scan
would then look like an empty table, and the sink would create every row again. So, once per
run and base: read the base (``bitable.v1.app.get``); when it is advanced, ask for its roles —
only a manager may list them, and 1254302 (RolePermNotAllow) / 1254304 (PermNotAllow) mean the
app cannot manage it. That base's writes stop with one error telling the user what to fix.

The base's ``time_zone`` comes with the same read: ``ExactDate`` filters truncate to midnight in
it, and dates are written as 00:00 Asia/Shanghai, so another zone is a clear error too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from integrations.feishu.client import BitableApi
from integrations.feishu.errors import FeishuApiError, FeishuError

log = logging.getLogger(__name__)

NO_MANAGE_RIGHTS = frozenset({1254302, 1254304})
EXPECTED_TIME_ZONE = "Asia/Shanghai"


class BaseAccessDenied(FeishuError):
    """The app cannot manage an advanced-permission base: nothing is written to it."""

    def __init__(self, app_token: str, code: int) -> None:
        self.app_token, self.code = app_token, code
        super().__init__(
            f"Bitable base {_short(app_token)}: advanced permissions are on and the app cannot "
            f"manage the base ({code}); records may be hidden from it, so nothing was written. "
            "Add the app to the base as a collaborator with manage rights (可管理), "
            "via the base's '…' menu → 添加文档应用"
        )


class BaseTimeZoneMismatch(FeishuError):
    def __init__(self, app_token: str, tz: str) -> None:
        super().__init__(
            f"Bitable base {_short(app_token)}: time zone is {tz!r}, but adsync writes China "
            f"dates ({EXPECTED_TIME_ZONE}); set the base's time zone to {EXPECTED_TIME_ZONE} "
            "(base settings) — nothing was written"
        )


def _short(app_token: str) -> str:
    # The app_token is not a secret, but keep messages short and stable.
    return app_token[:8] + "…" if len(app_token) > 10 else app_token


@dataclass(frozen=True)
class BaseInfo:
    app_token: str
    is_advanced: bool
    time_zone: str
    revision: int


def check_base(api: BitableApi) -> BaseInfo:
    """Read the base once; raise BaseAccessDenied / BaseTimeZoneMismatch (no writes made)."""
    app = api.get_app()
    info = BaseInfo(
        api.app_token,
        bool(app.is_advanced),
        str(app.time_zone or EXPECTED_TIME_ZONE),
        int(app.revision or 0),
    )
    if info.is_advanced:
        try:
            api.probe_roles()
        except FeishuApiError as e:
            if e.code in NO_MANAGE_RIGHTS:
                raise BaseAccessDenied(api.app_token, e.code) from None
            raise
    if info.time_zone != EXPECTED_TIME_ZONE:
        raise BaseTimeZoneMismatch(api.app_token, info.time_zone)
    return info
