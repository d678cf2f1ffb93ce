"""Values computed from the database: kept per key and refreshed behind the user's back (`Refreshing`), or
computed once for every caller that asks while it is being computed (`SharedCalls`).

A value younger than `fresh` seconds is answered as it is. Between `fresh` and `stale` seconds old it is still
answered at once, and one background thread recomputes it: the column catalogue (0.1-0.25 s at 100,000 runs
on MongoDB, every few seconds) is then never recomputed on a user's request while the page is in use. A value
older than `stale`, or stored under another version (a write went through the store since), is recomputed
before answering, so a write shows at once and a board left alone for minutes never shows old data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)


class Refreshing:
    """Values by key (at most `max_entries`, all dropped when full), refreshed as the module says."""

    def __init__(self, fresh: float, stale: float, max_entries: int = 2000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fresh, self.stale, self.max_entries, self.clock = fresh, stale, max_entries, clock
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Hashable, Any]] = {}  # key -> (computed at, version, value)
        self._refreshing: set[Hashable] = set()
        self._computing = SharedCalls()  # a request that needs a value being computed waits for it

    def get(self, key: Hashable, compute: Callable[[], Any], version: Hashable = None) -> Any:
        """The value of `key`, computing it (here or in the background) when the rules above say so."""
        now = self.clock()
        with self._lock:
            hit = self._values.get(key)
            if hit is not None and hit[1] == version and now - hit[0] < self.stale:
                if now - hit[0] >= self.fresh and key not in self._refreshing:
                    self._refreshing.add(key)
                    threading.Thread(target=self._refresh, args=(key, compute, version), daemon=True,
                                     name="omnidash-refresh").start()
                return hit[2]
        return self._compute(key, compute, version)

    def _compute(self, key: Hashable, compute: Callable[[], Any], version: Hashable) -> Any:
        """compute(), stored under `version`; shared with every caller that needs the same (key, version) while it
        runs (the first requests after a start, a request meeting a background refresh)."""

        def compute_and_store() -> Any:
            started = self.clock()
            value = compute()
            with self._lock:
                if len(self._values) >= self.max_entries:
                    self._values.clear()
                current = self._values.get(key)
                if current is None or current[0] <= started:  # never over a value computed after this one began
                    self._values[key] = (started, version, value)
            return value

        return self._computing.call((key, version), compute_and_store)

    def _refresh(self, key: Hashable, compute: Callable[[], Any], version: Hashable) -> None:
        try:
            self._compute(key, compute, version)
        except Exception as e:  # noqa: BLE001 - the old value stays; a request past `stale` meets the error
            log.warning("background refresh of %r failed: %s", key, e)
        finally:
            with self._lock:
                self._refreshing.discard(key)


class SharedCalls:
    """Calls by key, run once for all the callers that ask while one runs; nothing is kept once it returns.

    The table's first block and its sample of varying columns list the same new filter at once, and each
    counts it: on MongoDB a count is a scan of every run (0.1-0.15 s at 100,000 runs), so the second waits
    for the first's answer instead of scanning beside it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, Future] = {}

    def call(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            running = self._running.get(key)
            if running is None:
                mine: Future = Future()
                self._running[key] = mine
        if running is not None:
            return running.result()
        try:
            value = compute()
        except BaseException as e:
            mine.set_exception(e)
            raise
        else:
            mine.set_result(value)
            return value
        finally:
            with self._lock:
                self._running.pop(key, None)
