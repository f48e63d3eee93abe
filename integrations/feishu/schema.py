"""Ensure a dataset's table and fields exist with the expected types (never changing a type).

Rules (ARCHITECTURE.md, "Bitable sink"):
- The table is found by name; created with all spec fields (key field first = primary) if absent.
- A spec field present with another type → SchemaMismatch naming table, field, found and
  expected type. Nothing is created or written first: all checks run before any write.
- Missing fields are created on an empty table. On a table that already holds records a missing
  field is far more often a user's *rename* than a new column, and silently creating a fresh
  empty column would split the data; so it is a SchemaMismatch unless the caller opts in
  (``add_missing_fields=True``: adopting an existing table, or a spec upgrade).
- Fields users added themselves are left alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from integrations.feishu.client import BitableApi
from integrations.feishu.errors import FeishuApiError, SchemaMismatch
from integrations.feishu.specs import FieldType, TableSpec

log = logging.getLogger(__name__)

TYPE_NAMES = {
    1: "text",
    2: "number",
    3: "single select",
    4: "multi select",
    5: "date",
    7: "checkbox",
    11: "person",
    13: "phone",
    15: "url",
    17: "attachment",
    18: "link",
    19: "lookup",
    20: "formula",
    21: "two-way link",
    22: "location",
    23: "group",
    1001: "created time",
    1002: "modified time",
    1003: "created by",
    1004: "modified by",
    1005: "auto number",
}
FIELD_NAME_DUPLICATED = 1254014


def type_name(t: int | None) -> str:
    return f"{TYPE_NAMES.get(t or 0, 'unknown')} ({t})"


@dataclass(frozen=True)
class FieldInfo:
    field_id: str
    name: str
    type: int
    is_primary: bool


@dataclass(frozen=True)
class TableHandle:
    """A resolved table: its id and, per spec field key, the Bitable field found/created."""

    spec: TableSpec
    table_id: str
    fields: dict[str, FieldInfo]  # spec field key → field
    created: bool = False  # the table was created by this call
    fields_created: tuple[str, ...] = ()

    @property
    def actual_types(self) -> dict[str, int]:
        return {k: f.type for k, f in self.fields.items()}


def _list(api: BitableApi, table_id: str) -> dict[str, FieldInfo]:
    return {
        f.field_name: FieldInfo(f.field_id, f.field_name, int(f.type or 0), bool(f.is_primary))
        for f in api.list_fields(table_id)
    }


def ensure_table(
    api: BitableApi, spec: TableSpec, *, add_missing_fields: bool = False
) -> TableHandle:
    wanted = spec.written_fields
    table = next((t for t in api.list_tables() if t.name == spec.name), None)
    if table is None:
        table_id = api.create_table(spec.name, [(f.name, int(f.type), f.property) for f in wanted])
        log.info("bitable: created table %r (%s)", spec.name, table_id)
        existing = _list(api, table_id)
        handle = TableHandle(spec, table_id, _resolve(spec, existing), created=True)
        view_id = api.last_default_view_id
        if spec.key_field is not None and view_id:  # hide the key in the default view too
            api.patch_view(
                table_id, view_id, hidden_fields=[handle.fields[spec.key_field.key].field_id]
            )
        return handle

    table_id = str(table.table_id)
    existing = _list(api, table_id)
    missing = [f for f in wanted if f.name not in existing]
    for f in wanted:
        found = existing.get(f.name)
        if found is not None and found.type not in f.accepted_types:
            raise SchemaMismatch(
                spec.name,
                f.name,
                type_name(found.type),
                type_name(int(f.type)),
                hint="change the column's type in Bitable, or map this field to another "
                f"column via bitable_tables.{spec.dataset}.fields",
            )
    if missing and not add_missing_fields and api.has_records(table_id):
        f = missing[0]
        primary = next((x for x in existing.values() if x.is_primary), None)
        candidates = sorted(
            n for n, x in existing.items() if x.type in f.accepted_types and spec.by_name(n) is None
        )
        hint = "renamed? rename it back, or map it via bitable_tables." + spec.dataset + ".fields"
        if candidates:
            hint += f" (unmapped columns of that type: {', '.join(candidates)})"
        if f is spec.key_field and primary is not None:
            hint += f"; the primary field is now {primary.name!r}"
        raise SchemaMismatch(spec.name, f.name, "missing", type_name(int(f.type)), hint=hint)

    created: list[str] = []
    for f in missing:
        try:
            api.create_field(table_id, f.name, int(f.type), f.property)
        except FeishuApiError as e:
            if e.code != FIELD_NAME_DUPLICATED:  # created meanwhile: the re-list below sees it
                raise
        created.append(f.name)
    if created:
        log.info("bitable: table %r: created fields %s", spec.name, ", ".join(created))
        existing = _list(api, table_id)
    return TableHandle(spec, table_id, _resolve(spec, existing), fields_created=tuple(created))


def _resolve(spec: TableSpec, existing: dict[str, FieldInfo]) -> dict[str, FieldInfo]:
    out: dict[str, FieldInfo] = {}
    for f in spec.written_fields:
        info = existing.get(f.name)
        if info is None:
            raise SchemaMismatch(spec.name, f.name, "missing", type_name(int(f.type)))
        out[f.key] = info
    return out


__all__ = ["FieldInfo", "FieldType", "TableHandle", "ensure_table", "type_name"]
