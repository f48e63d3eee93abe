"""BitableSink: idempotent upsert of DB rows into a dataset's Bitable table.

Per call: ensure the table/fields → (reconcile when the map cannot be trusted) → classify rows by
the record map: new key → batch_create, changed hash → batch_update, same hash → no call. Chunks
of 500, one DB transaction per chunk. Creates are bracketed by *pending* map entries so that a
crash between Feishu's commit and ours is healed by reconcile on the next run, never by a second
create (record_map.py). All Feishu calls for a base are serial (client.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any

from sqlalchemy import Engine

from integrations.feishu import record_map, view_map
from integrations.feishu.access import BaseAccessDenied, BaseInfo, BaseTimeZoneMismatch, check_base
from integrations.feishu.auth import make_client
from integrations.feishu.base_lock import BaseLock
from integrations.feishu.capacity import (
    DEFAULT_RECORD_CAP,
    RECORD_EXCEED_LIMIT,
    TableFull,
    china_today,
    period_label,
    period_of,
    period_range,
    retention_cutoff,
)
from integrations.feishu.client import BATCH_SIZE, AmbiguousWrite, BitableApi, Pacing
from integrations.feishu.errors import FeishuApiError, FeishuError, SchemaMismatch
from integrations.feishu.reconcile import ReconcileResult, purge_before, reconcile
from integrations.feishu.retry import CLIENT_TOKEN_CONFLICT
from integrations.feishu.schema import TableHandle, ensure_table
from integrations.feishu.specs import TableSpec
from integrations.feishu.values import _as_date, business_key, row_fields, row_hash
from integrations.feishu.views import ViewsResult, ensure_views
from integrations.retry import RetryPolicy
from integrations.settings import Settings, require

log = logging.getLogger(__name__)

RECORD_ID_NOT_FOUND = 1254043
STALE_RESCANS = 3  # rescans of a partially found atomic batch before giving up
STALE_WAIT_S = 1.0  # the 1254291 doc advises 0.5–1 s between calls on one table


class StaleRead(FeishuError):
    """Part of an atomic create batch was found, again and again: nothing more is created."""

    def __init__(self, table: str, found: int, total: int) -> None:
        super().__init__(
            f"Bitable table {table!r}: {found} of {total} records of one atomic create were "
            f"found after {STALE_RESCANS} rescans (stale reads?); nothing was created again. "
            "The next run reconciles these keys"
        )


# Called after a batch_create returned, before its record_ids are committed (tests inject
# crashes here; production leaves it None).
AfterCreateHook = Callable[[TableSpec, list[str]], None]


@dataclass
class SinkResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted_duplicates: int = 0
    calls: int = 0  # Feishu HTTP calls made by this upsert (retries included)
    write_calls: int = 0
    retries: dict[str, int] = field(default_factory=dict)  # reason/code → count
    reconciled: bool = False
    stale_rescans: int = 0  # rescans after a read that could not be right (atomic batches)
    deleted_old: int = 0  # records past retention_days deleted from Bitable
    tables: list[str] = field(default_factory=list)  # the tables written (period tables)

    def merge(self, other: SinkResult) -> None:
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, bool):
                setattr(self, f.name, a or b)
            elif isinstance(a, int):
                setattr(self, f.name, a + b)
        for k, v in other.retries.items():
            self.retries[k] = self.retries.get(k, 0) + v
        self.tables += other.tables


@dataclass
class _Create:
    chunk: list[_Row]
    token: str
    records: list[dict[str, Any]]


@dataclass
class _Row:
    key: str
    hash: str
    row: Mapping[str, Any]


class BitableSink:
    """Writes DB rows for one base (``api.app_token``); the DB (``engine``) holds the map."""

    def __init__(
        self,
        api: BitableApi,
        engine: Engine,
        *,
        add_missing_fields: bool = False,
        after_create: AfterCreateHook | None = None,
        record_cap: int = DEFAULT_RECORD_CAP,
        cross_process_lock: bool = True,
    ) -> None:
        self.api = api
        if cross_process_lock and api.xlock is None:  # one writer per base across processes
            api.xlock = BaseLock(engine, api.app_token)
        self.record_cap = record_cap
        self._periods: dict[str, dict[str, TableSpec]] = {}  # dataset → label → period spec
        self._purged: set[str] = set()  # table ids purged of old rows in this run
        # Records per table id, counted once per run and raised by what we create since: the
        # cap check's estimate (see _check_fit).
        self._held: dict[str, int] = {}
        self.engine = engine
        self.add_missing_fields = add_missing_fields
        self.after_create = after_create
        # Table handles (ids, field types) by table name while ``tables_cached()`` is open: a
        # run writes a table in several batches and need not list tables and fields each time.
        self._handles: dict[str, TableHandle] | None = None
        self._base: BaseInfo | None = None
        self._base_error: Exception | None = None

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine, **kw: Any) -> BitableSink:
        require(settings, "feishu_app_token")
        assert settings.feishu_app_token is not None
        kw.setdefault("record_cap", settings.feishu_max_records_per_table)
        policy: RetryPolicy | None = kw.pop("policy", None)
        pacing: Pacing | None = kw.pop("pacing", None)
        api = BitableApi(
            make_client(settings), settings.feishu_app_token, policy=policy, pacing=pacing
        )
        return cls(api, engine, **kw)

    # -- public --------------------------------------------------------------------------------
    def base_info(self) -> BaseInfo:
        """The base's rights and time zone, checked once per sink (= per run) before any write;
        a denial is remembered and raised again for every table (access.py)."""
        if self._base_error is not None:
            raise self._base_error
        if self._base is None:
            try:
                self._base = check_base(self.api)
            except (BaseAccessDenied, BaseTimeZoneMismatch) as e:
                self._base_error = e
                raise
        return self._base

    def ensure_table(self, spec: TableSpec) -> TableHandle:
        self.base_info()
        cache = self._handles
        handle = cache.get(spec.name) if cache is not None else None
        if handle is None or handle.spec != spec:
            handle = ensure_table(self.api, spec, add_missing_fields=self.add_missing_fields)
            if cache is not None:
                cache[spec.name] = handle
        return handle

    @contextmanager
    def tables_cached(self) -> Iterator[None]:
        """One run: each table is looked at (listed, fields checked) once, not per batch; the
        base's rights are checked afresh, retention runs once per table."""
        self._handles = {}
        self._base, self._base_error = None, None
        self._periods, self._purged, self._held = {}, set(), {}
        try:
            yield
        finally:
            self._handles = None

    def ensure_views(
        self, spec: TableSpec, accounts: Mapping[int | str, str], *, max_views: int = 200
    ) -> ViewsResult:
        """One grid view per account (id → name) on the spec's table; see views.py. Rotated:
        on every period table written in this run (else the current period's)."""
        if spec.rotate == "none":
            return ensure_views(
                self.api, self.ensure_table(spec), accounts, max_views=max_views, engine=self.engine
            )
        labels = sorted(self._periods.get(spec.dataset, {})) or [
            period_label(spec.rotate, china_today())
        ]
        out = ViewsResult()
        for label in labels:
            r = ensure_views(
                self.api,
                self.ensure_table(self.period_spec(spec, label)),
                accounts,
                max_views=max_views,
                engine=self.engine,
            )
            out.created += r.created
            out.patched += r.patched
            out.renamed += r.renamed
            out.unchanged += r.unchanged
            out.without_view += r.without_view
            out.warnings += r.warnings
        return out

    def count_ahead(self, spec: TableSpec) -> None:
        """In a run (``tables_cached``): take the table's record count for the cap check now,
        the one read it costs per run, so a table first written at the run's end does not
        wait for it there. Outside a run, or for a rotated spec, nothing to keep it in."""
        if self._handles is None or spec.rotate != "none":
            return
        tid = self.ensure_table(spec).table_id
        if tid not in self._held:
            self._held[tid] = self.api.count_records(tid)

    def reconcile(self, spec: TableSpec, dates: Collection[date] | None = None) -> ReconcileResult:
        """On request: scan the table (or ``dates``), delete duplicates, rebuild the map."""
        return reconcile(self.api, self.engine, self.ensure_table(spec), dates=dates)

    def upsert(
        self,
        spec: TableSpec,
        rows: Sequence[Mapping[str, Any]],
        *,
        force_reconcile: bool = False,
        dates: Collection[date] | None = None,
    ) -> SinkResult:
        """Project ``rows`` (dicts read from the DB) into the table. Idempotent.

        ``force_reconcile`` rebuilds the map first (scoped to ``dates`` when given, else the
        whole table). Raises SchemaMismatch (nothing written) or a Feishu error.
        """
        if spec.rotate == "none":
            return self._upsert_table(spec, rows, force_reconcile=force_reconcile, dates=dates)
        # One period table per month/week/day: rows go to the table of their date.
        col = spec.field(spec.date_field or "").column or ""
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for r in rows:
            d = _as_date(r.get(col))
            if d is None:
                raise ValueError(f"{spec.dataset}: row without a date in {col!r}: {dict(r)!r}")
            groups.setdefault(period_label(spec.rotate, d), []).append(r)
        res = SinkResult()
        for label in sorted(groups):
            part = self._upsert_table(
                self.period_spec(spec, label),
                groups[label],
                force_reconcile=force_reconcile,
                dates=dates,
            )
            res.merge(part)
        if spec.retention_days:
            res.deleted_old += self._purge_old_periods(spec, set(groups))
        return res

    def _purge_old_periods(self, spec: TableSpec, written: Collection[str]) -> int:
        """Retention on the dataset's period tables this run did not write (older months,
        weeks, days, whatever ``rotate`` was when they were made): their rows before the
        cutoff are deleted from Bitable, like a written table's; a table wholly before the
        cutoff that is then empty is deleted. Once per run and table."""
        done = f"periods:{spec.dataset}"  # one look at the base's tables per dataset and run
        if done in self._purged:
            return 0
        self._purged.add(done)
        cutoff = retention_cutoff(spec.retention_days or 0)
        deleted = 0
        for t in self.api.list_tables():
            label = period_of(spec.name, str(t.name))
            span = period_range(label) if label is not None else None
            if label is None or span is None or label in written or span[0] >= cutoff:
                continue  # not a period table of ours, written just now, or all kept
            if t.table_id in self._purged:
                continue
            try:
                handle = self.ensure_table(self.period_spec(spec, label))
            except SchemaMismatch as e:  # an older layout: say so, write nothing to it
                log.warning("bitable %r: retention not applied: %s", t.name, e)
                continue
            deleted += purge_before(self.api, self.engine, handle, cutoff)
            self._purged.add(handle.table_id)
            if span[1] < cutoff and self.api.count_records(handle.table_id) == 0:
                self._drop(handle)  # all of it past retention and nothing else in it
        return deleted

    def _drop(self, handle: TableHandle) -> None:
        """Delete an emptied period table (a base holds at most 100 tables, 1254100) and
        forget its map entries. A table still holding records (a person's) is kept."""
        self.api.delete_table(handle.table_id)
        with self.engine.begin() as conn:
            record_map.forget_table(conn, self.api.app_token, handle.table_id)
            view_map.forget_table(conn, self.api.app_token, handle.table_id)
        if self._handles is not None:
            self._handles.pop(handle.spec.name, None)
        log.info("bitable: deleted the emptied period table %r", handle.spec.name)

    def period_spec(self, spec: TableSpec, label: str) -> TableSpec:
        """The spec of ``spec``'s table for one period (``本地推单元日报 2026-11``)."""
        known = self._periods.setdefault(spec.dataset, {})
        hit = known.get(label)
        if hit is None or replace(hit, name=spec.name, period=None, rotate=spec.rotate) != spec:
            hit = replace(spec, name=f"{spec.name} {label}", period=label)
            known[label] = hit
        return hit

    def _upsert_table(
        self,
        spec: TableSpec,
        rows: Sequence[Mapping[str, Any]],
        *,
        force_reconcile: bool,
        dates: Collection[date] | None,
    ) -> SinkResult:
        try:
            return self._upsert(spec, rows, force_reconcile=force_reconcile, dates=dates)
        except FeishuApiError as e:
            if self._handles is not None:
                self._handles.pop(spec.name, None)  # the table may have changed under us
            if e.code == RECORD_EXCEED_LIMIT:  # the cap is lower than we were told
                raise TableFull(spec.name, spec.dataset, -1, 0, 0, self.record_cap) from e
            raise
        finally:
            if self.api.xlock is not None:  # the table is written: other writers' turn
                self.api.xlock.release()

    def _upsert(
        self,
        spec: TableSpec,
        rows: Sequence[Mapping[str, Any]],
        *,
        force_reconcile: bool,
        dates: Collection[date] | None,
    ) -> SinkResult:
        stats = self.api.stats
        calls0, writes0, retries0 = stats.total, stats.writes, stats.retries.copy()
        res = SinkResult()
        handle = self.ensure_table(spec)
        items = self._prepare(spec, rows)
        res.tables.append(spec.name)
        if spec.retention_days:
            cutoff = retention_cutoff(spec.retention_days)
            items = {k: it for k, it in items.items() if not self._before(spec, it, cutoff)}
            if handle.table_id not in self._purged:  # once per table and run
                res.deleted_old = purge_before(self.api, self.engine, handle, cutoff)
                self._purged.add(handle.table_id)

        app, tid = self.api.app_token, handle.table_id
        with self.engine.connect() as conn:
            mp = record_map.load(conn, app, tid, items.keys())
            pending = record_map.pending_keys(conn, app, tid)
            mapped = bool(mp) or record_map.has_entries(conn, app, tid)
        scope: Collection[date] | None = None
        need = force_reconcile
        if force_reconcile:
            scope = dates
        elif pending:
            # A crash left creates unsettled: look at the dates they belong to (all if unknown).
            need, scope = True, self._dates_of(spec, items, pending)
        elif not mapped and not handle.created and self.api.has_records(tid):
            need = True  # first run on a table with records: never blind-create
        if need:
            rr = reconcile(self.api, self.engine, handle, dates=scope, scope_keys=items.keys())
            res.deleted_duplicates += rr.duplicates_deleted
            res.reconciled = True
            with self.engine.connect() as conn:
                mp = record_map.load(conn, app, tid, items.keys())

        creates: list[_Row] = []
        updates: list[tuple[_Row, str]] = []
        for it in items.values():
            e = mp.get(it.key)
            if e is None or e.pending:
                creates.append(it)
            elif e.row_hash != it.hash:
                updates.append((it, e.record_id))
            else:
                res.unchanged += 1

        if creates:
            self._check_fit(handle, items, len(creates))
        try:
            self._create_all(
                handle,
                [creates[i : i + BATCH_SIZE] for i in range(0, len(creates), BATCH_SIZE)],
                res,
            )
        except BaseException:
            self._held.pop(tid, None)  # how many landed is unknown: count again next time
            raise
        if tid in self._held:
            self._held[tid] += len(creates)
        for i in range(0, len(updates), BATCH_SIZE):
            self._update_chunk(handle, updates[i : i + BATCH_SIZE], res)

        res.calls = stats.total - calls0
        res.write_calls = stats.writes - writes0
        res.retries = {
            k: v - retries0.get(k, 0) for k, v in stats.retries.items() if v - retries0.get(k, 0)
        }
        log.info(
            "bitable %r: %d created, %d updated, %d unchanged, %d duplicates deleted, %d calls",
            spec.name,
            res.created,
            res.updated,
            res.unchanged,
            res.deleted_duplicates,
            res.calls,
        )
        return res

    # -- internals -----------------------------------------------------------------------------
    @staticmethod
    def _prepare(spec: TableSpec, rows: Sequence[Mapping[str, Any]]) -> dict[str, _Row]:
        out: dict[str, _Row] = {}
        for r in rows:
            k = business_key(spec, r)
            out[k] = _Row(k, row_hash(spec, r), r)  # the same key twice: the last row wins
        return out

    @staticmethod
    def _before(spec: TableSpec, it: _Row, cutoff: date) -> bool:
        col = spec.field(spec.date_field or "").column or ""
        d = _as_date(it.row.get(col))
        return d is not None and d < cutoff

    def _check_fit(self, handle: TableHandle, items: Mapping[str, _Row], adding: int) -> None:
        """Stop before writing when the table cannot take ``adding`` more records.

        While tables are cached (a run), the table is counted once (a records.search) and the
        count raised by our own creates: one read per table and run, not one per batch. Deletes
        only lower the real count, so the estimate errs high, and a batch it says would not fit
        is judged on a fresh count. Records added meanwhile by someone else can make it low;
        then Feishu refuses the create (1254103), which ends the same way (TableFull).
        """
        tid = handle.table_id
        held = self._held.get(tid)
        if held is None or held + adding > self.record_cap:
            held = self.api.count_records(tid)
            if self._handles is not None:  # a run: keep the count for its next batches
                self._held[tid] = held
        if held + adding <= self.record_cap:
            return
        spec = handle.spec
        per_day = float(len(items))
        if spec.date_field is not None:
            col = spec.field(spec.date_field).column or ""
            days = {_as_date(it.row.get(col)) for it in items.values()}
            per_day = len(items) / max(1, len(days))
        raise TableFull(spec.name, spec.dataset, held, adding, per_day, self.record_cap)

    @staticmethod
    def _dates_of(
        spec: TableSpec, items: Mapping[str, _Row], keys: Collection[str]
    ) -> set[date] | None:
        """The dates of ``keys`` when all of them are among ``items`` (else None = full scan)."""
        if spec.date_field is None or not set(keys) <= items.keys():
            return None
        col = spec.field(spec.date_field).column or ""
        out = {_as_date(items[k].row.get(col)) for k in keys}
        return None if None in out else {d for d in out if d is not None}

    def _create_chunk(self, handle: TableHandle, chunk: list[_Row], res: SinkResult) -> None:
        self._create_all(handle, [chunk], res)

    def _create_all(
        self,
        handle: TableHandle,
        chunks: list[list[_Row]],
        res: SinkResult,
    ) -> None:
        """Create chunk after chunk: still one call in flight at a time, in order; while call
        *i* is on the wire this thread commits chunk *i−1* and prepares chunk *i+1* (cells, and
        its *pending* map entries, committed before the call is sent)."""
        if not chunks:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bitable-writer") as pool:
            cur = self._begin_create(handle, chunks[0])
            fut: Future[list[str]] = pool.submit(
                self.api.batch_create, handle.table_id, cur.records, cur.token
            )
            for i in range(len(chunks)):
                nxt = self._begin_create(handle, chunks[i + 1]) if i + 1 < len(chunks) else None
                try:
                    ids: list[str] | None = fut.result()
                except AmbiguousWrite:
                    ids = self._settle_ambiguous(handle, cur.chunk, cur.records, cur.token, res)
                except FeishuApiError as e:
                    if e.code != CLIENT_TOKEN_CONFLICT:
                        raise
                    # Our token names another request: look first, then a new token.
                    ids = self._settle_ambiguous(
                        handle, cur.chunk, cur.records, str(uuid.uuid4()), res
                    )
                if ids is not None and self.after_create is not None:
                    self.after_create(handle.spec, ids)  # before the next call is sent
                if nxt is not None:
                    fut = pool.submit(
                        self.api.batch_create, handle.table_id, nxt.records, nxt.token
                    )
                if ids is not None:
                    self._commit_create(handle, cur.chunk, ids, res)
                if nxt is not None:
                    cur = nxt

    def _begin_create(self, handle: TableHandle, chunk: list[_Row]) -> _Create:
        token = str(uuid.uuid4())  # reused by every retry of this create (idempotency guard)
        with self.engine.begin() as conn:
            record_map.put(
                conn,
                self.api.app_token,
                handle.table_id,
                [(it.key, record_map.PENDING_PREFIX + token, it.hash) for it in chunk],
            )
        records = [row_fields(handle.spec, it.row, handle.actual_types) for it in chunk]
        return _Create(chunk, token, records)

    def _commit_create(
        self, handle: TableHandle, chunk: list[_Row], ids: list[str], res: SinkResult
    ) -> None:
        with self.engine.begin() as conn:  # the record_ids and the "synced" mark, together
            record_map.put(
                conn,
                self.api.app_token,
                handle.table_id,
                [(it.key, rid, it.hash) for it, rid in zip(chunk, ids, strict=True)],
            )
        res.created += len(chunk)

    def _settle_ambiguous(
        self,
        handle: TableHandle,
        chunk: list[_Row],
        records: list[dict[str, Any]],
        token: str,
        res: SinkResult,
    ) -> list[str] | None:
        """A create failed in transport: look before creating again (batches are atomic).

        All keys found: it had committed. None found: create again with the SAME client_token
        (a create merely late on the server is then deduplicated by Feishu). Some found: an
        atomic batch cannot half-land, so the read was stale: wait and rescan; never create
        from a partial read (after STALE_RESCANS it stops; pending entries settle next run).
        """
        keys = {it.key for it in chunk}
        log.warning(
            "bitable %r: create outcome unknown; reconciling %d keys", handle.spec.name, len(keys)
        )
        landed = self._rescan(handle, chunk, res)
        for attempt in range(1, STALE_RESCANS + 1):
            if len(landed) in (0, len(keys)):
                break
            log.warning(
                "bitable %r: %d of %d keys of an atomic batch found: stale read, rescanning",
                handle.spec.name,
                len(landed),
                len(keys),
            )
            res.stale_rescans += 1
            self.api.pause(max(STALE_WAIT_S, self.api.policy.delay(attempt)))
            landed = self._rescan(handle, chunk, res)
        if len(landed) == len(keys):
            res.created += len(chunk)  # the reconciled hash is the content's, equal to ours
            return None
        if landed:
            raise StaleRead(handle.spec.name, len(landed), len(keys))
        return self.api.batch_create(handle.table_id, records, token)

    def _rescan(self, handle: TableHandle, chunk: list[_Row], res: SinkResult) -> set[str]:
        """Reconcile ``chunk``'s keys (their dates); the keys now mapped to a real record."""
        items = {it.key: it for it in chunk}
        rr = reconcile(
            self.api,
            self.engine,
            handle,
            dates=self._dates_of(handle.spec, items, items.keys()),
            scope_keys=items.keys(),
        )
        res.deleted_duplicates += rr.duplicates_deleted
        res.reconciled = True
        with self.engine.connect() as conn:
            mp = record_map.load(conn, self.api.app_token, handle.table_id, items.keys())
        return {k for k in items if (e := mp.get(k)) is not None and not e.pending}

    def _update_chunk(
        self,
        handle: TableHandle,
        chunk: list[tuple[_Row, str]],
        res: SinkResult,
        *,
        retry: bool = True,
    ) -> None:
        spec, app, tid = handle.spec, self.api.app_token, handle.table_id
        payload = [(rid, row_fields(spec, it.row, handle.actual_types)) for it, rid in chunk]
        try:
            self.api.batch_update(tid, payload)
        except FeishuApiError as e:
            if e.code != RECORD_ID_NOT_FOUND or not retry:
                raise
            # Someone deleted records in Bitable: rebuild the map for these keys, then redo them.
            items = {it.key: it for it, _ in chunk}

            def rescan() -> dict:
                reconcile(
                    self.api,
                    self.engine,
                    handle,
                    dates=self._dates_of(spec, items, items.keys()),
                    scope_keys=items.keys(),
                )
                with self.engine.connect() as conn:
                    return record_map.load(conn, app, tid, items.keys())

            mp = rescan()
            if len(mp) < len(items):
                # Some keys look gone (deleted by hand, or a stale read): create only what a
                # second scan, after a pause, still cannot find.
                res.stale_rescans += 1
                self.api.pause(max(STALE_WAIT_S, self.api.policy.delay(1)))
                mp = rescan()
            again = [(it, mp[it.key].record_id) for it, _ in chunk if it.key in mp]
            fresh = [it for it, _ in chunk if it.key not in mp]
            if again:
                self._update_chunk(handle, again, res, retry=False)
            if fresh:
                self._create_chunk(handle, fresh, res)
            return
        with self.engine.begin() as conn:
            record_map.set_hashes(conn, app, tid, [(it.key, it.hash) for it, _ in chunk])
        res.updated += len(chunk)
