"""Metric summaries of the MongoDB backend, kept in each run document under the dashboard-owned `omnidash`.

`omnidash = {v, status, hb, duration, metrics: {escape_key(name): summarize(...) + last_avg_<N>}}`.
Omniboard never reads unknown top-level fields, and Sacred's `$set` of its run entry never touches it.
Only runs whose summary is missing, outdated (format version) or still moving (RUNNING/QUEUED, heartbeat
or status changed) are recomputed, with their metric documents read in batches. A user that may not
write gets the same summaries from a per-process cache instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from omnidash.core import summaries as stats
from omnidash.core.status import LIVE_STATUSES
from omnidash.core.types import RunId
from omnidash.core.values import parse_time
from omnidash.store import rows

log = logging.getLogger(__name__)

SUMMARY_VERSION = 1  # the format of a stored summary with the built-in statistics (see summary_version)
REFRESH_EVERY = 2.0  # seconds between two refresh checks in one process
BATCH = 1000  # runs whose metric documents are read in one query (and whose summaries are written in one bulk)
WORKERS = 3  # batches read, summarised and written at once: the server's work overlaps this process's
STATE_ID = "summaries"


def summary_version() -> int:
    """The `omnidash.v` of a current summary: SUMMARY_VERSION for the built-in statistics, a number of its
    own for any other registry (a statistic added to omnidash.core.summaries makes every summary outdated)."""
    return stats.version(SUMMARY_VERSION)


def stale_clauses() -> tuple[dict[str, Any], ...]:
    """Runs whose summary may be stale: never summarised or another format version, or live when summarised
    or now (each clause answered by an index of MongoStore.INDEXES)."""
    version = summary_version()
    return (
        {"omnidash.v": None},
        {"omnidash.v": {"$lt": version}},
        {"omnidash.v": {"$gt": version}},
        {"omnidash.status": {"$in": LIVE_STATUSES}},
        {"status": {"$in": LIVE_STATUSES}},
    )
TAIL_STORED = 20  # last values kept in a stored summary (longer when a larger last_avg window is asked)


def _same_time(a: Any, b: Any) -> bool:
    return parse_time(a) == parse_time(b)


def is_current(doc: Mapping[str, Any]) -> bool:
    """Whether the stored summary of this run (projected status/heartbeat/omnidash) is up to date."""
    od = doc.get("omnidash")
    if not isinstance(od, Mapping) or od.get("v") != summary_version():
        return False
    return od.get("status") == status_key(doc) and _same_time(od.get("hb"), doc.get("heartbeat"))


def metrics_filter(run_ids: list[RunId]) -> dict[str, Any]:
    """The metric documents of these runs: the integer ids as one range when they are dense (at most half
    the range is other ids; compute() drops what the range adds), the rest by $in.

    Measured on FerretDB 2.5 (20,000 runs): a long $in costs more than linear time (1,000 ids: 3.5 s
    against 2.5 s for their range; 5,000: 75 s against 15 s), so the first summary build reads by range.
    """
    ints = sorted(i for i in run_ids if isinstance(i, int) and not isinstance(i, bool))
    if len(ints) < 2 or ints[-1] - ints[0] + 1 > 2 * len(ints):
        return {"run_id": {"$in": run_ids}}
    others = [i for i in run_ids if not (isinstance(i, int) and not isinstance(i, bool))]
    dense = {"run_id": {"$gte": ints[0], "$lte": ints[-1]}}
    return {"$or": [dense, {"run_id": {"$in": others}}]} if others else dense


def status_key(doc: Mapping[str, Any]) -> str | None:
    """The stored status when it is a string (malformed documents may hold anything)."""
    status = doc.get("status")
    return status if isinstance(status, str) else None


def window_values(summary: Mapping[str, Any], windows: Iterable[int]) -> dict[str, Any]:
    """{`last_avg_<N>`: value} of every windowed statistic for every window N, over the summary's tail."""
    return {stats.summary_key(stat.name, n): stat.of(summary.get("tail") or [], n)
            for stat in stats.STATISTICS.values() if stat.windowed for n in windows}


def with_windows(summary: dict[str, Any], windows: Iterable[int]) -> dict[str, Any]:
    """A summary with a `last_avg_<N>` key for every window N."""
    summary.update(window_values(summary, windows))
    return summary


def omnidash_field(doc: Mapping[str, Any], summaries: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The `omnidash` value for a run document and its metric summaries (by escaped name)."""
    return {
        "v": summary_version(),
        "status": status_key(doc),
        "hb": parse_time(doc.get("heartbeat")),
        "duration": rows.duration_of(doc),
        "metrics": dict(summaries),
    }


def summaries_by_name(od: Any) -> dict[str, Mapping[str, Any]]:
    """{metric name: summary} from an `omnidash` value."""
    metrics = od.get("metrics") if isinstance(od, Mapping) else None
    if not isinstance(metrics, Mapping):
        return {}
    return {rows.unescape_key(k): v for k, v in metrics.items() if isinstance(v, Mapping)}


class Summaries:
    """Computes, stores (or caches) and serves metric summaries for one runs/metrics collection pair."""

    def __init__(self, runs: Collection, metrics: Collection, state: Collection, writable: bool) -> None:
        self.runs, self.metrics, self.state = runs, metrics, state
        self.writable = writable
        self._lock = threading.Lock()
        self._last_refresh = 0.0
        self._windows: set[int] = set()
        self._windows_read = 0.0
        self._names_known: set[str] = set()
        self.cache: dict[Any, tuple[dict[str, Any], dict[str, Any]]] = {}  # read-only: id -> (probe, omnidash)

    # -- last_avg windows ---------------------------------------------------------------
    def windows(self) -> set[int]:
        """Every last_avg window N requested so far (stored in omnidash.state)."""
        if time.monotonic() - self._windows_read > 10 and self.writable:
            try:
                doc = self.state.find_one({"_id": STATE_ID}) or {}
                stored = found if isinstance(found := doc.get("last_avg"), list) else []
                self._windows |= {int(n) for n in stored if isinstance(n, int | float) and n >= 1}
            except OperationFailure:
                pass
            self._windows_read = time.monotonic()
        return set(self._windows)

    def tail_length(self) -> int:
        """Values kept per stored summary: enough for every window requested so far."""
        return max([TAIL_STORED, *self.windows()])

    def ensure_window(self, n: int) -> None:
        """Make last_avg(metric, n) (every windowed statistic) sortable: remember n and add its key to every
        stored summary."""
        n = max(1, min(int(n), rows.TAIL_KEEP))
        if n in self.windows():
            return
        needs_longer_tail = n > self.tail_length()
        self._windows.add(n)
        if not self.writable:
            if needs_longer_tail:
                self.cache.clear()
            for _probe, od in self.cache.values():
                for summary in od["metrics"].values():
                    with_windows(summary, [n])
            return
        try:
            self.state.update_one({"_id": STATE_ID}, {"$addToSet": {"last_avg": n}}, upsert=True)
        except OperationFailure as e:
            self._write_refused(e)
            return
        if needs_longer_tail:  # the stored tails are too short: recompute every summary now
            self.runs.update_many({"omnidash.v": summary_version()}, {"$set": {"omnidash.v": 0}})
            self.refresh(force=True)
            return
        ops = []
        for doc in self.runs.find({"omnidash.metrics": {"$exists": True}}, {"omnidash.metrics": 1}):
            metrics = doc.get("omnidash", {}).get("metrics")
            if not isinstance(metrics, Mapping):
                continue
            update = {
                f"omnidash.metrics.{esc}.{key}": v
                for esc, s in metrics.items()
                if isinstance(s, Mapping)
                for key, v in window_values(s, [n]).items()
            }
            if update:
                ops.append(UpdateOne({"_id": doc["_id"]}, {"$set": update}))
        self._bulk(ops)

    # -- computing -------------------------------------------------------------------------
    def compute(self, run_ids: list[RunId]) -> dict[Any, dict[str, dict[str, Any]]]:
        """{run id: {escaped metric name: summary}} read from the metric documents of these runs."""
        out: dict[Any, dict[str, dict[str, Any]]] = {rid: {} for rid in run_ids}
        windows = self.windows()
        keep = self.tail_length()
        for start in range(0, len(run_ids), BATCH):
            chunk = run_ids[start : start + BATCH]
            cursor = self.metrics.find(
                metrics_filter(chunk), {"run_id": 1, "name": 1, "steps": 1, "values": 1, "_id": 0}
            )
            for m in cursor:
                name, rid = m.get("name"), m.get("run_id")
                if not isinstance(name, str) or rid not in out:
                    continue
                values = m.get("values") if isinstance(m.get("values"), list) else []
                steps = m.get("steps") if isinstance(m.get("steps"), list) else list(range(len(values)))
                try:
                    summary = rows.summarize(steps, values)
                except Exception:  # noqa: BLE001 - a malformed metric never breaks a listing
                    continue
                summary["tail"] = (summary.get("tail") or [])[-keep:]
                out[rid][rows.escape_key(name)] = with_windows(summary, windows)
        return out

    # -- keeping stored summaries current ---------------------------------------------------------
    def refresh(self, force: bool = False) -> int:
        """Recompute the summaries of runs that are new, outdated or still moving; returns how many."""
        if not self.writable:
            return 0
        with self._lock:
            if not force and time.monotonic() - self._last_refresh < REFRESH_EVERY:
                return 0
            probe = {"status": 1, "heartbeat": 1, "start_time": 1, "omnidash.v": 1, "omnidash.status": 1,
                     "omnidash.hb": 1}
            found: dict[tuple[str, Any], dict[str, Any]] = {}
            try:
                for clause in stale_clauses():  # one indexed query each
                    for doc in self.runs.find(clause, probe):
                        found.setdefault((type(doc["_id"]).__name__, doc["_id"]), doc)
            except OperationFailure as e:  # e.g. FerretDB 2.5's transient "tuple offset out of range: 0"
                log.warning("summary refresh skipped (stored summaries served, retried later): %s", e)
                self._last_refresh = time.monotonic()
                return 0
            candidates = found.values()
            stale = [doc for doc in candidates if not is_current(doc)]
            done = self._store(stale)
            self._last_refresh = time.monotonic()
            return done

    def _store(self, docs: list[dict[str, Any]]) -> int:
        """Compute and write the summaries of these runs, BATCH runs at a time in WORKERS threads."""
        docs = sorted(docs, key=_int_id_first)  # consecutive ids: each batch reads one id range
        chunks = [docs[start : start + BATCH] for start in range(0, len(docs), BATCH)]
        if len(chunks) > 1 and WORKERS > 1:
            with ThreadPoolExecutor(WORKERS, thread_name_prefix="omnidash-summaries") as pool:
                results = list(pool.map(self._store_batch, chunks))
        else:
            results = [self._store_batch(chunk) for chunk in chunks]
        names: set[str] = set()
        for stored in results:
            names |= stored or set()
        self.remember_names(names)
        return sum(len(chunk) for chunk, stored in zip(chunks, results, strict=True) if stored is not None)

    def _store_batch(self, chunk: list[dict[str, Any]]) -> set[str] | None:
        """The metric names summarised for these runs, or None when the write was refused."""
        if not self.writable:
            return None
        computed = self.compute([d["_id"] for d in chunk])
        ops = [
            UpdateOne({"_id": d["_id"]}, {"$set": {"omnidash": omnidash_field(d, computed[d["_id"]])}})
            for d in chunk
        ]
        if not self._bulk(ops):
            return None
        return {rows.unescape_key(k) for summaries in computed.values() for k in summaries}

    def remember_names(self, names: set[str]) -> None:
        """Add metric names to omnidash.state (columns() reads them without scanning metrics)."""
        new = names - self._names_known
        if not new:
            return
        try:
            self.state.update_one({"_id": STATE_ID}, {"$addToSet": {"names": {"$each": sorted(new)}}}, upsert=True)
            self._names_known |= new
        except OperationFailure:
            pass

    def known_names(self) -> list[str]:
        try:
            doc = self.state.find_one({"_id": STATE_ID}) or {}
        except OperationFailure:
            return []
        names = doc.get("names")
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    def _bulk(self, ops: list[UpdateOne]) -> bool:
        if not ops:
            return True
        try:
            for start in range(0, len(ops), 1000):
                self.runs.bulk_write(ops[start : start + 1000], ordered=False)
            return True
        except OperationFailure as e:
            self._write_refused(e)
            return False

    def _write_refused(self, e: OperationFailure) -> None:
        if e.code in (13, 8000) or "not authorized" in str(e).lower() or "unauthorized" in str(e).lower():
            log.info("cannot write metric summaries (%s): computing them per process", e)
            self.writable = False
        else:
            raise e

    def forget(self, run_id: RunId) -> None:
        self.cache.pop(run_id, None)

    # -- read-only: a per-process cache ---------------------------------------------------------
    def attach(self, docs: list[dict[str, Any]]) -> None:
        """Give every document (with status/heartbeat/start_time) a current `omnidash` from the cache."""
        missing = []
        for doc in docs:
            if is_current(doc):
                continue
            cached = self.cache.get(doc["_id"])
            if cached is not None and is_current({**cached[0], "omnidash": cached[1]}) and _same_probe(
                cached[0], doc
            ):
                doc["omnidash"] = cached[1]
            else:
                missing.append(doc)
        for start in range(0, len(missing), BATCH):
            chunk = missing[start : start + BATCH]
            computed = self.compute([d["_id"] for d in chunk])
            for d in chunk:
                od = omnidash_field(d, computed[d["_id"]])
                probe = {"status": d.get("status"), "heartbeat": d.get("heartbeat"),
                         "start_time": d.get("start_time")}
                self.cache[d["_id"]] = (probe, od)
                d["omnidash"] = od


def _int_id_first(doc: Mapping[str, Any]) -> tuple[int, int]:
    """Sort key: integer ids in order, then every other id (in its original order: sorted() is stable)."""
    rid = doc.get("_id")
    return (0, rid) if isinstance(rid, int) and not isinstance(rid, bool) else (1, 0)


def _same_probe(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("status") == b.get("status") and _same_time(a.get("heartbeat"), b.get("heartbeat")) and (
        _same_time(a.get("start_time"), b.get("start_time"))
    )

