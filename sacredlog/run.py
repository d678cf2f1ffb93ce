"""`Run`: one experiment run, written in Sacred 0.8.7's format to MongoDB and/or a FileStorage folder.

`log_scalar` only appends to a list; a heartbeat thread hands batches to the writers. No writer error
ever reaches the training loop, and the final status is always recorded.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import signal
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Mapping
from typing import IO, Any

from sacredlog.capture import DEFAULT_MAX_CHARS, FULL_OUTPUT_ARTIFACT, FdOutputCapture, OutputCapture
from sacredlog.environment import ExperimentInfo, experiment_info, file_md5, host_info
from sacredlog.serialize import normalize_config, to_python_scalar
from sacredlog.state import Artifact, MetricBatch, RunSnapshot, group_points, utc_datetime

SACRED_OPTION_FLAGS = {
    "--beat-interval": None, "--capture": None, "--comment": None, "--debug": False,
    "--enforce_clean": False, "--file_storage": None, "--force": False, "--help": False, "--id": None,
    "--loglevel": None, "--mongo_db": None, "--name": None, "--pdb": False, "--print-config": False,
    "--priority": None, "--queue": False, "--s3": None, "--sql": None, "--tiny_db": None,
    "--unobserved": False,
}


class Terminated(SystemExit):
    """Raised in the main thread when SIGTERM arrives; the run is recorded as INTERRUPTED."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _warn(message: str) -> None:
    try:
        out = sys.__stderr__ or sys.stderr
        out.write(f"sacredlog: {message}\n")
        out.flush()
    except (OSError, ValueError, AttributeError):
        pass


_open_runs: weakref.WeakSet[Run] = weakref.WeakSet()


_uncaught: list[tuple[Any, BaseException, Any]] = []


def _record_uncaught(exc_type: Any, exc: BaseException, tb: Any) -> None:
    """sys.excepthook: remember the exception that ends the program, so open runs end FAILED."""
    _uncaught.append((exc_type, exc, tb))
    _previous_excepthook(exc_type, exc, tb)


_previous_excepthook = sys.excepthook


@atexit.register
def _close_open_runs() -> None:
    """Runs started without `with` and never closed: COMPLETED, or FAILED after an uncaught exception."""
    for run in list(_open_runs):
        if _uncaught:
            run.close_with_exception(*_uncaught[-1])
        else:
            run.close("COMPLETED")


class Run:
    """One run. Use as a context manager, or call `start()` and `close()`.

    Writers: `mongo_url` (MongoDB, Sacred's MongoObserver format) and/or `file_storage` (a Sacred
    FileStorageObserver folder). `clock` returns epoch seconds (default `time.time`); pass your own to
    backdate runs (demo data). `experiment` is a name, or a complete ExperimentInfo (no discovery).
    `capture_output`: True (sys.stdout/sys.stderr, Sacred's "sys" mode), "fd" (file descriptors 1 and 2,
    Sacred's Linux default: also C extensions and child processes) or False.
    """

    def __init__(
        self,
        experiment: str | ExperimentInfo | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        mongo_url: str | None = None,
        db_name: str | None = None,
        collection_prefix: str = "",
        file_storage: str | os.PathLike | None = None,
        heartbeat: float | None = 10.0,
        capture_output: bool | str = True,
        run_id: Any = None,
        command: str = "main",
        comment: str | None = None,
        meta: Mapping[str, Any] | None = None,
        config_updates: Mapping[str, Any] | None = None,
        base_dir: str | None = None,
        sources: list[str] | None = None,
        dependencies: list[str] | None = None,
        save_git_info: bool = True,
        host: Mapping[str, Any] | None = None,
        captured_env: tuple[str, ...] = (),
        clock: Callable[[], float] | None = None,
        journal_dir: str | os.PathLike | None = None,
        max_captured_out: int = DEFAULT_MAX_CHARS,
        max_buffered_points: int = 1_000_000,
        mongo_timeout: float = 5.0,
        handle_sigterm: bool = True,
    ) -> None:
        self._clock = clock or time.time
        config = dict(normalize_config(dict(config or {})))
        if "seed" not in config:
            config["seed"] = random.SystemRandom().randint(1, int(1e9))
        self.config: dict[str, Any] = config
        self.info: dict[str, Any] = {}
        self.result: Any = None
        self.status = "NOT_STARTED"
        self._wanted_id = run_id
        self._heartbeat = float(heartbeat) if heartbeat else 0.0
        self._handle_sigterm = handle_sigterm
        self._points: list[tuple[str, Any, Any, float]] = []
        self._step_counter: dict[str, Any] = {}
        self._flush_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._old_sigterm: Any = None
        self._max_captured_out = max_captured_out
        if capture_output == "fd":
            self._capture: OutputCapture | None = FdOutputCapture(max_captured_out)
        else:
            self._capture = OutputCapture(max_captured_out) if capture_output else None
        self._resources: list[tuple[str, str]] = []
        self._last_beat: Any = None

        if isinstance(experiment, ExperimentInfo):
            ex = experiment
        else:
            ex = experiment_info(experiment, base_dir=base_dir, sources=sources, dependencies=dependencies,
                                 save_git_info=save_git_info)
        run_meta: dict[str, Any] = {"command": command, "options": dict(SACRED_OPTION_FLAGS), "named_configs": []}
        run_meta["options"]["--id"] = None if run_id is None else str(run_id)
        run_meta["options"]["--comment"] = comment
        if not capture_output:
            run_meta["options"]["--capture"] = "no"
        elif capture_output == "fd":
            run_meta["options"]["--capture"] = "fd"
        if heartbeat is not None and heartbeat != 10.0:  # Sacred records the option only when it was given
            run_meta["options"]["--beat-interval"] = str(heartbeat)
        if config_updates:
            run_meta["config_updates"] = normalize_config(dict(config_updates))
        if comment is not None:
            run_meta["comment"] = comment
        run_meta.update(meta or {})
        self._snap = RunSnapshot(
            experiment=ex, command=command,
            host=dict(host) if host is not None else host_info(captured_env),
            start_time=utc_datetime(self._clock()), config=self.config, meta=run_meta,
        )

        self._writers: list[Any] = []
        if mongo_url:
            from sacredlog.mongo import MongoWriter

            self._writers.append(MongoWriter(
                mongo_url, db_name=db_name, collection_prefix=collection_prefix, journal_dir=journal_dir,
                max_buffered_points=max_buffered_points, timeout=mongo_timeout, label=ex.name,
            ))
        if file_storage is not None:
            from sacredlog.filestorage import FileStorageWriter

            self._writers.append(FileStorageWriter(file_storage))
        self._writers.sort(key=lambda w: -w.priority)
        self._started: list[Any] = []

    # -- identity -----------------------------------------------------------------
    @property
    def run_id(self) -> Any:
        """The `_id` (Mongo int first, else the FileStorage folder name); None while unknown."""
        for w in self._writers:
            if getattr(w, "run_id", None) is not None:
                return w.run_id
        return self._wanted_id

    _id = run_id

    @property
    def mongo_journal(self) -> str | None:
        """Path of the journal holding what could not be written to MongoDB, if any."""
        for w in self._writers:
            path = getattr(w, "journal_path", None)
            if path:
                return str(path)
        return None

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> Run:
        if self.status != "NOT_STARTED":
            return self
        self.status = "RUNNING"
        self._snap.start_time = utc_datetime(self._clock())
        if self._capture is not None:
            self._capture.start()
        wanted = self._wanted_id
        for w in self._writers:
            try:
                got = w.start(self._snap, wanted)
            except Exception as e:  # noqa: BLE001 - a writer must never stop the run
                _warn(f"{type(w).__name__} could not start: {e}")
                continue
            self._started.append(w)
            if wanted is None and got is not None:
                wanted = got
        self._snap.run_id = self.run_id
        _open_runs.add(self)
        if sys.excepthook is not _record_uncaught:
            global _previous_excepthook
            _previous_excepthook = sys.excepthook
            sys.excepthook = _record_uncaught
        if self._handle_sigterm and threading.current_thread() is threading.main_thread():
            try:
                self._old_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
            except (ValueError, OSError):
                self._old_sigterm = None
        if self._heartbeat > 0:
            self._thread = threading.Thread(target=self._beat_loop, name="sacredlog-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __enter__(self) -> Run:
        return self.start()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.close_with_exception(exc_type, exc, tb)

    def close_with_exception(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        """Final status from an exception (None: COMPLETED)."""
        if exc is None:
            self.close("COMPLETED")
        elif isinstance(exc, KeyboardInterrupt | Terminated):
            self.close("INTERRUPTED")
        elif isinstance(exc, SystemExit) and exc.code in (None, 0):
            self.close("COMPLETED")
        else:
            self.close("FAILED", traceback.format_exception(exc_type, exc, tb))

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        raise Terminated(signum)

    def _beat_loop(self) -> None:
        while not self._stop.wait(self._heartbeat):
            self.flush()

    def _stop_background(self) -> None:
        """Stop the SIGTERM hook, the heartbeat thread and the output capture (close and abandon)."""
        self._restore_sigterm()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._capture is not None:
            self._capture.stop()  # everything printed so far is in the buffer now (fd mode: pipes drained)

    def close(self, status: str = "COMPLETED", fail_trace: list[str] | None = None) -> None:
        """Stop the heartbeat, write the final state (status, stop_time, result) and release everything."""
        if self.status != "RUNNING":
            return
        self._stop_background()
        with self._flush_lock:
            self.status = status
            if status == "COMPLETED":
                stop_time = self._clock()
                beat_time = self._clock()
            else:
                beat_time = self._clock()
                stop_time = self._clock()
            snap = self._snapshot(beat_time)
            snap.status = status
            snap.stop_time = utc_datetime(stop_time)
            snap.fail_trace = fail_trace if status == "FAILED" else None
            if self._capture is not None and self._capture.truncated:
                self._save_full_output(snap)
            batches = self._drain_points()
            self._each_writer("could not write the final state", lambda w: w.finish(snap, batches))
            self._close_writers()
            if self._capture is not None:
                self._capture.close()
        _open_runs.discard(self)

    def abandon(self) -> None:
        """Write the current state and stop without a final status, as if the process had died (RUNNING)."""
        if self.status != "RUNNING":
            return
        self._stop_background()
        self.flush()
        self.status = "ABANDONED"
        self._close_writers()
        if self._capture is not None:
            self._capture.close()
        _open_runs.discard(self)

    def _each_writer(self, failure: str, call: Callable[[Any], None]) -> None:
        """`call` on every started writer; a writer that fails is a warning ("<Writer> <failure>: <error>")."""
        for w in self._started:
            try:
                call(w)
            except Exception as e:  # noqa: BLE001
                _warn(f"{type(w).__name__} {failure}: {e}")

    def _close_writers(self) -> None:
        for w in self._started:
            with contextlib.suppress(Exception):
                w.close()

    def _restore_sigterm(self) -> None:
        if self._old_sigterm is not None and threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signal.SIGTERM, self._old_sigterm)
        self._old_sigterm = None

    # -- logging API -------------------------------------------------------------------
    def log_scalar(self, name: str, value: Any, step: Any = None) -> None:
        """Record one point; step defaults to the last step of that name + 1 (from 0). O(1), no I/O."""
        if step is None:
            step = self._step_counter.get(name, -1) + 1
        elif step.__class__ is not int:
            step = to_python_scalar(step)
        if value.__class__ is not float and value.__class__ is not int:
            value = to_python_scalar(value)
        self._step_counter[name] = step
        self._points.append((name, step, value, self._clock()))

    def add_artifact(self, filename: str | os.PathLike, name: str | None = None,
                     metadata: dict[str, Any] | None = None, content_type: str | None = None) -> None:
        """Store a file with the run (GridFS `artifact://runs/<id>/<name>`, or a copy in the run folder)."""
        filename = os.fspath(filename)
        art = Artifact(name or os.path.basename(filename), filename, metadata, content_type)
        with self._flush_lock:
            snap = self._snapshot(None)
            self._each_writer(f"could not store artifact {art.name!r}", lambda w: w.artifact(snap, art))

    def write_output(self, text: str) -> None:
        """Add text to the captured console output without printing it (for generated or replayed logs)."""
        if self._capture is None:
            self._capture = OutputCapture(self._max_captured_out)
        self._capture.feed(text)

    def add_resource(self, filename: str | os.PathLike) -> None:
        """Record a file the run read (path and md5), as Sacred's add_resource."""
        path = os.path.abspath(os.fspath(filename))
        self._resources.append((path, file_md5(path)))

    def open_resource(self, filename: str | os.PathLike, mode: str = "r") -> IO[Any]:
        self.add_resource(filename)
        return open(filename, mode)  # noqa: SIM115

    # -- flushing --------------------------------------------------------------------------
    def _drain_points(self) -> dict[str, MetricBatch]:
        points = self._points
        n = len(points)
        chunk = points[:n]
        del points[:n]
        return group_points(chunk)

    def _snapshot(self, beat_time: float | None) -> RunSnapshot:
        """The current state; with a beat_time it is a heartbeat (and takes the new console output)."""
        snap = self._snap
        if beat_time is not None:
            self._last_beat = utc_datetime(beat_time)
        for _ in range(5):
            try:
                info = dict(self.info)
                break
            except RuntimeError:  # changed size while copying (another thread)
                continue
        else:
            info = {}
        new_output = self._capture.drain() if self._capture is not None and beat_time is not None else ""
        return RunSnapshot(
            experiment=snap.experiment, command=snap.command, host=snap.host, start_time=snap.start_time,
            config=snap.config, meta=snap.meta, status="RUNNING", info=info, result=self.result,
            heartbeat=self._last_beat,
            captured_out=self._capture.text() if self._capture is not None else "",
            new_output=new_output, resources=list(self._resources), run_id=self.run_id,
        )

    def flush(self) -> None:
        """Write a heartbeat now: new metric points, info, result, captured output."""
        with self._flush_lock:
            if self.status != "RUNNING":
                return
            batches = self._drain_points()
            snap = self._snapshot(self._clock())
            self._each_writer("heartbeat failed", lambda w: w.beat(snap, batches))

    def _save_full_output(self, snap: RunSnapshot) -> None:
        assert self._capture is not None
        path = self._capture.full_output_file()
        if not path:
            return
        art = Artifact(FULL_OUTPUT_ARTIFACT, path, {"source": "sacredlog", "chars": self._capture.total_chars},
                       "text/plain")
        self._each_writer("could not store the full output", lambda w: w.artifact(snap, art))
