"""Shared fixtures: a real MongoDB wire-protocol server (FerretDB 2 + DocumentDB from the testdb kit, or
OMNIDASH_TEST_MONGO_URI), a database per test, and a headless Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.testdb import HOW_TO_POINT, TestServer, kit_missing

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 10) -> None:
    """Send `sig` to a server we started (if it still runs), kill it after `wait` s, close its pipes."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MongoServer:
    """The session's MongoDB: a kit server (tests/testdb.py) or the one OMNIDASH_TEST_MONGO_URI names."""

    def __init__(self, uri: str, server: TestServer | None = None) -> None:
        self.uri = uri
        self.server = server

    @property
    def managed(self) -> bool:
        """Whether this suite started it (and so may stop and start it again)."""
        return self.server is not None

    def stop(self) -> None:
        """Take the database away (the wire-protocol server stops; the data stays)."""
        assert self.server is not None, "only a server this suite started may be stopped"
        self.server.stop_ferretdb()

    def start(self) -> None:
        """Bring it back on the same port with the same data."""
        assert self.server is not None, "only a server this suite started may be started"
        self.server.restart_ferretdb()


def _kit_server(prefix: str, what: str) -> Iterator[MongoServer]:
    """A kit server for the duration of the fixture, or a skip that says why there is none."""
    missing = kit_missing()
    if missing:
        reason = f"{what} skipped: {missing}; or {HOW_TO_POINT}"
        print(reason)
        pytest.skip(reason)
    server = TestServer.start(prefix)
    try:
        yield MongoServer(server.uri, server)
    finally:
        server.remove()


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoServer]:
    """The session's test server: OMNIDASH_TEST_MONGO_URI, else FerretDB 2 + DocumentDB from the kit."""
    uri = os.environ.get("OMNIDASH_TEST_MONGO_URI")
    if uri:
        yield MongoServer(uri)
        return
    yield from _kit_server("omnidash-testdb-", "MongoDB tests")


@pytest.fixture
def private_mongo_server() -> Iterator[MongoServer]:
    """A kit server of this test alone, for outage tests: stop()/start() keep its data (even when
    OMNIDASH_TEST_MONGO_URI names the session's server, which a test may not stop)."""
    yield from _kit_server("omnidash-private-testdb-", "outage test (it needs a server it may stop)")


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
    # what the test saw: closing aborts a callback still in flight as the test ends, and Chromium may log that
    # abort ("the server did not respond") before the close returns
    seen = list(errors)
    context.close()
    assert not seen, f"browser console errors: {seen}"


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


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    """Six demo runs in a FileStorage folder of the module's own (treat as read-only)."""
    from omnidash.demo import write_demo_runs

    path = tmp_path_factory.mktemp("demo") / "runs"
    write_demo_runs(str(path), 6)
    return path


# -- Dash callbacks over HTTP ---------------------------------------------------------------
def _dash_call(app: Any, output: str, inputs: dict[str, Any], state: dict[str, Any] | None = None,
              triggered: str | None = None, pattern: dict[str, list[tuple[dict, Any]]] | None = None) -> dict[str, Any]:
    """POST the callback with an output `output` ("id.prop") and these inputs; {"id.prop": value} back (its
    outputs and what it set with set_props).

    Wildcard (pattern-matching) inputs match the (id, value) pairs `pattern` gives for their "type", else none."""
    def names(specs: list[dict[str, Any]]) -> set[str]:
        return {f"{s['id']}.{s['property']}" for s in specs}

    keys = [k for k, spec in app.callback_map.items()
            if any(p.split("@")[0] == output for p in k.strip(".").split("..."))
            and set(inputs) <= names(spec["inputs"])]
    assert len(keys) == 1, keys
    key = keys[0]
    spec = app.callback_map[key]
    parts = key.strip(".").split("...") if key.startswith("..") else [key]
    outputs = [{"id": p.rpartition(".")[0], "property": p.rpartition(".")[2]} for p in parts]

    def items(specs: list[dict[str, Any]], values: dict[str, Any] | None) -> list[Any]:
        out: list[Any] = []
        for s in specs:
            if isinstance(s["id"], str) and s["id"].startswith("{"):
                kind = json.loads(s["id"]).get("type")
                out.append([{"id": i, "property": s["property"], "value": v} for i, v in (pattern or {}).get(kind, [])])
                continue
            out.append({"id": s["id"], "property": s["property"],
                        "value": (values or {}).get(f"{s['id']}.{s['property']}")})
        return out

    payload = {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
               "inputs": items(spec["inputs"], inputs), "state": items(spec["state"], state),
               "changedPropIds": [triggered or next(iter(inputs))]}
    resp = app.server.test_client().post("/_dash-update-component", json=payload)
    if resp.status_code == 204:
        return {}
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    body = json.loads(resp.data)
    # set_props() updates (components a callback may find missing) come beside the outputs, under "sideUpdate"
    updates = {**body.get("sideUpdate", {}), **body["response"]}
    return {f"{c}.{p}": v for c, props in updates.items() for p, v in props.items()}


def _dash_page(app: Any, path: str, search: str = "") -> Any:
    """The page the router renders for a URL (through /_dash-update-component)."""
    return _dash_call(app, "page-content.children", {"route-to.data": 1},
                      {"url.pathname": path, "url.search": search})["page-content.children"]


@pytest.fixture(scope="session")
def dash_call() -> Callable[..., dict[str, Any]]:
    """`dash_call(app, "id.prop", inputs, state=None, triggered=None, pattern=None)`: a Dash callback called over
    HTTP (/_dash-update-component) exactly as the browser calls it; {"id.prop": value} back."""
    return _dash_call


@pytest.fixture(scope="session")
def dash_page() -> Callable[..., Any]:
    """`dash_page(app, path, search="")`: the page the router renders for a URL."""
    return _dash_page
