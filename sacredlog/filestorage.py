"""A Sacred FileStorageObserver-compatible writer: numbered run folders with run.json, config.json,
info.json, metrics.json, cout.txt, artifacts and `_sources/`, byte-for-byte in Sacred's JSON style."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from sacredlog.serialize import dumps_json, dumps_metrics_json, flatten
from sacredlog.state import Artifact, MetricBatch, RunSnapshot, utc_datetimes

RESERVED_NAMES = ("run.json", "config.json", "cout.txt", "metrics.json")


class FileStorageWriter:
    """Writes one run into `basedir/<id>/` the way Sacred 0.8.7's FileStorageObserver does."""

    priority = 20

    def __init__(self, basedir: str | os.PathLike, copy_sources: bool = True,
                 fallback_to_next_id: bool = True) -> None:
        self.basedir = Path(basedir)
        self.fallback_to_next_id = fallback_to_next_id  # folder of the Mongo _id taken: use the next free number
        self.copy_sources = copy_sources
        self.dir: Path | None = None
        self.run_id: str | None = None
        self._run_entry: dict[str, Any] = {}
        self._metrics: dict[str, dict[str, list[Any]]] = {}
        self._artifacts: list[str] = []

    # -- helpers -----------------------------------------------------------
    def _max_existing_id(self) -> int:
        ids = [int(d.name) for d in self.basedir.iterdir() if d.is_dir() and d.name.isdigit()]
        return max(ids, default=0)

    def _make_run_dir(self, wanted_id: Any) -> None:
        self.basedir.mkdir(parents=True, exist_ok=True)
        if wanted_id is not None:
            target = self.basedir / str(wanted_id)
            try:
                target.mkdir()
            except FileExistsError:
                if not self.fallback_to_next_id:
                    raise
                sys.stderr.write(f"sacredlog: {target} exists; this run gets the next free number instead\n")
            else:
                self.dir, self.run_id = target, str(wanted_id)
                return
        run_id = self._max_existing_id() + 1
        for _ in range(1000):
            try:
                (self.basedir / str(run_id)).mkdir()
            except FileExistsError:
                run_id += 1
                continue
            self.dir, self.run_id = self.basedir / str(run_id), str(run_id)
            return
        raise FileExistsError(f"could not create a run folder in {self.basedir}")

    def _save_json(self, obj: Any, filename: str) -> None:
        assert self.dir is not None
        text = dumps_metrics_json(obj) if filename == "metrics.json" else dumps_json(obj)
        tmp = self.dir / f".{filename}.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.dir / filename)

    def _save_sources(self, snapshot: RunSnapshot) -> list[list[str]]:
        out = []
        store = self.basedir / "_sources"
        for src in snapshot.experiment.sources:
            if self.copy_sources:
                stem, ext = os.path.splitext(os.path.basename(src.absolute))
                target = store / f"{stem}_{src.md5}{ext}"
                if not target.exists():
                    store.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src.absolute, target)
                out.append([src.relative, os.path.relpath(target, self.basedir)])
            else:
                out.append([src.relative, os.path.relpath(src.absolute, self.basedir)])
        return out

    def _append_cout(self, text: str) -> None:
        assert self.dir is not None
        with open(self.dir / "cout.txt", "ab") as f:
            f.write(text.encode("utf-8", "surrogateescape"))

    def _refresh_entry(self, snap: RunSnapshot) -> None:
        entry = self._run_entry
        entry["status"] = snap.status
        entry["heartbeat"] = snap.heartbeat.isoformat() if snap.heartbeat else None
        entry["result"] = snap.result
        entry["resources"] = [[p, self._resource_ref(p)] for p, _ in snap.resources]
        entry["artifacts"] = list(self._artifacts)
        if snap.stop_time is not None:
            entry["stop_time"] = snap.stop_time.isoformat()
        if snap.fail_trace is not None:
            entry["fail_trace"] = list(snap.fail_trace)

    def _resource_ref(self, path: str) -> str:
        stem, ext = os.path.splitext(os.path.basename(path))
        from sacredlog.environment import file_md5

        store = self.basedir / "_resources"
        target = store / f"{stem}_{file_md5(path)}{ext}"
        if not target.exists():
            store.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return str(target)

    # -- events --------------------------------------------------------------
    def start(self, snap: RunSnapshot, wanted_id: Any) -> str:
        self._make_run_dir(wanted_id)
        experiment = {
            "base_dir": snap.experiment.base_dir,
            "dependencies": list(snap.experiment.dependencies),
            "mainfile": snap.experiment.mainfile,
            "name": snap.experiment.name,
            "repositories": [dict(r) for r in snap.experiment.repositories],
            "sources": self._save_sources(snap),
        }
        self._run_entry = {
            "experiment": experiment,
            "command": snap.command,
            "host": dict(snap.host),
            "start_time": snap.start_time.isoformat(),
            "meta": snap.meta,
            "status": "RUNNING",
            "resources": [],
            "artifacts": [],
            "heartbeat": None,
        }
        self._save_json(self._run_entry, "run.json")
        self._save_json(snap.config, "config.json")
        self._append_cout("")
        assert self.run_id is not None
        return self.run_id

    def beat(self, snap: RunSnapshot, metrics: dict[str, MetricBatch]) -> None:
        """One heartbeat: metrics.json, cout.txt (appended), run.json, info.json (when info is non-empty)."""
        self._add_metrics(metrics)
        self._save_json(self._metrics, "metrics.json")
        if snap.new_output:
            self._append_cout(snap.new_output)
        self._refresh_entry(snap)
        self._save_json(self._run_entry, "run.json")
        if snap.info:
            self._save_json(snap.info, "info.json")

    def _add_metrics(self, metrics: dict[str, MetricBatch]) -> None:
        for name, batch in metrics.items():
            saved = self._metrics.get(name)
            if saved is None:
                saved = self._metrics[name] = {"values": [], "steps": [], "timestamps": []}
            saved["values"].extend(flatten(batch.values))
            saved["steps"].extend(flatten(batch.steps))
            saved["timestamps"].extend(t.isoformat() for t in utc_datetimes(batch.times))

    def artifact(self, snap: RunSnapshot, artifact: Artifact) -> None:
        assert self.dir is not None
        if artifact.name in RESERVED_NAMES:
            raise FileExistsError(f"artifact name {artifact.name!r} would overwrite a FileStorage file")
        dest = self.dir / artifact.name
        if not dest.resolve().is_relative_to(self.dir.resolve()):
            raise ValueError(f"artifact name {artifact.name!r} would leave the run folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(shutil.SameFileError):
            shutil.copyfile(artifact.path, dest)
        self._artifacts.append(artifact.name)
        self._refresh_entry(snap)
        self._save_json(self._run_entry, "run.json")

    def finish(self, snap: RunSnapshot, metrics: dict[str, MetricBatch]) -> None:
        """The final heartbeat and the final run.json (status, stop_time, result, fail_trace)."""
        self.beat(snap, metrics)

    def close(self) -> None:
        pass
