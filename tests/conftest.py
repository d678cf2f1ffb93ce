"""Shared fixtures: a real MongoDB wire-protocol server (FerretDB, or OMNIDASH_TEST_MONGO_URI), a database
per test, and a headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ferretdb_binary() -> str | None:
    """Where `go install` put ferretdb (GOBIN, GOPATH/bin, ~/go/bin) or PATH."""
    candidates = [os.environ.get("FERRETDB_BIN", "")]
    gobin = os.environ.get("GOBIN")
    if gobin:
        candidates.append(os.path.join(gobin, "ferretdb"))
    gopath = os.environ.get("GOPATH") or os.path.expanduser("~/go")
    candidates.append(os.path.join(gopath, "bin", "ferretdb"))
    found = shutil.which("ferretdb")
    if found:
        candidates.append(found)
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


class MongoServer:
    """A running MongoDB wire-protocol server we may stop and start again (for outage tests)."""

    def __init__(self, uri: str, proc_args: list[str] | None = None, workdir: str | None = None) -> None:
        self.uri = uri
        self._args = proc_args
        self._workdir = workdir
        self._proc: subprocess.Popen | None = None
        self._log = None

    @property
    def managed(self) -> bool:
        return self._args is not None

    def start(self) -> None:
        if not self._args:
            return
        self._log = open(os.path.join(self._workdir, "ferretdb.log"), "ab")  # noqa: SIM115
        self._proc = subprocess.Popen(self._args, stdout=self._log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        import pymongo

        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"ferretdb exited with {self._proc.returncode}; see {self._workdir}/ferretdb.log")
            try:
                c = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=500)
                c.admin.command("ping")
                c.close()
                return
            except Exception as e:  # noqa: BLE001
                last = e
                time.sleep(0.2)
        raise RuntimeError(f"test MongoDB server not ready: {last}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        if self._log:
            self._log.close()
            self._log = None


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoServer]:
    """The session's test server: OMNIDASH_TEST_MONGO_URI, else FerretDB started on a free port."""
    uri = os.environ.get("OMNIDASH_TEST_MONGO_URI")
    if uri:
        yield MongoServer(uri)
        return
    binary = ferretdb_binary()
    if binary is None:
        reason = (
            "MongoDB tests skipped: no ferretdb binary (run .ci/run, or `go install "
            "github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2`) and OMNIDASH_TEST_MONGO_URI is not set"
        )
        print(reason)
        pytest.skip(reason)
    yield from _ferretdb(binary, "omnidash-ferretdb-")


def _ferretdb(binary: str, prefix: str) -> Iterator[MongoServer]:
    """A FerretDB (SQLite backend) in a fresh temp folder on a free port; stopped and removed afterwards."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    port = free_port()
    args = [
        binary,
        "--handler=sqlite",
        f"--sqlite-url=file:{workdir}/",
        f"--state-dir={workdir}",
        f"--listen-addr=127.0.0.1:{port}",
        "--telemetry=disable",
        "--log-level=error",
        "--debug-addr=-",  # no debug HTTP listener: its fixed port 8088 collides between parallel servers
    ]
    server = MongoServer(f"mongodb://127.0.0.1:{port}/", args, workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def private_mongo_server() -> Iterator[MongoServer]:
    """A FerretDB of this test alone, for outage tests: stop()/start() keep its data (even when
    OMNIDASH_TEST_MONGO_URI names the session's server, which a test may not stop)."""
    binary = ferretdb_binary()
    if binary is None:
        reason = "outage test skipped: it needs a ferretdb binary to start a server it may stop (see tests/conftest.py)"
        print(reason)
        pytest.skip(reason)
    yield from _ferretdb(binary, "omnidash-private-ferretdb-")


@pytest.fixture
def mongo_db_name(request) -> str:
    """A fresh database name for one test."""
    base = "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:30]
    return f"t_{base}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def mongo_uri(mongo_server: MongoServer, mongo_db_name: str) -> Iterator[str]:
    """A `mongodb://host:port/<db>` URI naming this test's own database; dropped afterwards."""
    base = mongo_server.uri.rstrip("/")
    if "?" in base:
        host, _, opts = base.partition("?")
        uri = f"{host.rstrip('/')}/{mongo_db_name}?{opts}"
    else:
        uri = f"{base}/{mongo_db_name}"
    yield uri
    try:
        import pymongo

        c = pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=2000)
        c.drop_database(mongo_db_name)
        c.close()
    except Exception:  # noqa: BLE001 - the server may have been stopped by the test
        pass


@pytest.fixture
def mongo_db(mongo_server: MongoServer, mongo_db_name: str, mongo_uri: str):
    """A pymongo Database for this test."""
    import pymongo

    client = pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=5000)
    yield client[mongo_db_name]
    client.close()


# -- browser ----------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright (never `playwright install`)."""
    if not os.path.exists(CHROMIUM):
        reason = f"browser tests skipped: {CHROMIUM} is missing (apt-get install -y chromium)"
        print(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page; fails the test on any browser console error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.console_errors = errors  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert not errors, f"browser console errors: {errors}"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests save screenshots (kept after the run)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# -- a live dashboard ------------------------------------------------------------------
class LiveServer:
    """A dashboard served by werkzeug in a thread on a free port."""

    def __init__(self, wsgi_app) -> None:
        import threading

        from werkzeug.serving import make_server

        self._srv = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.port = self._srv.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._srv.shutdown()
        self._thread.join(5)


@pytest.fixture
def serve():
    """`serve(wsgi_app) -> LiveServer`; every server started is stopped after the test."""
    started: list[LiveServer] = []

    def _serve(wsgi_app) -> LiveServer:
        s = LiveServer(wsgi_app)
        started.append(s)
        return s

    yield _serve
    for s in started:
        s.stop()
