"""The local journal: what could not be written to MongoDB, as JSON lines, and its idempotent replay.

Records (one JSON object per line):
  {"t": "target", "url", "db", "prefix"}                     first line: where the run belongs
  {"t": "metric", "run_id", "name", "start", "steps", "values", "times"}   points [start, start+n) of a series
  {"t": "run", "run_id", "wanted_id", "doc", "sources", "artifacts"}      the latest run state (bson JSON)
  {"t": "id", "id"}                                          the _id replay gave a run inserted late
  {"t": "done"}                                              a replay finished (replaying again is a no-op)

Replay makes the database hold each point exactly once: it asks how many points a series already has and
pushes only the rest, so it may be interrupted and run again safely.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson import json_util

from sacredlog.state import Artifact, MetricBatch, utc_datetimes

_JSON_OPTIONS = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED, tz_aware=False)


def default_journal_dir() -> Path:
    """$SACREDLOG_JOURNAL_DIR, else ~/.cache/sacredlog/journal."""
    env = os.environ.get("SACREDLOG_JOURNAL_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sacredlog" / "journal"


def strip_password(url: str) -> str:
    """mongodb://user:secret@host/db -> mongodb://user@host/db (journals never hold passwords)."""
    return re.sub(r"^(mongodb(?:\+srv)?://[^:/@]+):[^@]*@", r"\1@", url)


def _dumps(record: dict[str, Any]) -> str:
    try:
        return json.dumps(record, separators=(",", ":"))
    except TypeError:
        return json_util.dumps(record, json_options=_JSON_OPTIONS)


def read_records(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """The journal's records; a torn last line (crash while writing) is skipped."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                yield json_util.loads(line, json_options=_JSON_OPTIONS)
            except ValueError:
                continue


class Journal:
    """One run's journal file (created only when something must be kept) and its `.files/` folder."""

    def __init__(self, path: Path, target: dict[str, Any]) -> None:
        self.path = path
        self.files_dir = path.with_name(path.name + ".files")
        self.target = {**target, "url": strip_password(str(target.get("url", "")))}
        self._metric_records = False
        self._run_id: Any = None

    @classmethod
    def for_run(cls, folder: Path, label: str, target: dict[str, Any]) -> Journal:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40] or "run"
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        return cls(folder / f"{safe}-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:6]}.journal", target)

    def exists(self) -> bool:
        return self.path.exists()

    def _append(self, record: dict[str, Any]) -> None:
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            if new:
                f.write(_dumps({"t": "target", **self.target}) + "\n")
            f.write(_dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    # -- writing ---------------------------------------------------------------------
    def append_metric(self, name: str, start: int, batch: MetricBatch, run_id: Any = None) -> None:
        self._append({"t": "metric", "run_id": run_id, "name": name, "start": start,
                      "steps": batch.steps, "values": batch.values, "times": batch.times})
        self._metric_records = True

    def append_run(self, run_id: Any, wanted_id: Any, doc: dict[str, Any], sources: list[tuple[str, str]] | None,
                   artifacts: list[Artifact]) -> None:
        self._append({"t": "run", "run_id": run_id, "wanted_id": wanted_id, "doc": doc,
                      "sources": [list(s) for s in sources] if sources is not None else None,
                      "artifacts": [vars(a) for a in artifacts]})

    def keep_path(self, path: str) -> Path:
        """A copy of a file inside the journal's folder (the original may change or vanish)."""
        src = Path(path)
        if self.files_dir in src.parents:
            return src
        self.files_dir.mkdir(parents=True, exist_ok=True)
        dest = self.files_dir / f"{uuid.uuid4().hex[:8]}-{src.name}"
        shutil.copyfile(src, dest)
        return dest

    def keep_file(self, art: Artifact) -> Artifact:
        return Artifact(art.name, str(self.keep_path(art.path)), art.metadata, art.content_type)

    # -- in-process draining ------------------------------------------------------------
    def has_pending_metrics(self) -> bool:
        return self._metric_records and self.path.exists()

    def apply_metrics(self, metrics: Any, run_id: Any, known: dict[str, tuple[int | None, str | None]],
                      on_applied: Callable[[str, int, str], None], limited: bool = False) -> None:
        """Push the spilled points (in order), then drop the journal file. `known`: name -> (length, ref)."""
        from sacredlog.mongo_ops import push_points

        lengths = {name: length for name, (length, _) in known.items()}
        refs = {name: ref for name, (_, ref) in known.items()}
        for rec in read_records(self.path):
            if rec.get("t") != "metric":
                continue
            name = rec["name"]
            length, ref = push_points(metrics, run_id, name, rec["start"], rec["steps"], rec["values"],
                                      utc_datetimes(rec["times"]), lengths.get(name), refs.get(name), limited)
            lengths[name], refs[name] = length, ref
            on_applied(name, length, ref)
        self.path.unlink()
        self._metric_records = False

    def discard_if_applied(self) -> None:
        """After a complete final write: nothing is left to keep."""
        if self.path.exists() and not self._metric_records:
            self.path.unlink()
        if self.files_dir.exists():
            shutil.rmtree(self.files_dir, ignore_errors=True)


# -- replay ----------------------------------------------------------------------------------
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


def replay(path: str | os.PathLike, mongo_url: str | None = None, timeout: float = 10.0) -> ReplayReport:
    """Send a journal to MongoDB. Idempotent: points already stored are skipped, the run doc is `$set`."""
    import gridfs
    import pymongo

    from sacredlog.mongo_ops import (
        ensure_metrics_index,
        insert_run,
        push_points,
        safe_set,
        server_is_limited,
        stored_length,
        upload_artifact,
        upload_sources,
    )

    path = Path(path)
    if not path.is_file():
        raise ReplayError(f"no journal at {path}")
    records = list(read_records(path))
    target = next((r for r in records if r.get("t") == "target"), None)
    if target is None:
        raise ReplayError(f"{path} is not a sacredlog journal (no target record)")
    url = mongo_url or target.get("url")
    if not url:
        raise ReplayError("no MongoDB URL: pass --mongo-url")
    report = ReplayReport(already_done=any(r.get("t") == "done" for r in records))
    run_rec = next((r for r in reversed(records) if r.get("t") == "run"), None)
    id_rec = next((r for r in reversed(records) if r.get("t") == "id"), None)
    metric_recs = [r for r in records if r.get("t") == "metric"]

    ms = int(timeout * 1000)
    client: pymongo.MongoClient = pymongo.MongoClient(url, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms)
    try:
        db = client[target["db"]] if target.get("db") else client.get_default_database(default="sacred")
        prefix = f"{target['prefix']}_" if target.get("prefix") else ""
        runs, metrics, fs = db[f"{prefix}runs"], db[f"{prefix}metrics"], gridfs.GridFS(db)
        limited = server_is_limited(client)

        run_id = None
        if run_rec is not None and run_rec.get("run_id") is not None:
            run_id = run_rec["run_id"]
        elif id_rec is not None:
            run_id = id_rec["id"]
        else:
            run_id = next((r["run_id"] for r in metric_recs if r.get("run_id") is not None), None)

        existing = runs.find_one({"_id": run_id}) if run_id is not None else None
        source_refs = existing["experiment"].get("sources") if existing else None
        if existing is None:
            if run_rec is None:
                raise ReplayError(f"{path}: the run was never stored and the journal has no run record")
            source_refs = upload_sources(fs, [tuple(s) for s in run_rec.get("sources") or []]) \
                if run_rec.get("sources") is not None else run_rec["doc"]["experiment"].get("sources", [])
            doc = dict(run_rec["doc"])
            doc["experiment"] = {**doc["experiment"], "sources": source_refs}
            run_id = insert_run(runs, doc, run_id if run_id is not None else run_rec.get("wanted_id"), limited)
            report.inserted_run = True
            with open(path, "a", encoding="utf-8") as f:
                f.write(_dumps({"t": "id", "id": run_id}) + "\n")
        report.run_id = run_id
        ensure_metrics_index(metrics)

        lengths: dict[str, int | None] = {}
        refs: dict[str, str] = {}
        for rec in metric_recs:
            name = rec["name"]
            before = lengths.get(name)
            if before is None:
                before, ref = stored_length(metrics, run_id, name)
                if ref:
                    refs[name] = ref
            length, ref = push_points(metrics, run_id, name, rec["start"], rec["steps"], rec["values"],
                                      utc_datetimes(rec["times"]), before, refs.get(name), limited)
            sent = max(0, length - max(before, rec["start"]))
            report.points_sent += sent
            report.points_already_stored += len(rec["steps"]) - sent
            lengths[name] = length
            if ref:
                refs[name] = ref

        if run_rec is not None:
            doc = dict(run_rec["doc"])
            current = runs.find_one({"_id": run_id}, {"artifacts": 1, "info": 1}) or {}
            artifacts = list(doc.get("artifacts") or [])
            for stored in current.get("artifacts") or []:
                if stored not in artifacts:
                    artifacts.append(stored)
            for a in run_rec.get("artifacts") or []:
                art = Artifact(a["name"], a["path"], a.get("metadata"), a.get("content_type"))
                if not os.path.exists(art.path):
                    report.messages.append(f"artifact {art.name!r}: kept copy {art.path} is missing")
                    continue
                file_id = upload_artifact(fs, runs.name, run_id, art)
                entry = {"name": art.name, "file_id": file_id}
                if entry not in artifacts:
                    artifacts.append(entry)
                    report.artifacts += 1
            doc["artifacts"] = artifacts
            doc["experiment"] = {**doc["experiment"], "sources": source_refs or []}
            info = dict(doc.get("info") or {})
            journaled = {r["name"] for r in metric_recs}
            metric_refs = [r for r in info.get("metrics") or []
                           if isinstance(r, dict) and r.get("name") not in journaled]
            for name in sorted(journaled):  # the ids of the documents that now hold these series
                ref = refs.get(name) or stored_length(metrics, run_id, name)[1]
                if ref:
                    metric_refs.append({"name": name, "id": ref})
            if metric_refs:
                info["metrics"] = metric_refs
            doc["info"] = info
            doc.pop("_id", None)
            bad = safe_set(runs, run_id, doc, upsert=True, limited=limited)
            report.messages.extend(f"field {k!r} could not be stored" for k in bad)
    finally:
        client.close()
    with open(path, "a", encoding="utf-8") as f:
        f.write(_dumps({"t": "done", "at": time.time()}) + "\n")
    return report
