"""Console capture (Sacred's `--capture=sys` mode): stdout and stderr are teed into a buffer whose database
copy is bounded (head and tail kept), while the full text is spooled to a file for an artifact."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import threading
from typing import Any, TextIO

DEFAULT_MAX_CHARS = 1_000_000  # bounded `captured_out`: far below MongoDB's 16 MiB document limit


class _Tee(io.TextIOBase):
    """A text stream that writes through to the original stream and into the capture."""

    def __init__(self, original: TextIO, capture: OutputCapture) -> None:
        self._original = original
        self._capture = capture

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            self._original.write(text)
        self._capture.feed(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._original.flush()

    def isatty(self) -> bool:
        return getattr(self._original, "isatty", lambda: False)()

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


class OutputCapture:
    """Collects console text. `drain()` returns what arrived since the last drain; `text()` the bounded copy."""

    def __init__(self, max_chars: int = DEFAULT_MAX_CHARS, head_fraction: float = 0.25) -> None:
        self.max_chars = max(int(max_chars), 1000)
        self.head_chars = int(self.max_chars * head_fraction)
        self.tail_chars = self.max_chars - self.head_chars
        self._incoming: list[str] = []
        self._lock = threading.Lock()
        self._head = ""
        self._tail = ""
        self.total_chars = 0
        self._spool: io.TextIOWrapper | None = None
        self.spool_path: str | None = None
        self._saved: tuple[TextIO, TextIO] | None = None

    # -- installation -----------------------------------------------------
    def start(self) -> None:
        """Replace sys.stdout and sys.stderr by tees."""
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, self)
        sys.stderr = _Tee(sys.stderr, self)

    def stop(self) -> None:
        if self._saved is not None:
            if isinstance(sys.stdout, _Tee) and sys.stdout._capture is self:
                sys.stdout = self._saved[0]
            if isinstance(sys.stderr, _Tee) and sys.stderr._capture is self:
                sys.stderr = self._saved[1]
            self._saved = None

    # -- data ---------------------------------------------------------------
    def feed(self, text: str) -> None:
        if text:
            self._incoming.append(text)

    def drain(self) -> str:
        """Text written since the previous drain; also folds it into the bounded copy and the spool."""
        with self._lock:
            n = len(self._incoming)
            new = "".join(self._incoming[:n])
            del self._incoming[:n]
            if not new:
                return ""
            if self._spool is None and self.total_chars + len(new) > self.head_chars + self.tail_chars:
                self._spool_write(self._head + self._tail)  # the full text so far, before it is cut
            self.total_chars += len(new)
            if len(self._head) < self.head_chars:
                room = self.head_chars - len(self._head)
                self._head += new[:room]
                rest = new[room:]
            else:
                rest = new
            if rest:
                self._tail = (self._tail + rest)[-self.tail_chars:]
            if self._spool is not None:
                self._spool_write(new)
            return new

    def _spool_write(self, text: str) -> None:
        if self._spool is None:
            fd, self.spool_path = tempfile.mkstemp(prefix="sacredlog-output-", suffix=".txt")
            self._spool = open(fd, "w", encoding="utf-8", errors="surrogateescape", newline="")  # noqa: SIM115
        self._spool.write(text)

    @property
    def truncated(self) -> bool:
        return self.total_chars > self.head_chars + self.tail_chars

    def text(self) -> str:
        """The whole output, or its head and tail around a marker when it is longer than max_chars."""
        with self._lock:
            if not self.truncated:
                return self._head + self._tail
            omitted = self.total_chars - len(self._head) - len(self._tail)
            marker = (f"\n[... sacredlog: {omitted} characters omitted here; the full output is in the "
                      f"artifact {FULL_OUTPUT_ARTIFACT} ...]\n")
            return self._head + marker + self._tail

    def full_output_file(self) -> str | None:
        """Path of the spooled full text (flushed), for the artifact."""
        if self._spool is not None:
            self._spool.flush()
        return self.spool_path

    def close(self) -> None:
        self.stop()
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if self.spool_path and os.path.exists(self.spool_path):
            os.unlink(self.spool_path)
            self.spool_path = None


FULL_OUTPUT_ARTIFACT = "captured_out_full.txt"


class FdOutputCapture(OutputCapture):
    """Sacred's `--capture=fd`: file descriptors 1 and 2 go through pipes, so output of C extensions and
    child processes is captured too; a reader thread per pipe writes it on to the original descriptor."""

    def start(self) -> None:
        import codecs

        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        self._fds: list[tuple[int, int, threading.Thread]] = []
        for fd in (1, 2):
            saved = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            thread = threading.Thread(target=self._pump, args=(read_end, saved, decoder),
                                      name=f"sacredlog-fd{fd}", daemon=True)
            thread.start()
            self._fds.append((fd, saved, thread))

    def _pump(self, read_end: int, original: int, decoder: Any) -> None:
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            with contextlib.suppress(OSError):
                os.write(original, chunk)
            self.feed(decoder.decode(chunk))
        os.close(read_end)

    def drain(self) -> str:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        return super().drain()

    def stop(self) -> None:
        fds = getattr(self, "_fds", [])
        if not fds:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        for fd, saved, _ in fds:
            os.dup2(saved, fd)  # closes our pipe's write end: the reader sees EOF (unless a child holds it)
        for _, saved, thread in fds:
            thread.join(timeout=2.0)
            os.close(saved)
        self._fds = []
