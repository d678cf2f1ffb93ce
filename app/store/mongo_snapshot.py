"""A per-process copy of every run's listing fields, for servers where each query reads the whole collection.

FerretDB 1.x uses no index: a page sorted by a config key, a count, a distinct or a find by `_id $in`
each read and decode every run document (about 15 s for 20,000 runs). There, one scan into this copy
serves every sort, filter, count, page and column catalogue, evaluated in Python with
`app.store.matcher` (MongoDB's comparison rules), while the copy is refreshed in a background thread
at most every `max(MIN_AGE, AGE_FACTOR x scan time)` seconds and the previous one is served meanwhile.

Writes made by this process (tags, notes, deletes) are applied to the copy at once, and again on top
of a scan that was already running when they happened; other processes' writes show after the next
refresh. Metric summaries of new or moving runs are computed in the same background pass, in one read
of the metrics collection, so a page never waits for them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from app.store.base import RunId
from app.store.matcher import compile_matcher, doc_sort_key
from app.store.mongo_util import by_id_key, collapse_paths, id_key, match_id

log = logging.getLogger(__name__)

# what a listing can touch: every row field, config, info, meta, Omniboard's annotations, summaries
FIELDS = (
    "config", "info", "meta", "omniboard", "omnidash", "status", "heartbeat", "start_time", "stop_time",
    "queue_time", "result", "command", "format", "experiment.name", "experiment.mainfile", "host.hostname",
    "host.os", "host.cpu", "host.gpus", "host.python_version",
)
MIN_AGE = 2.0  # seconds a copy is served before a refresh is started
AGE_FACTOR = 3.0  # ... or this many scan durations, whichever is longer (keeps the server mostly idle)
SCAN_BATCH = 1000
SELECTIONS_KEPT = 16


def covered(path: str) -> bool:
    """Whether documents of the copy hold `path` as the server does."""
    return path == "_id" or any(path == f or path.startswith(f + ".") for f in FIELDS)


def select(docs: Iterable[dict[str, Any]], flt: Mapping[str, Any], sort_spec: list[tuple[str, int]]) -> list[dict]:
    """The documents matching a compiled filter, in the order of a MongoDB sort spec."""
    test = compile_matcher(dict(flt)) if flt else None
    selected = []
    for d in docs:
        try:
            if test is None or test(d):
                selected.append(d)
        except Exception:  # noqa: BLE001 - a malformed run never breaks a listing
            continue
    for path, direction in reversed(sort_spec):  # stable sorts, last key first
        desc = direction < 0
        selected.sort(key=lambda d, p=path, ds=desc: doc_sort_key(d, p, ds), reverse=desc)
    return selected


class ListingSnapshot:
    """Every run's listing fields in memory, refreshed in the background (see the module docstring)."""

    def __init__(
        self,
        runs: Collection,
        prime: Callable[[list[dict[str, Any]]], None] | None = None,
        min_age: float = MIN_AGE,
        age_factor: float = AGE_FACTOR,
    ) -> None:
        """`prime(docs)` runs on each new scan before it is served (metric summaries are attached there)."""
        self.runs = runs
        self.prime = prime
        self.min_age, self.age_factor = min_age, age_factor
        self._docs: list[dict[str, Any]] | None = None
        self._by_id: dict[tuple[str, Any], dict[str, Any]] = {}
        self._taken = 0.0  # monotonic time the served scan started
        self.scan_seconds = 0.0
        self._lock = threading.Lock()  # swaps and patches
        self._scan_lock = threading.Lock()  # one scan at a time
        self._thread: threading.Thread | None = None
        self._writes: list[tuple[float, tuple[str, Any], dict[str, Any] | None]] = []  # (when, id, $set or delete)
        self.last_error: str | None = None
        self.generation = 0  # counts the scans served
        self._version = 0  # counts scans and writes: remembered selections are valid for one version
        self._selections: OrderedDict[tuple[int, str, str], list[dict[str, Any]]] = OrderedDict()

    # -- state -------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._docs is not None

    def age(self) -> float:
        return time.monotonic() - self._taken if self.ready else float("inf")

    @property
    def building(self) -> bool:
        """Whether a scan is running in the background."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Build the copy in a background thread if none is built or being built."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._scan_quietly, name="omnidash-snapshot", daemon=True)
        self._thread.start()

    def docs(self) -> list[dict[str, Any]]:
        """The current copy (built now if there is none); starts a background refresh when it is old."""
        if self._docs is None:
            self.scan()
        elif self.age() > max(self.min_age, self.age_factor * self.scan_seconds):
            self.start()
        assert self._docs is not None
        return self._docs

    def select(self, flt: Mapping[str, Any], sort_spec: list[tuple[str, int]]) -> list[dict[str, Any]]:
        """`select(self.docs(), ...)`, remembered until the next scan or write (paging, counting and
        scrolling through one listing sort once)."""
        docs = self.docs()
        key = (self._version, repr(flt), repr(sort_spec))
        with self._lock:
            found = self._selections.get(key)
            if found is not None:
                self._selections.move_to_end(key)
                return found
        found = select(docs, flt, sort_spec)
        with self._lock:
            if key[0] == self._version:
                self._selections[key] = found
                while len(self._selections) > SELECTIONS_KEPT:
                    self._selections.popitem(last=False)
        return found

    def doc(self, run_id: RunId) -> dict[str, Any] | None:
        """The copy of one run (this id or its int/str twin, as the server would find it), or None."""
        self.docs()
        return match_id(self._by_id, run_id)

    # -- scanning ----------------------------------------------------------------------------------
    def scan(self) -> None:
        """Read every run's listing fields now and serve them (errors propagate: pymongo's). A first build
        that finds another one running waits for it instead of scanning twice."""
        first = self._docs is None
        with self._scan_lock:
            if first and self._docs is not None:
                return
            began = time.monotonic()
            projection = collapse_paths(set(FIELDS))
            docs = list(self.runs.find({}, projection).batch_size(SCAN_BATCH))
            if self.prime is not None:
                self.prime(docs)
            by_id = by_id_key(docs)
            with self._lock:
                for when, key, update in self._writes:  # writes made while this scan ran
                    if when >= began:
                        docs = _apply(docs, by_id, key, update)
                self._writes = [w for w in self._writes if w[0] >= began]
                self._docs, self._by_id, self._taken = docs, by_id, began
                self.generation += 1
                self._version += 1
                self.scan_seconds = time.monotonic() - began
            self.last_error = None

    def _scan_quietly(self) -> None:
        try:
            self.scan()
        except PyMongoError as e:  # the old copy stays served; the next request retries
            self.last_error = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning("listing snapshot refresh failed: %s", self.last_error)

    # -- this process's writes -----------------------------------------------------------------------
    def patch(self, run_id: RunId, update: dict[str, Any]) -> None:
        """Apply a `$set`-like {dotted path: value} that this process wrote to the run."""
        self._record(id_key(run_id), dict(update))

    def remove(self, run_id: RunId) -> None:
        self._record(id_key(run_id), None)

    def _record(self, key: tuple[str, Any], update: dict[str, Any] | None) -> None:
        with self._lock:
            self._writes.append((time.monotonic(), key, update))
            self._version += 1
            if self._docs is not None:
                self._docs = _apply(self._docs, self._by_id, key, update)


def _apply(docs: list[dict[str, Any]], by_id: dict[tuple[str, Any], dict[str, Any]],
           key: tuple[str, Any], update: dict[str, Any] | None) -> list[dict[str, Any]]:
    """`docs` with one write applied: a delete gives a new list (readers may be iterating the old one)."""
    doc = by_id.get(key)
    if doc is None:
        return docs
    if update is None:
        by_id.pop(key, None)
        return [d for d in docs if d is not doc]
    for path, value in update.items():
        target = doc
        parts = path.split(".")
        for part in parts[:-1]:
            nxt = target.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                target[part] = nxt
            target = nxt
        target[parts[-1]] = value
    return docs
