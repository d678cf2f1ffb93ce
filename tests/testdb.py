"""The MongoDB test server of the suite and of the benchmarks: FerretDB 2.5 on PostgreSQL 15 + DocumentDB,
from the kit in ../shared/testdb (its README says how it is built), or any MongoDB named by a URI.

    from tests.testdb import TestServer, kit_missing

    server = TestServer.start()        # a private server on a free port (about a second)
    ... pymongo.MongoClient(server.uri) ...
    server.stop_ferretdb(); server.restart_ferretdb()   # an outage: the data (in PostgreSQL) stays
    server.remove()                    # stops both processes and deletes the data

`kit_missing()` says why no server can be started here (None when one can). Benchmarks import this module
with the repository root on sys.path.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOW_TO_POINT = (
    "set OMNIDASH_TEST_MONGO_URI to any MongoDB 4.4-8 (for example `docker run -p 27017:27017 mongo:7` and "
    "OMNIDASH_TEST_MONGO_URI=mongodb://127.0.0.1:27017/)"
)


def kit_dir() -> Path:
    """The testdb kit: $OMNIDASH_TESTDB_KIT, else ../shared/testdb beside the repository."""
    return Path(os.environ.get("OMNIDASH_TESTDB_KIT") or ROOT.parent / "shared" / "testdb")


def kit_missing() -> str | None:
    """Why the kit cannot start a server on this machine, or None when it can."""
    kit = kit_dir()
    if not (kit / "server.sh").is_file():
        return f"no testdb kit at {kit} (set OMNIDASH_TESTDB_KIT), and OMNIDASH_TEST_MONGO_URI is not set"
    # The check ends in `ferretdb --version | grep -q ...` under pipefail: 141 (SIGPIPE after grep found the
    # version line and exited) also means installed; a missing or wrong version exits 1.
    check = subprocess.run(["bash", str(kit / "install.sh"), "--check"], capture_output=True)
    if check.returncode in (0, 141):
        return None
    return f"the testdb kit is not installed (run `bash {kit}/install.sh`, or bash tests/run.sh)"


class TestServer:
    """A started kit server: `uri` (mongodb://127.0.0.1:PORT/), its state folder, and the FerretDB process
    that outage tests stop and start again."""

    __test__ = False  # not a pytest test class

    def __init__(self, state: Path, uri: str) -> None:
        self.state = state
        self.uri = uri
        self.port = int((state / "port").read_text().strip())
        self._cmdline = Path(f"/proc/{self._pid()}/cmdline").read_bytes().split(b"\0")[:-1]
        self._removed = False
        atexit.register(self.remove)

    @classmethod
    def start(cls, prefix: str = "omnidash-testdb-") -> TestServer:
        """A fresh server on a free port; raises RuntimeError with the kit's words when it fails."""
        missing = kit_missing()
        if missing:
            raise RuntimeError(missing)
        state = Path(tempfile.mkdtemp(prefix=prefix))
        proc = subprocess.run(["bash", str(kit_dir() / "server.sh"), "start", str(state)],
                              capture_output=True, text=True, timeout=180)
        if proc.returncode != 0:
            shutil.rmtree(state, ignore_errors=True)
            raise RuntimeError(f"testdb server did not start: {proc.stderr.strip()[-2000:]}")
        server = cls(state, proc.stdout.strip().splitlines()[-1])
        server.wait_ready()
        return server

    def _pid(self) -> int:
        return int((self.state / "ferretdb.pid").read_text().strip())

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until FerretDB answers ping."""
        import pymongo

        deadline = time.time() + timeout
        while True:
            client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500)
            try:
                client.admin.command("ping")
                return
            except pymongo.errors.PyMongoError as e:
                if time.time() > deadline:
                    raise RuntimeError(f"test server not ready: {e}; see {self.state}/ferretdb.log") from None
                time.sleep(0.1)
            finally:
                client.close()

    def stop_ferretdb(self) -> None:
        """Stop the wire-protocol server only (clients see the database go away); the data stays."""
        pid_file = self.state / "ferretdb.pid"
        if not pid_file.exists():
            return
        pid = self._pid()
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                os.kill(pid, 0)
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        pid_file.unlink(missing_ok=True)

    def restart_ferretdb(self) -> None:
        """Start FerretDB again on the same port over the same data."""
        if (self.state / "ferretdb.pid").exists():
            return
        args = [a.decode() for a in self._cmdline]
        with open(self.state / "ferretdb.log", "ab") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        (self.state / "ferretdb.pid").write_text(str(proc.pid))
        self.wait_ready()

    def remove(self) -> None:
        """Stop both processes and delete the data (a second call does nothing)."""
        if self._removed:
            return
        self._removed = True
        subprocess.run(["bash", str(kit_dir() / "server.sh"), "stop", str(self.state)],
                       capture_output=True, timeout=120)
        shutil.rmtree(self.state, ignore_errors=True)
