"""Bitable table specs, derived from the dataset declarations (names configurable per deployment).

Each dataset states its Bitable table once (``Dataset.bitable`` in
``integrations/sources/<vendor>/datasets.py``); :func:`spec_of` turns it into a :class:`TableSpec`.

A spec says which Bitable fields a dataset's table has, their types and display formats, which DB
column feeds each field, and how the business key is built. The first field is the business key
(primary, text), e.g. ``2026-11-22|1854347260793866|7450…`` — date first, then ids, joined by "|".

Users adopting an existing table (docs/contracts/existing-setup.md) rename fields through
``settings.bitable_tables[dataset].fields`` (ours → theirs; "ours" is the field key or its default
Chinese name) and, when their table has no key field, set ``key_from`` to derive the key from
existing fields (e.g. ``["时间", "单元ID"]``). ``TableSpec.configured`` applies that config.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from integrations.datasets import Dataset, ValueKind
from integrations.settings import BitableTableConfig, Settings
from integrations.sources.registry import all_datasets

KEY_SEPARATOR = "|"


class FieldType(IntEnum):
    """Bitable field ``type`` numbers we use (docs/contracts/feishu.md §3)."""

    TEXT = 1
    NUMBER = 2
    DATE = 5


# Bitable type each kind is stored as.
KIND_TYPE: dict[ValueKind, FieldType] = {
    ValueKind.TEXT: FieldType.TEXT,
    ValueKind.ID: FieldType.TEXT,
    ValueKind.INT: FieldType.NUMBER,
    ValueKind.MONEY: FieldType.NUMBER,
    ValueKind.RATIO: FieldType.NUMBER,
    ValueKind.DATE: FieldType.DATE,
    ValueKind.DATETIME: FieldType.DATE,
}

MONEY_FORMAT = "0.00"
COUNT_FORMAT = "0"
DATE_FORMAT = "yyyy/MM/dd"  # the documented enum has no "yyyy-MM-dd"
DATETIME_FORMAT = "yyyy-MM-dd HH:mm"


@dataclass(frozen=True)
class FieldSpec:
    key: str  # stable identifier (also the config key), e.g. "cost"
    default_name: str  # Chinese default, e.g. "消耗(元)"
    kind: ValueKind
    column: str | None = None  # DB column feeding it (None: the business key field)
    property: dict[str, Any] | None = None  # formatter / date_formatter
    name: str = ""  # effective Bitable name (default_name unless configured)
    # Text fields only: raw DB value → Chinese label shown in Bitable (integrations/feishu/labels.py)
    labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.default_name)
        if self.labels and self.kind is not ValueKind.TEXT:
            raise ValueError(f"{self.key}: labels need a text field, not {self.kind}")

    @builtins.property
    def type(self) -> FieldType:
        return KIND_TYPE[self.kind]

    @builtins.property
    def accepted_types(self) -> frozenset[int]:
        """Types an existing field may have. Dates and numbers also accept text: the old
        scripts' tables hold every column as text (cost included); we write the canonical string
        there (``YYYY-MM-DD``, ``12.5``) and read the text segments back, never converting."""
        if self.type in (FieldType.DATE, FieldType.NUMBER):
            return frozenset({self.type, FieldType.TEXT})
        return frozenset({self.type})


KEY_FIELD = "business_key"


@dataclass(frozen=True)
class TableSpec:
    dataset: str
    default_name: str
    fields: tuple[FieldSpec, ...]  # fields[0] is the business-key field (primary, text)
    key_columns: tuple[str, ...]  # DB columns joined (canonical form) into the business key
    account_id_field: str | None = None  # field key of the account-id text field (views)
    account_name_field: str | None = None
    date_field: str | None = None  # field key used to scope reconcile to a window
    name: str = ""  # effective table name
    key_from: tuple[str, ...] | None = None  # Bitable names deriving the key (adopted tables)
    rotate: str = "none"  # none | month | week | day (capacity.py)
    retention_days: int | None = None  # rows older than this are deleted from Bitable only
    period: str | None = None  # set on a period table's spec ("2026-11"); name includes it

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.default_name)
        if self.fields[0].key != KEY_FIELD or self.fields[0].kind != ValueKind.TEXT:
            raise ValueError(f"{self.dataset}: the first field must be the text business key")

    # -- lookups -------------------------------------------------------------------------------
    def field(self, key: str) -> FieldSpec:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(f"{self.dataset}: no field {key!r}")

    def by_name(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def key_field(self) -> FieldSpec | None:
        """The Bitable field holding the business key; None when derived (``key_from``)."""
        return None if self.key_from else self.fields[0]

    @property
    def data_fields(self) -> tuple[FieldSpec, ...]:
        return self.fields[1:]

    @property
    def written_fields(self) -> tuple[FieldSpec, ...]:
        """Fields this sink writes (and requires) in Bitable, key field first when present."""
        return self.fields if self.key_field else self.data_fields

    def key_parts(self) -> tuple[FieldSpec, ...]:
        """Adopted tables: the fields (in ``key_from`` order) whose values form the key."""
        assert self.key_from is not None
        out = []
        for n in self.key_from:
            f = self.by_name(n)
            if f is None:
                raise ValueError(
                    f"bitable_tables.{self.dataset}.key_from: {n!r} is not one of this table's "
                    f"fields ({', '.join(x.name for x in self.data_fields)})"
                )
            out.append(f)
        return tuple(out)

    # -- configuration -------------------------------------------------------------------------
    def configured(self, cfg: BitableTableConfig | None) -> TableSpec:
        """This spec with the deployment's table name, field names and key derivation applied."""
        if cfg is None:
            return self
        mapping = dict(cfg.fields)
        known = {f.key for f in self.fields} | {f.default_name for f in self.fields}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(
                f"bitable_tables.{self.dataset}.fields: unknown field(s) {', '.join(unknown)}"
            )
        fields = tuple(
            replace(f, name=mapping.get(f.key) or mapping.get(f.default_name) or f.default_name)
            for f in self.fields
        )
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError(f"bitable_tables.{self.dataset}.fields: two fields share a name")
        spec = replace(
            self,
            fields=fields,
            name=cfg.name or self.default_name,
            key_from=tuple(cfg.key_from) if cfg.key_from else None,
            rotate=cfg.rotate,
            retention_days=cfg.retention_days,
        )
        if (spec.rotate != "none" or spec.retention_days) and spec.date_field is None:
            raise ValueError(
                f"bitable_tables.{self.dataset}: rotate/retention_days need a dated dataset; "
                f"{self.dataset} has no date field"
            )
        if spec.key_from:
            spec.key_parts()  # validate now: a typo must not surface mid-sync
        return spec


def _f(key: str, name: str, kind: ValueKind, column: str | None = None) -> FieldSpec:
    prop: dict[str, Any] | None = None
    if kind in (ValueKind.MONEY,):
        prop = {"formatter": MONEY_FORMAT}
    elif kind == ValueKind.INT:
        prop = {"formatter": COUNT_FORMAT}
    elif kind == ValueKind.RATIO:
        prop = {"formatter": "0.0000"}
    elif kind == ValueKind.DATE:
        prop = {"date_formatter": DATE_FORMAT}
    elif kind == ValueKind.DATETIME:
        prop = {"date_formatter": DATETIME_FORMAT}
    return FieldSpec(key=key, default_name=name, kind=kind, column=column or key, property=prop)


_KEY = FieldSpec(key=KEY_FIELD, default_name="业务键", kind=ValueKind.TEXT, column=None)


def spec_of(dataset: Dataset) -> TableSpec:
    """The Bitable spec of a dataset declaration (default names; see ``Dataset.bitable``)."""
    b = dataset.bitable
    if b is None:
        raise KeyError(f"dataset {dataset.name!r} has no Bitable table")
    fields = [_KEY]
    for f in b.fields:
        kind = f.kind or dataset.column(f.key).type.kind
        assert kind is not None  # Dataset checks every field has a kind
        fields.append(replace(_f(f.key, f.name, kind), labels=f.labels))
    return TableSpec(
        dataset=dataset.name,
        default_name=b.table_name,
        fields=tuple(fields),
        key_columns=b.key or dataset.key,
        account_id_field=dataset.account_column,
        account_name_field=b.account_name_field,
        date_field=dataset.date_column,
    )


# Every projected dataset's spec, registry order (the feishu/reconcile CLIs and monitor list it).
SPECS: dict[str, TableSpec] = {d.name: spec_of(d) for d in all_datasets() if d.bitable}

# Module attributes for importers (tests, benchmarks).
LOCAL_PROMOTION_DAILY = SPECS["local_promotion_daily"]
LOCAL_ACCOUNT_DAILY = SPECS["local_account_daily"]
DOUPLUS_ORDERS = SPECS["douplus_orders"]
DOUPLUS_VIDEO_DAILY = SPECS["douplus_video_daily"]
DPA_PRODUCTS = SPECS["dpa_products"]


def table_spec(dataset: str, settings: Settings | None = None) -> TableSpec:
    """The spec for ``dataset`` with ``settings.bitable_tables[dataset]`` applied."""
    try:
        spec = SPECS[dataset]
    except KeyError:
        raise KeyError(f"no Bitable spec for dataset {dataset!r}; known: {sorted(SPECS)}") from None
    cfg = settings.bitable_tables.get(dataset) if settings is not None else None
    return spec.configured(cfg)
