"""The FileStorage run cache: every run folder parsed once, re-parsed only when one of its files changes.

Each file is remembered with its (mtime_ns, size). A rescan stats the files of every run folder and
re-reads only the files whose signature moved. A file that does not parse (a live writer mid-rewrite)
keeps its previous parsed content until it changes again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omnidash.core import summaries as stats
from omnidash.core.status import FINAL_STATUSES
from omnidash.core.values import clip_depth
from omnidash.store import files_doc
from omnidash.store.common import series_points
from omnidash.store.files_io import FileSig, file_sig, read_json

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
INFO_FILE = "info.json"
METRICS_FILE = "metrics.json"
SIDECAR_FILE = "omnidash.json"
TRACKED_FILES = (RUN_FILE, CONFIG_FILE, INFO_FILE, METRICS_FILE, SIDECAR_FILE)
RESERVED_DIRS = {"_sources", "_resources", "_omnidash"}
RACY_NS = 100_000_000  # file timestamps tick coarsely (jiffies): a change this recent is re-checked
RACY: FileSig = (-1, -1)
SYNC_SCAN_SECONDS = 0.2  # folders scanned faster than this are rescanned in the request itself
PARALLEL_MIN_RUNS = 400
SETTLE_NS = 60_000_000_000  # a finished run untouched this long is "settled"
FULL_CHECK_SECONDS = 30.0  # settled runs still get a full check this often  # a scan meeting this many new runs parses them in worker processes


@dataclass
class RunEntry:
    """One run folder: its parsed files, metric summaries and the Mongo-shaped document."""

    dirname: str
    path: str
    run_id: int | str
    sigs: dict[str, FileSig] = field(default_factory=dict)
    failed: dict[str, FileSig] = field(default_factory=dict)
    parsed: dict[str, Any] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    tails: dict[str, np.ndarray] = field(default_factory=dict)
    doc: dict[str, Any] = field(default_factory=dict)
    quick: tuple[FileSig, ...] | None = None  # see quick_sig
    memo: dict[Any, Any] = field(default_factory=dict)  # FileStore sort keys and last match of `doc`
    settled: bool = False  # finished long ago: Sacred will not write it again (see is_settled)
    full_check: float = 0.0  # monotonic time of the last full check of its files


def read_tracked(path: str, fname: str) -> tuple[bool, Any]:
    """Parse one tracked file of a run folder; metrics.json gives (summaries, tails) instead of series."""
    ok, value = read_json(os.path.join(path, fname))
    if ok and fname == METRICS_FILE:
        value = files_doc.summaries_of(value)
    elif ok:
        value = clip_depth(value)  # a 900-level run.json must not recurse without end downstream
    return ok, value


def prefetch_run(path: str) -> dict[str, tuple[FileSig, bool, Any]]:
    """(signature, parsed ok, value) of every tracked file of a new run folder (runs in worker processes)."""
    out: dict[str, tuple[FileSig, bool, Any]] = {}
    for fname in TRACKED_FILES:
        sig = file_sig(os.path.join(path, fname))
        ok, value = read_tracked(path, fname) if sig is not None else (False, None)
        out[fname] = (sig, ok, value)
    return out


def dir_sig(path: str) -> FileSig:
    """(mtime_ns, size) of a folder (following a symlink), None when it is not a folder."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size) if stat.S_ISDIR(st.st_mode) else None


def quick_sig(path: str) -> tuple[FileSig, FileSig, FileSig]:
    """What moves whenever a run changes: the folder (files created, renamed, deleted: config.json,
    our atomic omnidash.json), run.json and metrics.json (rewritten in place at every heartbeat, with
    info.json)."""
    return (file_sig(path), file_sig(os.path.join(path, RUN_FILE)), file_sig(os.path.join(path, METRICS_FILE)))


def is_racy(sigs: tuple[FileSig, ...], now_ns: int) -> bool:
    """A file modified within RACY_NS of now may change again with the same (mtime, size): trust it later."""
    return any(sig is not None and sig[0] > now_ns - RACY_NS for sig in sigs)


def is_settled(entry: RunEntry, now_ns: int) -> bool:
    """A run Sacred will not write again: a final status, run.json and metrics.json untouched for a while.

    Such runs are watched through their folder's mtime only (our atomic omnidash.json renames move it),
    with a full check every FULL_CHECK_SECONDS; this divides the stats of a rescan by three.
    """
    status = entry.doc.get("status")
    if not isinstance(status, str) or status not in FINAL_STATUSES or not entry.quick:
        return False
    return all(sig is None or sig[0] < now_ns - SETTLE_NS for sig in entry.quick[1:])


def is_candidate_dir(name: str) -> bool:
    """Folder names that may hold a run (not Sacred's _sources/_resources, ours, or hidden)."""
    return not name.startswith(".") and name not in RESERVED_DIRS


class RunCache:
    """Parsed runs of one basedir, refreshed incrementally at most every `ttl` seconds."""

    def __init__(self, basedir: str, ttl: float = 1.0) -> None:
        self.basedir = basedir
        self.ttl = ttl
        self.entries: dict[str, RunEntry] = {}
        self.by_id: dict[int | str, RunEntry] = {}
        self.generation = 0
        self.annotations_generation = 0  # tags/notes changes that left `generation` alone
        self.parse_count = 0  # files parsed so far (tests check that refreshes re-read only changes)
        self._last_scan = 0.0
        self._lock = threading.RLock()
        self._scanner: threading.Thread | None = None
        self._scanner_lock = threading.Lock()
        self._non_runs: dict[str, tuple[FileSig, ...]] = {}
        self._scan_seconds = 0.0  # how long the last scan took
        self.parallel_loads = 0  # scans whose new runs were parsed in worker processes

    # -- scanning ----------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Rescan the folder when the last scan is older than the TTL.

        Small folders (a scan under SYNC_SCAN_SECONDS) are rescanned synchronously. Large ones are
        rescanned in a background thread and callers are served from the cache meanwhile (stale by at
        most one scan); `force` or a TTL of 0 always scan synchronously.
        """
        if not force and time.monotonic() - self._last_scan < self.ttl:
            return
        if force or self.ttl <= 0 or self._scan_seconds < SYNC_SCAN_SECONDS:
            self._scan()
            return
        with self._scanner_lock:
            if self._scanner is not None and self._scanner.is_alive():
                return
            self._scanner = threading.Thread(target=self._scan, name="omnidash-files-scan", daemon=True)
            self._scanner.start()

    def _scan(self) -> None:
        started = time.monotonic()
        names = self._list_run_dirs()
        now = time.monotonic()
        quick: dict[str, tuple[FileSig, ...]] = {}
        fully_checked = []
        for name in list(names):  # stat outside the lock
            path = os.path.join(self.basedir, name)
            folder = dir_sig(path)
            if folder is None:  # a file, or gone
                names.discard(name)
                continue
            entry = self.entries.get(name)
            if entry is not None and entry.settled and entry.quick and now - entry.full_check < FULL_CHECK_SECONDS:
                quick[name] = (folder, *entry.quick[1:])  # a finished run: only its folder is watched
            else:
                quick[name] = (folder, file_sig(os.path.join(path, RUN_FILE)), file_sig(os.path.join(path, METRICS_FILE)))
                fully_checked.append(name)
        fresh = [n for n in names if n not in self.entries and self._non_runs.get(n) != quick[n]]
        prefetched = self._prefetch(fresh) if len(fresh) >= PARALLEL_MIN_RUNS else {}
        with self._lock:
            changed = False
            for name in list(self.entries):
                if name not in names:
                    del self.entries[name]
                    changed = True
            for name in names:
                changed |= self._update(name, quick[name], prefetched.pop(name, None))
            now_ns = time.time_ns()
            for name in fully_checked:
                entry = self.entries.get(name)
                if entry is not None:
                    entry.full_check = now
                    entry.settled = is_settled(entry, now_ns)
            if changed:
                self._reindex()
            self._last_scan = time.monotonic()
            self._scan_seconds = self._last_scan - started

    def refresh_run(self, dirname: str) -> None:
        """Re-read one run folder now (after our own writes)."""
        with self._lock:
            if self._update(dirname):
                self._reindex()

    def reread(self, dirname: str, fname: str) -> None:
        """Re-read one file of a run now, whatever its signature says (after our own writes)."""
        with self._lock:
            entry = self.entries.get(dirname)
            if entry is not None:
                entry.quick = None
                entry.sigs[fname] = RACY
            if self._update(dirname):
                self._reindex()

    def forget(self, dirname: str) -> None:
        with self._lock:
            if self.entries.pop(dirname, None) is not None:
                self._reindex()

    def _list_run_dirs(self) -> set[str]:
        try:
            with os.scandir(self.basedir) as it:
                entries = list(it)
        except OSError:
            return set()
        return {e.name for e in entries if is_candidate_dir(e.name)}  # _scan stats each one (folders only)

    def _reindex(self) -> None:
        by_id: dict[int | str, RunEntry] = {}
        for name in sorted(self.entries):
            entry = self.entries[name]
            # "7" wins over "007": the canonical folder of an integer id
            if entry.run_id not in by_id or name == str(entry.run_id):
                by_id[entry.run_id] = entry
        self.by_id = by_id
        self.generation += 1

    def _prefetch(self, names: list[str]) -> dict[str, dict[str, tuple[FileSig, bool, Any]]]:
        """Parse many new run folders in worker processes (a first load of thousands of runs)."""
        workers = min(os.cpu_count() or 1, 8)
        # fork only a single-threaded process (the CLI before it serves, a script): forking a threaded
        # server is unsafe, and "spawn" would re-run the caller's __main__ script in every worker
        if workers < 2 or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
            return {}
        paths = [os.path.join(self.basedir, n) for n in names]
        try:
            ctx = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                results = list(pool.map(prefetch_run, paths, chunksize=16))
        except Exception as e:  # noqa: BLE001 - no processes here (sandbox, frozen app): parse serially
            log.info("parallel first load unavailable (%s); parsing serially", e)
            return {}
        self.parallel_loads += 1
        return dict(zip(names, results, strict=True))

    # -- one run -------------------------------------------------------------------
    def _update(
        self,
        dirname: str,
        quick: tuple[FileSig, ...] | None = None,
        prefetched: dict[str, tuple[FileSig, bool, Any]] | None = None,
    ) -> bool:
        """Re-parse the changed files of one run; True when its document changed."""
        path = os.path.join(self.basedir, dirname)
        entry = self.entries.get(dirname)
        quick = quick if quick is not None else quick_sig(path)
        if entry is not None and entry.quick == quick:
            return False
        if entry is None and self._non_runs.get(dirname) == quick:
            return False
        now_ns = time.time_ns()
        if prefetched is not None:
            sigs = {f: prefetched[f][0] for f in TRACKED_FILES}
        else:
            sigs = {f: file_sig(os.path.join(path, f)) for f in TRACKED_FILES}
        if sigs[RUN_FILE] is None:
            self._non_runs[dirname] = quick
        else:
            self._non_runs.pop(dirname, None)
        if sigs[RUN_FILE] is None:
            if entry is not None:
                del self.entries[dirname]
                return True
            return False
        is_new = entry is None
        if entry is None:
            entry = RunEntry(dirname, path, files_doc.run_id_of(dirname))
            self.entries[dirname] = entry
        quick = (quick[0], sigs[RUN_FILE], sigs[METRICS_FILE])
        entry.quick = None if is_racy(quick, now_ns) else quick
        changed_files = [f for f in TRACKED_FILES if entry.sigs.get(f, "unset") != sigs[f]]
        if not changed_files and not is_new:
            return False
        for fname in changed_files:
            sig = sigs[fname]
            entry.sigs[fname] = sig
            if sig is None:
                entry.parsed.pop(fname, None)
                entry.failed.pop(fname, None)
                continue
            if entry.failed.get(fname) == sig:
                continue
            self.parse_count += 1
            if prefetched is not None:
                _sig, ok, value = prefetched[fname]
            else:
                ok, value = read_tracked(path, fname)
            if is_racy((sig,), now_ns):
                entry.sigs[fname] = RACY  # may change again within the same timestamp tick: re-read next scan
            if not ok:
                entry.failed[fname] = sig  # keep the previous content; retry when the file moves
                continue
            entry.failed.pop(fname, None)
            if fname == METRICS_FILE:  # only the summaries are kept in memory, never whole series
                entry.summaries, entry.tails = value
            else:
                entry.parsed[fname] = value
        if sigs[METRICS_FILE] is None:
            entry.summaries, entry.tails = {}, {}
        entry.doc = files_doc.build_doc(
            entry.run_id,
            entry.parsed.get(RUN_FILE),
            entry.parsed.get(CONFIG_FILE),
            entry.parsed.get(INFO_FILE),
            entry.parsed.get(SIDECAR_FILE),
            entry.summaries,
        )
        if not is_new and set(changed_files) <= {SIDECAR_FILE}:
            # only tags/notes moved: the run set, configs, times and metrics stand, and so do the listings
            # that do not look at annotations (they key on `generation`; the others on both)
            self.annotations_generation += 1
            return False
        return True

    # -- derived metric summaries ------------------------------------------------------
    def ensure_window(self, stat: str, metric: str, n: int, max_tail: int) -> None:
        """Make the key of windowed statistic `stat` over n values (`last_avg_<n>`) present in every run's
        summary of `metric` (for queries and sorts)."""
        key = stats.summary_key(stat, n)
        with self._lock:
            for entry in self.entries.values():
                summary = entry.summaries.get(metric)
                if summary is None or key in summary:
                    continue
                if n <= max_tail:
                    summary[key] = stats.STATISTICS[stat].of(entry.tails.get(metric, []), n)
                else:
                    summary[key] = self._full_window(entry, stat, metric, n)

    def _full_window(self, entry: RunEntry, stat: str, metric: str, n: int) -> float | None:
        """A windowed statistic over more points than the kept tail: read this run's metrics.json once."""
        _ok, value = read_json(os.path.join(entry.path, METRICS_FILE))
        series = files_doc.parse_metrics(value).get(metric)
        if not series:
            return None
        _xs, ys, _ts = series_points(*series)
        return stats.STATISTICS[stat].of(ys, n)
