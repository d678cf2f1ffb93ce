"""The MongoDB backend: Sacred's MongoObserver collections read with pymongo, Omniboard-compatible writes.

A page is one `find(filter, projection).sort().skip().limit()` plus `count_documents(filter)`; the
projection holds only the fields the requested columns need. Metric summaries and duration live in each
run document under the dashboard-owned `omnidash` field (see mongo_summaries), so sorting or filtering
by `max(val.acc)` is a plain sort. A user who may not write gets them from a per-process cache, and
queries touching them are then evaluated in Python (correct, slower).
"""

from __future__ import annotations

import contextlib
import heapq
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import IO, Any

import gridfs
import pymongo
from pymongo.errors import OperationFailure, PyMongoError

from app.store import rows
from app.store.base import (
    DEFAULT_PROBABLY_DEAD_AFTER,
    BadRequest,
    ColumnInfo,
    DeleteReport,
    FileInfo,
    NotFound,
    RunId,
    RunPage,
    RunStore,
    Series,
    SortKey,
)
from app.store.common import (
    BASE_DTYPES,
    MAX_TAGS,
    OMNIBOARD_EXTREMA,
    all_equal,
    check_custom_column,
    check_expected_notes,
    check_metric_column,
    check_notes,
    check_page,
    check_tag_count,
    check_tags,
    dtype_of,
    make_series,
    notes_conflict,
    positive_int,
)
from app.store.matcher import get_path_values, sort_key
from app.store.mongo_snapshot import FIELDS as SNAPSHOT_FIELDS
from app.store.mongo_snapshot import ListingSnapshot, covered, select
from app.store.mongo_summaries import Summaries, summaries_by_name
from app.store.mongo_util import (
    artifact_refs,
    by_id_key,
    collapse_paths,
    content_type_of,
    database_of,
    describe_uri,
    hosts_of,
    id_candidates,
    id_key,
    json_safe,
    match_id,
    mongo_errors,
    source_pairs,
    translate,
    updates_scan_collection,
)
from app.store.patterns import filter_backtracks
from app.store.query import (
    QueryContext,
    column_path,
    compile_query,
    filter_fields,
    metric_ref,
    metric_refs,
    projection_paths,
)

_COUNTER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="omnidash-count")
METRIC_BATCH = 4  # metric documents per reply when reading series
CUSTOM_COLUMNS = "omniboard.custom.columns"
METRIC_COLUMNS = "omniboard.metric.columns"
VIEWS = "omnidash.views"
STATE = "omnidash.state"
OMNIBOARD_REDUCER = {"avg": "mean"}
COLUMNS_TTL = 10.0
CONFIG_SAMPLE = 2000  # newest runs whose config leaves make the column catalogue
STATUSES = ["RUNNING", "COMPLETED", "FAILED", "INTERRUPTED", "TIMEOUT", "QUEUED", "PROBABLY_DEAD"]
# fields every row needs (tags/notes fall back to config.tags / meta.comment)
ROW_FIELDS = {
    "experiment.name", "command", "status", "start_time", "stop_time", "heartbeat", "host.hostname", "result",
    "omniboard", "config.tags", "meta.comment",
}
SUMMARY_PATHS = ("omnidash.metrics", "omnidash.duration")
SNAPSHOT_AFTER = 0.5  # seconds a count may take on a scanning server before listings move to the snapshot
SNAPSHOT_MIN_RUNS = 1000  # ... if the collection holds at least this many runs
SNAPSHOT_TOP_FIELDS = {f for f in SNAPSHOT_FIELDS if "." not in f} - {"omnidash"}

# One lock per database in this process: FerretDB 1.x applies concurrent updates of one document
# non-atomically, so tag edits from threads of this process are serialized (MongoDB needs no lock).
_TAG_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}
_TAG_LOCKS_GUARD = threading.Lock()


def _tag_lock(key: tuple[str, str, str]) -> threading.Lock:
    with _TAG_LOCKS_GUARD:
        return _TAG_LOCKS.setdefault(key, threading.Lock())


def _tags_editable(doc: dict[str, Any]) -> bool:
    """False when `omniboard` or `omniboard.tags` holds something $addToSet cannot extend."""
    if "omniboard" not in doc:
        return True
    ob = doc["omniboard"]
    return isinstance(ob, dict) and (ob.get("tags") is None or isinstance(ob.get("tags"), list))


class MongoStore(RunStore):
    """RunStore over the `runs` and `metrics` collections of a Sacred MongoObserver database."""

    kind = "mongodb"

    def __init__(
        self,
        uri: str,
        runs_collection: str = "runs",
        metrics_collection: str = "metrics",
        probably_dead_after: float = DEFAULT_PROBABLY_DEAD_AFTER,
        read_only: bool = False,
        client: pymongo.MongoClient | None = None,
        server_selection_timeout_ms: int = 3000,
        store_summaries: bool | None = None,
        listing_snapshot: bool | None = None,
        **_ignored: Any,
    ) -> None:
        """`store_summaries`: keep metric summaries in the run documents (default: yes, unless read-only
        or the server is FerretDB 1.x, whose updates scan the collection; then they live per process).
        `listing_snapshot`: serve listings from a per-process copy (app.store.mongo_snapshot); default:
        on a server whose every query is a full scan (FerretDB 1.x), once a count there takes over
        SNAPSHOT_AFTER seconds on at least SNAPSHOT_MIN_RUNS runs; True: always; False: never."""
        super().__init__(probably_dead_after)
        self.uri = uri
        self.where = hosts_of(uri)
        self.read_only = bool(read_only)
        try:
            self.client = client or pymongo.MongoClient(
                uri, tz_aware=True, serverSelectionTimeoutMS=int(server_selection_timeout_ms),
                connectTimeoutMS=int(server_selection_timeout_ms),
            )
        except (PyMongoError, ValueError, TypeError) as e:
            raise BadRequest(f"invalid MongoDB URI: {str(e).splitlines()[0]}") from None
        self.db = self.client[database_of(uri)]
        self.runs = self.db[runs_collection]
        self.metrics = self.db[metrics_collection]
        self.fs = gridfs.GridFS(self.db)
        self.ping()
        scans = updates_scan_collection(self.client)
        if store_summaries is None:
            store_summaries = not scans
        self.summaries = Summaries(
            self.runs, self.metrics, self.db[STATE], writable=not self.read_only and store_summaries
        )
        if listing_snapshot is None:
            listing_snapshot = None if scans else False
        self._snapshot_forced = bool(listing_snapshot)
        self.snapshot: ListingSnapshot | None = (
            None if listing_snapshot is False else ListingSnapshot(self.runs, prime=self.summaries.attach)
        )
        if self.snapshot is not None and not self._snapshot_forced:
            _COUNTER.submit(self._snapshot_if_large)  # a server just started on a big collection builds it now
        self._columns_cache: tuple[float, list[ColumnInfo], list[str], list[str]] | None = None
        self._columns_generation: int | None = None
        self._shared_cache: tuple[float, list[dict[str, Any]], list[dict[str, Any]]] | None = None
        self._tag_lock = _tag_lock((self.where, self.db.name, runs_collection))
        if not self.read_only:
            self._create_indexes()

    # -- health ------------------------------------------------------------------------
    def ping(self) -> None:
        try:
            self.client.admin.command("ping")
            self.runs.find_one({}, {"_id": 1})
        except PyMongoError as e:
            raise translate(e, self.where) from None

    def describe(self) -> str:
        return describe_uri(self.uri)

    def close(self) -> None:
        self.client.close()

    def _create_indexes(self) -> None:
        """The indexes our queries rely on; a user without the right simply goes without them."""
        specs = [
            (self.metrics, [("run_id", 1), ("name", 1)]),
            (self.runs, [("omnidash.v", 1)]),
            (self.runs, [("status", 1)]),
        ]
        for coll, keys in specs:
            with contextlib.suppress(PyMongoError):
                coll.create_index(keys)

    # -- shared column definitions ------------------------------------------------------------
    def _shared(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        now = time.monotonic()
        if self._shared_cache and now - self._shared_cache[0] < 2.0:
            return self._shared_cache[1], self._shared_cache[2]
        custom = []
        for c in self.db[CUSTOM_COLUMNS].find({}):
            if isinstance(c.get("name"), str) and isinstance(c.get("config_path"), str) and c["config_path"]:
                custom.append({"name": c["name"], "config_path": c["config_path"]})
        metric = []
        for c in self.db[METRIC_COLUMNS].find({}):
            if not isinstance(c.get("name"), str) or not isinstance(c.get("metric_name"), str):
                continue
            if c.get("extrema") not in OMNIBOARD_EXTREMA:
                continue
            metric.append({"name": c["name"], "metric_name": c["metric_name"], "extrema": c["extrema"],
                           "lastn": positive_int(c.get("lastn"))})
        self._shared_cache = (now, custom, metric)
        return custom, metric

    @mongo_errors
    def custom_columns(self) -> list[dict[str, Any]]:
        return self._shared()[0]

    @mongo_errors
    def metric_columns(self) -> list[dict[str, Any]]:
        return self._shared()[1]

    @mongo_errors
    def add_custom_column(self, name: str, config_path: str) -> None:
        self.check_writable()
        self._put_shared(CUSTOM_COLUMNS, name, {"config_path": check_custom_column(name, config_path)})

    @mongo_errors
    def add_metric_column(self, name: str, metric_name: str, extrema: str, lastn: int = 1) -> None:
        self.check_writable()
        self._put_shared(METRIC_COLUMNS, name, check_metric_column(name, metric_name, extrema, lastn))

    def _put_shared(self, collection: str, name: str, fields: dict[str, Any]) -> None:
        """Create or update a column the way Omniboard's ERM routes do (with mongoose's __v on insert)."""
        self.db[collection].update_one(
            {"name": name}, {"$set": fields, "$setOnInsert": {"__v": 0}}, upsert=True
        )
        self._shared_cache = None
        self._columns_cache = None

    # -- query plumbing -------------------------------------------------------------------
    @staticmethod
    def _omniboard_metric_ref(column: dict[str, Any]) -> tuple[str, str, int | None]:
        reducer = OMNIBOARD_REDUCER.get(column["extrema"], column["extrema"])
        n = positive_int(column.get("lastn")) if reducer == "last_avg" else None
        return reducer, column["metric_name"], n

    def _context(self, now: datetime):
        custom, metric = self._shared()
        return QueryContext(
            now=now,
            probably_dead_after=self.probably_dead_after,
            config_paths=self._catalogue()[1],
            custom_columns={c["name"]: c["config_path"] for c in custom},
            metric_columns={c["name"]: self._omniboard_metric_ref(c) for c in metric},
        )

    def _metric_ref(self, name: str, ctx) -> tuple[str, str, int | None] | None:
        try:
            return metric_ref(name, ctx)
        except BadRequest:
            return None

    def _prepare(self, query: str, keys: list[SortKey], columns: list[str] | None, ctx):
        """(filter, sort spec, whether summaries are needed by filter/sort) for a listing."""
        flt = compile_query(query or "", ctx)
        refs = set(metric_refs(query, ctx)) if query and query.strip() else set()
        sort: list[tuple[str, int]] = []
        for key in keys:
            path = column_path(key.column, ctx)
            ref = self._metric_ref(key.column, ctx)
            if ref is not None:
                refs.add(ref)
            if path not in (p for p, _ in sort):
                sort.append((path, -1 if key.descending else 1))
        if "_id" not in (p for p, _ in sort):
            sort.append(("_id", 1))
        for name in columns or []:
            ref = self._metric_ref(name, ctx)
            if ref is not None and ref[0] == "last_avg":
                self.summaries.ensure_window(int(ref[2] or 1))
        refs |= {self._omniboard_metric_ref(mc) for mc in self._shared()[1]}
        for ref in refs:
            if ref[0] == "last_avg":
                self.summaries.ensure_window(int(ref[2] or 1))

        touched = [p for p, _ in sort] + list(filter_fields(flt))
        needs_summaries = any(p.startswith(SUMMARY_PATHS) for p in touched)
        return flt, sort, needs_summaries

    def _projection(self, columns: list[str] | None, ctx) -> tuple[dict[str, int], list[str]]:
        """(projection, metric columns) for rows with these columns (None: every row column)."""
        custom, metric = self._shared()
        paths = set(ROW_FIELDS)
        metric_cols: list[str] = []
        if columns is None:
            paths.add("config")
        for name in columns or []:
            if name in rows.BASE_COLUMNS:
                continue
            ref = self._metric_ref(name, ctx)
            if ref is not None:
                if rows.parse_metric_column(name):
                    metric_cols.append(name)
                paths.add(f"omnidash.metrics.{rows.escape_key(ref[1])}")
                continue
            try:
                paths.add(column_path(name, ctx))
            except BadRequest:
                continue
        for cc in custom:
            paths.add(cc["config_path"])
        for mc in metric:
            paths.add(f"omnidash.metrics.{rows.escape_key(mc['metric_name'])}")
        paths.add("heartbeat")
        paths.add("start_time")
        if not self.summaries.writable:
            paths = {p for p in paths if not p.startswith("omnidash")}
        return collapse_paths(paths), metric_cols

    def _row(self, doc: dict[str, Any], now: datetime, ctx, columns: list[str] | None,
             metric_cols: list[str]) -> dict[str, Any]:
        """The row of one projected document, restricted to `columns` when given."""
        custom, metric = self._shared()
        try:
            row = rows.row_from_doc(
                doc, now, self.probably_dead_after,
                summaries=summaries_by_name(doc.get("omnidash")),
                metric_columns=metric_cols,
                custom_columns=custom,
                omniboard_metric_columns=metric,
            )
        except Exception:  # noqa: BLE001 - a malformed document still shows its id
            row = {name: None for name in rows.BASE_COLUMNS}
            row["id"] = doc.get("_id")
        if columns is None:
            return row
        out: dict[str, Any] = {"id": row.get("id")}
        for name in columns:
            if name in row:
                out[name] = row[name]
                continue
            try:
                path = column_path(name, ctx)
            except BadRequest:
                out[name] = None
                continue
            out[name] = rows.clean_number(rows.decode_value(rows.get_path(doc, path)))
        return out

    # -- listing ---------------------------------------------------------------------------
    @mongo_errors
    def list_runs(
        self,
        query: str = "",
        sort: str | Sequence[str] | None = "-id",
        offset: int = 0,
        limit: int = 50,
        columns: Sequence[str] | None = None,
    ) -> RunPage:
        offset, limit = check_page(offset, limit)
        now = datetime.now(UTC)
        ctx = self._context(now)
        keys = SortKey.parse_list(sort)
        wanted = list(columns) if columns is not None else None
        flt, sort_spec, needs_summaries = self._prepare(query, keys, wanted, ctx)
        projection, metric_cols = self._projection(wanted, ctx)
        snap = self._serving(flt, sort_spec, projection)
        if snap is not None:
            chosen = snap.select(flt, sort_spec)
            total, docs = len(chosen), chosen[offset : offset + limit]
        elif (needs_summaries and not self.summaries.writable) or filter_backtracks(flt):
            self.summaries.refresh()
            total, docs = self._python_page(flt, sort_spec, offset, limit, projection)
        else:
            self.summaries.refresh()
            counting = _COUNTER.submit(self._timed_count, flt)  # concurrent with the page query
            docs = list(
                self.runs.find(flt, projection).sort(sort_spec).skip(offset).limit(limit)
            ) if limit else []
            total = counting.result()
        if not self.summaries.writable:
            self.summaries.attach(docs)
        return RunPage(total=total, offset=offset, rows=[self._row(d, now, ctx, wanted, metric_cols) for d in docs])

    def _serving(self, flt: dict[str, Any], sort_spec: list[tuple[str, int]],
                 projection: Iterable[str] = ()) -> ListingSnapshot | None:
        """The listing snapshot when it answers this listing (every path it needs is in the copy)."""
        snap = self.snapshot
        if snap is None or not (snap.ready or snap.building or self._snapshot_forced):
            return None  # (a first build running is waited for: it is quicker than asking the server)
        paths = [*filter_fields(flt), *(p for p, _ in sort_spec), *projection]
        return snap if all(covered(p) for p in paths) else None

    def _snapshot_if_large(self) -> None:
        """Start the listing snapshot when the collection already holds SNAPSHOT_MIN_RUNS runs."""
        with contextlib.suppress(PyMongoError):
            if self.snapshot is not None and self.runs.estimated_document_count() >= SNAPSHOT_MIN_RUNS:
                self.snapshot.start()

    def _timed_count(self, flt: dict[str, Any]) -> int:
        """count_documents; a slow one on a scanning server starts the listing snapshot."""
        began = time.monotonic()
        n = self.runs.count_documents(flt)
        if self.snapshot is not None and not self.snapshot.ready and time.monotonic() - began > SNAPSHOT_AFTER:
            self._snapshot_if_large()  # slow because large, not because the machine is busy
        return n

    def _python_page(
        self, flt: dict[str, Any], sort_spec: list[tuple[str, int]], offset: int, limit: int,
        projection: dict[str, int],
    ) -> tuple[int, list[dict[str, Any]]]:
        """Filter and sort in Python on summaries from the per-process cache (read-only users)."""
        ids = self._python_select(flt, sort_spec)
        page_ids = ids[offset : offset + limit]
        found = {d["_id"]: d for d in self.runs.find({"_id": {"$in": page_ids}}, projection)} if page_ids else {}
        return len(ids), [found[i] for i in page_ids if i in found]

    def _python_select(self, flt: dict[str, Any], sort_spec: list[tuple[str, int]]) -> list[RunId]:
        """Ids of matching runs in sort order, evaluating the filter with app.store.matcher."""
        paths = projection_paths(flt) | {p for p, _ in sort_spec}  # whole arrays, not tags.0
        paths = {p for p in paths if not p.startswith("omnidash")} | {"status", "heartbeat", "start_time"}
        # a negative $nor needs the paths too; filter_fields covers them
        docs = list(self.runs.find({}, collapse_paths(paths)))
        self.summaries.attach(docs)
        return [d["_id"] for d in select(docs, flt, sort_spec)]

    @mongo_errors
    def count(self, query: str = "") -> int:
        if not query or not query.strip():
            snap = self._serving({}, [])
            return len(snap.docs()) if snap is not None else self._timed_count({})
        ctx = self._context(datetime.now(UTC))
        flt, sort_spec, needs_summaries = self._prepare(query, [SortKey("id")], [], ctx)
        snap = self._serving(flt, [])
        if snap is not None:
            return len(snap.select(flt, []))
        self.summaries.refresh()
        if (needs_summaries and not self.summaries.writable) or filter_backtracks(flt):
            return len(self._python_select(flt, sort_spec))
        return self._timed_count(flt)

    @mongo_errors
    def run_ids(self, query: str = "") -> list[RunId]:
        ctx = self._context(datetime.now(UTC))
        flt, sort_spec, needs_summaries = self._prepare(query, [SortKey("id")], [], ctx)
        snap = self._serving(flt, sort_spec)
        if snap is not None:
            return [d["_id"] for d in snap.select(flt, sort_spec)]
        self.summaries.refresh()
        if (needs_summaries and not self.summaries.writable) or filter_backtracks(flt):
            return self._python_select(flt, sort_spec)
        return [d["_id"] for d in self.runs.find(flt, {"_id": 1}).sort(sort_spec)]

    def iter_rows(self, query: str = "", sort: str | Sequence[str] | None = "-id",
                  columns: Sequence[str] | None = None, batch: int = 1000):
        """Every matching row from one cursor (CSV export); read-only metric queries go page by page."""
        now = datetime.now(UTC)
        try:
            ctx = self._context(now)
            keys = SortKey.parse_list(sort)
            wanted = list(columns) if columns is not None else None
            flt, sort_spec, needs_summaries = self._prepare(query, keys, wanted, ctx)
            projection, metric_cols = self._projection(wanted, ctx)
            snap = self._serving(flt, sort_spec, projection)
            if snap is not None:
                chosen = snap.select(flt, sort_spec)
                for start in range(0, len(chosen), batch):
                    yield from self._rows_of(chosen[start : start + batch], now, ctx, wanted, metric_cols)
                return
            if (needs_summaries and not self.summaries.writable) or filter_backtracks(flt):
                ids = self._python_select(flt, sort_spec)  # one pass, then the rows in that order
                for start in range(0, len(ids), batch):
                    chunk = ids[start : start + batch]
                    found = {d["_id"]: d for d in self.runs.find({"_id": {"$in": chunk}}, projection)}
                    yield from self._rows_of([found[i] for i in chunk if i in found], now, ctx, wanted, metric_cols)
                return
            self.summaries.refresh()
            cursor = self.runs.find(flt, projection).sort(sort_spec).batch_size(batch)
            chunk: list[dict[str, Any]] = []
            for doc in cursor:
                chunk.append(doc)
                if len(chunk) >= batch:
                    yield from self._rows_of(chunk, now, ctx, wanted, metric_cols)
                    chunk = []
            yield from self._rows_of(chunk, now, ctx, wanted, metric_cols)
        except PyMongoError as e:
            raise translate(e, self.where) from None

    def _rows_of(self, docs, now, ctx, wanted, metric_cols):
        if not self.summaries.writable:
            self.summaries.attach(docs)
        return [self._row(d, now, ctx, wanted, metric_cols) for d in docs]

    # -- columns -------------------------------------------------------------------------------
    def _catalogue(self) -> tuple[list[ColumnInfo], list[str], list[str]]:
        """(config leaf columns, their names, metric names), cached for COLUMNS_TTL seconds (or, from a
        listing snapshot, until its next scan)."""
        now = time.monotonic()
        snap = self._serving({}, [])
        snapshot = snap.docs() if snap is not None else None
        generation = snap.generation if snap is not None else None
        if self._columns_cache and (
            generation == self._columns_generation if generation is not None
            else now - self._columns_cache[0] < COLUMNS_TTL
        ):
            return self._columns_cache[1], self._columns_cache[2], self._columns_cache[3]
        values: dict[str, list[Any]] = {}
        n = 0
        if snapshot is not None:
            newest = heapq.nlargest(CONFIG_SAMPLE, snapshot, key=lambda d: sort_key(d.get("_id")))
        else:
            newest = self.runs.find({}, {"config": 1}).sort("_id", -1).limit(CONFIG_SAMPLE)
        for doc in newest:
            n += 1
            for key, value in rows.flatten_dict(doc.get("config"), "config").items():
                values.setdefault(key, []).append(value)
        infos = [
            ColumnInfo(name, "config", dtype_of(vals), varies=len(vals) < n or not all_equal(vals))
            for name, vals in sorted(values.items())
        ]
        names: set[str] = set(self.summaries.known_names())  # kept current by the summary refresh
        if snapshot is not None:  # names listed by MongoObserver in info.metrics, and those summarised
            for d in snapshot:
                names |= {x for x in get_path_values(d, "info.metrics.name") if isinstance(x, str)}
                od = d.get("omnidash")
                if isinstance(od, dict) and isinstance(od.get("metrics"), dict):
                    names |= {rows.unescape_key(k) for k in od["metrics"]}
        elif not names or not self.summaries.writable:
            with contextlib.suppress(OperationFailure):
                names |= {x for x in self.runs.distinct("info.metrics.name") if isinstance(x, str)}
        if not names:
            with contextlib.suppress(OperationFailure):
                names |= {x for x in self.metrics.distinct("name") if isinstance(x, str)}
        for _probe, od in self.summaries.cache.values():
            names |= {rows.unescape_key(k) for k in od.get("metrics", {})}
        config_names = [c.name for c in infos]
        self._columns_cache = (now, infos, config_names, sorted(names))
        self._columns_generation = generation
        return infos, config_names, sorted(names)

    @mongo_errors
    def columns(self) -> list[ColumnInfo]:
        infos, _names, metric_names = self._catalogue()
        custom, metric = self._shared()
        out = [ColumnInfo(name, "base", BASE_DTYPES.get(name, "mixed")) for name in rows.BASE_COLUMNS]
        out += infos
        for m in metric_names:
            out += [ColumnInfo(rows.metric_column(r, m), "metric", "number") for r in rows.REDUCERS]
        for cc in custom:
            out.append(ColumnInfo(cc["name"], "custom", "mixed", label=cc["name"], path=cc["config_path"]))
        for mc in metric:
            out.append(ColumnInfo(mc["name"], "metric", "number", label=mc["name"]))
        return out

    @mongo_errors
    def distinct(self, column: str, limit: int = 100) -> list[Any]:
        column = (column or "").strip()
        found: list[Any] = []
        values_of = self._distinct_values
        if column == "status":
            found = STATUSES + [s for s in values_of("status") if isinstance(s, str)]
        elif column == "tags":
            found = list(values_of("omniboard.tags"))
            for t in values_of("config.tags"):
                found += [x.strip() for x in t.split(",")] if isinstance(t, str) else [t]
        elif column == "notes":
            found = list(values_of("omniboard.notes")) + list(values_of("meta.comment"))
        else:
            ctx = self._context(datetime.now(UTC))
            path = column_path(column, ctx)
            if path.startswith("omnidash"):
                return []
            found = [rows.clean_number(rows.decode_value(v)) for v in values_of(path)]
        unique: dict[Any, Any] = {}
        for v in found:
            if v is None or v == "" or isinstance(v, dict | list):
                continue
            unique.setdefault((type(v).__name__, v if not isinstance(v, datetime) else rows.iso(v)), v)
        ordered = sorted(unique.values(), key=sort_key)
        return [json_safe(v) for v in ordered[: max(0, int(limit))]]

    def _distinct_values(self, path: str) -> list[Any]:
        """`distinct(path)`: array elements one by one, as the server answers it."""
        snap = self._serving({}, [], [path])
        if snap is None:
            return list(self.runs.distinct(path))
        out: list[Any] = []
        for d in snap.docs():
            for v in get_path_values(d, path):
                out.extend(v if isinstance(v, list) else [v])
        return out

    # -- one run ---------------------------------------------------------------------------------
    def _find(self, run_id: RunId, projection: dict[str, Any] | None = None) -> dict[str, Any]:
        """The run document with this id (or its int/str twin); NotFound otherwise."""
        docs = list(self.runs.find({"_id": {"$in": id_candidates(run_id)}}, projection))
        if not docs:
            raise NotFound(f"no run with id {run_id!r}")
        return match_id(by_id_key(docs), run_id) or docs[0]

    @mongo_errors
    def get_run(self, run_id: RunId, fields: Sequence[str] | None = None) -> dict[str, Any]:
        doc = self._snapshot_run(run_id, fields)
        if doc is None:
            doc = self._find(run_id, {f: 1 for f in fields} if fields is not None else None)
        return self._public(doc)

    @mongo_errors
    def get_runs(self, run_ids: Iterable[RunId], fields: Sequence[str] | None = None) -> dict[RunId, dict[str, Any]]:
        """One query for every run not served by the listing snapshot."""
        requested = list(dict.fromkeys(run_ids))
        out: dict[RunId, dict[str, Any]] = {}
        rest = []
        for rid in requested:
            doc = self._snapshot_run(rid, fields)
            if doc is not None:
                out[rid] = doc
            else:
                rest.append(rid)
        if rest:
            projection = {f: 1 for f in fields} if fields is not None else None
            found = by_id_key(self.runs.find({"_id": {"$in": self._stored_ids(rest)}}, projection))
            for rid in rest:
                doc = match_id(found, rid)
                if doc is not None:
                    out[rid] = doc
        return {rid: self._public(out[rid]) for rid in requested if rid in out}

    @staticmethod
    def _public(doc: dict[str, Any]) -> dict[str, Any]:
        """A run document as get_run returns it (no omnidash field, result decoded, JSON-safe)."""
        doc = dict(doc)
        doc.pop("omnidash", None)
        if "result" in doc:
            doc["result"] = rows.decode_value(doc["result"])
        return json_safe(doc)

    def _snapshot_run(self, run_id: RunId, fields: Sequence[str] | None) -> dict[str, Any] | None:
        """Top-level fields of one run from a ready listing snapshot that holds them all (plot panel and
        compare page on FerretDB 1.x, where a find by id reads every run), else None."""
        snap = self.snapshot
        if snap is None or not snap.ready or fields is None or not all(f in SNAPSHOT_TOP_FIELDS for f in fields):
            return None
        d = snap.doc(run_id)
        if d is None:
            return None  # maybe newer than the snapshot: the server knows
        return {"_id": d["_id"], **{f: d[f] for f in fields if f in d}}

    def _file_infos(self, refs: list[tuple[str, Any]]) -> list[FileInfo]:
        ids = [fid for _n, fid in refs if fid is not None]
        files = {f["_id"]: f for f in self.db["fs.files"].find({"_id": {"$in": ids}})} if ids else {}
        out = []
        for name, fid in refs:
            f = files.get(fid)
            if f is None:
                out.append(FileInfo(name, None, None, content_type_of(name, None), missing=True,
                                    file_id=str(fid) if fid is not None else None))
                continue
            size = f.get("length")
            out.append(FileInfo(
                name, int(size) if isinstance(size, int | float) else None, rows.parse_time(f.get("uploadDate")),
                content_type_of(name, f.get("contentType")), file_id=str(fid),
            ))
        return out

    @mongo_errors
    def list_artifacts(self, run_id: RunId) -> list[FileInfo]:
        return self._file_infos(artifact_refs(self._find(run_id, {"artifacts": 1})))

    @mongo_errors
    def list_sources(self, run_id: RunId) -> list[FileInfo]:
        return self._file_infos(source_pairs(self._find(run_id, {"experiment.sources": 1})))

    def _open(self, refs: list[tuple[str, Any]], name: str, what: str, run_id: RunId) -> tuple[IO[bytes], FileInfo]:
        for ref_name, fid in refs:
            if ref_name != name:
                continue
            info = self._file_infos([(ref_name, fid)])[0]
            if info.missing:
                raise NotFound(f"{what} {name!r} of run {run_id!r} is missing from GridFS")
            try:
                return self.fs.get(fid), info
            except gridfs.errors.NoFile:
                raise NotFound(f"{what} {name!r} of run {run_id!r} is missing from GridFS") from None
        raise NotFound(f"run {run_id!r} has no {what} {name!r}")

    @mongo_errors
    def open_artifact(self, run_id: RunId, name: str) -> tuple[IO[bytes], FileInfo]:
        return self._open(artifact_refs(self._find(run_id, {"artifacts": 1})), name, "artifact", run_id)

    @mongo_errors
    def open_source(self, run_id: RunId, name: str) -> tuple[IO[bytes], FileInfo]:
        return self._open(source_pairs(self._find(run_id, {"experiment.sources": 1})), name, "source file", run_id)

    # -- metrics -------------------------------------------------------------------------------
    def _stored_ids(self, run_ids: Iterable[RunId]) -> list[RunId]:
        out: list[RunId] = []
        for rid in run_ids:
            for c in id_candidates(rid):
                if c not in out:
                    out.append(c)
        return out

    @mongo_errors
    def metric_names(self, run_ids: Iterable[RunId]) -> dict[RunId, list[str]]:
        requested = list(run_ids)
        listed = self._listed_metric_names(requested)
        if listed is not None:
            return listed
        ids = self._stored_ids(requested)
        out: dict[RunId, set[str]] = {}
        for m in self.metrics.find({"run_id": {"$in": ids}}, {"run_id": 1, "name": 1, "_id": 0}):
            if isinstance(m.get("name"), str):
                out.setdefault(m.get("run_id"), set()).add(m["name"])
        return {rid: sorted(names) for rid, names in out.items()}

    def _listed_metric_names(self, run_ids: list[RunId]) -> dict[RunId, list[str]] | None:
        """Metric names from the runs' `info.metrics` (MongoObserver lists each metric there; read from the
        listing snapshot when there is one), or None when a run is unknown or lists none: then the metrics
        collection is asked (on FerretDB 1.x that reads every metric document, however long)."""
        snap = self.snapshot
        if snap is not None and snap.ready:
            lookup = snap.doc
        else:
            found = by_id_key(self.runs.find({"_id": {"$in": self._stored_ids(run_ids)}}, {"info.metrics": 1}))

            def lookup(rid: RunId) -> dict[str, Any] | None:
                return match_id(found, rid)
        out: dict[RunId, list[str]] = {}
        for rid in run_ids:
            doc = lookup(rid)
            if doc is None:
                return None
            names = sorted({x for x in get_path_values(doc, "info.metrics.name") if isinstance(x, str)})
            if not names:
                return None
            out[doc["_id"]] = names
        return out

    @mongo_errors
    def metric_series(
        self,
        run_ids: Iterable[RunId],
        names: Iterable[str],
        max_points: int | None = 1000,
        x_range: tuple[float, float] | None = None,
        since_step: float | None = None,
    ) -> list[Series]:
        requested = list(run_ids)
        names = [n for n in names if isinstance(n, str)]
        if not requested or not names:
            return []
        found: dict[str, dict[tuple[str, Any], Series]] = {name: {} for name in names}
        for series in self._read_series(requested, names, max_points, x_range, since_step):
            found.setdefault(series.name, {})[id_key(series.run_id)] = series
        out: list[Series] = []
        for rid in requested:
            for name in names:
                series = match_id(found[name], rid)
                if series is not None:
                    out.append(series)
        return out

    def _read_series(self, run_ids: list[RunId], names: list[str], max_points: int | None,
                     x_range: tuple[float, float] | None = None, since_step: float | None = None) -> Iterator[Series]:
        """One cursor over the metric documents (one scan on FerretDB), each reduced as it arrives."""
        cursor = self.metrics.find(
            {"run_id": {"$in": self._stored_ids(run_ids)}, "name": {"$in": names}},
            {"run_id": 1, "name": 1, "steps": 1, "values": 1, "timestamps": 1, "_id": 0},
        ).batch_size(METRIC_BATCH)  # long series: keep every reply small (FerretDB caps replies at 48 MB)
        for m in cursor:
            values = m.get("values") if isinstance(m.get("values"), list) else []
            steps = m.get("steps") if isinstance(m.get("steps"), list) else list(range(len(values)))
            stamps = m.get("timestamps") if isinstance(m.get("timestamps"), list) else []
            yield make_series(m.get("run_id"), m.get("name"), steps, values, stamps, max_points, x_range, since_step)

    def iter_metric_series(self, run_ids: Iterable[RunId], names: Iterable[str]) -> Iterator[Series]:
        ids, wanted = list(run_ids), [n for n in names if isinstance(n, str)]
        if not ids or not wanted:
            return
        try:
            yield from self._read_series(ids, wanted, None)
        except PyMongoError as e:
            raise translate(e, self.where) from None

    # -- writes (Omniboard-compatible) ----------------------------------------------------------------
    @mongo_errors
    def set_tags(self, run_id: RunId, tags: list[str]) -> None:
        self.check_writable()
        tags = check_tags(tags)
        rid = self._find(run_id, {"_id": 1})["_id"]
        with self._tag_lock:
            self.runs.update_one({"_id": rid}, {"$set": {"omniboard.tags": tags}})
        self._wrote(rid, {"omniboard.tags": tags})

    @mongo_errors
    def set_notes(self, run_id: RunId, notes: str, expected: str | None = None) -> None:
        self.check_writable()
        notes, expected = check_notes(notes), check_expected_notes(expected)
        if expected is None:
            rid = self._find(run_id, {"_id": 1})["_id"]
            self.runs.update_one({"_id": rid}, {"$set": {"omniboard.notes": notes}})
        else:
            rid = self._set_notes_if(run_id, notes, expected)
        self._wrote(rid, {"omniboard.notes": notes})

    def _set_notes_if(self, run_id: RunId, notes: str, expected: str) -> RunId:
        """Compare-and-set: one conditional update on the very fields the shown notes come from."""
        fields = {"omniboard.notes": 1, "meta.comment": 1}
        for _attempt in range(5):
            doc = self._find(run_id, fields)
            current = rows.notes_of(doc)
            if current != expected:
                raise notes_conflict(current)
            ob, meta = doc.get("omniboard"), doc.get("meta")
            stored = ob.get("notes") if isinstance(ob, dict) else None
            flt: dict[str, Any] = {"_id": doc["_id"], "omniboard.notes": stored}
            if not isinstance(stored, str):  # shown from meta.comment: that must not change either
                flt["meta.comment"] = meta.get("comment") if isinstance(meta, dict) else None
            if self.runs.update_one(flt, {"$set": {"omniboard.notes": notes}}).matched_count:
                return doc["_id"]
        raise notes_conflict(rows.notes_of(self._find(run_id, fields)))

    @mongo_errors
    def update_tags(self, run_ids: Iterable[RunId], add: Iterable[str] = (), remove: Iterable[str] = ()) -> int:
        """$addToSet / $pullAll on omniboard.tags; a run showing config.tags first gets them copied over."""
        self.check_writable()
        add, remove = check_tags(list(add)), check_tags(list(remove))
        requested = list(run_ids)
        docs = list(self.runs.find({"_id": {"$in": self._stored_ids(requested)}},
                                   {"omniboard": 1, "config.tags": 1}))
        by_key = by_id_key(docs)
        targets: list[dict[str, Any]] = []
        for rid in requested:
            d = match_id(by_key, rid)
            if d is not None and _tags_editable(d) and all(d is not t for t in targets):
                shown = rows.tags_of(d)
                check_tag_count(shown + [t for t in add if t not in shown], d["_id"])
                targets.append(d)
        if not targets or not (add or remove):
            return len(targets)
        ids = [d["_id"] for d in targets]
        with self._tag_lock:
            for d in targets:
                ob = d.get("omniboard")
                if not (isinstance(ob, dict) and isinstance(ob.get("tags"), list)):
                    # initialise from the displayed (config) tags, only if still unset: no lost update
                    shown = rows.tags_of({"config": d.get("config")})
                    self.runs.update_one({"_id": d["_id"], "omniboard.tags": None},
                                         {"$set": {"omniboard.tags": shown}})
            for _attempt in range(5):
                for tag in add:  # only onto runs with room for one more: MAX_TAGS holds under races too
                    self.runs.update_many({"_id": {"$in": ids}, f"omniboard.tags.{MAX_TAGS - 1}": {"$exists": False}},
                                          {"$addToSet": {"omniboard.tags": tag}})
                if remove:
                    self.runs.update_many({"_id": {"$in": ids}}, {"$pullAll": {"omniboard.tags": remove}})
                stored = self._stored_tags(ids)
                if all(all(t in tags for t in add) and not any(t in tags for t in remove)
                       for tags in stored.values()):  # FerretDB may lose concurrent updates: check, retry
                    break
        for rid, tags in stored.items():
            self._wrote(rid, {"omniboard.tags": tags})
        for rid, tags in stored.items():
            if not all(t in tags for t in add):  # filled up by someone else meanwhile
                check_tag_count([*tags, *add], rid)
        return len(targets)

    def _stored_tags(self, ids: list[RunId]) -> dict[RunId, list[Any]]:
        """{run id: omniboard.tags as stored now}."""
        out: dict[RunId, list[Any]] = {}
        for d in self.runs.find({"_id": {"$in": ids}}, {"omniboard.tags": 1}):
            tags = (d.get("omniboard") or {}).get("tags") if isinstance(d.get("omniboard"), dict) else None
            out[d["_id"]] = tags if isinstance(tags, list) else []
        return out

    def _delete_plan(self, doc: dict[str, Any]) -> tuple[DeleteReport, list[Any], list[Any]]:
        """The report, artifact file ids, and source file ids no other run references."""
        rid = doc["_id"]
        report = DeleteReport(run_id=rid)
        report.metrics = self.metrics.count_documents({"run_id": rid})
        artifacts = [(n, f) for n, f in artifact_refs(doc) if f is not None]
        sources = [(n, f) for n, f in source_pairs(doc) if f is not None]
        shared: set[Any] = set()
        if sources:
            mine = {f for _n, f in sources}
            for other in self.runs.find({"_id": {"$ne": rid}}, {"experiment.sources": 1}):
                shared |= mine & {f for _n, f in source_pairs(other)}
        own_sources = [(n, f) for n, f in sources if f not in shared]
        artifact_ids = list(dict.fromkeys(f for _n, f in artifacts))
        source_ids = [f for f in dict.fromkeys(f for _n, f in own_sources) if f not in artifact_ids]
        existing = {f["_id"] for f in self.db["fs.files"].find({"_id": {"$in": artifact_ids + source_ids}}, {"_id": 1})}
        report.artifacts = sum(1 for f in artifact_ids if f in existing)
        report.sources = sum(1 for f in source_ids if f in existing)
        report.files = [f"artifact {n}" for n, f in artifacts if f in existing] + [
            f"source {n}" for n, f in own_sources if f in existing
        ]
        return report, artifact_ids, source_ids

    @mongo_errors
    def delete_preview(self, run_id: RunId) -> DeleteReport:
        doc = self._find(run_id, {"artifacts": 1, "experiment.sources": 1})
        return self._delete_plan(doc)[0]

    @mongo_errors
    def delete_run(self, run_id: RunId) -> DeleteReport:
        """Run document, its metrics, its artifact files and chunks, sources no other run uses."""
        self.check_writable()
        doc = self._find(run_id, {"artifacts": 1, "experiment.sources": 1})
        report, artifact_ids, source_ids = self._delete_plan(doc)
        self.runs.delete_one({"_id": doc["_id"]})
        self.metrics.delete_many({"run_id": doc["_id"]})
        file_ids = artifact_ids + source_ids
        if file_ids:
            self.db["fs.chunks"].delete_many({"files_id": {"$in": file_ids}})
            self.db["fs.files"].delete_many({"_id": {"$in": file_ids}})
        self.summaries.forget(doc["_id"])
        self._wrote(doc["_id"], None)
        return report

    def _wrote(self, run_id: RunId, update: dict[str, Any] | None) -> None:
        """Tell the listing snapshot about a write of this process ($set paths, or None: deleted)."""
        if self.snapshot is None:
            return
        if update is None:
            self.snapshot.remove(run_id)
        else:
            self.snapshot.patch(run_id, update)

    # -- saved views (dashboard-owned collection) ----------------------------------------------------
    @mongo_errors
    def list_views(self) -> list[dict[str, Any]]:
        views = [
            {"name": v["name"], "state": v.get("state") if isinstance(v.get("state"), dict) else {},
             "updated": rows.iso(rows.parse_time(v.get("updated")))}
            for v in self.db[VIEWS].find({}, {"_id": 0})
            if isinstance(v.get("name"), str)
        ]
        return sorted(views, key=lambda v: v["name"].lower())

    @mongo_errors
    def save_view(self, name: str, state: dict[str, Any]) -> None:
        self.check_writable()
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("a view needs a name")
        if not isinstance(state, dict):
            raise BadRequest("a view's state must be an object")
        self.db[VIEWS].update_one(
            {"name": name.strip()}, {"$set": {"state": state, "updated": datetime.now(UTC)}}, upsert=True
        )

    @mongo_errors
    def delete_view(self, name: str) -> None:
        self.check_writable()
        self.db[VIEWS].delete_many({"name": name})

