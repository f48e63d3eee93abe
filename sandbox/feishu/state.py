"""The simulator's persisted model: bases → tables → fields / views / records.

Records store cells keyed by ``field_id`` (so renaming a field keeps its data, as in Feishu) and
in *write* shape (text as ``str``, dates as ms ints); ``feishu_values`` converts to read shape.
Each base is one JSON file written atomically (temp file + ``os.replace``), so a killed sandbox
never leaves a half-written base behind.
"""

from __future__ import annotations

import json
import os
import random
import string
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integrations.private_files import private_dir

_ALNUM = string.ascii_letters + string.digits
# Remembered batch client_tokens per base (idempotency window); old ones fall off.
CLIENT_TOKEN_MEMORY = 2000


@dataclass
class Field:
    field_id: str
    field_name: str
    type: int
    ui_type: str
    property: dict[str, Any] | None = None
    is_primary: bool = False
    description: dict[str, Any] | None = None


@dataclass
class View:
    view_id: str
    view_name: str
    view_type: str = "grid"
    # {"conjunction": "and", "conditions": [{condition_id, field_id, field_type, operator, value}]}
    filter_info: dict[str, Any] | None = None
    hidden_fields: list[str] = field(default_factory=list)


@dataclass
class Record:
    record_id: str
    fields: dict[str, Any]  # field_id -> value in write shape
    created_time: int
    last_modified_time: int


@dataclass
class Table:
    table_id: str
    name: str
    revision: int = 1
    fields: list[Field] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    records: dict[str, Record] = field(default_factory=dict)  # insertion ordered
    auto_number: int = 0

    def field_by_name(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.field_name == name), None)

    def field_by_id(self, field_id: str) -> Field | None:
        return next((f for f in self.fields if f.field_id == field_id), None)

    def view_by_id(self, view_id: str) -> View | None:
        return next((v for v in self.views if v.view_id == view_id), None)


@dataclass
class Base:
    app_token: str
    name: str
    revision: int = 1
    tables: list[Table] = field(default_factory=list)
    # Advanced permissions (高级权限) on; what the app then sees depends on FeishuKnobs.
    is_advanced: bool = False
    time_zone: str = "Asia/Shanghai"
    # client_token -> {"fingerprint": str, "data": response data}
    client_tokens: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)

    def table(self, table_id: str) -> Table | None:
        return next((t for t in self.tables if t.table_id == table_id), None)

    def remember_client_token(self, token: str, fingerprint: str, data: dict[str, Any]) -> None:
        # The base revision right after this write: a resubmit while it is unchanged → 1254608.
        self.client_tokens[token] = {
            "fingerprint": fingerprint,
            "data": data,
            "revision": self.revision,
        }
        while len(self.client_tokens) > CLIENT_TOKEN_MEMORY:
            self.client_tokens.popitem(last=False)


def _base_to_json(base: Base) -> dict[str, Any]:
    # Hand-rolled rather than dataclasses.asdict: asdict deep-copies every cell, which dominates
    # the save time of a large table. Records are stored as plain dicts in insertion order.
    return {
        "app_token": base.app_token,
        "name": base.name,
        "revision": base.revision,
        "is_advanced": base.is_advanced,
        "time_zone": base.time_zone,
        "tables": [
            {
                "table_id": t.table_id,
                "name": t.name,
                "revision": t.revision,
                "auto_number": t.auto_number,
                # Shallow copies: the snapshot is serialized outside the lock, and cell values
                # and properties are replaced, never mutated in place, by the writers.
                "fields": [dict(vars(f)) for f in t.fields],
                "views": [dict(vars(v)) for v in t.views],
                "records": [
                    {
                        "record_id": r.record_id,
                        "fields": dict(r.fields),
                        "created_time": r.created_time,
                        "last_modified_time": r.last_modified_time,
                    }
                    for r in t.records.values()
                ],
            }
            for t in base.tables
        ],
        "client_tokens": list(base.client_tokens.items()),
    }


def _base_from_json(d: dict[str, Any]) -> Base:
    tables = []
    for t in d["tables"]:
        recs = [Record(**r) for r in t.pop("records")]
        fields = [Field(**f) for f in t.pop("fields")]
        views = [View(**v) for v in t.pop("views")]
        tables.append(
            Table(**t, fields=fields, views=views, records={r.record_id: r for r in recs})
        )
    return Base(
        app_token=d["app_token"],
        name=d["name"],
        revision=d.get("revision", 1),
        tables=tables,
        is_advanced=bool(d.get("is_advanced", False)),
        time_zone=d.get("time_zone", "Asia/Shanghai"),
        client_tokens=OrderedDict((k, v) for k, v in d.get("client_tokens", [])),
    )


def atomic_write_json(path: Path, payload: Any) -> None:
    private_dir(path.parent)  # owner-only, like every data directory
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Store:
    """All bases plus a lock; the HTTP handlers and the test-side inspection helpers share it."""

    def __init__(self, state_dir: Path | None, seed: int) -> None:
        self.dir = Path(state_dir) / "feishu" if state_dir is not None else None
        self.lock = threading.RLock()
        self.bases: dict[str, Base] = {}
        self._rng = random.Random(seed)
        self._seq = 0  # snapshot sequence: a slow older write never overwrites a newer one
        self._written: dict[str, int] = {}
        self._file_lock = threading.Lock()
        if self.dir is not None:
            for p in sorted((self.dir / "bases").glob("*.json")):
                base = _base_from_json(json.loads(p.read_text(encoding="utf-8")))
                self.bases[base.app_token] = base

    # -- ids ---------------------------------------------------------------------------------
    def _rand(self, n: int) -> str:
        return "".join(self._rng.choice(_ALNUM) for _ in range(n))

    def new_id(self, prefix: str, n: int, taken: Container[str] | None = None) -> str:
        """Deterministic from the seed; re-drawn on collision (a reloaded base re-runs the seed)."""
        while True:
            candidate = prefix + self._rand(n)
            if taken is None or candidate not in taken:
                return candidate

    # -- persistence -------------------------------------------------------------------------
    def meta_path(self) -> Path | None:
        return self.dir / "meta.json" if self.dir is not None else None

    def load_meta(self) -> dict[str, Any]:
        p = self.meta_path()
        if p is None or not p.exists():
            return {}
        return json.loads(p.read_text(encoding="utf-8"))

    def save_meta(self, meta: dict[str, Any]) -> None:
        p = self.meta_path()
        if p is not None:
            atomic_write_json(p, meta)

    def snapshot(self, base: Base) -> tuple[int, dict[str, Any]] | None:
        """Take a consistent copy of ``base`` (call under ``self.lock``); None when in-memory."""
        if self.dir is None:
            return None
        self._seq += 1
        return self._seq, _base_to_json(base)

    def write_snapshot(self, snap: tuple[int, dict[str, Any]] | None) -> None:
        """Write a snapshot unless a newer one of the same base is already on disk.

        Runs outside ``self.lock`` (the HTTP handlers call it in a worker thread, so a large
        base does not stall the event loop).
        """
        if snap is None or self.dir is None:
            return
        seq, payload = snap
        token = payload["app_token"]
        with self._file_lock:
            if seq <= self._written.get(token, 0):
                return
            atomic_write_json(self.dir / "bases" / f"{token}.json", payload)
            self._written[token] = seq

    def save(self, base: Base) -> None:
        with self.lock:
            snap = self.snapshot(base)
        self.write_snapshot(snap)

    def create_base(self, name: str) -> Base:
        with self.lock:
            token = self.new_id("bascn", 22, set(self.bases))
            base = Base(app_token=token, name=name)
            self.bases[token] = base
            self.save(base)
            return base
