"""A Sacred MongoObserver-compatible writer that never blocks the training loop and never loses a point.

Documents are exactly Sacred 0.8.7's (`runs`, `metrics`, GridFS `fs`), one metric document per run and name:
a new series is inserted, later points are appended with `$push/$each` by `_id` (Sacred's upsert on
`{run_id, name}` gives the same document, but FerretDB scans the collection for it). After any failed or
uncertain write the writer re-reads how many points the database holds before pushing again, so retries
never duplicate. What cannot be written is
kept in memory up to a bound, then spilled to a journal file that `sacredlog replay` sends later.
"""

from __future__ import annotations

import contextlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gridfs
import pymongo
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from sacredlog.mongo_ops import (  # noqa: F401 - re-exported for callers of sacredlog.mongo
    TRANSIENT_ERRORS,
    ensure_metrics_index,
    insert_run,
    metric_document,
    next_run_id,
    push_points,
    run_document,
    safe_set,
    upload_artifact,
    upload_sources,
)
from sacredlog.state import Artifact, MetricBatch, RunSnapshot, utc_datetimes

PARALLEL_WRITES = 4  # series written at once (the server encodes big documents in parallel)


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

    def _journal_pending(self) -> None:
        """Move every metric's pending points to the journal."""
        for m in self._metrics.values():
            if len(m.pending):
                self.journal.append_metric(m.name, m.first_pending, m.pending, self.run_id)
                m.first_pending += len(m.pending)
                m.pending = MetricBatch()

    def _spill_if_needed(self) -> None:
        """Keep memory bounded while the database is away: move pending points to the journal."""
        if self._pending_points() <= self.max_buffered_points:
            return
        self._journal_pending()

    def _sync(self, final: bool = False) -> bool:
        """Write everything pending. True when the database holds the whole current state."""
        snap = self._snap
        assert snap is not None
        try:
            if self.run_id is None:
                self._insert_run(snap)
            if not self._index_done:
                ensure_metrics_index(self.metrics)
                self._index_done = True
            if self.journal.has_pending_metrics():
                self._apply_journal_metrics()
            metrics_ok = self._write_metrics_or_warn()
            while self._pending_artifacts:
                art = self._pending_artifacts[0]
                file_id = upload_artifact(self.fs, self.runs.name, self.run_id, art)
                self._artifacts.append({"name": art.name, "file_id": file_id})
                self._pending_artifacts.pop(0)
            bad = safe_set(self.runs, self.run_id, self._document(snap), upsert=final)
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
        return metrics_ok

    def _write_metrics_or_warn(self) -> bool:
        """Metric writes; a rejected series is kept for the next try but never blocks the run document."""
        try:
            self._write_metrics()
        except TRANSIENT_ERRORS:
            raise
        except Exception as e:  # noqa: BLE001
            _warn(f"MongoDB refused metric points ({type(e).__name__}: {e}); they are kept and retried")
            return False
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
        try:
            self.run_id = insert_run(self.runs, doc, self._wanted_id)
        except DuplicateKeyError:
            _warn(f"a run with _id {self._wanted_id!r} exists already; this run gets the next free id")
            self._wanted_id = None
            self.run_id = insert_run(self.runs, doc, None)
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
        if m.ref is None and m.stored == 0:
            m.ref = str(ObjectId())  # known before the first write, so a retry can look it up by _id
        try:
            stored, ref = push_points(self.metrics, self.run_id, m.name, m.first_pending, p.steps, p.values,
                                      utc_datetimes(p.times), m.stored, m.ref)
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
            self.journal.apply_metrics(self.metrics, self.run_id, known, on_applied)
        except Exception:
            for m in self._metrics.values():
                m.stored = None
            raise

    def _metric_refs(self) -> list[dict[str, str]]:
        refs = []
        for m in self._metrics.values():
            if m.ref is not None and m.stored:  # only documents known to exist
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
        self._journal_pending()
        doc = run_document(snap, self._source_refs or [])
        doc["artifacts"] = list(self._artifacts)
        sources = None if self._source_refs is not None else [
            (s.relative, str(self.journal.keep_path(s.absolute))) for s in snap.experiment.sources]
        self.journal.append_run(self.run_id, self._wanted_id, doc, sources,
                                [self.journal.keep_file(a) for a in self._pending_artifacts])

