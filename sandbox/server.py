"""Run the simulators (Ocean Engine + Feishu + the supplier) on loopback, in-process: the Python API that the
tests, the demo and ``adsync sandbox serve`` share.

    with Sandbox(profile="fast") as sb:
        os.environ.update(sb.env())     # point the product at the sandbox
        code = sb.oe.issue_auth_code()  # consent for every account
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.oceanengine.app import OceanEngineSim
from sandbox.oceanengine.data import SandboxData
from sandbox.oceanengine.knobs import OceanEngineKnobs
from sandbox.runner import ServedApp, serve_in_thread
from sandbox.supplier.app import SupplierSim
from sandbox.supplier.data import SupplierData
from sandbox.supplier.knobs import SupplierKnobs

COUNTERS_PATH = "/_sandbox/counters/all"


def _feishu_module() -> Any | None:
    """The Feishu simulator is written in parallel; the Sandbox works without it."""
    try:
        return importlib.import_module("sandbox.feishu.app")
    except ImportError:
        return None


class Sandbox:
    """The simulators served on ``127.0.0.1``, each on its own port (0 = any free port).
    Context manager."""

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        profile: str = "fast",
        seed: int = 42,
        oceanengine_port: int = 0,
        feishu_port: int = 0,
        supplier_port: int = 0,
        supplier_products: int = 40,
        **data_kwargs: Any,
    ) -> None:
        self.profile = profile
        self.seed = seed
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._ports = (oceanengine_port, feishu_port, supplier_port)
        self.data = SandboxData.generate(seed=seed, **data_kwargs)
        self.oe = OceanEngineSim(self.data, OceanEngineKnobs.for_profile(profile))
        self.supplier = SupplierSim(
            SupplierData.generate(seed=seed, n_products=supplier_products),
            SupplierKnobs.for_profile(profile),
        )
        self.fs: Any | None = None
        mod = _feishu_module()
        if mod is not None:
            self.fs = mod.FeishuSim(
                self.state_dir, knobs=mod.FeishuKnobs.for_profile(profile), seed=seed
            )
        # One URL that shows both simulators' counters (served by the OE app).
        self.oe.app.router.routes.insert(
            0, Route(COUNTERS_PATH, self._all_counters, methods=["GET"])
        )
        self._oe_served: ServedApp | None = None
        self._fs_served: ServedApp | None = None
        self._supplier_served: ServedApp | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self._oe_served is None:
            self._oe_served = serve_in_thread(self.oe.app, port=self._ports[0])
        try:
            if self.fs is not None and self._fs_served is None:
                self._fs_served = serve_in_thread(self.fs.app, port=self._ports[1])
            if self._supplier_served is None:
                self._supplier_served = serve_in_thread(self.supplier.app, port=self._ports[2])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for served in (self._supplier_served, self._fs_served, self._oe_served):
            if served is not None:
                served.stop()
        self._oe_served = self._fs_served = self._supplier_served = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------
    @property
    def oceanengine_url(self) -> str:
        if self._oe_served is None:
            raise RuntimeError("sandbox not started")
        return self._oe_served.url

    @property
    def feishu_url(self) -> str:
        if self._fs_served is None:
            raise RuntimeError("Feishu simulator not started (sandbox.feishu.app)")
        return self._fs_served.url

    @property
    def supplier_url(self) -> str:
        if self._supplier_served is None:
            raise RuntimeError("sandbox not started")
        return self._supplier_served.url

    @property
    def counters_url(self) -> str:
        return self.oceanengine_url + COUNTERS_PATH

    @property
    def page_url(self) -> str | None:
        if self.fs is None or self._fs_served is None:
            return None
        return self.feishu_url + str(getattr(self.fs, "page_path", "/"))

    @property
    def feishu_webhook_url(self) -> str | None:
        if self.fs is None or self._fs_served is None:
            return None
        return self.feishu_url + str(self.fs.webhook_url_path)

    # -- what the product needs -----------------------------------------------------------------
    def credentials(self) -> dict[str, Any]:
        """Sandbox credentials (fake, loopback-only), with one fresh unused auth code."""
        creds: dict[str, Any] = {
            "oceanengine": {
                "app_id": self.oe.app_id,
                "app_secret": self.oe.app_secret,
                "auth_code": self.oe.issue_auth_code(),
                "cc_account_id": self.data.cc_account_id,
            }
        }
        creds["supplier"] = {
            "client_id": self.supplier.client_id,
            "client_secret": self.supplier.client_secret,
            "customer_code": self.supplier.customer_code,
            "send_to_code": self.supplier.send_to_code,
            "supplier_code": self.supplier.supplier_code,
        }
        if self.fs is not None:
            creds["feishu"] = {
                "app_id": self.fs.app_id,
                "app_secret": self.fs.app_secret,
                "app_token": self.fs.app_token,
                "webhook_url": self.feishu_webhook_url,
                "webhook_secret": self.fs.webhook_secret,
            }
        return creds

    def env(self) -> dict[str, str]:
        """``ADSYNC_*`` variables pointing every part of the product at this sandbox."""
        env = {
            "ADSYNC_OCEANENGINE_BASE_URL": self.oceanengine_url,
            "ADSYNC_OCEANENGINE_APP_ID": str(self.oe.app_id),
            "ADSYNC_OCEANENGINE_APP_SECRET": self.oe.app_secret,
            "ADSYNC_OCEANENGINE_CC_ACCOUNT_ID": str(self.data.cc_account_id),
        }
        if self._supplier_served is not None:
            env.update(
                {
                    "ADSYNC_SUPPLIER_BASE_URL": self.supplier_url,
                    "ADSYNC_SUPPLIER_CLIENT_ID": self.supplier.client_id,
                    "ADSYNC_SUPPLIER_CLIENT_SECRET": self.supplier.client_secret,
                    "ADSYNC_SUPPLIER_CUSTOMER_CODE": self.supplier.customer_code,
                    "ADSYNC_SUPPLIER_SEND_TO_CODE": self.supplier.send_to_code,
                    "ADSYNC_SUPPLIER_CODE": self.supplier.supplier_code,
                }
            )
        if self.fs is not None and self._fs_served is not None:
            env.update(
                {
                    "ADSYNC_FEISHU_BASE_URL": self.feishu_url,
                    "ADSYNC_FEISHU_APP_ID": str(self.fs.app_id),
                    "ADSYNC_FEISHU_APP_SECRET": str(self.fs.app_secret),
                    "ADSYNC_FEISHU_APP_TOKEN": str(self.fs.app_token),
                    "ADSYNC_FEISHU_WEBHOOK_URL": str(self.feishu_webhook_url),
                    "ADSYNC_FEISHU_WEBHOOK_SECRET": str(self.fs.webhook_secret),
                    # The sandbox serves /base/{app_token} like Feishu's web app (its page).
                    "ADSYNC_FEISHU_WEB_URL": self.feishu_url,
                }
            )
        return env

    def counters(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "oceanengine": self.oe.counters_snapshot(),
            "supplier": self.supplier.counters_snapshot(),
        }
        if self.fs is not None:
            snap = getattr(self.fs, "counters_snapshot", None)
            out["feishu"] = snap() if callable(snap) else None
        return out

    def reset_counters(self) -> None:
        self.oe.reset_counters()
        self.supplier.reset_counters()
        reset = getattr(self.fs, "reset_counters", None)
        if callable(reset):
            reset()

    async def _all_counters(self, request: Request) -> JSONResponse:
        return JSONResponse(self.counters())
