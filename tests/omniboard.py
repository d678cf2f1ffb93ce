"""Omniboard 2.16.1, the real client our writes interoperate with, run against a MongoDB for tests and
benchmarks. `bash tests/omniboard.sh` installs it once into a cache folder (tests/run.sh calls it).

    from tests.omniboard import Omniboard, omniboard_missing

    ob = Omniboard.start("mongodb://127.0.0.1:27017/mydb")   # about 2 s
    requests.get(ob.api + "/Runs/1")                          # ob.api = http://127.0.0.1:PORT/sacred/api/v1
    ob.stop()

It listens on 127.0.0.1 only (tests/omniboard_loopback.js: Omniboard itself binds every interface, has no
authentication, and its generic routes can delete whole collections).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

VERSION = "2.16.1"
TESTS = Path(__file__).resolve().parent
LOOPBACK = TESTS / "omniboard_loopback.js"
MOUNT = "/sacred"  # where Omniboard serves a database given by -m / --mu


def install_dir() -> Path:
    """The npm cache folder of tests/omniboard.sh ($OMNIDASH_OMNIBOARD_DIR overrides)."""
    return Path(os.environ.get("OMNIDASH_OMNIBOARD_DIR") or f"/var/tmp/omnidash-omniboard-{VERSION}")


def omniboard_bin() -> Path:
    return install_dir() / "node_modules" / "omniboard" / "dist" / "start.js"


def omniboard_missing() -> str | None:
    """Why Omniboard cannot run here (None when it can)."""
    if not shutil.which("node"):
        return "node is not installed (Omniboard needs Node 12+; Node 20 is what we test with)"
    if not omniboard_bin().is_file():
        how = "run `bash tests/omniboard.sh` (tests/run.sh does)" if shutil.which("npm") else "npm is not installed"
        return f"Omniboard {VERSION} is not installed in {install_dir()}: {how}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connection_args(uri: str) -> list[str]:
    """Omniboard's own `-m host:port:db` for a plain one-host URI, else `--mu <uri>` (credentials, options)."""
    parts = urlsplit(uri)
    db = parts.path.lstrip("/")
    if not db:
        raise ValueError(f"the URI must name a database: {uri}")
    plain = parts.scheme == "mongodb" and "," not in parts.netloc and "@" not in parts.netloc and not parts.query
    if plain and parts.hostname and parts.port:
        return ["-m", f"{parts.hostname}:{parts.port}:{db}"]
    return ["--mu", uri]


class Omniboard:
    """A running Omniboard process serving one database at `url` (API root: `api`)."""

    def __init__(self, proc: subprocess.Popen, port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}{MOUNT}"
        self.api = f"{self.url}/api/v1"
        atexit.register(self.stop)

    @classmethod
    def start(cls, uri: str, timeout: float = 60.0) -> Omniboard:
        """Start Omniboard on a free loopback port for the database `uri` names; wait until it answers."""
        missing = omniboard_missing()
        if missing:
            raise RuntimeError(missing)
        port = _free_port()
        log = Path(tempfile.mkstemp(prefix="omniboard-", suffix=".log")[1])
        env = dict(os.environ, PORT=str(port), NODE_ENV="production")
        env.pop("OMNIBOARD_CONFIG", None)
        env.pop("MONGO_URI", None)
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["node", "-r", str(LOOPBACK), str(omniboard_bin()), *connection_args(uri)],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        ob = cls(proc, port, log)
        try:
            ob._wait_ready(timeout)
        except BaseException:
            ob.stop()
            raise
        return ob

    def _wait_ready(self, timeout: float) -> None:
        """Until Omniboard listens (on PORT or, if taken meanwhile, the next port it tried) and reads runs."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Omniboard exited ({self.proc.returncode}): {self.output()[-2000:]}")
            found = re.findall(r"listening on port (\d+)", self.output())
            if found and int(found[-1]) != self.port:
                self.port = int(found[-1])
                self.url = f"http://127.0.0.1:{self.port}{MOUNT}"
                self.api = f"{self.url}/api/v1"
            if found:
                try:
                    self.get("Runs/count")
                    return
                except (OSError, urllib.error.URLError, RuntimeError):
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Omniboard did not answer within {timeout:.0f} s: {self.output()[-2000:]}")
            time.sleep(0.2)

    def output(self) -> str:
        """What Omniboard printed so far."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """One JSON request to the API (path relative to /sacred/api/v1), as its web client sends it."""
        from urllib.parse import urlencode

        url = f"{self.api}/{path.lstrip('/')}"
        if params:
            url += "?" + urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json;charset=utf-8")
        req.add_header("Accept", "application/json, text/plain, */*")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"Omniboard {method} {path}: HTTP {e.code}: {e.read()[:2000]!r}") from None
        return json.loads(raw) if raw else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def stop(self) -> None:
        """Stop the process (its whole session) and remove the log; a second call does nothing."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.unlink(missing_ok=True)
