"""Feishu: Bitable sink (specs, schema upkeep, idempotent upsert, reconcile, per-account views)
and the custom-bot notifier. Plain Python on lark-oapi (pinned); no Prefect here."""

from integrations.feishu.auth import clear_tenant_token, make_client
from integrations.feishu.client import AmbiguousWrite, BitableApi, CallStats, Pacing
from integrations.feishu.errors import (
    FeishuApiError,
    FeishuError,
    FeishuTransportError,
    SchemaMismatch,
)
from integrations.feishu.notifier import BotNotifier, CardReport, build_card
from integrations.feishu.reconcile import ReconcileResult
from integrations.feishu.retry import RetryPolicy
from integrations.feishu.schema import TableHandle
from integrations.feishu.sink import BitableSink, SinkResult
from integrations.feishu.specs import SPECS, FieldSpec, TableSpec, table_spec
from integrations.feishu.views import ViewsResult, ensure_views

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
