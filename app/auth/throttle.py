"""Failed-login slow-down: after a few failures per user name and per address, each attempt waits longer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass
class _Entry:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """In-process counters keyed by ("user", name) and ("addr", ip).

    After `free_attempts` failures a key is locked for base_delay * 2**(extra failures) seconds (capped),
    and a login on a locked key is refused even with the right password. Entries expire after `forget`.
    """

    def __init__(
        self,
        free_attempts: int = 5,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        forget: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_attempts = free_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget = forget
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def retry_after(self, keys: Iterable[tuple[str, str]]) -> float:
        """Seconds before another attempt is allowed for any of `keys` (0 when allowed now)."""
        now = self._clock()
        with self._lock:
            waits = [e.locked_until - now for k in keys if (e := self._entries.get(k)) is not None]
        return max([0.0, *waits])

    def failed(self, keys: Iterable[tuple[str, str]]) -> None:
        now = self._clock()
        with self._lock:
            self._expire(now)
            for key in keys:
                entry = self._entries.setdefault(key, _Entry())
                entry.failures += 1
                entry.last = now
                extra = entry.failures - self.free_attempts
                if extra >= 0:
                    entry.locked_until = now + min(self.base_delay * 2**extra, self.max_delay)

    def succeeded(self, keys: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def _expire(self, now: float) -> None:
        if len(self._entries) < 10_000:
            return
        for key in [k for k, e in self._entries.items() if now - e.last > self.forget]:
            del self._entries[key]
