"""Dataset declarations → table, polars schema, Bitable spec, monitor spec (integrations/datasets).

The migrations-vs-declarations check is ``test_migrate_cli.py`` (an autogenerate compare against
freshly upgraded SQLite, PostgreSQL and MariaDB databases); here: what that compare cannot see
(column order, KEEP_KNOWN, autoincrement), the polars and Bitable views of the same declaration,
and the declaration's own validation.
"""

from __future__ import annotations

import sys
import types
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest
import sqlalchemy as sa

from integrations import datasets as D
from integrations.database import tables
from integrations.database.types import KEEP_KNOWN, ExactDecimal
from integrations.feishu.specs import KIND_TYPE, SPECS, FieldType, ValueKind
from integrations.monitoring import freshness
from integrations.monitoring.config import KNOWN_FLOWS
from integrations.settings import ConfigError, load_settings
from integrations.sources import registry
from integrations.sources.oceanengine.datasets import DATASETS, douplus_orders, dpa_products
from integrations.sources.supplier.datasets import DATASETS as SUPPLIER_DATASETS


def small(**kw: object) -> D.Dataset:
    base: dict[str, object] = {
        "name": "t",
        "source": "test",
        "flow": "t-daily",
        "key": ("day", "acc"),
        "columns": (
            D.Col("day", D.Date),
            D.Col("acc", D.Id),
            D.Col("title", D.Text(64), keep_known=True),
            D.Col("cost", D.Money, nullable=False),
            D.Col("n", D.Int),
        ),
    }
    return D.Dataset(**(base | kw))  # type: ignore[arg-type]


# --- the table -----------------------------------------------------------------------------


def test_every_declared_dataset_has_its_table_in_the_app_metadata() -> None:
    assert list(tables.DATASET_TABLES) == [d.name for d in registry.all_datasets()]
    for d in registry.all_datasets():
        t = tables.metadata.tables[d.name]
        assert t is tables.DATASET_TABLES[d.name]
        assert [c.name for c in t.columns] == [c.name for c in d.columns] + ["updated_at"]
        assert [c.name for c in t.primary_key.columns] == list(d.key)
        for c in d.columns:
            col = t.c[c.name]
            assert (col.info == KEEP_KNOWN) is c.keep_known, (d.name, c.name)
            if c.name in d.key:
                assert col.primary_key and not col.nullable
                if c.type.is_integer:
                    assert col.autoincrement is False  # ids come from the platform
            else:
                assert col.nullable is c.nullable, (d.name, c.name)


def test_table_types_follow_the_vocabulary() -> None:
    t = small(indexes=(D.Idx("ix_t_title", ("title",)),)).table(sa.MetaData())
    assert isinstance(t.c.acc.type, sa.BigInteger) and not t.c.acc.autoincrement
    assert isinstance(t.c.n.type, sa.Integer) and not isinstance(t.c.n.type, sa.BigInteger)
    assert isinstance(t.c.title.type, sa.String) and t.c.title.type.length == 64
    assert isinstance(t.c.cost.type, ExactDecimal) and (
        t.c.cost.type.precision,
        t.c.cost.type.scale,
    ) == (18, 2)
    assert t.c.cost.nullable is False and t.c.n.nullable is True
    assert isinstance(t.c.updated_at.type, sa.DateTime) and t.c.updated_at.nullable is False
    assert [(i.name, [c.name for c in i.columns]) for i in t.indexes] == [("ix_t_title", ["title"])]
    ratio = replace(small(), columns=(*small().columns, D.Col("r", D.Ratio))).table(sa.MetaData())
    assert (ratio.c.r.type.precision, ratio.c.r.type.scale) == (20, 6)


def test_money_round_trips_exactly_through_a_derived_table() -> None:
    engine = sa.create_engine("sqlite://")
    t = small().table(md := sa.MetaData())
    md.create_all(engine)
    big = 2**62 + 1  # an id above 2^53 must not pass through a float
    with engine.begin() as conn:
        conn.execute(
            t.insert(),
            {
                "day": date(2026, 11, 24),
                "acc": big,
                "cost": Decimal("0.1") + Decimal("0.2"),
                "n": 1,
                "updated_at": datetime(2026, 11, 24),
            },
        )
        row = conn.execute(sa.select(t)).one()
    assert row.acc == big and row.cost == Decimal("0.30") and type(row.cost) is Decimal


# --- the polars schema ---------------------------------------------------------------------


def test_polars_schema_is_the_table_minus_updated_at_with_matching_types() -> None:
    for d in registry.all_datasets():
        t = tables.DATASET_TABLES[d.name]
        schema = d.polars_schema
        assert list(schema) == [c.name for c in t.columns if c.name != "updated_at"]
        for name, dtype in schema.items():
            sql = t.c[name].type
            if isinstance(sql, ExactDecimal):
                assert dtype == pl.Decimal(sql.precision, sql.scale), (d.name, name)
            elif isinstance(sql, sa.Integer):  # BIGINT and INTEGER: never a float
                assert dtype == pl.Int64, (d.name, name)
            elif isinstance(sql, sa.DateTime):
                assert dtype == pl.Datetime("us"), (d.name, name)
            elif isinstance(sql, sa.Date):
                assert dtype == pl.Date, (d.name, name)
            elif isinstance(sql, sa.Boolean):
                assert dtype == pl.Boolean, (d.name, name)
            else:
                assert isinstance(sql, (sa.String, sa.Text)) and dtype == pl.String, (d.name, name)


# --- the Bitable spec ----------------------------------------------------------------------


def test_bitable_specs_are_derived_for_the_projected_datasets_only() -> None:
    projected = [d.name for d in registry.all_datasets() if d.bitable]
    assert list(SPECS) == projected == list(registry.bitable_datasets())
    assert "douplus_order_daily" not in SPECS and "ad_accounts" not in SPECS
    assert SPECS["douplus_orders"].field("task_status").labels  # declared labels reach the spec
    for d in registry.all_datasets():
        if not d.bitable:
            with pytest.raises(KeyError, match=d.name):
                _ = d.bitable_spec
            continue
        spec = SPECS[d.name]
        assert spec == d.bitable_spec
        assert spec.default_name == d.bitable.table_name
        assert [f.key for f in spec.data_fields] == [f.key for f in d.bitable.fields]
        assert spec.key_columns == (d.bitable.key or d.key)
        assert spec.account_id_field == d.account_column
        assert spec.date_field == d.date_column
        declared = {f.key: f for f in d.bitable.fields}
        for f in spec.data_fields:
            assert f.default_name == declared[f.key].name
            assert f.labels == declared[f.key].labels  # e.g. DOU+ task_status → Chinese
            if f.key in {c.name for c in d.columns}:
                col = d.column(f.key)
                if col.type == D.Id:
                    assert f.kind == ValueKind.ID  # ids are text in Bitable: never a float
                if col.type in (D.Money, D.Ratio):
                    assert KIND_TYPE[f.kind] == FieldType.NUMBER


def test_a_field_kind_defaults_to_the_column_type_and_can_be_overridden() -> None:
    spec = small(
        bitable=D.Bitable(
            table_name="测试",
            fields=(
                D.Field("acc", "账户ID"),
                D.Field("cost", "消耗(元)"),
                D.Field("n", "数量", ValueKind.TEXT),
                D.Field("joined", "名称", ValueKind.TEXT),
                D.Field("day", "日期"),
            ),
            key=("acc", "day"),
        ),
        date_column="day",
        account_columns=("acc",),
    ).bitable_spec
    kinds = {f.key: f.kind for f in spec.data_fields}
    assert kinds == {
        "acc": ValueKind.ID,
        "cost": ValueKind.MONEY,
        "n": ValueKind.TEXT,
        "joined": ValueKind.TEXT,
        "day": ValueKind.DATE,
    }
    assert spec.fields[0].key == "business_key" and spec.key_columns == ("acc", "day")
    assert spec.field("cost").property == {"formatter": "0.00"}


def test_bitable_table_settings_accept_exactly_the_projected_datasets(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "adsync.toml"
    monkeypatch.setenv("ADSYNC_CONFIG_FILE", str(cfg))
    cfg.write_text('[bitable_tables.douplus_order_daily]\nname = "x"\n')
    with pytest.raises(ConfigError) as ex:
        load_settings()
    assert "unknown table [bitable_tables.douplus_order_daily]" in str(ex.value)
    assert "known: " + ", ".join(registry.bitable_datasets()) in str(ex.value)
    cfg.write_text('[bitable_tables.dpa_products]\nname = "商品"\n')
    assert load_settings().bitable_tables["dpa_products"].name == "商品"


# --- monitor and registry ------------------------------------------------------------------


def test_monitor_checks_and_flows_come_from_the_declarations() -> None:
    checked = [d for d in registry.all_datasets() if d.checks]
    assert [s.name for s in freshness.DATASETS] == [d.name for d in checked]
    for s, d in zip(freshness.DATASETS, checked, strict=True):
        assert (s.date_column, s.account_column) == (d.date_column, d.account_columns[0])
        assert s.per_account_checks is d.checks.per_account
    # every dataset with checks is dated and has an account column in its table
    for s in freshness.DATASETS:
        t = tables.metadata.tables[s.name]
        assert isinstance(t.c[s.date_column].type, sa.Date) and s.account_column in t.c
    assert tuple(dict.fromkeys(d.flow for d in registry.all_datasets())) == KNOWN_FLOWS
    assert set(KNOWN_FLOWS) == {
        "laike-daily",
        "douplus-daily",
        "dpa-daily",
        "accounts-hourly",
        "supplier-daily",
        "supplier-prices",
        "supplier-stock",
    }


def test_the_registry_lists_each_source_dataset_once() -> None:
    assert registry.all_datasets() == (*DATASETS, *SUPPLIER_DATASETS)  # registry order
    assert registry.dataset("dpa_products") is dpa_products
    with pytest.raises(KeyError, match="unknown dataset 'nope'; known: local_promotion_daily"):
        registry.dataset("nope")
    assert douplus_orders.account_column == "aweme_sec_uid" and douplus_orders.date_column is None


# --- validation: a wrong declaration fails at import, naming the dataset and the column ------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key": ()}, "dataset t: a dataset needs a key"),
        ({"key": ("day", "nope")}, "dataset t: key names unknown column(s) nope"),
        ({"key": ("acc", "day")}, "dataset t: key must list its columns in table order"),
        ({"date_column": "acc"}, "dataset t: date_column acc is not a Date column"),
        ({"date_column": "when"}, "dataset t: date_column names unknown column(s) when"),
        ({"account_columns": ("who",)}, "dataset t: account_columns names unknown column(s) who"),
        ({"checks": D.Checks()}, "dataset t: checks need a date column and an account column"),
        (
            {"indexes": (D.Idx("ix_t_x", ("x",)),)},
            "dataset t: index ix_t_x names unknown column(s) x",
        ),
        (
            {"columns": (*small().columns, D.Col("updated_at", D.DateTime))},
            "dataset t: updated_at is added by the table",
        ),
        (
            {"columns": (*small().columns, D.Col("n", D.BigInt))},
            "dataset t: two columns share a name",
        ),
        (
            {"bitable": D.Bitable("测试", (D.Field("joined", "名称"),))},
            "dataset t: bitable: field joined needs a kind",
        ),
        (
            {
                "columns": (*small().columns, D.Col("ok", D.Bool)),
                "bitable": D.Bitable("测试", (D.Field("ok", "有效"),)),
            },
            "dataset t: bitable: field ok needs a kind",
        ),
        (
            {"bitable": D.Bitable("测试", (D.Field("n", "数量"), D.Field("cost", "数量")))},
            "dataset t: bitable: two fields share a key or a name",
        ),
        (
            {"account_columns": ("acc",), "bitable": D.Bitable("测试", (D.Field("n", "数量"),))},
            "dataset t: bitable: acc must be one of the fields",
        ),
        (
            {"bitable": D.Bitable("测试", (D.Field("n", "数量"),), key=("x",))},
            "dataset t: bitable: key names unknown column x",
        ),
    ],
)
def test_an_inconsistent_declaration_is_rejected_with_the_name(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError) as ex:
        small(**change)
    assert message in str(ex.value)


def register(monkeypatch: pytest.MonkeyPatch, name: str, *datasets: D.Dataset) -> None:
    """A source module ``name`` declaring ``datasets``, registered for this test only."""
    module = types.ModuleType(f"tests_source_{name}")
    module.NAME = name  # type: ignore[attr-defined]
    module.connect = lambda settings, resources: None  # type: ignore[attr-defined]
    module.DATASETS = datasets  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(registry.SOURCES, name, module.__name__)


def test_a_source_adds_its_datasets_with_its_registry_line(monkeypatch) -> None:
    register(monkeypatch, "test", small())
    assert registry.all_datasets() == (*DATASETS, *SUPPLIER_DATASETS, small())
    assert registry.dataset("t") == small()
    register(monkeypatch, "test")  # a source without datasets (yet) adds none
    assert registry.all_datasets() == (*DATASETS, *SUPPLIER_DATASETS)  # registry order


def test_the_registry_rejects_a_dataset_declared_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "other", replace(dpa_products, source="other"))
    with pytest.raises(ValueError, match="dataset\\(s\\) declared twice: dpa_products"):
        registry.all_datasets()
    register(monkeypatch, "other", small())
    with pytest.raises(ValueError, match="source other lists datasets of another source: t"):
        registry.all_datasets()
