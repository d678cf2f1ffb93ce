"""A Sacred MongoObserver-compatible writer that never blocks the training loop and never loses a point.

Documents are exactly Sacred 0.8.7's (`runs`, `metrics`, GridFS `fs`). Metric points are pushed with
`$push/$each` + upsert on `{run_id, name}`. After any failed or uncertain write the writer re-reads how many
points the database holds before pushing again, so retries never duplicate. What cannot be written is
kept in memory up to a bound, then spilled to a journal file that `sacredlog replay` sends later.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import mimetypes
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gridfs
import pymongo
from bson import ObjectId
from pymongo.errors import (
    ConnectionFailure,
    DocumentTooLarge,
    DuplicateKeyError,
    InvalidDocument,
    PyMongoError,
)

from sacredlog.serialize import flatten
from sacredlog.state import MONGO_FORMAT, Artifact, MetricBatch, RunSnapshot, utc_datetimes

TRANSIENT_ERRORS = (ConnectionFailure,)  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError, ...
MAX_DOC_BYTES = 16 * 1024 * 1024
PARALLEL_WRITES = 4  # series written at once (the server encodes big documents in parallel)


# -- FerretDB 1.x compatibility ------------------------------------------------------------------
def server_is_limited(client: pymongo.MongoClient) -> bool:
    """True for FerretDB 1.x, which rejects nested arrays and drops the connection on NaN."""
    info = client.admin.command("buildInfo")
    return "ferretdbVersion" in info and not str(info["ferretdbVersion"]).startswith(("v2", "2"))


def compatible(value: Any) -> Any:
    """A copy such a server accepts: NaN/inf -> null, arrays of arrays (sources, resources) -> []."""
    if isinstance(value, dict):
        return {k: compatible(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if any(isinstance(x, list | tuple) for x in value):
            return []
        return [compatible(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def compatible_values(values: list[Any]) -> list[Any]:
    return [None if v.__class__ is float and not math.isfinite(v) else v for v in values]


# -- documents ------------------------------------------------------------------------------
def run_document(snap: RunSnapshot, sources: list[list[Any]]) -> dict[str, Any]:
    """The `runs` document Sacred's MongoObserver holds for this state (without `_id`)."""
    ex = snap.experiment
    doc: dict[str, Any] = {
        "experiment": {
            "name": ex.name, "base_dir": ex.base_dir, "sources": sources,
            "dependencies": list(ex.dependencies), "repositories": [dict(r) for r in ex.repositories],
            "mainfile": ex.mainfile,
        },
        "format": MONGO_FORMAT,
        "command": snap.command,
        "host": dict(snap.host),
        "start_time": snap.start_time,
        "config": flatten(snap.config),
        "meta": snap.meta,
        "status": snap.status,
        "resources": [[p, md5] for p, md5 in snap.resources],
        "artifacts": [],
        "captured_out": snap.captured_out,
        "info": flatten(snap.info),
        "heartbeat": snap.heartbeat,
    }
    if snap.heartbeat is not None or snap.stop_time is not None:
        doc["result"] = flatten(snap.result)
    if snap.stop_time is not None:
        doc["stop_time"] = snap.stop_time
    if snap.fail_trace is not None:
        doc["fail_trace"] = list(snap.fail_trace)
    return doc


def metric_document(run_id: Any, name: str, batch: MetricBatch) -> dict[str, Any]:
    return {"run_id": run_id, "name": name, "steps": list(batch.steps), "values": list(batch.values),
            "timestamps": utc_datetimes(batch.times)}


def ensure_metrics_index(metrics: pymongo.collection.Collection) -> None:
    """The `{run_id: 1, name: 1}` index every metric flush relies on."""
    metrics.create_index([("run_id", 1), ("name", 1)])


def next_run_id(runs: pymongo.collection.Collection) -> int:
    """max(numeric _id) + 1, or 1 for an empty collection (string ids are ignored, unlike Sacred)."""
    top = list(runs.find({"_id": {"$type": "number"}}, {"_id": 1}).sort("_id", -1).limit(1))
    return int(top[0]["_id"]) + 1 if top else 1


def insert_run(runs: pymongo.collection.Collection, doc: dict[str, Any], wanted_id: Any = None,
               limited: bool = False) -> Any:
    """Insert with `_id` = wanted_id, or max + 1 retried on duplicate key (concurrent writers)."""
    if limited:
        doc = compatible(doc)
    if wanted_id is not None:
        runs.insert_one({"_id": wanted_id, **doc})
        return wanted_id
    for _ in range(1000):
        run_id = next_run_id(runs)
        try:
            runs.insert_one({"_id": run_id, **doc})
            return run_id
        except DuplicateKeyError:
            continue
    raise RuntimeError("could not find a free run _id after 1000 attempts")


def upload_sources(fs: gridfs.GridFS, sources: list[tuple[str, str]]) -> list[list[Any]]:
    """[(relative, absolute)] -> Sacred's `[[relative, ObjectId]]` (uploaded with filename = absolute path)."""
    out = []
    for relative, absolute in sources:
        with open(absolute, "rb") as f:
            out.append([relative, fs.put(f, filename=absolute)])
    return out


def guess_content_type(path: str) -> str | None:
    return mimetypes.guess_type(path)[0]


def upload_artifact(fs: gridfs.GridFS, runs_name: str, run_id: Any, art: Artifact) -> ObjectId:
    """Put one artifact into GridFS, or reuse an identical earlier upload (so retries do not duplicate)."""
    filename = f"artifact://{runs_name}/{run_id}/{art.name}"
    size = os.path.getsize(art.path)
    existing = fs._files.find_one({"filename": filename, "length": size, "metadata": art.metadata},
                                  {"_id": 1}, sort=[("uploadDate", -1)])
    if existing is not None:
        return existing["_id"]
    content_type = art.content_type or guess_content_type(art.path)
    with open(art.path, "rb") as f:
        return fs.put(f, filename=filename, metadata=art.metadata, content_type=content_type)


def stored_length(metrics: pymongo.collection.Collection, run_id: Any, name: str,
                  ref: str | None = None) -> tuple[int, str | None]:
    """How many points the database holds for (run_id, name), and the metric document's id (None: no document).

    With `ref` (the document's id, when we know it) the lookup is by `_id`, which every server answers fast.
    """
    query = {"_id": ObjectId(ref)} if ref else {"run_id": run_id, "name": name}
    doc = metrics.find_one(query, {"steps": 1})
    if doc is None:
        return 0, None
    return len(doc.get("steps") or []), str(doc["_id"])


def push_points(metrics: pymongo.collection.Collection, run_id: Any, name: str, start: int,
                steps: list[Any], values: list[Any], timestamps: list[dt.datetime],
                known_length: int | None, ref: str | None = None, limited: bool = False) -> tuple[int, str]:
    """Make the stored series hold points [0, start + len(steps)) exactly once. Returns (length, document id).

    `known_length` is how many points we know are stored (None: ask the database); `ref` the metric
    document's id if known. A new series is one insert (Sacred's upsert gives the same document), later
    points are `$push/$each` by `_id`. Points already stored are skipped, so calling this again after an
    uncertain failure never duplicates.
    """
    exists = bool(known_length)
    if known_length is None:
        known_length, found = stored_length(metrics, run_id, name, ref)
        exists = found is not None
        if ref is None:
            ref = found
    if known_length < start:
        raise RuntimeError(f"metric {name!r} of run {run_id!r}: {start - known_length} earlier points missing")
    skip = known_length - start
    if skip >= len(steps):
        return known_length, ref or ""
    if skip:
        steps, values, timestamps = steps[skip:], values[skip:], timestamps[skip:]
    if limited:
        values = compatible_values(values)
    if not exists:
        oid = ObjectId(ref) if ref else ObjectId()
        try:
            metrics.insert_one({"_id": oid, "run_id": run_id, "name": name, "steps": list(steps),
                                "values": list(values), "timestamps": list(timestamps)})
        except DuplicateKeyError:  # an earlier, uncertain attempt did insert it: look again
            return push_points(metrics, run_id, name, start + skip, steps, values, timestamps, None, str(oid),
                               limited)
        return start + skip + len(steps), str(oid)
    metrics.update_one(
        {"_id": ObjectId(ref)},
        {"$push": {"steps": {"$each": steps}, "values": {"$each": values}, "timestamps": {"$each": timestamps}}},
    )
    return start + skip + len(steps), str(ref)


def safe_set(runs: pymongo.collection.Collection, run_id: Any, doc: dict[str, Any], upsert: bool,
             limited: bool = False) -> list[str]:
    """`$set` the whole document; if that is rejected, set field by field and skip the bad ones.

    Returns the names of fields that could not be written (so one bad field never blocks the others).
    """
    if limited:
        doc = compatible(doc)
    try:
        runs.update_one({"_id": run_id}, {"$set": doc}, upsert=upsert)
        return []
    except TRANSIENT_ERRORS:
        raise
    except (InvalidDocument, DocumentTooLarge, PyMongoError):
        pass
    bad = []
    for key, value in doc.items():
        try:
            runs.update_one({"_id": run_id}, {"$set": {key: value}}, upsert=upsert)
        except TRANSIENT_ERRORS:
            raise
        except (InvalidDocument, DocumentTooLarge, PyMongoError):
            bad.append(key)
            replacement = _fallback_value(key, value)
            if replacement is not None:
                with contextlib.suppress(PyMongoError):
                    runs.update_one({"_id": run_id}, {"$set": {key: replacement}}, upsert=upsert)
    return bad


def _fallback_value(key: str, value: Any) -> Any:
    if key == "captured_out" and isinstance(value, str):
        return value[:100_000] + "\n[sacredlog: captured output too large for the document]\n"
    if isinstance(value, dict):
        return {"sacredlog_error": f"field {key!r} could not be stored", "repr": repr(value)[:10_000]}
    return repr(value)[:10_000]


# -- the writer ----------------------------------------------------------------------------------
@dataclass
class _Metric:
    name: str
    stored: int | None = 0  # points known to be in the database (None: unknown, ask)
    first_pending: int = 0  # index of pending.steps[0] in the whole series
    pending: MetricBatch = field(default_factory=MetricBatch)
    ref: str | None = None


def _warn(message: str) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        (sys.__stderr__ or sys.stderr).write(f"sacredlog: {message}\n")


class MongoWriter:
    """One run in MongoDB. All calls come from `Run` under its flush lock; none of them raises."""

    priority = 30

    def __init__(self, url: str, db_name: str | None = None, collection_prefix: str = "",
                 journal_dir: str | os.PathLike | None = None, max_buffered_points: int = 1_000_000,
                 timeout: float = 5.0, label: str = "run") -> None:
        from sacredlog.journal import Journal, default_journal_dir

        self.url = url
        ms = int(timeout * 1000)
        self.client: pymongo.MongoClient = pymongo.MongoClient(
            url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=max(60_000, ms))
        self.db = self.client[db_name] if db_name else self.client.get_default_database(default="sacred")
        prefix = f"{collection_prefix}_" if collection_prefix else ""
        self.runs = self.db[f"{prefix}runs"]
        self.metrics = self.db[f"{prefix}metrics"]
        self.fs = gridfs.GridFS(self.db)
        self.run_id: Any = None
        self.max_buffered_points = max_buffered_points
        self._wanted_id: Any = None
        self._snap: RunSnapshot | None = None
        self._source_refs: list[list[Any]] | None = None
        self._metrics: dict[str, _Metric] = {}
        self._artifacts: list[dict[str, Any]] = []  # stored {name, file_id}
        self._pending_artifacts: list[Artifact] = []
        self._index_done = False
        self._down_reported = False
        self._bad_fields: set[str] = set()
        self.limited: bool | None = None  # FerretDB 1.x: see `compatible`
        self._fresh_run = False
        self.journal = Journal.for_run(Path(journal_dir) if journal_dir else default_journal_dir(), label,
                                       target={"url": url, "db": self.db.name, "prefix": collection_prefix})

    @property
    def journal_path(self) -> str | None:
        return str(self.journal.path) if self.journal.exists() else None

    # -- Run events ------------------------------------------------------------------
    def start(self, snap: RunSnapshot, wanted_id: Any) -> Any:
        self._snap = snap
        self._wanted_id = wanted_id
        self._sync()
        return self.run_id

    def beat(self, snap: RunSnapshot, batches: dict[str, MetricBatch]) -> None:
        self._snap = snap
        self._add_points(batches)
        if not self._sync():
            self._spill_if_needed()

    def artifact(self, snap: RunSnapshot, art: Artifact) -> None:
        self._snap = snap
        self._pending_artifacts.append(self.journal.keep_file(art) if self.run_id is None else art)
        if not self._sync():
            idx = len(self._pending_artifacts) - 1
            self._pending_artifacts[idx] = self.journal.keep_file(self._pending_artifacts[idx])

    def finish(self, snap: RunSnapshot, batches: dict[str, MetricBatch], attempts: int = 3) -> None:
        self._snap = snap
        self._add_points(batches)
        if self._down_reported:  # already unreachable during the run: one more try, then the journal
            attempts = 1
        for _ in range(attempts):
            if self._sync(final=True):
                self.journal.discard_if_applied()
                return
        self._write_journal()
        _warn(f"MongoDB unreachable at {self._safe_url()}; what could not be written is kept in "
              f"{self.journal.path}. Send it later with: sacredlog replay {self.journal.path}")

    def close(self) -> None:
        self.client.close()

    # -- internals ------------------------------------------------------------------------
    def _safe_url(self) -> str:
        from sacredlog.journal import strip_password

        return strip_password(self.url)

    def _add_points(self, batches: dict[str, MetricBatch]) -> None:
        for name, batch in batches.items():
            m = self._metrics.get(name)
            if m is None:
                m = self._metrics[name] = _Metric(name, stored=0 if self._fresh_run else None)
            m.pending.steps.extend(batch.steps)
            m.pending.values.extend(batch.values)
            m.pending.times.extend(batch.times)

    def _pending_points(self) -> int:
        return sum(len(m.pending) for m in self._metrics.values())

    def _spill_if_needed(self) -> None:
        """Keep memory bounded while the database is away: move pending points to the journal."""
        if self._pending_points() <= self.max_buffered_points:
            return
        for m in self._metrics.values():
            if len(m.pending):
                self.journal.append_metric(m.name, m.first_pending, m.pending, self.run_id)
                m.first_pending += len(m.pending)
                m.pending = MetricBatch()

    def _sync(self, final: bool = False) -> bool:
        """Write everything pending. True when the database holds the whole current state."""
        snap = self._snap
        assert snap is not None
        try:
            if self.limited is None:
                self.limited = server_is_limited(self.client)
            if self.run_id is None:
                self._insert_run(snap)
            if not self._index_done:
                ensure_metrics_index(self.metrics)
                self._index_done = True
            if self.journal.has_pending_metrics():
                self._apply_journal_metrics()
            self._write_metrics()
            while self._pending_artifacts:
                art = self._pending_artifacts[0]
                file_id = upload_artifact(self.fs, self.runs.name, self.run_id, art)
                self._artifacts.append({"name": art.name, "file_id": file_id})
                self._pending_artifacts.pop(0)
            bad = safe_set(self.runs, self.run_id, self._document(snap), upsert=final, limited=bool(self.limited))
            for key in set(bad) - self._bad_fields:
                _warn(f"run {self.run_id}: field {key!r} could not be stored in MongoDB; the rest was")
            self._bad_fields.update(bad)
        except TRANSIENT_ERRORS as e:
            if not self._down_reported:
                _warn(f"MongoDB unreachable ({type(e).__name__}); buffering and retrying")
                self._down_reported = True
            return False
        except Exception as e:  # noqa: BLE001 - never let a write error reach the training loop
            _warn(f"MongoDB write failed: {type(e).__name__}: {e}")
            return False
        if self._down_reported:
            _warn(f"MongoDB reachable again; run {self.run_id} is up to date")
            self._down_reported = False
        return True

    def _insert_run(self, snap: RunSnapshot) -> None:
        if self._source_refs is None:
            self._source_refs = upload_sources(
                self.fs, [(s.relative, s.absolute) for s in snap.experiment.sources])
        doc = run_document(snap, self._source_refs)
        doc["status"] = "RUNNING"
        for key in ("stop_time", "fail_trace", "result"):
            doc.pop(key, None)
        doc["heartbeat"], doc["captured_out"], doc["info"] = None, "", {}
        self.run_id = insert_run(self.runs, doc, self._wanted_id, limited=bool(self.limited))
        self._fresh_run = self._wanted_id is None  # a new _id: no metric document can exist for it yet
        for m in self._metrics.values():
            m.stored = 0 if self._fresh_run and not m.first_pending else None

    def _write_metrics(self) -> None:
        """Write every series with pending points; several series go out in parallel (a few threads)."""
        todo = [m for m in self._metrics.values() if len(m.pending)]
        if len(todo) <= 1:
            for m in todo:
                self._write_series(m)
            return
        with ThreadPoolExecutor(min(PARALLEL_WRITES, len(todo)), thread_name_prefix="sacredlog-write") as pool:
            errors = [e for e in pool.map(self._write_series_catching, todo) if e is not None]
        if errors:
            raise errors[0]

    def _write_series_catching(self, m: _Metric) -> BaseException | None:
        try:
            self._write_series(m)
        except Exception as e:  # noqa: BLE001 - re-raised by _write_metrics
            return e
        return None

    def _write_series(self, m: _Metric) -> None:
        p = m.pending
        try:
            stored, ref = push_points(self.metrics, self.run_id, m.name, m.first_pending, p.steps, p.values,
                                      utc_datetimes(p.times), m.stored, m.ref, limited=bool(self.limited))
        except Exception:
            m.stored = None  # the write may or may not have happened: ask next time
            raise
        m.stored = stored
        m.ref = ref
        m.first_pending += len(p)
        m.pending = MetricBatch()

    def _apply_journal_metrics(self) -> None:
        known = {name: (m.stored, m.ref) for name, m in self._metrics.items()}

        def on_applied(name: str, length: int, ref: str) -> None:
            m = self._metrics[name]
            m.stored, m.ref = length, ref

        try:
            self.journal.apply_metrics(self.metrics, self.run_id, known, on_applied, limited=bool(self.limited))
        except Exception:
            for m in self._metrics.values():
                m.stored = None
            raise

    def _metric_refs(self) -> list[dict[str, str]]:
        refs = []
        for m in self._metrics.values():
            if m.ref is not None:
                refs.append({"name": m.name, "id": m.ref})
        return refs

    def _document(self, snap: RunSnapshot) -> dict[str, Any]:
        doc = run_document(snap, self._source_refs or [])
        doc["artifacts"] = list(self._artifacts)
        refs = self._metric_refs()
        if refs:
            doc["info"]["metrics"] = refs
        for key in self._bad_fields:
            doc.pop(key, None) if key != "captured_out" else None
        return doc

    def _write_journal(self) -> None:
        """Everything not yet in the database goes to the journal (run state, points, artifacts)."""
        snap = self._snap
        assert snap is not None
        for m in self._metrics.values():
            if len(m.pending):
                self.journal.append_metric(m.name, m.first_pending, m.pending, self.run_id)
                m.first_pending += len(m.pending)
                m.pending = MetricBatch()
        doc = run_document(snap, self._source_refs or [])
        doc["artifacts"] = list(self._artifacts)
        sources = None if self._source_refs is not None else [
            (s.relative, str(self.journal.keep_path(s.absolute))) for s in snap.experiment.sources]
        self.journal.append_run(self.run_id, self._wanted_id, doc, sources,
                                [self.journal.keep_file(a) for a in self._pending_artifacts])


Callback = Callable[[str, int, str | None], None]
