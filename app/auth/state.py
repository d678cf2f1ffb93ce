"""Sign-in state every process of a deployment shares: revoked sessions and failed-sign-in counters.

One SQLite file (stdlib, atomic across processes through its own file locking), by default beside the users
file (`users.toml` -> `users.toml.state.db`), or `$OMNIDASH_AUTH_STATE`. Each check-and-record is one
`BEGIN IMMEDIATE` transaction, so concurrent sign-ins in any number of threads and processes cannot slip
past the throttle, and a sign-out in one process is seen by the next request in every other.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS revoked (sid TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS throttle (key TEXT PRIMARY KEY, failures INTEGER NOT NULL,
                                     locked_until REAL NOT NULL, last REAL NOT NULL);
"""


class AuthStateError(Exception):
    """The state file cannot be created or written (one-line message)."""


def default_state_path(users_file: str | os.PathLike[str]) -> Path:
    """$OMNIDASH_AUTH_STATE, else the users file's name + `.state.db` beside it."""
    explicit = os.environ.get("OMNIDASH_AUTH_STATE")
    if explicit:
        return Path(explicit).expanduser()
    users = Path(users_file)
    return users.with_name(users.name + ".state.db")


class AuthState:
    """The shared SQLite file; one connection per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: str | os.PathLike[str], clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            reason = getattr(e, "strerror", None) or str(e)
            raise AuthStateError(
                f"cannot write the sign-in state file {self.path} ({reason}); sign-outs and failed sign-ins are "
                f"shared there by every process: set OMNIDASH_AUTH_STATE to a writable file") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @property
    def db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def _transaction(self, body: Callable[[sqlite3.Connection], object]) -> object:
        """`body` inside BEGIN IMMEDIATE ... COMMIT: one writer at a time across every process."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = body(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    # -- sessions ------------------------------------------------------------------------------
    def revoke(self, sid: str, lifetime: float) -> None:
        """Refuse session `sid` from now on (kept for `lifetime` seconds: the longest a cookie lives)."""
        now = self.clock()

        def body(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM revoked WHERE expires < ?", (now,))
            db.execute("INSERT OR REPLACE INTO revoked VALUES (?, ?)", (sid, now + lifetime))

        self._transaction(body)

    def is_revoked(self, sid: str) -> bool:
        return self.db.execute("SELECT 1 FROM revoked WHERE sid = ?", (sid,)).fetchone() is not None

    # -- failed sign-ins ------------------------------------------------------------------------
    def attempt(self, keys: Iterable[str], free_attempts: int, delay: Callable[[int], float]) -> float:
        """Atomically: the wait before another attempt on any key (> 0: refused, nothing recorded), else
        record this attempt as a failure on every key (`succeeded` clears it) and return 0.

        `delay(n)` is the lock after the n-th failure past the free ones (n = 0, 1, ...)."""
        keys = list(keys)
        now = self.clock()

        def body(db: sqlite3.Connection) -> float:
            rows = {k: (f, lu) for k, f, lu in db.execute(
                f"SELECT key, failures, locked_until FROM throttle WHERE key IN ({','.join('?' * len(keys))})",
                keys)}
            wait = max([0.0, *(lu - now for _, lu in rows.values())])
            if wait > 0:
                return wait
            for key in keys:
                failures = rows.get(key, (0, 0.0))[0] + 1
                extra = failures - free_attempts
                locked_until = now + delay(extra) if extra >= 0 else 0.0
                db.execute("INSERT OR REPLACE INTO throttle VALUES (?, ?, ?, ?)", (key, failures, locked_until, now))
            return 0.0

        return float(self._transaction(body))  # type: ignore[arg-type]

    def retry_after(self, keys: Iterable[str]) -> float:
        keys = list(keys)
        now = self.clock()
        rows = self.db.execute(
            f"SELECT locked_until FROM throttle WHERE key IN ({','.join('?' * len(keys))})", keys).fetchall()
        return max([0.0, *(lu - now for (lu,) in rows)])

    def clear(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self._transaction(lambda db: db.execute(
            f"DELETE FROM throttle WHERE key IN ({','.join('?' * len(keys))})", keys))

    def forget_older_than(self, seconds: float) -> None:
        cutoff = self.clock() - seconds
        self._transaction(lambda db: db.execute("DELETE FROM throttle WHERE last < ?", (cutoff,)))
