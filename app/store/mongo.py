"""The MongoDB backend: Sacred's MongoObserver collections read with pymongo, Omniboard-compatible writes.

A page is one `find(filter, projection).sort().skip().limit()` plus `count_documents(filter)`; the
projection holds only the fields the requested columns need. Metric summaries and duration live in each
run document under the dashboard-owned `omnidash` field (see mongo_summaries), so sorting or filtering
by `max(val.acc)` is a plain sort. A user who may not write gets them from a per-process cache, and
queries touching them are then evaluated in Python (correct, slower): `MongoStore._listing` is the one
place that chooses between the two.

Supported servers: MongoDB 4.4 to 8 and FerretDB 2 (PostgreSQL + DocumentDB).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import IO, Any

import gridfs
import pymongo
from pymongo import UpdateOne
from pymongo.errors import OperationFailure, PyMongoError

from omnidash.core import summaries as stats
from omnidash.core.ids import id_candidates
from omnidash.core.jsonsafe import json_safe
from omnidash.core.status import STATUSES
from omnidash.core.types import ColumnInfo, DeleteReport, FileInfo, RunId, RunPage, Series
from omnidash.core.values import clean_number, decode_value, flatten_dict, get_path, iso, parse_time
from omnidash.store import common, rows
from omnidash.store.base import DEFAULT_PROBABLY_DEAD_AFTER, BadRequest, NotFound, RunStore, SortKey
from omnidash.store.matcher import get_path_values, select_docs, sort_key
from omnidash.store.mongo_summaries import Summaries, summaries_by_name
from omnidash.store.mongo_util import (
    artifact_refs,
    by_id_key,
    collapse_paths,
    content_type_of,
    database_of,
    describe_uri,
    hosts_of,
    id_key,
    match_id,
    mongo_errors,
    retry_conflicts,
    source_pairs,
    translate,
)
from omnidash.store.patterns import filter_backtracks
from omnidash.store.query import (
    QueryContext,
    column_path,
    compile_query,
    filter_fields,
    metric_ref,
    metric_refs,
    projection_paths,
)
from omnidash.store.refreshing import Refreshing, SharedCalls

_COUNTER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="omnidash-count")
CUSTOM_COLUMNS = "omniboard.custom.columns"
METRIC_COLUMNS = "omniboard.metric.columns"
VIEWS = "omnidash.views"
STATE = "omnidash.state"
COLUMNS_TTL = 10.0  # the column catalogue is recomputed in the background once this old (store/refreshing.py)
COLUMNS_STALE = 120.0  # and before answering once this old
CONFIG_SAMPLE = 2000  # newest runs whose config leaves make the column catalogue
# fields every row needs (tags/notes fall back to config.tags / meta.comment)
ROW_FIELDS = {
    "experiment.name", "command", "status", "start_time", "stop_time", "heartbeat", "host.hostname", "result",
    "omniboard", "config.tags", "meta.comment",
}
SUMMARY_PATHS = ("omnidash.metrics", "omnidash.duration")
# (collection, keys): what omnidash creates when it may; benchmarks/store.py measures what each buys
INDEXES: list[tuple[str, list[tuple[str, int]]]] = [
    ("metrics", [("run_id", 1), ("name", 1)]),  # a run's series (plots, summaries)
    ("runs", [("omnidash.v", 1)]),  # summary refresh: runs never summarised or of another format
    ("runs", [("omnidash.status", 1)]),  # summary refresh: runs live when last summarised
    ("runs", [("status", 1)]),  # summary refresh: runs live now; status filters
    ("runs", [("omniboard.tags", 1)]),  # tag filters (`tags has x`) and the tag list, with the next one
    ("runs", [("config.tags", 1)]),  # tags set in code (Omniboard's fallback): the other branch of a tag filter
]
# what a tag can be: the tag list reads only index entries of these types (every run has an entry: null when untagged)
TAG_TYPES = {"$type": ["string", "number"]}


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
        **_ignored: Any,
    ) -> None:
        """Metric summaries are kept in the run documents, or per process when the user may not write."""
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
        self.summaries = Summaries(self.runs, self.metrics, self.db[STATE], writable=not self.read_only)
        self._columns = Refreshing(COLUMNS_TTL, COLUMNS_STALE)
        self._counts = SharedCalls()
        self._shared_cache: tuple[float, list[dict[str, Any]], list[dict[str, Any]]] | None = None
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
        """The indexes our queries rely on (INDEXES); a user without the right simply goes without them."""
        for collection, keys in INDEXES:
            with contextlib.suppress(PyMongoError):
                (self.metrics if collection == "metrics" else self.runs).create_index(keys)

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
            if stats.by_omniboard(c.get("extrema")) is None:
                continue
            metric.append({"name": c["name"], "metric_name": c["metric_name"], "extrema": c["extrema"],
                           "lastn": common.positive_int(c.get("lastn"))})
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
        self._put_shared(CUSTOM_COLUMNS, name, {"config_path": common.check_custom_column(name, config_path)})

    @mongo_errors
    def add_metric_column(self, name: str, metric_name: str, extrema: str, lastn: int = 1) -> None:
        self.check_writable()
        self._put_shared(METRIC_COLUMNS, name, common.check_metric_column(name, metric_name, extrema, lastn))

    def _put_shared(self, collection: str, name: str, fields: dict[str, Any]) -> None:
        """Create or update a column the way Omniboard's ERM routes do (with mongoose's __v on insert)."""
        self.db[collection].update_one(
            {"name": name}, {"$set": fields, "$setOnInsert": {"__v": 0}}, upsert=True
        )
        self._shared_cache = None

    # -- query plumbing -------------------------------------------------------------------
    def _context(self, now: datetime) -> QueryContext:
        custom, metric = self._shared()
        return QueryContext(
            now=now,
            probably_dead_after=self.probably_dead_after,
            config_paths=self._catalogue()[1],
            custom_columns={c["name"]: c["config_path"] for c in custom},
            metric_columns=common.metric_column_refs(metric),
        )

    def _metric_ref(self, name: str, ctx: QueryContext) -> tuple[str, str, int | None] | None:
        try:
            return metric_ref(name, ctx)
        except BadRequest:
            return None

    def _prepare(self, query: str, keys: list[SortKey], columns: list[str] | None,
                 ctx: QueryContext) -> tuple[dict[str, Any], list[tuple[str, int]], bool]:
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
            if ref is not None and ref[2] is not None:  # a windowed statistic
                self.summaries.ensure_window(ref[2])
        refs |= set(common.metric_column_refs(self._shared()[1]).values())
        for ref in refs:
            if ref[2] is not None:
                self.summaries.ensure_window(ref[2])

        touched = [p for p, _ in sort] + list(filter_fields(flt))
        needs_summaries = any(p.startswith(SUMMARY_PATHS) for p in touched)
        return flt, sort, needs_summaries

    def _projection(self, columns: list[str] | None, ctx: QueryContext) -> tuple[dict[str, int], list[str]]:
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
                if stats.parse_column(name):
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

    def _row(self, doc: dict[str, Any], now: datetime, ctx: QueryContext, columns: list[str] | None,
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
            out[name] = clean_number(decode_value(get_path(doc, path)))
        return out

    # -- listing ---------------------------------------------------------------------------
    def _listing(self, flt: dict[str, Any], sort_spec: list[tuple[str, int]], needs_summaries: bool,
                 shows_rows: bool = False) -> _Listing:
        """The one place that chooses how a listing is answered: by the server (stored summaries, or none
        needed), or in Python: when a user who may not write filters or sorts by a summary, or when a regex
        of the filter would backtrack on the server (omnidash.store.patterns). Summaries are
        brought up to date first when the listing uses them or returns rows (which show them)."""
        if needs_summaries or shows_rows:
            self.summaries.refresh()
        if (needs_summaries and not self.summaries.writable) or filter_backtracks(flt):
            return _PythonListing(self, flt, sort_spec)
        return _ServerListing(self, flt, sort_spec)

    @mongo_errors
    def _list_page(self, query: str, sort: str | Sequence[str] | None, offset: int, limit: int,
                   columns: list[str] | None) -> RunPage:
        now = datetime.now(UTC)
        ctx = self._context(now)
        wanted = columns
        flt, sort_spec, needs_summaries = self._prepare(query, SortKey.parse_list(sort), wanted, ctx)
        projection, metric_cols = self._projection(wanted, ctx)
        total, docs = self._listing(flt, sort_spec, needs_summaries, shows_rows=True).page(projection, offset, limit)
        return RunPage(total=total, offset=offset, rows=self._rows_of(docs, now, ctx, wanted, metric_cols))

    @mongo_errors
    def count(self, query: str = "") -> int:
        ctx = self._context(datetime.now(UTC))
        flt, sort_spec, needs_summaries = self._prepare(query, [SortKey("id")], [], ctx)
        return self._listing(flt, sort_spec, needs_summaries).count()

    @mongo_errors
    def run_ids(self, query: str = "") -> list[RunId]:
        ctx = self._context(datetime.now(UTC))
        flt, sort_spec, needs_summaries = self._prepare(query, [SortKey("id")], [], ctx)
        return self._listing(flt, sort_spec, needs_summaries).ids()

    def iter_rows(self, query: str = "", sort: str | Sequence[str] | None = "-id",
                  columns: Sequence[str] | None = None, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every matching row, `batch` documents at a time (CSV export)."""
        now = datetime.now(UTC)
        try:
            ctx = self._context(now)
            wanted = list(columns) if columns is not None else None
            flt, sort_spec, needs_summaries = self._prepare(query, SortKey.parse_list(sort), wanted, ctx)
            projection, metric_cols = self._projection(wanted, ctx)
            for docs in self._listing(flt, sort_spec, needs_summaries, shows_rows=True).batches(projection, batch):
                yield from self._rows_of(docs, now, ctx, wanted, metric_cols)
        except PyMongoError as e:
            raise translate(e, self.where) from None

    def _rows_of(self, docs: list[dict[str, Any]], now: datetime, ctx: QueryContext, wanted: list[str] | None,
                 metric_cols: list[str]) -> list[dict[str, Any]]:
        if not self.summaries.writable:
            self.summaries.attach(docs)
        return [self._row(d, now, ctx, wanted, metric_cols) for d in docs]

    def _count(self, flt: dict[str, Any]) -> int:
        """count_documents(flt), one for every caller that asks while the same count runs (SharedCalls)."""
        return self._counts.call(repr(flt), lambda: self.runs.count_documents(flt))

    # -- columns -------------------------------------------------------------------------------
    def _catalogue(self) -> tuple[list[ColumnInfo], list[str], list[str]]:
        """(config leaf columns, their names, metric names), refreshed every COLUMNS_TTL seconds."""
        return self._columns.get("catalogue", self._read_catalogue)

    def _read_catalogue(self) -> tuple[list[ColumnInfo], list[str], list[str]]:
        values: dict[str, list[Any]] = {}
        n = 0
        newest = self.runs.find({}, {"config": 1}).sort("_id", -1).limit(CONFIG_SAMPLE)
        for doc in newest:
            n += 1
            for key, value in flatten_dict(doc.get("config"), "config").items():
                values.setdefault(key, []).append(value)
        infos = [
            ColumnInfo(name, "config", common.dtype_of(vals), varies=len(vals) < n or not common.all_equal(vals))
            for name, vals in sorted(values.items())
        ]
        names: set[str] = set(self.summaries.known_names())  # kept current by the summary refresh
        if not names or not self.summaries.writable:
            scanned: set[str] = set()
            with contextlib.suppress(OperationFailure):
                scanned = {x for x in self.runs.distinct("info.metrics.name") if isinstance(x, str)}
            if not names and not scanned:
                with contextlib.suppress(OperationFailure):
                    scanned = {x for x in self.metrics.distinct("name") if isinstance(x, str)}
            names |= scanned
            if self.summaries.writable:  # runs summarised by another process that kept no names: scan once
                self.summaries.remember_names(scanned)
        for _probe, od in self.summaries.cache.values():
            names |= {rows.unescape_key(k) for k in od.get("metrics", {})}
        return infos, [c.name for c in infos], sorted(names)

    @mongo_errors
    def columns(self) -> list[ColumnInfo]:
        infos, _names, metric_names = self._catalogue()
        return common.catalogue(infos, metric_names, *self._shared())

    @mongo_errors
    def distinct(self, column: str, limit: int = 100) -> list[Any]:
        column = (column or "").strip()
        found: list[Any] = []
        values_of = self._distinct_values
        if column == "status":
            found = [*STATUSES, *(s for s in values_of("status") if isinstance(s, str))]
        elif column == "tags":
            found = list(values_of("omniboard.tags", TAG_TYPES))
            for t in values_of("config.tags", TAG_TYPES):
                found += [x.strip() for x in t.split(",")] if isinstance(t, str) else [t]
        elif column == "notes":
            found = list(values_of("omniboard.notes")) + list(values_of("meta.comment"))
        else:
            ctx = self._context(datetime.now(UTC))
            path = column_path(column, ctx)
            if path.startswith("omnidash"):
                return []
            found = [clean_number(decode_value(v)) for v in values_of(path)]
        unique: dict[Any, Any] = {}
        for v in found:
            if v is None or v == "" or isinstance(v, dict | list):
                continue
            unique.setdefault((type(v).__name__, v if not isinstance(v, datetime) else iso(v)), v)
        ordered = sorted(unique.values(), key=sort_key)
        return [json_safe(v) for v in ordered[: max(0, int(limit))]]

    def _distinct_values(self, path: str, condition: dict[str, Any] | None = None) -> list[Any]:
        """`distinct(path)`: array elements one by one, as the server answers it; with `condition`, only of the
        runs whose `path` meets it (an indexed path: the server reads the runs that have a value, not all)."""
        return list(self.runs.distinct(path, {path: condition} if condition else None))

    # -- one run ---------------------------------------------------------------------------------
    def _find(self, run_id: RunId, projection: dict[str, Any] | None = None) -> dict[str, Any]:
        """The run document with this id (or its int/str twin); NotFound otherwise."""
        docs = list(self.runs.find({"_id": {"$in": id_candidates(run_id)}}, projection))
        if not docs:
            raise NotFound(f"no run with id {run_id!r}")
        return match_id(by_id_key(docs), run_id) or docs[0]

    @mongo_errors
    def get_run(self, run_id: RunId, fields: Sequence[str] | None = None) -> dict[str, Any]:
        return self._public(self._find(run_id, {f: 1 for f in fields} if fields is not None else None))

    @mongo_errors
    def get_runs(self, run_ids: Iterable[RunId], fields: Sequence[str] | None = None) -> dict[RunId, dict[str, Any]]:
        """One query for all of them."""
        requested = list(dict.fromkeys(run_ids))
        if not requested:
            return {}
        projection = {f: 1 for f in fields} if fields is not None else None
        found = by_id_key(self.runs.find({"_id": {"$in": self._stored_ids(requested)}}, projection))
        out = {rid: match_id(found, rid) for rid in requested}
        return {rid: self._public(doc) for rid, doc in out.items() if doc is not None}

    @staticmethod
    def _public(doc: dict[str, Any]) -> dict[str, Any]:
        """A run document as get_run returns it (no omnidash field, result decoded, JSON-safe)."""
        doc = dict(doc)
        doc.pop("omnidash", None)
        if "result" in doc:
            doc["result"] = decode_value(doc["result"])
        return json_safe(doc)

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
                name, int(size) if isinstance(size, int | float) else None, parse_time(f.get("uploadDate")),
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
        """Metric names from the runs' `info.metrics` (MongoObserver lists each metric there), or None when
        a run is unknown or lists none: then the metrics collection is asked."""
        found = by_id_key(self.runs.find({"_id": {"$in": self._stored_ids(run_ids)}}, {"info.metrics": 1}))
        out: dict[RunId, list[str]] = {}
        for rid in run_ids:
            doc = match_id(found, rid)
            if doc is None:
                return None
            names = sorted({x for x in get_path_values(doc, "info.metrics.name") if isinstance(x, str)})
            if not names:
                return None
            out[doc["_id"]] = names
        return out

    @mongo_errors
    def _metric_series(self, requested: list[RunId], names: list[str], max_points: int | None,
                       x_range: tuple[float, float] | None, since_step: float | None) -> list[Series]:
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
        """One cursor over the metric documents, each reduced as it arrives. Timestamps are decoded naive
        (BSON dates are UTC; make_series makes the points it keeps aware): tz-aware decoding of a million
        timestamps took 11-13 s against 3.6 s naive (benchmarks/omniboard.py's 10 x 100,000 points)."""
        naive = self.metrics.with_options(codec_options=self.metrics.codec_options.with_options(tz_aware=False))
        cursor = naive.find(
            {"run_id": {"$in": self._stored_ids(run_ids)}, "name": {"$in": names}},
            {"run_id": 1, "name": 1, "steps": 1, "values": 1, "timestamps": 1, "_id": 0},
        )
        for m in cursor:
            values = m.get("values") if isinstance(m.get("values"), list) else []
            steps = m.get("steps") if isinstance(m.get("steps"), list) else list(range(len(values)))
            stamps = m.get("timestamps") if isinstance(m.get("timestamps"), list) else []
            yield common.make_series(m.get("run_id"), m.get("name"), steps, values, stamps, max_points, x_range, since_step)

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
        tags = common.check_tags(tags)
        rid = self._find(run_id, {"_id": 1})["_id"]
        self.runs.update_one({"_id": rid}, {"$set": {"omniboard.tags": tags}})

    @mongo_errors
    def set_notes(self, run_id: RunId, notes: str, expected: str | None = None) -> None:
        self.check_writable()
        notes, expected = common.check_notes(notes), common.check_expected_notes(expected)
        if expected is None:
            rid = self._find(run_id, {"_id": 1})["_id"]
            self.runs.update_one({"_id": rid}, {"$set": {"omniboard.notes": notes}})
        else:
            rid = self._set_notes_if(run_id, notes, expected)

    def _set_notes_if(self, run_id: RunId, notes: str, expected: str) -> RunId:
        """Compare-and-set: one conditional update on the very fields the shown notes come from."""
        fields = {"omniboard.notes": 1, "meta.comment": 1}
        for _attempt in range(5):
            doc = self._find(run_id, fields)
            current = rows.notes_of(doc)
            if current != expected:
                raise common.notes_conflict(current)
            ob, meta = doc.get("omniboard"), doc.get("meta")
            stored = ob.get("notes") if isinstance(ob, dict) else None
            flt: dict[str, Any] = {"_id": doc["_id"], "omniboard.notes": stored}
            if not isinstance(stored, str):  # shown from meta.comment: that must not change either
                flt["meta.comment"] = meta.get("comment") if isinstance(meta, dict) else None
            if self.runs.update_one(flt, {"$set": {"omniboard.notes": notes}}).matched_count:
                return doc["_id"]
        raise common.notes_conflict(rows.notes_of(self._find(run_id, fields)))

    @mongo_errors
    def update_tags(self, run_ids: Iterable[RunId], add: Iterable[str] = (), remove: Iterable[str] = ()) -> int:
        """Atomic $addToSet ($each) / $pull ($in) on omniboard.tags, so concurrent editors lose nothing; a run
        showing config.tags first gets them copied over."""
        self.check_writable()
        add, remove = common.check_tags(list(add)), common.check_tags(list(remove))
        requested = list(run_ids)
        docs = list(self.runs.find({"_id": {"$in": self._stored_ids(requested)}},
                                   {"omniboard": 1, "config.tags": 1}))
        by_key = by_id_key(docs)
        targets: list[dict[str, Any]] = []
        for rid in requested:
            d = match_id(by_key, rid)
            if d is not None and _tags_editable(d) and all(d is not t for t in targets):
                shown = rows.tags_of(d)
                common.check_tag_count(shown + [t for t in add if t not in shown], d["_id"])
                targets.append(d)
        if not targets or not (add or remove):
            return len(targets)
        ids = sorted((d["_id"] for d in targets), key=id_key)
        for d in targets:
            ob = d.get("omniboard")
            if not (isinstance(ob, dict) and isinstance(ob.get("tags"), list)):
                # initialise from the displayed (config) tags, only if still unset: no lost update
                shown = rows.tags_of({"config": d.get("config")})
                retry_conflicts(functools.partial(
                    self.runs.update_one, {"_id": d["_id"], "omniboard.tags": None}, {"$set": {"omniboard.tags": shown}}))
        # One single-run update each, in id order (a multi-run update_many is one PostgreSQL statement on
        # FerretDB 2, and two of them locking the same runs in another order deadlock): $addToSet only onto
        # runs with room for one more, so common.MAX_TAGS holds under races too; then one $pull $in per run.
        ops = [UpdateOne({"_id": rid, f"omniboard.tags.{common.MAX_TAGS - 1}": {"$exists": False}},
                         {"$addToSet": {"omniboard.tags": tag}}) for tag in add for rid in ids]
        ops += [UpdateOne({"_id": rid}, {"$pull": {"omniboard.tags": {"$in": remove}}}) for rid in ids if remove]
        retry_conflicts(lambda: self.runs.bulk_write(ops, ordered=True))
        if add:
            for rid, tags in self._stored_tags(ids).items():
                if not all(t in tags for t in add):  # filled up by someone else meanwhile
                    common.check_tag_count([*tags, *add], rid)
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
        return report

    # -- saved views (dashboard-owned collection) ----------------------------------------------------
    @mongo_errors
    def list_views(self) -> list[dict[str, Any]]:
        views = [
            {"name": v["name"], "state": v.get("state") if isinstance(v.get("state"), dict) else {},
             "updated": iso(parse_time(v.get("updated")))}
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



class _Listing:
    """The runs a compiled filter selects, in a MongoDB sort order (made by MongoStore._listing)."""

    def __init__(self, store: MongoStore, flt: dict[str, Any], sort_spec: list[tuple[str, int]]) -> None:
        self.store, self.flt, self.sort_spec = store, flt, sort_spec

    def count(self) -> int:
        raise NotImplementedError

    def ids(self) -> list[RunId]:
        raise NotImplementedError

    def page(self, projection: dict[str, int], offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """(total, projected documents offset..offset+limit)."""
        raise NotImplementedError

    def batches(self, projection: dict[str, int], batch: int) -> Iterator[list[dict[str, Any]]]:
        """Every projected document, `batch` at a time."""
        raise NotImplementedError


class _ServerListing(_Listing):
    """find().sort().skip().limit() and count_documents() on the server."""

    def count(self) -> int:
        return self.store._count(self.flt)

    def ids(self) -> list[RunId]:
        return [d["_id"] for d in self.store.runs.find(self.flt, {"_id": 1}).sort(self.sort_spec)]

    def page(self, projection: dict[str, int], offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """The page as $match, $sort, $skip, $limit, then $project: a find() with a projection makes
        DocumentDB project every matching document before sorting (about 2x slower at 20,000 runs)."""
        if not limit:
            return self.count(), []
        counting = _COUNTER.submit(self.count)  # concurrent with the page query
        pipeline: list[dict[str, Any]] = [{"$match": self.flt}] if self.flt else []
        pipeline += [{"$sort": dict(self.sort_spec)}, *([{"$skip": offset}] if offset else []),
                     {"$limit": limit}, {"$project": projection}]
        docs = list(self.store.runs.aggregate(pipeline))
        return counting.result(), docs

    def batches(self, projection: dict[str, int], batch: int) -> Iterator[list[dict[str, Any]]]:
        chunk: list[dict[str, Any]] = []
        for doc in self.store.runs.find(self.flt, projection).sort(self.sort_spec).batch_size(batch):
            chunk.append(doc)
            if len(chunk) >= batch:
                yield chunk
                chunk = []
        yield chunk


class _PythonListing(_Listing):
    """Filter and sort evaluated with omnidash.store.matcher on per-process summaries (a read-only user's query
    on metric summaries): the matching ids once, then the requested documents by id."""

    def __init__(self, store: MongoStore, flt: dict[str, Any], sort_spec: list[tuple[str, int]]) -> None:
        super().__init__(store, flt, sort_spec)
        self._ids: list[RunId] | None = None

    def ids(self) -> list[RunId]:
        if self._ids is None:
            paths = projection_paths(self.flt) | {p for p, _ in self.sort_spec}  # whole arrays, not tags.0
            stored = self.store.summaries.writable  # else summaries come from the per-process cache
            paths = {p for p in paths if stored or not p.startswith("omnidash")} | {"status", "heartbeat", "start_time"}
            docs = list(self.store.runs.find({}, collapse_paths(paths)))
            if not stored:
                self.store.summaries.attach(docs)
            self._ids = [d["_id"] for d in select_docs(docs, self.flt, self.sort_spec)]
        return self._ids

    def count(self) -> int:
        return len(self.ids())

    def _docs(self, ids: list[RunId], projection: dict[str, int]) -> list[dict[str, Any]]:
        found = {d["_id"]: d for d in self.store.runs.find({"_id": {"$in": ids}}, projection)} if ids else {}
        return [found[i] for i in ids if i in found]

    def page(self, projection: dict[str, int], offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
        ids = self.ids()
        return len(ids), self._docs(ids[offset : offset + limit], projection)

    def batches(self, projection: dict[str, int], batch: int) -> Iterator[list[dict[str, Any]]]:
        ids = self.ids()
        for start in range(0, len(ids), batch):
            yield self._docs(ids[start : start + batch], projection)
