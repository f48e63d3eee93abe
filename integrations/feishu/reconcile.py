"""Rebuild the record map from what the table really holds, and delete duplicate keys.

Used on a first run (empty map, non-empty table), for a missing/distrusted map (restored DB,
pending entries left by a crash between a create and its map commit), after an ambiguous create,
and on request. It also heals tables damaged by the old delete-then-write scripts: every key
found more than once keeps one record (the mapped one if any, else the oldest) and the others are
deleted (batch_delete ≤ 500).

The hash stored for a found record is computed from its *current Bitable content*, so records
that already match the DB cost no update afterwards, and ones that differ get exactly one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from lark_oapi.api.bitable.v1 import Condition, FilterInfo
from sqlalchemy import Engine

from integrations.feishu import record_map
from integrations.feishu.client import BATCH_SIZE, BitableApi
from integrations.feishu.errors import FeishuApiError, FeishuError
from integrations.feishu.schema import TableHandle
from integrations.feishu.specs import FieldType
from integrations.feishu.values import _as_date, canonical_cell, date_ms, record_hash, record_key

log = logging.getLogger(__name__)

MAX_CONDITIONS = 50  # per search filter (docs/contracts/feishu.md §3)
RECORD_ID_NOT_FOUND = 1254043


class EmptyScanDistrusted(FeishuError):
    """A scan saw no records while the map holds entries: records are hidden from the app
    (advanced permissions) far more often than a table is emptied; the map is left intact."""

    def __init__(self, table: str, entries: int) -> None:
        self.table, self.entries = table, entries
        super().__init__(
            f"Bitable table {table!r}: a scan found 0 records but the record map holds "
            f"{entries} entries; records may be hidden from the app (advanced permissions: give "
            "it manage rights, 可管理). Nothing was written and the map is kept. If the table "
            "was emptied on purpose, delete its rows from bitable_record_map"
        )


@dataclass
class ReconcileResult:
    records_seen: int = 0
    keys_found: int = 0
    duplicates_deleted: int = 0
    stale_entries_removed: int = 0


def _date_filters(handle: TableHandle, dates: Collection[date]) -> list[FilterInfo]:
    spec = handle.spec
    assert spec.date_field is not None
    f = spec.field(spec.date_field)
    is_text = handle.fields[f.key].type == FieldType.TEXT
    ordered = sorted(set(dates))
    out = []
    for i in range(0, len(ordered), MAX_CONDITIONS):
        conds = [
            Condition.builder()
            .field_name(f.name)
            .operator("is")
            .value([d.isoformat()] if is_text else ["ExactDate", str(date_ms(d))])
            .build()
            for d in ordered[i : i + MAX_CONDITIONS]
        ]
        out.append(FilterInfo.builder().conjunction("or").conditions(conds).build())
    return out


def scan(
    api: BitableApi, handle: TableHandle, dates: Collection[date] | None = None
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """key → [(record_id, fields)] in the table (or only on ``dates``), in table order."""
    spec = handle.spec
    names = [f.name for f in spec.written_fields]
    filters: list[FilterInfo | None]
    if dates is not None and spec.date_field is not None:
        filters = list(_date_filters(handle, dates)) if dates else []
    else:
        filters = [None]
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for flt in filters:
        for rec in api.search(handle.table_id, field_names=names, filter_info=flt):
            fields = rec.fields or {}
            key = record_key(spec, fields)
            if key:  # rows without a key are the users' own: left alone
                found.setdefault(key, []).append((str(rec.record_id), fields))
    return found


def delete_records(api: BitableApi, table_id: str, record_ids: list[str]) -> int:
    """batch_delete; when it answers 1254043 (RecordIdNotFound) — a concurrent run deleted one
    of the same duplicates first — delete them one by one, each "not found" counting as already
    deleted (the goal, the record gone, holds). Returns how many this call deleted itself."""
    try:
        api.batch_delete(table_id, record_ids)
        return len(record_ids)
    except FeishuApiError as e:
        if e.code != RECORD_ID_NOT_FOUND:
            raise
    deleted = 0
    for rid in record_ids:
        try:
            api.batch_delete(table_id, [rid])
            deleted += 1
        except FeishuApiError as e:
            if e.code != RECORD_ID_NOT_FOUND:
                raise
            log.info("bitable: record %s already deleted (concurrent reconcile)", rid)
    return deleted


def reconcile(
    api: BitableApi,
    engine: Engine,
    handle: TableHandle,
    *,
    dates: Collection[date] | None = None,
    scope_keys: Iterable[str] | None = None,
) -> ReconcileResult:
    """Scan the table (all of it, or the given ``dates``), delete duplicates, rebuild the map.

    Map entries are dropped for keys that are no longer in the table: every mapped key on a full
    scan, only ``scope_keys`` on a date-filtered scan (other dates were not looked at).
    """
    spec, app, tid = handle.spec, api.app_token, handle.table_id
    with engine.connect() as conn:
        current = record_map.load(conn, app, tid)
    found = scan(api, handle, dates)
    if not found:
        settled = sum(1 for e in current.values() if not e.pending)
        # A full scan with nothing in it, or a date scan while the table looks empty as a whole.
        if settled and (dates is None or spec.date_field is None or not api.has_records(tid)):
            raise EmptyScanDistrusted(spec.name, settled)
    result = ReconcileResult(
        records_seen=sum(len(v) for v in found.values()), keys_found=len(found)
    )

    keep: list[tuple[str, str, str]] = []
    doomed: list[str] = []
    for key, recs in found.items():
        mapped = current.get(key)
        chosen = next((r for r in recs if mapped and r[0] == mapped.record_id), recs[0])
        keep.append((key, chosen[0], record_hash(spec, chosen[1])))
        doomed += [rid for rid, _ in recs if rid != chosen[0]]

    for i in range(0, len(doomed), BATCH_SIZE):
        delete_records(api, tid, doomed[i : i + BATCH_SIZE])
    result.duplicates_deleted = len(doomed)
    if doomed:
        log.warning("bitable: table %r: deleted %d duplicate record(s)", spec.name, len(doomed))

    if dates is None or spec.date_field is None:
        stale = set(current) - set(found)
    else:
        stale = set(scope_keys or ()) & (set(current) - set(found))
    if dates is not None and spec.date_field is not None:
        # A date-scoped scan (the recovery path) keeps pending entries it did not find: the
        # create they stand for may still show up (a stale read); the caller creates them again
        # or a later scan settles them. A full scan is the last word and drops them.
        stale = {k for k in stale if not current[k].pending}
    result.stale_entries_removed = len(stale)
    with engine.begin() as conn:
        record_map.delete_keys(conn, app, tid, stale)
        for i in range(0, len(keep), BATCH_SIZE):
            record_map.put(conn, app, tid, keep[i : i + BATCH_SIZE])
    log.info(
        "bitable: reconciled %r: %d keys, %d duplicates deleted, %d stale map entries",
        spec.name,
        len(found),
        len(doomed),
        len(stale),
    )
    return result


def purge_before(api: BitableApi, engine: Engine, handle: TableHandle, cutoff: date) -> int:
    """Delete our records dated before ``cutoff`` (retention) and their map entries; the DB's
    rows stay. Records without a business key are the users' own and are left alone."""
    spec = handle.spec
    assert spec.date_field is not None
    f = spec.field(spec.date_field)
    flt: FilterInfo | None = None
    if handle.fields[f.key].type != FieldType.TEXT:  # text dates: compared here instead
        cond = (
            Condition.builder()
            .field_name(f.name)
            .operator("isLess")
            .value(["ExactDate", str(date_ms(cutoff))])
            .build()
        )
        flt = FilterInfo.builder().conjunction("and").conditions([cond]).build()
    return _purge(api, engine, handle, flt, lambda d: d < cutoff, f"before {cutoff}")


def purge_other_dates(api: BitableApi, engine: Engine, handle: TableHandle, keep: date) -> int:
    """Delete our records whose date is not ``keep`` (a table that holds one snapshot, e.g. the
    DOU+ rankings of one as_of) and their map entries. Scans the whole table: for small tables."""
    return _purge(api, engine, handle, None, lambda d: d != keep, f"not dated {keep}")


def _purge(
    api: BitableApi,
    engine: Engine,
    handle: TableHandle,
    flt: FilterInfo | None,
    doomed_on: Callable[[date], bool],
    what: str,
) -> int:
    spec, tid = handle.spec, handle.table_id
    assert spec.date_field is not None
    f = spec.field(spec.date_field)
    names = [x.name for x in spec.written_fields]
    doomed: list[tuple[str, str]] = []
    for rec in api.search(tid, field_names=names, filter_info=flt):
        fields = rec.fields or {}
        key = record_key(spec, fields)
        d = _as_date(canonical_cell(f, fields.get(f.name)))
        if key and d is not None and doomed_on(d):
            doomed.append((str(rec.record_id), key))
    for i in range(0, len(doomed), BATCH_SIZE):
        chunk = doomed[i : i + BATCH_SIZE]
        api.batch_delete(tid, [rid for rid, _ in chunk])
        with engine.begin() as conn:
            record_map.delete_keys(conn, api.app_token, tid, [k for _, k in chunk])
    if doomed:
        log.info("bitable: %r: deleted %d record(s) %s", spec.name, len(doomed), what)
    return len(doomed)
