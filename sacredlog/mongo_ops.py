"""MongoDB operations shared by the writer, the replay and the demo: Sacred 0.8.7's documents (`runs`,
`metrics`, GridFS) and idempotent writes (points pushed exactly once, per-field fallback)."""

from __future__ import annotations

import contextlib
import datetime as dt
import mimetypes
import os
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


def insert_run(runs: pymongo.collection.Collection, doc: dict[str, Any], wanted_id: Any = None) -> Any:
    """Insert with `_id` = wanted_id, or max + 1 retried on duplicate key (concurrent writers)."""
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
                known_length: int | None, ref: str | None = None) -> tuple[int, str]:
    """Make the stored series hold points [0, start + len(steps)) exactly once. Returns (length, document id).

    `known_length` is how many points we know are stored (None: ask the database); `ref` the metric
    document's id if known. Points are appended with `$push/$each` and upsert, keyed on the document's `_id`
    (chosen here for a new series; `run_id` and `name` are set on insert). That is Sacred's document, and
    every server finds it by `_id` without scanning. Points already stored are skipped, so calling this
    again after an uncertain failure never duplicates.
    """
    if known_length is None:
        known_length, found = stored_length(metrics, run_id, name, ref)
        if ref is None:
            ref = found
    if known_length < start:
        raise RuntimeError(f"metric {name!r} of run {run_id!r}: {start - known_length} earlier points missing")
    skip = known_length - start
    if skip >= len(steps):
        return known_length, ref or ""
    if skip:
        steps, values, timestamps = steps[skip:], values[skip:], timestamps[skip:]
    oid = ObjectId(ref) if ref else ObjectId()
    metrics.update_one(
        {"_id": oid},
        {"$setOnInsert": {"run_id": run_id, "name": name},
         "$push": {"steps": {"$each": list(steps)}, "values": {"$each": list(values)},
                   "timestamps": {"$each": list(timestamps)}}},
        upsert=True,
    )
    return start + skip + len(steps), str(oid)


def safe_set(runs: pymongo.collection.Collection, run_id: Any, doc: dict[str, Any], upsert: bool) -> list[str]:
    """`$set` the whole document; if that is rejected, set field by field and skip the bad ones.

    Returns the names of fields that could not be written (so one bad field never blocks the others).
    """
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


