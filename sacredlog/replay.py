"""`replay`: send a sacredlog journal to MongoDB, idempotently (see sacredlog.journal for the records).

The database ends up holding each point exactly once however often (or however far) a replay runs: a
series' stored length is read first and only the rest is pushed; the run document is `$set`; artifacts
already uploaded are found again by name and size.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gridfs
import pymongo

from sacredlog.journal import dumps_record, read_records
from sacredlog.mongo_ops import (
    ensure_metrics_index,
    insert_run,
    push_points,
    safe_set,
    stored_length,
    upload_artifact,
    upload_sources,
)
from sacredlog.state import Artifact, utc_datetimes


@dataclass
class ReplayReport:
    run_id: Any = None
    points_sent: int = 0
    points_already_stored: int = 0
    artifacts: int = 0
    inserted_run: bool = False
    already_done: bool = False
    messages: list[str] = field(default_factory=list)


class ReplayError(Exception):
    """The journal cannot be replayed (unreadable, no target, no run id)."""


@dataclass
class _Journal:
    """A journal file read back: where it belongs and what it holds."""

    path: Path
    target: dict[str, Any]
    run: dict[str, Any] | None  # the latest run record
    assigned_id: Any  # from an earlier replay that inserted the run
    metrics: list[dict[str, Any]]
    done: bool

    @classmethod
    def load(cls, path: Path) -> _Journal:
        if not path.is_file():
            raise ReplayError(f"no journal at {path}")
        records = list(read_records(path))
        target = next((r for r in records if r.get("t") == "target"), None)
        if target is None:
            raise ReplayError(f"{path} is not a sacredlog journal (no target record)")
        run = next((r for r in reversed(records) if r.get("t") == "run"), None)
        id_rec = next((r for r in reversed(records) if r.get("t") == "id"), None)
        return cls(path, target, run, id_rec["id"] if id_rec else None,
                   [r for r in records if r.get("t") == "metric"], any(r.get("t") == "done" for r in records))

    def known_run_id(self) -> Any:
        if self.run is not None and self.run.get("run_id") is not None:
            return self.run["run_id"]
        if self.assigned_id is not None:
            return self.assigned_id
        return next((r["run_id"] for r in self.metrics if r.get("run_id") is not None), None)

    def append(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(dumps_record(record) + "\n")


class _Target:
    """The collections a journal belongs to."""

    def __init__(self, client: pymongo.MongoClient, target: dict[str, Any]) -> None:
        db = client[target["db"]] if target.get("db") else client.get_default_database(default="sacred")
        prefix = f"{target['prefix']}_" if target.get("prefix") else ""
        self.runs, self.metrics, self.fs = db[f"{prefix}runs"], db[f"{prefix}metrics"], gridfs.GridFS(db)


def _ensure_run(journal: _Journal, target: _Target, report: ReplayReport) -> tuple[Any, list[Any]]:
    """The run's _id and source references, inserting the run (max + 1) if it was never stored."""
    run_id = journal.known_run_id()
    existing = target.runs.find_one({"_id": run_id}) if run_id is not None else None
    if existing is not None:
        return run_id, existing["experiment"].get("sources") or []
    if journal.run is None:
        raise ReplayError(f"{journal.path}: the run was never stored and the journal has no run record")
    rec = journal.run
    if rec.get("sources") is not None:
        sources = upload_sources(target.fs, [tuple(s) for s in rec["sources"]])
    else:
        sources = rec["doc"]["experiment"].get("sources", [])
    doc = dict(rec["doc"])
    doc["experiment"] = {**doc["experiment"], "sources": sources}
    run_id = insert_run(target.runs, doc, run_id if run_id is not None else rec.get("wanted_id"))
    report.inserted_run = True
    journal.append({"t": "id", "id": run_id})  # a second replay must not insert the run again
    return run_id, sources


def _replay_metrics(journal: _Journal, target: _Target, run_id: Any, report: ReplayReport) -> dict[str, str]:
    """Push every journaled series exactly once; returns {name: metric document id}."""
    lengths: dict[str, int] = {}
    refs: dict[str, str] = {}
    for rec in journal.metrics:
        name = rec["name"]
        if name not in lengths:
            lengths[name], found = stored_length(target.metrics, run_id, name)
            if found:
                refs[name] = found
        before = lengths[name]
        length, ref = push_points(target.metrics, run_id, name, rec["start"], rec["steps"], rec["values"],
                                  utc_datetimes(rec["times"]), before, refs.get(name))
        sent = max(0, length - max(before, rec["start"]))
        report.points_sent += sent
        report.points_already_stored += len(rec["steps"]) - sent
        lengths[name] = length
        if ref:
            refs[name] = ref
    return refs


def _replay_artifacts(journal: _Journal, target: _Target, run_id: Any, artifacts: list[dict[str, Any]],
                      report: ReplayReport) -> None:
    assert journal.run is not None
    for a in journal.run.get("artifacts") or []:
        art = Artifact(a["name"], a["path"], a.get("metadata"), a.get("content_type"))
        if not os.path.exists(art.path):
            report.messages.append(f"artifact {art.name!r}: kept copy {art.path} is missing")
            continue
        entry = {"name": art.name, "file_id": upload_artifact(target.fs, target.runs.name, run_id, art)}
        if entry not in artifacts:
            artifacts.append(entry)
            report.artifacts += 1


def _final_document(journal: _Journal, target: _Target, run_id: Any, sources: list[Any],
                    refs: dict[str, str], report: ReplayReport) -> dict[str, Any]:
    """The journaled run state, with artifacts, sources and metric references as the database now has them."""
    assert journal.run is not None
    doc = dict(journal.run["doc"])
    doc.pop("_id", None)
    current = target.runs.find_one({"_id": run_id}, {"artifacts": 1}) or {}
    artifacts = list(doc.get("artifacts") or [])
    artifacts += [a for a in current.get("artifacts") or [] if a not in artifacts]
    _replay_artifacts(journal, target, run_id, artifacts, report)
    doc["artifacts"] = artifacts
    doc["experiment"] = {**doc["experiment"], "sources": sources or []}
    info = dict(doc.get("info") or {})
    journaled = {r["name"] for r in journal.metrics}
    metric_refs = [r for r in info.get("metrics") or [] if isinstance(r, dict) and r.get("name") not in journaled]
    for name in sorted(journaled):  # the ids of the documents that now hold these series
        ref = refs.get(name) or stored_length(target.metrics, run_id, name)[1]
        if ref:
            metric_refs.append({"name": name, "id": ref})
    if metric_refs:
        info["metrics"] = metric_refs
    doc["info"] = info
    return doc


def replay(path: str | os.PathLike, mongo_url: str | None = None, timeout: float = 10.0) -> ReplayReport:
    """Send a journal to MongoDB. Idempotent: points already stored are skipped, the run doc is `$set`."""
    journal = _Journal.load(Path(path))
    url = mongo_url or journal.target.get("url")
    if not url:
        raise ReplayError("no MongoDB URL: pass --mongo-url")
    report = ReplayReport(already_done=journal.done)
    ms = int(timeout * 1000)
    client: pymongo.MongoClient = pymongo.MongoClient(url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms)
    try:
        target = _Target(client, journal.target)
        run_id, sources = _ensure_run(journal, target, report)
        report.run_id = run_id
        ensure_metrics_index(target.metrics)
        refs = _replay_metrics(journal, target, run_id, report)
        if journal.run is not None:
            doc = _final_document(journal, target, run_id, sources, refs, report)
            bad = safe_set(target.runs, run_id, doc, upsert=True)
            report.messages.extend(f"field {k!r} could not be stored" for k in bad)
    finally:
        client.close()
    journal.append({"t": "done", "at": time.time()})
    return report
