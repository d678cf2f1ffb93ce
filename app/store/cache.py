"""Per-process caches in front of a RunStore, which the store's own writes invalidate.

- The catalogue (column names and infos, distinct values, which config keys vary among listed runs) is kept
  while no write went through the store (`RunStore.changes()`: tags, notes, shared columns, views, deletes), so
  a write shows at once, and recomputed in the background once TTL_SECONDS old (store/refreshing.py), so
  typing in the filter bar stays cheap and no request of a page in use waits for it.
- Full-resolution metric series of finished runs, for the plot panel. A finished run's metrics never change,
  so each (run, metric) is read once and every later chart, zoom (x_range) and CSV request is answered by
  slicing and downsampling in numpy (`omnidash.core.downsample`), without another database round trip.
  Running runs always go to the store; a delete through the store drops that store's series. Bounded by a
  point budget, least recently used first out.

Callers never invalidate: a write made outside this process shows once the catalogue's TTL has run out and
its background refresh is done (or at the first request STALE_SECONDS after the last refresh).
"""

from __future__ import annotations

import itertools
import json
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from omnidash.core.downsample import downsample_indices
from omnidash.core.types import ColumnInfo, RunId, Series
from omnidash.store.base import RunStore
from omnidash.store.common import step_list, value_list
from omnidash.store.refreshing import Refreshing

DEFAULT_BUDGET = 8_000_000  # points (~200 MB with timestamps)
TTL_SECONDS = 20.0  # a catalogue entry is recomputed in the background once this old (store/refreshing.py)
STALE_SECONDS = 120.0  # and before answering once this old
LISTED_SAMPLE = 500  # runs read to tell which config keys vary among the runs a query lists
MAX_ENTRIES = 2000  # catalogue entries kept per store

_lock = threading.Lock()
_tokens: weakref.WeakKeyDictionary[RunStore, int] = weakref.WeakKeyDictionary()
_next_token = itertools.count(1)
_catalogue: weakref.WeakKeyDictionary[RunStore, Refreshing] = weakref.WeakKeyDictionary()


def store_token(store: RunStore) -> int:
    """A number naming this store object for as long as the process runs (never reused, unlike id())."""
    with _lock:
        token = _tokens.get(store)
        if token is None:
            token = _tokens[store] = next(_next_token)
        return token


# -- the catalogue -------------------------------------------------------------------------------------
def _cached(store: RunStore, key: str, compute: Callable[[], Any]) -> Any:
    with _lock:
        values = _catalogue.get(store)
        if values is None:
            values = _catalogue[store] = Refreshing(TTL_SECONDS, STALE_SECONDS, MAX_ENTRIES)
    # the writes are read before computing: a write meanwhile makes this value stale at once
    return values.get(key, compute, store.changes())


def column_names(store: RunStore) -> list[str]:
    return _cached(store, "columns", lambda: [c.name for c in store.columns()])


def column_infos(store: RunStore) -> list[ColumnInfo]:
    """store.columns(), cached briefly."""
    return _cached(store, "column_infos", store.columns)


def distinct(store: RunStore, column: str, limit: int = 200) -> list[Any]:
    """store.distinct(column, limit), cached briefly (the filter bar's suggestions, the tag list: a scan of every
    run on MongoDB, 0.6 s at 100,000 runs)."""
    return _cached(store, f"distinct:{limit}:{column}", lambda: store.distinct(column, limit=limit))


def listed_varies(store: RunStore, query: str, config: list[str]) -> dict[str, bool] | None:
    """Which config keys vary among (the newest LISTED_SAMPLE of) the runs matching `query`; None when fewer
    than two runs match (then the whole database decides), cached briefly per query."""

    def compute() -> dict[str, bool] | None:
        rows = store.list_runs(query, ["-id"], 0, LISTED_SAMPLE, ["id", *config]).rows
        if len(rows) < 2:
            return None
        return {name: len({json.dumps(r.get(name), sort_keys=True, default=str) for r in rows}) > 1
                for name in config}

    return _cached(store, "varies:" + query, compute)


def forget(store: RunStore) -> None:
    """Drop what is cached for this store (after a write made around it, e.g. by another process)."""
    with _lock:
        _catalogue.pop(store, None)
    CACHE.forget(store)


# -- metric series ---------------------------------------------------------------------------------------


Key = tuple[int, int, str, str]


@dataclass
class FullSeries:
    run_id: RunId
    steps: np.ndarray  # float64, sorted
    values: np.ndarray  # float64, NaN for gaps
    stamps: np.ndarray | None  # epoch seconds (NaN where missing), or None
    whole_view: dict[int, np.ndarray] = field(default_factory=dict)  # max_points -> indices of the full range

    @property
    def size(self) -> int:
        return len(self.steps)


def _full(s: Series) -> FullSeries:
    values = np.array([np.nan if v is None else v for v in s.values], dtype=float)
    stamps = None
    if s.timestamps and len(s.timestamps) == len(s.steps):
        stamps = np.array([np.nan if t is None else (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
                           for t in s.timestamps])
    return FullSeries(s.run_id, np.asarray(s.steps, dtype=float), values, stamps)


class EpochStamps(Sequence[datetime | None]):
    """Timestamps held as epoch seconds (NaN: missing); datetimes are made only when read one by one.

    The charts only need the seconds (`epoch_seconds`), so a 50 x 2,000-point figure no longer builds and
    parses 100,000 datetime objects; CSV export and anything else iterating get datetimes as before.
    """

    def __init__(self, seconds: np.ndarray) -> None:
        self.epoch_seconds = seconds

    def __len__(self) -> int:
        return len(self.epoch_seconds)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return EpochStamps(self.epoch_seconds[i])
        t = float(self.epoch_seconds[i])
        return datetime.fromtimestamp(t, UTC) if np.isfinite(t) else None

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    __hash__ = None  # type: ignore[assignment]


def _series(name: str, full: FullSeries, max_points: int | None, x_range: tuple[float, float] | None) -> Series:
    steps, values, stamps = full.steps, full.values, full.stamps
    if x_range is not None:
        lo, hi = sorted(x_range)
        keep = (steps >= lo) & (steps <= hi)
        steps, values = steps[keep], values[keep]
        stamps = stamps[keep] if stamps is not None else None
    if max_points is not None and len(steps) > max_points:
        if x_range is None:  # the unzoomed chart is drawn again and again: pick its points once
            idx = full.whole_view.get(max_points)
            if idx is None:
                idx = full.whole_view[max_points] = downsample_indices(steps, values, max_points)
        else:
            idx = downsample_indices(steps, values, max_points)
        steps, values = steps[idx], values[idx]
        stamps = stamps[idx] if stamps is not None else None
    return Series(
        run_id=full.run_id,
        name=name,
        steps=step_list(steps),
        values=value_list(values),
        timestamps=[] if stamps is None else EpochStamps(stamps),  # type: ignore[arg-type]
        total_points=full.size,
    )


class SeriesCache:
    """Full-resolution series of finished runs, keyed by (store, its deletes so far, run, metric)."""

    def __init__(self, budget_points: int = DEFAULT_BUDGET) -> None:
        self.budget = budget_points
        self._items: OrderedDict[Key, FullSeries | None] = OrderedDict()
        self._points = 0
        self._lock = threading.Lock()

    @staticmethod
    def _keys(store: RunStore) -> Callable[[RunId, str], Key]:
        """Keys of this store's series; after a delete its earlier ones are never asked for again (a new run
        may reuse a deleted run's id), and leave as the least recently used."""
        token, deletes = store_token(store), store.changes()[1]
        return lambda run_id, name: (token, deletes, repr(run_id), name)

    def forget(self, store: RunStore) -> None:
        """Drop every series of this store."""
        token = store_token(store)
        with self._lock:
            for key in [k for k in self._items if k[0] == token]:
                full = self._items.pop(key)
                self._points -= full.size if full else 0

    def _put(self, key: Key, full: FullSeries | None) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = full
            self._points += full.size if full else 0
            while self._points > self.budget and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._points -= old.size if old else 0

    def _get(self, key: Key) -> tuple[bool, FullSeries | None]:
        with self._lock:
            if key not in self._items:
                return False, None
            self._items.move_to_end(key)
            return True, self._items[key]

    def series(self, store: RunStore, run_ids: Sequence[RunId], names: Iterable[str], max_points: int | None,
               x_range: tuple[float, float] | None = None, live: Iterable[RunId] = ()) -> list[Series]:
        """Like `store.metric_series`, served from the cache for runs not in `live`."""
        names = list(names)
        key = self._keys(store)
        live_ids = {repr(r) for r in live}
        finished = [r for r in run_ids if repr(r) not in live_ids]
        missing = [r for r in finished if any(not self._get(key(r, n))[0] for n in names)]
        if missing:
            # one pass over the store (one scan on FerretDB); each series becomes numpy as it arrives
            fetched: dict[tuple[str, str], FullSeries] = {}
            for s in store.iter_metric_series(missing, names):
                fetched[(str(s.run_id), s.name)] = _full(s)
            for rid in missing:  # ids may come back as stored (int for "5"): match on their text
                for n in names:
                    self._put(key(rid, n), fetched.get((str(rid), n)))
        live_series = store.metric_series([r for r in run_ids if repr(r) in live_ids], names,
                                          max_points=max_points, x_range=x_range) if live_ids else []
        live_by_key = {(repr(s.run_id), s.name): s for s in live_series}
        out: list[Series] = []
        for rid in run_ids:
            for n in names:
                if repr(rid) in live_ids:
                    if (got := live_by_key.get((repr(rid), n))) is not None:
                        out.append(got)
                    continue
                _, full = self._get(key(rid, n))
                if full is not None:
                    out.append(_series(n, full, max_points, x_range))
        return out


CACHE = SeriesCache()
