"""The local journal: what could not be written to MongoDB, as JSON lines (sent later by sacredlog.replay).

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


def dumps_record(record: dict[str, Any]) -> str:
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
                f.write(dumps_record({"t": "target", **self.target}) + "\n")
            f.write(dumps_record(record) + "\n")
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
                      on_applied: Callable[[str, int, str], None]) -> None:
        """Push the spilled points (in order), then drop the journal file. `known`: name -> (length, ref)."""
        from sacredlog.mongo_ops import push_points

        lengths = {name: length for name, (length, _) in known.items()}
        refs = {name: ref for name, (_, ref) in known.items()}
        for rec in read_records(self.path):
            if rec.get("t") != "metric":
                continue
            name = rec["name"]
            length, ref = push_points(metrics, run_id, name, rec["start"], rec["steps"], rec["values"],
                                      utc_datetimes(rec["times"]), lengths.get(name), refs.get(name))
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
