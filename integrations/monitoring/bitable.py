"""Read-only duplicate business-key scan of the Bitable tables the sync writes.

Uses lark-oapi's record search (the recommended read) and nothing that writes: healing belongs to
the sink's reconcile, the monitor only reports. Which tables, and which field(s) hold the key, come
from the sink's table specs (configured names, ``key_from`` for adopted tables); without them the
base's tables are scanned on their primary field. A dataset's rotated period tables
(``本地推单元日报 2026-11``, ``… 2026-W48``, ``… 2026-11-22``) are scanned with its base table,
whatever ``rotate`` says now: tables left by an earlier policy can hold duplicates or fill up too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from integrations.feishu.capacity import period_of
from integrations.settings import ConfigError, Settings, require

PAGE_SIZE = 500  # search's maximum
KEY_SEPARATOR = "|"


class BitableReadError(RuntimeError):
    """A Feishu call returned code != 0 (message names the call, code and msg)."""


@dataclass(frozen=True)
class TableTarget:
    dataset: str  # dataset name, or the table name when scanning without specs
    table_name: str
    key_fields: tuple[str, ...]  # one field (the key) or several (derived key, joined with "|")


@dataclass(frozen=True)
class DuplicateKeys:
    dataset: str
    table_name: str
    table_id: str
    duplicates: dict[str, int]  # business key → number of records holding it (≥2)
    records: int

    @property
    def extra_records(self) -> int:
        return sum(n - 1 for n in self.duplicates.values())


def make_lark_client(settings: Settings) -> Any:
    try:
        from integrations.feishu.auth import make_client  # the sink's factory, when present
    except ImportError:
        make_client = None
    if make_client is not None:
        return make_client(settings)
    import lark_oapi as lark

    require(settings, "feishu_app_id", "feishu_app_secret")
    assert settings.feishu_app_secret is not None
    return (
        lark.Client.builder()
        .app_id(settings.feishu_app_id)
        .app_secret(settings.feishu_app_secret.get_secret_value())
        .domain(settings.feishu_base_url.rstrip("/"))
        .timeout(15)
        .log_level(lark.LogLevel.WARNING)
        .build()
    )


def targets_from_specs(settings: Settings) -> list[TableTarget] | None:
    """Tables and key fields as the sink writes them; None when the specs module is absent."""
    try:
        from integrations.feishu.specs import SPECS, table_spec
    except ImportError:
        return None
    out = []
    for dataset in SPECS:
        spec = table_spec(dataset, settings)
        if spec.key_field is not None:
            keys: tuple[str, ...] = (spec.key_field.name,)
        else:
            keys = tuple(f.name for f in spec.key_parts())
        out.append(TableTarget(dataset, spec.name, keys))
    return out


def tables_of(name: str, tables: dict[str, str]) -> list[tuple[str, str]]:
    """(name, table_id) of ``name`` and of its period tables ``<name> <period>``, by name."""
    return [(t, tid) for t, tid in sorted(tables.items()) if t == name or period_of(name, t)]


def _check(resp: Any, call: str) -> Any:
    if not resp.success():
        raise BitableReadError(f"{call}: Feishu code {resp.code} {resp.msg}")
    return resp.data


def list_tables(client: Any, app_token: str) -> dict[str, str]:
    """Table name → table_id."""
    from lark_oapi.api.bitable.v1 import ListAppTableRequest

    out: dict[str, str] = {}
    token: str | None = None
    while True:
        b = ListAppTableRequest.builder().app_token(app_token).page_size(100)
        if token:
            b = b.page_token(token)
        data = _check(client.bitable.v1.app_table.list(b.build()), "list tables")
        for t in data.items or []:
            out[t.name] = t.table_id
        if not data.has_more:
            return out
        token = data.page_token


def primary_field(client: Any, app_token: str, table_id: str) -> str:
    from lark_oapi.api.bitable.v1 import ListAppTableFieldRequest

    req = (
        ListAppTableFieldRequest.builder().app_token(app_token).table_id(table_id).page_size(100)
    ).build()
    data = _check(client.bitable.v1.app_table_field.list(req), "list fields")
    for f in data.items or []:
        if f.is_primary:
            return f.field_name
    return (data.items or [])[0].field_name


def cell_text(value: Any) -> str:
    """A cell in read shape as text: text segments joined; numbers/dates as their str."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "".join(str(v.get("text", "")) if isinstance(v, dict) else str(v) for v in value)
    if isinstance(value, dict):
        return str(value.get("text", value.get("value", "")))
    return str(value)


def key_counts(
    client: Any, app_token: str, table_id: str, key_fields: tuple[str, ...]
) -> tuple[Counter[str], int]:
    """Business key → occurrences over the whole table (records with an empty key are skipped)."""
    from lark_oapi.api.bitable.v1 import (
        SearchAppTableRecordRequest,
        SearchAppTableRecordRequestBody,
    )

    counts: Counter[str] = Counter()
    records = 0
    token: str | None = None
    while True:
        b = (
            SearchAppTableRecordRequest.builder()
            .app_token(app_token)
            .table_id(table_id)
            .page_size(PAGE_SIZE)
            .request_body(
                SearchAppTableRecordRequestBody.builder()
                .field_names(list(key_fields))
                .automatic_fields(False)
                .build()
            )
        )
        if token:
            b = b.page_token(token)
        data = _check(client.bitable.v1.app_table_record.search(b.build()), "search records")
        for item in data.items or []:
            records += 1
            fields = item.fields or {}
            key = KEY_SEPARATOR.join(cell_text(fields.get(f)) for f in key_fields)
            if key.strip(KEY_SEPARATOR):
                counts[key] += 1
        if not data.has_more:
            return counts, records
        token = data.page_token


def scan_duplicates(settings: Settings, client: Any | None = None) -> list[DuplicateKeys]:
    """Every synced table that exists in the base, with its duplicate keys (empty when clean)."""
    if not settings.feishu_app_token:
        raise ConfigError("ADSYNC_FEISHU_APP_TOKEN: required but not set")
    client = client or make_lark_client(settings)
    app_token = settings.feishu_app_token
    tables = list_tables(client, app_token)
    targets = targets_from_specs(settings)
    if targets is None:
        targets = [
            TableTarget(name, name, (primary_field(client, app_token, tid),))
            for name, tid in tables.items()
        ]
    out = []
    for t in targets:
        # None found: the dataset is not synced to Bitable here.
        for name, table_id in tables_of(t.table_name, tables):
            counts, records = key_counts(client, app_token, table_id, t.key_fields)
            dups = {k: n for k, n in sorted(counts.items()) if n > 1}
            out.append(DuplicateKeys(t.dataset, name, table_id, dups, records))
    return out
