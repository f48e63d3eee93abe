"""Adopt dry run: every mismatch of every configured table at once, and ``--apply`` for the
missing columns only (``adsync bitable plan [--apply]``).

The sink stops at the first mismatch of a table (SchemaMismatch) so that nothing is written into
a table it does not understand; a person adopting the old scripts' tables wants the whole list
first. Kinds: ``table missing`` (created on the first run), ``missing`` (no column of that name),
``renamed?`` (missing, and unmapped columns of an accepted type exist: map one via
``bitable_tables.<dataset>.fields`` instead of adding a new empty column), ``wrong type``.
``--apply`` creates exactly the columns listed as missing/renamed?; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from integrations.feishu.access import check_base
from integrations.feishu.client import BitableApi
from integrations.feishu.errors import FeishuApiError
from integrations.feishu.schema import FIELD_NAME_DUPLICATED, type_name
from integrations.feishu.specs import FieldSpec, TableSpec


@dataclass(frozen=True)
class Mismatch:
    dataset: str
    table: str
    field: str  # "" for a whole table
    kind: str  # table missing | missing | renamed? | wrong type
    detail: str
    table_id: str = ""
    spec_field: FieldSpec | None = None

    def line(self) -> str:
        where = f"{self.table}: {self.field}" if self.field else self.table
        return f"{where}: {self.kind} — {self.detail}"

    @property
    def creatable(self) -> bool:
        return self.kind in ("missing", "renamed?")


def _tables_of(spec: TableSpec, names: dict[str, str]) -> list[tuple[str, str]]:
    """(name, table_id) of the spec's table, or of its period tables when rotated."""
    if spec.rotate == "none":
        return [(spec.name, names[spec.name])] if spec.name in names else []
    prefix = spec.name + " "
    return sorted((n, t) for n, t in names.items() if n.startswith(prefix))


def plan(api: BitableApi, specs: list[TableSpec]) -> list[Mismatch]:
    check_base(api)  # rights and time zone first: an advanced base hides what we would compare
    names = {str(t.name): str(t.table_id) for t in api.list_tables()}
    out: list[Mismatch] = []
    for spec in specs:
        found = _tables_of(spec, names)
        if not found:
            what = f"{spec.name} <period>" if spec.rotate != "none" else spec.name
            out.append(Mismatch(spec.dataset, what, "", "table missing", "created on first run"))
            continue
        for tname, tid in found:
            existing = {str(f.field_name): int(f.type or 0) for f in api.list_fields(tid)}
            for f in spec.written_fields:
                t = existing.get(f.name)
                if t is None:
                    cands = sorted(
                        n
                        for n, ty in existing.items()
                        if ty in f.accepted_types and spec.by_name(n) is None
                    )
                    kind = "renamed?" if cands else "missing"
                    detail = f"no column {f.name!r} ({type_name(int(f.type))})"
                    if cands:
                        detail += (
                            f"; unmapped columns of that type: {', '.join(cands)} — map one via "
                            f"bitable_tables.{spec.dataset}.fields, or --apply adds it empty"
                        )
                    out.append(Mismatch(spec.dataset, tname, f.name, kind, detail, tid, f))
                elif t not in f.accepted_types:
                    detail = f"found {type_name(t)}, expected {type_name(int(f.type))}"
                    out.append(Mismatch(spec.dataset, tname, f.name, "wrong type", detail, tid, f))
    return out


def apply(api: BitableApi, mismatches: list[Mismatch]) -> list[Mismatch]:
    """Create the missing columns; returns the mismatches created."""
    done = []
    for m in mismatches:
        if not m.creatable or m.spec_field is None:
            continue
        f = m.spec_field
        try:
            api.create_field(m.table_id, f.name, int(f.type), f.property)
        except FeishuApiError as e:
            if e.code != FIELD_NAME_DUPLICATED:
                raise
        done.append(m)
    return done
