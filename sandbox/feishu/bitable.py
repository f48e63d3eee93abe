"""Bitable operations on the store: validate everything first, then apply (all-or-nothing).

Each method takes the decoded query/body and returns the response ``data`` object, or raises
:class:`FeishuError`. Callers hold ``store.lock`` and persist the base after a write.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any

from sandbox.feishu.errors import FeishuError, field_not_found
from sandbox.feishu.filters import compile_filter, sort_records
from sandbox.feishu.knobs import FeishuKnobs
from sandbox.feishu.state import Base, Field, Record, Store, Table, View
from sandbox.feishu.values import (
    AUTO_NUMBER,
    CREATED_TIME,
    MODIFIED_TIME,
    MULTI,
    NOT_CREATABLE,
    PRIMARY_TYPES,
    SELECT,
    TEXT,
    UI_ALIASES,
    UI_TYPES,
    normalize_property,
    to_read,
    to_stored,
)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_BAD_TABLE_CHARS = set("/\\?*:[]")
VIEW_TYPES = {"grid", "kanban", "gallery", "gantt", "form"}
DEFAULT_VIEW_NAME = "表格"
DEFAULT_PRIMARY_NAME = "文本"


def _now_ms() -> int:
    return int(time.time() * 1000)


def parse_bool(v: str | None) -> bool:
    """lark-oapi sends query booleans as ``True``/``False`` (docs/contracts/feishu.md §2)."""
    return (v or "").strip().lower() in ("true", "1")


def _page(items: list[Any], query: dict[str, str], *, default: int, maximum: int) -> dict[str, Any]:
    raw = query.get("page_size")
    try:
        size = int(raw) if raw not in (None, "") else default
    except ValueError:
        raise FeishuError(1254011, f"page_size {raw!r} is not an integer") from None
    if not 1 <= size <= maximum:
        raise FeishuError(1254011, f"page_size must be between 1 and {maximum}")
    start = 0
    token = query.get("page_token")
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("p:"))
        except ValueError:
            raise FeishuError(1254002, "page_token is invalid") from None
    chunk = items[start : start + size]
    has_more = start + size < len(items)
    out: dict[str, Any] = {"has_more": has_more, "total": len(items), "items": chunk}
    if has_more:
        out["page_token"] = base64.urlsafe_b64encode(f"p:{start + size}".encode()).decode()
    return out


def _obj(body: Any, key: str | None = None) -> dict[str, Any]:
    val = body.get(key) if key is not None and isinstance(body, dict) else body
    if not isinstance(val, dict):
        raise FeishuError(1254001, f"request body{'.' + key if key else ''} must be an object")
    return val


def field_json(f: Field) -> dict[str, Any]:
    d: dict[str, Any] = {
        "field_id": f.field_id,
        "field_name": f.field_name,
        "type": f.type,
        "ui_type": f.ui_type,
        "is_primary": f.is_primary,
        "property": f.property,
    }
    if f.description:
        d["description"] = f.description
    return d


def view_json(v: View, table: Table, *, with_property: bool = True) -> dict[str, Any]:
    d: dict[str, Any] = {
        "view_id": v.view_id,
        "view_name": v.view_name,
        "view_type": v.view_type,
        "view_public_level": "Public",
    }
    if with_property:
        d["property"] = {"filter_info": v.filter_info, "hidden_fields": list(v.hidden_fields)}
    return d


def read_fields(table: Table, rec: Record, only: set[str] | None = None) -> dict[str, Any]:
    """A record's cells in read shape, keyed by field name; empty cells omitted."""
    out: dict[str, Any] = {}
    for f in table.fields:
        if only is not None and f.field_name not in only:
            continue
        if f.type == CREATED_TIME:
            val: Any = rec.created_time
        elif f.type == MODIFIED_TIME:
            val = rec.last_modified_time
        else:
            val = rec.fields.get(f.field_id)
        if val is None or val == [] or val == "":
            continue
        out[f.field_name] = to_read(f.type, val)
    return out


def write_fields(table: Table, rec: Record, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A record's cells in write shape (what batch_create/update echo back); ``names``
    (field_id → name, from :func:`field_names`) saves rebuilding it per record of a batch."""
    by_id = names if names is not None else field_names(table)
    return {by_id[k]: v for k, v in rec.fields.items() if k in by_id}


def field_names(table: Table) -> dict[str, str]:
    return {f.field_id: f.field_name for f in table.fields}


class Bitable:
    def __init__(self, store: Store, knobs: FeishuKnobs) -> None:
        self.store = store
        self.knobs = knobs
        self._last_batch: dict[str, list[str]] = {}  # table_id -> ids of its last API create

    # -- lookup ------------------------------------------------------------------------------
    def base(self, app_token: str) -> Base:
        base = self.store.bases.get(app_token)
        if base is None:
            raise FeishuError(1254040, f"app_token {app_token!r} not found")
        return base

    def table(self, app_token: str, table_id: str) -> Table:
        table = self.base(app_token).table(table_id)
        if table is None:
            raise FeishuError(1254041, f"table_id {table_id!r} not found")
        return table

    def _ids(self, base: Base) -> set[str]:
        taken = {t.table_id for t in base.tables}
        for t in base.tables:
            taken |= {f.field_id for f in t.fields} | {v.view_id for v in t.views}
        return taken

    # -- base ---------------------------------------------------------------------------------
    def records_hidden(self, base: Base) -> bool:
        """Searches by the app see no records (advanced base without manage rights, or forced)."""
        return self.knobs.hide_records_from_app or (
            base.is_advanced and not self.knobs.app_can_manage
        )

    def get_app(self, app_token: str) -> dict[str, Any]:
        base = self.base(app_token)
        return {
            "app": {
                "app_token": base.app_token,
                "name": base.name,
                "revision": base.revision,
                "is_advanced": base.is_advanced,
                "time_zone": base.time_zone,
            }
        }

    def list_roles(self, app_token: str, query: dict[str, str]) -> dict[str, Any]:
        """Custom roles (none here). Needs advanced permissions on and manage rights."""
        base = self.base(app_token)
        if not base.is_advanced:
            raise FeishuError(1254301, "advanced permissions are not enabled on this base")
        if not self.knobs.app_can_manage:
            raise FeishuError(1254302, "the app has no manage rights on this base")
        return _page([], query, default=20, maximum=100)

    # -- tables ------------------------------------------------------------------------------
    def list_tables(self, app_token: str, query: dict[str, str]) -> dict[str, Any]:
        base = self.base(app_token)
        items = [
            {"table_id": t.table_id, "revision": t.revision, "name": t.name} for t in base.tables
        ]
        return _page(items, query, default=20, maximum=100)

    def create_table(self, app_token: str, body: Any) -> dict[str, Any]:
        base = self.base(app_token)
        spec = _obj(body, "table")
        name = spec.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100 or set(name) & _BAD_TABLE_CHARS:
            raise FeishuError(1254001, "table.name must be 1-100 chars without / \\ ? * : [ ]")
        if any(t.name == name for t in base.tables):
            raise FeishuError(1254013, f"table name {name!r} already exists")
        if len(base.tables) >= self.knobs.max_tables_per_base:
            raise FeishuError(1254100, f"a base holds at most {self.knobs.max_tables_per_base}")
        view_name = spec.get("default_view_name")
        specs = spec.get("fields")
        if view_name is not None and not specs:
            raise FeishuError(1254001, "table.fields is required with default_view_name")
        if specs is not None and (not isinstance(specs, list) or not 1 <= len(specs) <= 300):
            raise FeishuError(1254001, "table.fields must hold 1-300 fields")
        if view_name is not None:
            self._check_view_name(view_name, [])
        taken = self._ids(base)
        table = Table(table_id=self.store.new_id("tbl", 13, taken), name=name)
        taken.add(table.table_id)
        for i, fs in enumerate(specs or [{"field_name": DEFAULT_PRIMARY_NAME, "type": TEXT}]):
            f = self._new_field(table, _obj(fs), taken, primary=i == 0)
            table.fields.append(f)
            taken.add(f.field_id)
        view = View(
            view_id=self.store.new_id("vew", 7, taken), view_name=view_name or DEFAULT_VIEW_NAME
        )
        table.views.append(view)
        base.tables.append(table)
        base.revision += 1
        data: dict[str, Any] = {"table_id": table.table_id}
        if view_name is not None or specs:
            data["default_view_id"] = view.view_id
        if specs:
            data["field_id_list"] = [f.field_id for f in table.fields]
        return data

    def delete_table(self, app_token: str, table_id: str) -> dict[str, Any]:
        """Delete a table with its records and views. The last table of a base cannot be
        deleted (a base always holds one; its error code is unconfirmed: 1254001 here)."""
        base = self.base(app_token)
        table = self.table(app_token, table_id)
        if len(base.tables) <= 1:
            raise FeishuError(1254001, "the last table of a base cannot be deleted")
        base.tables.remove(table)
        base.revision += 1
        return {}

    # -- fields ------------------------------------------------------------------------------
    def _new_field(
        self, table: Table, spec: dict[str, Any], taken: set[str], *, primary: bool
    ) -> Field:
        name = spec.get("field_name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 100:
            raise FeishuError(1254001, "field_name must be 1-100 characters")
        name = name.strip()  # Feishu trims field names
        ftype = spec.get("type")
        if not isinstance(ftype, int) or ftype not in UI_TYPES or ftype in NOT_CREATABLE:
            raise FeishuError(1254001, f"field type {ftype!r} cannot be created")
        if primary and ftype not in PRIMARY_TYPES:
            raise FeishuError(1254001, f"type {ftype} cannot be the primary field")
        if table.field_by_name(name) is not None:
            raise FeishuError(1254014, f"field name {name!r} already exists")
        if len(table.fields) >= self.knobs.max_fields_per_table:
            raise FeishuError(1254105, f"a table holds at most {self.knobs.max_fields_per_table}")
        ui_type = spec.get("ui_type") or UI_TYPES[ftype]
        if ui_type != UI_TYPES[ftype] and ui_type not in UI_ALIASES.get(ftype, set()):
            raise FeishuError(1254001, f"ui_type {ui_type!r} does not fit type {ftype}")
        prop = normalize_property(
            ftype, spec.get("property"), lambda: self.store.new_id("opt", 7, taken)
        )
        desc = spec.get("description") if isinstance(spec.get("description"), dict) else None
        return Field(
            field_id=self.store.new_id("fld", 7, taken),
            field_name=name,
            type=ftype,
            ui_type=ui_type,
            property=prop,
            is_primary=primary,
            description=desc,
        )

    def list_fields(self, app_token: str, table_id: str, query: dict[str, str]) -> dict[str, Any]:
        table = self.table(app_token, table_id)
        if query.get("view_id") and table.view_by_id(query["view_id"]) is None:
            raise FeishuError(1254042, f"view_id {query['view_id']!r} not found")
        return _page([field_json(f) for f in table.fields], query, default=20, maximum=100)

    def create_field(self, app_token: str, table_id: str, body: Any) -> dict[str, Any]:
        base = self.base(app_token)
        table = self.table(app_token, table_id)
        f = self._new_field(table, _obj(body), self._ids(base), primary=False)
        table.fields.append(f)
        table.revision += 1
        base.revision += 1
        return {"field": field_json(f)}

    # -- records: read -----------------------------------------------------------------------
    def search(
        self, app_token: str, table_id: str, query: dict[str, str], body: Any
    ) -> dict[str, Any]:
        table = self.table(app_token, table_id)
        body = _obj(body) if body is not None else {}
        flt, sorts = body.get("filter"), body.get("sort") or []
        hidden = self.records_hidden(self.base(app_token))
        if flt is not None and not isinstance(flt, dict):
            raise FeishuError(1254018, "filter must be an object")
        if not isinstance(sorts, list):
            raise FeishuError(1254016, "sort must be an array")
        records = [] if hidden else list(table.records.values())
        stale = self.knobs.stale_reads > 0 and bool(self._last_batch.get(table_id))
        if stale:
            # A lagging read: the newer half of the last created batch is not visible yet.
            batch = self._last_batch[table_id]
            lagging = set(batch[len(batch) // 2 :])
            records = [r for r in records if r.record_id not in lagging]
        view_id = body.get("view_id")
        if view_id:
            view = table.view_by_id(view_id)
            if view is None:
                raise FeishuError(1254042, f"view_id {view_id!r} not found")
            # The view's own filter applies only when the request has no filter and no sort.
            if not flt and not sorts and view.filter_info:
                pred = compile_filter(table, view.filter_info, by_id=True)
                records = [r for r in records if pred(r)]
        if flt:
            pred = compile_filter(table, flt)
            records = [r for r in records if pred(r)]
        if sorts:
            records = sort_records(table, records, sorts)
        names = body.get("field_names")
        only: set[str] | None = None
        if names is not None:
            if not isinstance(names, list) or len(names) > 200:
                raise FeishuError(1254024, "field_names must be an array of at most 200 names")
            for n in names:
                if table.field_by_name(n) is None:
                    raise field_not_found(n)
            only = set(names)
        page = _page(records, query, default=20, maximum=500)
        if stale and not page["has_more"]:
            self.knobs.stale_reads -= 1  # one stale scan = every page of one listing
        auto = bool(body.get("automatic_fields"))
        items = []
        for rec in page["items"]:
            item: dict[str, Any] = {
                "record_id": rec.record_id,
                "fields": read_fields(table, rec, only),
            }
            if auto:
                item["created_time"] = rec.created_time
                item["last_modified_time"] = rec.last_modified_time
            items.append(item)
        page["items"] = items
        return page

    # -- records: write ----------------------------------------------------------------------
    def _client_token(
        self, base: Base, query: dict[str, str], fingerprint: str
    ) -> tuple[str | None, dict[str, Any] | None]:
        token = query.get("client_token")
        if not token:
            return None, None
        if not _UUID.match(token):
            raise FeishuError(1254037, "client_token must be a uuidv4")
        seen = base.client_tokens.get(token)
        if seen is None:
            return token, None
        if seen["fingerprint"] != fingerprint:
            raise FeishuError(1255006, "client_token was used for a different request")
        if self.knobs.resubmit_1254608 and seen.get("revision") == base.revision:
            raise FeishuError(1254608, "the same request was submitted again too soon")
        return token, seen["data"]

    @staticmethod
    def _fingerprint(op: str, table_id: str, body: Any) -> str:
        canon = json.dumps([op, table_id, body], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canon.encode()).hexdigest()

    def _records_list(self, body: Any, limit: int) -> list[Any]:
        recs = _obj(body).get("records")
        if not isinstance(recs, list) or not recs:
            raise FeishuError(1254001, "records must be a non-empty array")
        if len(recs) > limit:
            raise FeishuError(1254104, f"at most {limit} records per call, got {len(recs)}")
        return recs

    def _validate_cells(
        self,
        table: Table,
        cells: Any,
        pending: dict[str, list[str]],
        by_name: dict[str, Field] | None = None,
    ) -> dict[str, Any]:
        """Write-shape cells keyed by field_id (None = clear); new select options go to pending."""
        if not isinstance(cells, dict):
            raise FeishuError(1254001, "record.fields must be an object")
        out: dict[str, Any] = {}
        by_name = by_name if by_name is not None else {f.field_name: f for f in table.fields}
        for name, value in cells.items():
            f = by_name.get(name)
            if f is None:
                raise field_not_found(name)

            def add_option(opt: str, f: Field = f) -> None:
                known = {o["name"] for o in (f.property or {}).get("options", [])}
                if opt not in known and opt not in pending.setdefault(f.field_id, []):
                    pending[f.field_id].append(opt)

            out[f.field_id] = to_stored(f.type, name, value, add_option)
        return out

    def _apply_options(self, base: Base, table: Table, pending: dict[str, list[str]]) -> None:
        # Unknown select options are auto-created on write (docs/contracts/feishu.md §3), only
        # once valid.
        taken = self._ids(base)
        for field_id, names in pending.items():
            f = table.field_by_id(field_id)
            assert f is not None and f.type in (SELECT, MULTI)
            opts = list((f.property or {}).get("options", []))  # new list: see Store.snapshot
            for n in names:
                opts.append(
                    {"name": n, "id": self.store.new_id("opt", 7, taken), "color": len(opts) % 55}
                )
            f.property = {**(f.property or {}), "options": opts}

    def _touch(self, base: Base, table: Table) -> None:
        table.revision += 1
        base.revision += 1

    def batch_create(
        self, app_token: str, table_id: str, query: dict[str, str], body: Any
    ) -> dict[str, Any]:
        base = self.base(app_token)
        table = self.table(app_token, table_id)
        recs = self._records_list(body, self.knobs.batch_create_limit)
        token, replay = self._client_token(base, query, self._fingerprint("create", table_id, body))
        if replay is not None:
            return replay
        cap = self.knobs.max_records_per_table
        if cap is not None and len(table.records) + len(recs) > cap:
            raise FeishuError(1254103, f"a table holds at most {cap} records")
        for r in recs:
            if not isinstance(r, dict):
                raise FeishuError(1254001, "each record must be an object")
        ids = self.insert_records(base, table, [r.get("fields", {}) for r in recs])
        self._last_batch[table_id] = ids
        names = field_names(table)
        out = [
            {"record_id": rid, "id": rid, "fields": write_fields(table, table.records[rid], names)}
            for rid in ids
        ]
        data = {"records": out}
        if token:
            base.remember_client_token(token, self._fingerprint("create", table_id, body), data)
        return data

    def insert_records(self, base: Base, table: Table, rows: list[Any]) -> list[str]:
        """Validate every row, then insert them all; returns the new record ids in order."""
        pending: dict[str, list[str]] = {}
        valid = []
        by_name = {f.field_name: f for f in table.fields}  # once per batch, not per cell
        for cells in rows:
            stored = self._validate_cells(table, cells, pending, by_name)
            valid.append({k: v for k, v in stored.items() if v is not None})
        # Everything is valid: apply.
        self._apply_options(base, table, pending)
        now = _now_ms()
        auto = next((f for f in table.fields if f.type == AUTO_NUMBER), None)
        ids = []
        for cells in valid:
            rid = self.store.new_id("rec", 10, table.records)
            if auto is not None:
                table.auto_number += 1
                cells[auto.field_id] = table.auto_number
            table.records[rid] = Record(
                record_id=rid, fields=cells, created_time=now, last_modified_time=now
            )
            ids.append(rid)
        self._touch(base, table)
        return ids

    def batch_update(
        self, app_token: str, table_id: str, query: dict[str, str], body: Any
    ) -> dict[str, Any]:
        base = self.base(app_token)
        table = self.table(app_token, table_id)
        recs = self._records_list(body, self.knobs.batch_update_limit)
        token, replay = self._client_token(base, query, self._fingerprint("update", table_id, body))
        if replay is not None:
            return replay
        pending: dict[str, list[str]] = {}
        changes = []
        by_name = {f.field_name: f for f in table.fields}
        for r in recs:
            if not isinstance(r, dict):
                raise FeishuError(1254001, "each record must be an object")
            rid = r.get("record_id")
            if not isinstance(rid, str) or not rid:
                raise FeishuError(1254006, "record_id is required")
            if rid not in table.records or self.records_hidden(base):
                raise FeishuError(1254043, f"record_id {rid!r} not found")
            cells = self._validate_cells(table, r.get("fields", {}), pending, by_name)
            changes.append((rid, cells))
        self._apply_options(base, table, pending)
        now = _now_ms()
        out = []
        names = field_names(table)
        for rid, cells in changes:
            rec = table.records[rid]
            for fid, value in cells.items():
                if value is None:  # null clears the cell (UNCONFIRMED for non-person types)
                    rec.fields.pop(fid, None)
                else:
                    rec.fields[fid] = value
            rec.last_modified_time = now
            out.append({"record_id": rid, "id": rid, "fields": write_fields(table, rec, names)})
        self._touch(base, table)
        data = {"records": out}
        if token:
            base.remember_client_token(token, self._fingerprint("update", table_id, body), data)
        return data

    def batch_delete(self, app_token: str, table_id: str, body: Any) -> dict[str, Any]:
        base = self.base(app_token)
        table = self.table(app_token, table_id)
        ids = self._records_list(body, self.knobs.batch_delete_limit)
        for rid in ids:
            if not isinstance(rid, str):
                raise FeishuError(1254006, "records must be record ids")
            if rid not in table.records or self.records_hidden(base):
                raise FeishuError(1254043, f"record_id {rid!r} not found")
        for rid in ids:
            table.records.pop(rid, None)
        self._touch(base, table)
        return {"records": [{"deleted": True, "record_id": rid} for rid in ids]}

    # -- views -------------------------------------------------------------------------------
    def _view(self, table: Table, view_id: str) -> View:
        view = table.view_by_id(view_id)
        if view is None:
            raise FeishuError(1254042, f"view_id {view_id!r} not found")
        return view

    @staticmethod
    def _check_view_name(name: Any, others: list[View]) -> str:
        if name is None or (isinstance(name, str) and not name.strip()):
            raise FeishuError(1254021, "view_name is empty")
        if not isinstance(name, str) or len(name) > 100 or set(name) & set("[]"):
            raise FeishuError(1254022, "view_name must be at most 100 chars without [ ]")
        if any(v.view_name == name for v in others):
            raise FeishuError(1254020, f"view name {name!r} already exists")
        return name

    def list_views(self, app_token: str, table_id: str, query: dict[str, str]) -> dict[str, Any]:
        table = self.table(app_token, table_id)
        with_prop = self.knobs.views_list_includes_property
        items = [view_json(v, table, with_property=with_prop) for v in table.views]
        return _page(items, query, default=20, maximum=100)

    def get_view(self, app_token: str, table_id: str, view_id: str) -> dict[str, Any]:
        table = self.table(app_token, table_id)
        return {"view": view_json(self._view(table, view_id), table)}

    def create_view(self, app_token: str, table_id: str, body: Any) -> dict[str, Any]:
        base = self.base(app_token)
        table = self.table(app_token, table_id)
        spec = _obj(body)
        name = self._check_view_name(spec.get("view_name"), table.views)
        vtype = spec.get("view_type") or "grid"
        if vtype not in VIEW_TYPES:
            raise FeishuError(1254019, f"view_type {vtype!r} is not one of {sorted(VIEW_TYPES)}")
        if len(table.views) >= self.knobs.max_views_per_table:
            raise FeishuError(
                1254101, f"a table holds at most {self.knobs.max_views_per_table} views"
            )
        view = View(
            view_id=self.store.new_id("vew", 7, self._ids(base)), view_name=name, view_type=vtype
        )
        table.views.append(view)
        self._touch(base, table)
        return {"view": view_json(view, table, with_property=False)}

    def patch_view(self, app_token: str, table_id: str, view_id: str, body: Any) -> dict[str, Any]:
        base = self.base(app_token)
        table = self.table(app_token, table_id)
        view = self._view(table, view_id)
        spec = _obj(body)
        name = view.view_name
        if "view_name" in spec and spec["view_name"] != view.view_name:
            name = self._check_view_name(
                spec["view_name"], [v for v in table.views if v is not view]
            )
        prop = spec.get("property")
        if prop is not None and not isinstance(prop, dict):
            raise FeishuError(1254001, "property must be an object")
        prop = prop or {}
        filter_info = view.filter_info
        if "filter_info" in prop:
            filter_info = self._normalize_view_filter(base, table, prop["filter_info"])
        hidden = view.hidden_fields
        if "hidden_fields" in prop:
            hidden = prop["hidden_fields"] or []
            if not isinstance(hidden, list) or len(hidden) > 300:
                raise FeishuError(1254001, "hidden_fields must be an array of at most 300 ids")
            for fid in hidden:
                if table.field_by_id(str(fid)) is None:
                    raise FeishuError(1254044, f"field_id {fid!r} not found")
        view.view_name, view.filter_info, view.hidden_fields = name, filter_info, list(hidden)
        self._touch(base, table)
        return {"view": view_json(view, table)}

    def _normalize_view_filter(self, base: Base, table: Table, fi: Any) -> dict[str, Any] | None:
        """Validate a view filter; PATCH replaces the conditions wholesale (sandbox/QUIRKS.md)."""
        if fi is None:
            return None
        if not isinstance(fi, dict):
            raise FeishuError(1254018, "filter_info must be an object")
        conds = fi.get("conditions") or []
        if not isinstance(conds, list):
            raise FeishuError(1254018, "filter_info.conditions must be an array")
        normalized = {"conjunction": fi.get("conjunction") or "and", "conditions": conds}
        compile_filter(table, normalized, by_id=True)  # raises on anything invalid
        taken = self._ids(base)
        out = []
        for c in conds:
            f = table.field_by_id(c["field_id"])
            assert f is not None
            out.append(
                {
                    "condition_id": self.store.new_id("con", 7, taken),
                    "field_id": f.field_id,
                    "field_type": f.type,
                    "operator": c["operator"],
                    "value": c.get("value") if c.get("value") is not None else "[]",
                }
            )
        return {"conjunction": normalized["conjunction"], "conditions": out}
