"""Feishu: Bitable sink (specs, schema upkeep, idempotent upsert, reconcile, per-account views)
and the custom-bot notifier. Plain Python on lark-oapi (pinned); no Prefect here."""

import importlib
import threading
from typing import Any

_LAZY = {
    "AmbiguousWrite": "integrations.feishu.client",
    "BitableApi": "integrations.feishu.client",
    "BitableSink": "integrations.feishu.sink",
    "BotNotifier": "integrations.feishu.notifier",
    "CallStats": "integrations.feishu.client",
    "CardReport": "integrations.feishu.notifier",
    "FeishuApiError": "integrations.feishu.errors",
    "FeishuError": "integrations.feishu.errors",
    "FeishuTransportError": "integrations.feishu.errors",
    "FieldSpec": "integrations.feishu.specs",
    "Pacing": "integrations.feishu.client",
    "ReconcileResult": "integrations.feishu.reconcile",
    "RetryPolicy": "integrations.retry",
    "SPECS": "integrations.feishu.specs",
    "SchemaMismatch": "integrations.feishu.errors",
    "SinkResult": "integrations.feishu.sink",
    "TableHandle": "integrations.feishu.schema",
    "TableSpec": "integrations.feishu.specs",
    "ViewsResult": "integrations.feishu.views",
    "build_card": "integrations.feishu.notifier",
    "clear_tenant_token": "integrations.feishu.auth",
    "ensure_views": "integrations.feishu.views",
    "make_client": "integrations.feishu.auth",
    "table_spec": "integrations.feishu.specs",
}


def __getattr__(name: str) -> Any:
    # Resolved on first use: importing lark-oapi (every product API of the SDK) costs seconds,
    # and `from integrations.feishu.specs import …` in the flow start-up path needs none of it.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AmbiguousWrite",
    "BitableApi",
    "BitableSink",
    "BotNotifier",
    "CallStats",
    "CardReport",
    "FeishuApiError",
    "FeishuError",
    "FeishuTransportError",
    "FieldSpec",
    "Pacing",
    "ReconcileResult",
    "RetryPolicy",
    "SPECS",
    "SchemaMismatch",
    "SinkResult",
    "TableHandle",
    "TableSpec",
    "ViewsResult",
    "build_card",
    "clear_tenant_token",
    "ensure_views",
    "make_client",
    "table_spec",
]


_preload_lock = threading.Lock()
_preloaded = False


def preload() -> None:
    """Import the Bitable sink (and lark-oapi) on a background thread, once per process.

    A flow calls it when its fetch starts: the import costs 5 s on an idle CPU, and paid on the
    write lane's first step it delayed every Bitable write of a run by that much
    (bench/RESULTS.md). The lane's own import then waits for this one (Python's per-module
    import lock) instead of starting over.
    """
    global _preloaded
    with _preload_lock:
        if _preloaded:
            return
        _preloaded = True
    threading.Thread(
        target=importlib.import_module,
        args=("integrations.feishu.sink",),
        name="preload-feishu",
        daemon=True,
    ).start()
