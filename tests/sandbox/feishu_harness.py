"""Run a Feishu simulator in-process and build a real lark-oapi client for it (test helper)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lark_oapi as lark
from lark_oapi.core.token.manager import TokenManager

from sandbox.feishu.app import FeishuSim
from sandbox.feishu.knobs import FeishuKnobs
from sandbox.runner import ServedApp, serve_in_thread


def unique_app_id() -> str:
    """lark-oapi caches tenant tokens process-wide per app_id (``TokenManager.cache``, a class
    attribute), so every simulator in one process needs its own app_id."""
    return f"cli_sbx{uuid.uuid4().hex[:13]}"


def forget_tenant_token(app_id: str) -> None:
    """Drop lark-oapi's cached tenant token for ``app_id`` (it never does so on 99991663)."""
    TokenManager.cache.set(f"self_tenant_token:{app_id}", "", 0)


def lark_client(sim: FeishuSim, url: str, *, timeout: float = 10.0) -> lark.Client:
    return (
        lark.Client.builder()
        .app_id(sim.app_id)
        .app_secret(sim.app_secret)
        .domain(url)
        .timeout(timeout)
        .log_level(lark.LogLevel.ERROR)
        .build()
    )


@contextmanager
def serve_feishu(
    state_dir: Path | None = None, knobs: FeishuKnobs | None = None, **kwargs: Any
) -> Iterator[tuple[FeishuSim, ServedApp]]:
    """Start a simulator on a free loopback port (unique app_id unless given); stop it after."""
    kwargs.setdefault("app_id", unique_app_id())
    sim = FeishuSim(state_dir, knobs or FeishuKnobs.for_profile("fast"), **kwargs)
    served = serve_in_thread(sim.app)
    try:
        yield sim, served
    finally:
        served.stop()
