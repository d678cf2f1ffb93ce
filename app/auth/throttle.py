"""Failed-login slow-down: after a few failures per user name and per address, each attempt waits longer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from omnidash.auth.state import AuthState


@dataclass
class _Entry:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """Counters keyed by ("user", name) and ("addr", ip): in this process, or in a shared `AuthState`.

    After `free_attempts` failures a key is locked for base_delay * 2**(extra failures) seconds (capped),
    and a login on a locked key is refused even with the right password. Entries expire after `forget`.
    `attempt` checks and records in one atomic step, so N concurrent wrong passwords get exactly
    `free_attempts` password checks, in any number of threads (a lock) and processes (the shared state).
    """

    def __init__(
        self,
        free_attempts: int = 5,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        forget: float = 3600.0,
        clock: Callable[[], float] | None = None,
        state: AuthState | None = None,
    ) -> None:
        self.free_attempts = free_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget = forget
        self.state = state
        self._clock = clock or (state.clock if state is not None else time.monotonic)
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        self._attempts = 0

    def delay(self, extra: int) -> float:
        """The lock after the `extra`-th failure past the free ones (0, 1, ...)."""
        return min(self.base_delay * 2 ** min(extra, 30), self.max_delay)

    def retry_after(self, keys: Iterable[tuple[str, str]]) -> float:
        """Seconds before another attempt is allowed for any of `keys` (0 when allowed now)."""
        if self.state is not None:
            return self.state.retry_after(_flat(keys))
        now = self._clock()
        with self._lock:
            waits = [e.locked_until - now for k in keys if (e := self._entries.get(k)) is not None]
        return max([0.0, *waits])

    def attempt(self, keys: Iterable[tuple[str, str]]) -> float:
        """Atomically: the wait (> 0: refuse, nothing recorded), else count this attempt as a failure on
        every key and return 0. Call `succeeded` when the password turns out right."""
        keys = list(keys)
        self._attempts += 1
        if self.state is not None:
            if self._attempts % 500 == 0:
                self.state.forget_older_than(self.forget)
            return self.state.attempt(_flat(keys), self.free_attempts, self.delay)
        now = self._clock()
        with self._lock:
            self._expire(now)
            wait = max([0.0, *(e.locked_until - now for k in keys if (e := self._entries.get(k)) is not None)])
            if wait > 0:
                return wait
            for key in keys:
                entry = self._entries.setdefault(key, _Entry())
                entry.failures += 1
                entry.last = now
                extra = entry.failures - self.free_attempts
                if extra >= 0:
                    entry.locked_until = now + self.delay(extra)
            return 0.0

    def succeeded(self, keys: Iterable[tuple[str, str]]) -> None:
        if self.state is not None:
            self.state.clear(_flat(keys))
            return
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def _expire(self, now: float) -> None:
        if len(self._entries) < 10_000:
            return
        for key in [k for k, e in self._entries.items() if now - e.last > self.forget]:
            del self._entries[key]


def _flat(keys: Iterable[tuple[str, str]]) -> list[str]:
    return [f"{kind}:{value}" for kind, value in keys]
