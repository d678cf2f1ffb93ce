"""Low-level file helpers for the FileStorage backend: tolerant JSON reads, atomic writes, locks, path guards."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

# (mtime_ns, size) of a file, or None when it does not exist / cannot be stat'ed
FileSig = tuple[int, int] | None

_UNPARSED = object()


def file_sig(path: str) -> FileSig:
    """(mtime_ns, size) of a file, None when missing or unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def open_regular(path: str) -> IO[bytes]:
    """`path` opened for reading in binary; OSError unless it is a regular file (after symlinks).

    Opened non-blocking and checked with fstat on the open descriptor, so a FIFO or device in a run
    folder never blocks a request, and a file swapped for one between a check and the open is caught.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_json(path: str) -> tuple[bool, Any]:
    """(True, value) when the regular file parses as JSON (bare NaN/Infinity accepted), else (False, None)."""
    try:
        with open_regular(path) as f:
            raw = f.read()
        return True, json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return False, None


def write_json_atomic(path: str, value: Any) -> None:
    """Write JSON through a temp file in the same folder and os.replace, so readers never see half a file."""
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".omnidash-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2, sort_keys=True, allow_nan=False, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(lock_path: str) -> Iterator[None]:
    """An exclusive fcntl.flock on `lock_path` (created if needed): excludes other threads and processes."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def safe_join(root: str, name: str) -> str | None:
    """`root/name` when `name` is a plain relative path that stays inside `root` (after symlinks), else None."""
    if not isinstance(name, str) or not name or "\x00" in name:
        return None
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        return None
    parts = Path(name.replace("\\", "/")).parts
    if any(p == ".." for p in parts):
        return None
    root_real = os.path.realpath(root)
    target = os.path.realpath(os.path.join(root_real, name))
    if target == root_real or not target.startswith(root_real + os.sep):
        return None
    return target


def read_text_tail(path: str, max_bytes: int) -> str:
    """A text file decoded as UTF-8 (bad bytes replaced); only its last `max_bytes` when larger."""
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                f.seek(size - max_bytes)
            raw = f.read(max_bytes)
    except OSError:
        return ""
    return raw.decode("utf-8", errors="replace")
