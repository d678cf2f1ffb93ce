"""The FerretDB server a benchmark starts when it is given no MongoDB URI: the SQLite backend in a fresh temp
folder, on a free port, quiet (errors only, into a log file in that folder).

    from benchmarks.ferretdb import uri_or_ferretdb

    uri, ferret = uri_or_ferretdb(args.uri, "bench-store-ferretdb-")  # without a binary: exits saying why
    ... pymongo.MongoClient(uri) ...
    if ferret is not None:
        ferret.stop()  # terminate it and remove its folder (also done at exit and on SIGTERM)

Import it as `benchmarks.ferretdb` with the repository root on sys.path, never with benchmarks/ itself on
sys.path: benchmarks/logging.py would shadow the standard library's logging.

tests/conftest.py keeps its own start-up (a server that outage tests stop and start again, pytest skips
instead of exits). It looks in the same places as ferretdb_binary() below, bar $(go env GOPATH)/bin, which
tests/run.sh hands it as FERRETDB_BIN.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

NO_URI = "pass --uri mongodb://HOST:PORT/ (or set OMNIDASH_TEST_MONGO_URI)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _candidates() -> Iterator[str]:
    yield os.environ.get("FERRETDB_BIN", "")
    if os.environ.get("GOBIN"):
        yield os.path.join(os.environ["GOBIN"], "ferretdb")
    yield os.path.join(os.environ.get("GOPATH") or os.path.expanduser("~/go"), "bin", "ferretdb")
    go = shutil.which("go")
    if go:  # where tests/run.sh builds it: $(go env GOPATH)/bin (differs from the above after `go env -w`)
        try:
            gopath = subprocess.run([go, "env", "GOPATH"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            gopath = ""
        for entry in gopath.strip().split(os.pathsep):
            if entry:
                yield os.path.join(entry, "bin", "ferretdb")
    yield shutil.which("ferretdb") or ""


def ferretdb_binary() -> str | None:
    """FERRETDB_BIN, else GOBIN, GOPATH/bin (~/go/bin), $(go env GOPATH)/bin, else PATH."""
    for c in _candidates():
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


class FerretDB:
    """A started FerretDB: its base URI (`mongodb://127.0.0.1:PORT/`), process and folder."""

    def __init__(self, binary: str, prefix: str) -> None:
        self.workdir = tempfile.mkdtemp(prefix=prefix)
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self.log_path = os.path.join(self.workdir, "ferretdb.log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed by stop()
        self.proc: subprocess.Popen | None = subprocess.Popen(
            [
                binary,
                "--handler=sqlite",
                f"--sqlite-url=file:{self.workdir}/",
                f"--state-dir={self.workdir}",
                f"--listen-addr=127.0.0.1:{self.port}",
                "--telemetry=disable",
                "--log-level=error",
                "--debug-addr=-",  # no debug HTTP listener: its fixed port 8088 collides between servers
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        atexit.register(self.stop)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until it answers ping; exits with its log when it dies or does not answer in time."""
        import pymongo

        deadline = time.time() + timeout
        while True:
            if self.proc is None or self.proc.poll() is not None:
                self._fail(f"FerretDB exited with {self.proc and self.proc.returncode}")
            client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500)
            try:
                client.admin.command("ping")
                return
            except pymongo.errors.PyMongoError:
                if time.time() > deadline:
                    self._fail(f"FerretDB did not answer ping within {timeout:.0f} s")
                time.sleep(0.2)
            finally:
                client.close()

    def _fail(self, what: str) -> None:
        self._log.flush()
        with open(self.log_path, "rb") as f:
            tail = f.read()[-2000:].decode(errors="replace").strip()
        self.stop()
        sys.exit(what + (f"; its log:\n{tail}" if tail else ""))

    def stop(self) -> None:
        """Terminate it (kill after 10 s) and remove its folder; a second call does nothing."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if not self._log.closed:
            self._log.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> FerretDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_ferretdb(prefix: str = "bench-ferretdb-", alternative: str = NO_URI) -> FerretDB:
    """A FerretDB answering ping, or exit saying how to get one (`alternative`: the script's other way)."""
    binary = ferretdb_binary()
    if binary is None:
        sys.exit(
            "no ferretdb binary (FERRETDB_BIN, $(go env GOPATH)/bin, ~/go/bin or PATH): build it with "
            f"`bash tests/run.sh`, or {alternative}"
        )
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so the server is stopped at exit
    server = FerretDB(binary, prefix)
    server.wait_ready()
    return server


def uri_or_ferretdb(
    uri: str | None, prefix: str, alternative: str = NO_URI, announce: bool = True
) -> tuple[str, FerretDB | None]:
    """`uri` when one is given, else a started FerretDB's (announced as "FerretDB started at URI"):
    (the server URI, the FerretDB to stop when done or None)."""
    if uri:
        return uri, None
    server = start_ferretdb(prefix, alternative)
    if announce:
        print(f"FerretDB started at {server.uri}")
    return server.uri, server
