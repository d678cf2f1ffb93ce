"""Short-lived caches of column lists and distinct values, so typing in the filter bar stays cheap."""

from __future__ import annotations

import threading
import time
from typing import Any

from omnidash.store.base import RunStore

TTL_SECONDS = 20.0
_lock = threading.Lock()
_cache: dict[tuple[int, str], tuple[float, Any]] = {}


def _cached(store: RunStore, key: str, compute) -> Any:
    now = time.monotonic()
    k = (id(store), key)
    with _lock:
        hit = _cache.get(k)
        if hit and now - hit[0] < TTL_SECONDS:
            return hit[1]
    value = compute()
    with _lock:
        _cache[k] = (now, value)
        if len(_cache) > 2000:
            _cache.clear()
    return value


def column_names(store: RunStore) -> list[str]:
    return _cached(store, "columns", lambda: [c.name for c in store.columns()])


def distinct(store: RunStore, column: str) -> list[Any]:
    return _cached(store, "distinct:" + column, lambda: store.distinct(column, limit=200))


def forget(store: RunStore) -> None:
    """Drop the store's cached entries (after a write that adds tags or columns)."""
    with _lock:
        for k in [k for k in _cache if k[0] == id(store)]:
            del _cache[k]


def column_infos(store: RunStore) -> list[Any]:
    """store.columns(), cached briefly."""
    return _cached(store, "column_infos", store.columns)


LISTED_SAMPLE = 500  # runs read to tell which config keys vary among the runs a query lists


def listed_varies(store: RunStore, query: str, config: list[str]) -> dict[str, bool] | None:
    """Which config keys vary among (the newest LISTED_SAMPLE of) the runs matching `query`; None when fewer
    than two runs match (then the whole database decides), cached briefly per query."""
    import json

    def compute() -> dict[str, bool] | None:
        rows = store.list_runs(query, ["-id"], 0, LISTED_SAMPLE, ["id", *config]).rows
        if len(rows) < 2:
            return None
        return {name: len({json.dumps(r.get(name), sort_keys=True, default=str) for r in rows}) > 1
                for name in config}

    return _cached(store, "varies:" + query, compute)
