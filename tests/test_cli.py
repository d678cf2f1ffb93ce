"""The `omnidash` command line, run as a real subprocess: one-line errors (never a traceback), serve, demo,
users."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, free_port, stop_process

CLI = [sys.executable, "-m", "omnidash.cli"]


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "OMNIBOARD_CONFIG", "OMNIDASH_CONFIG")}
    full_env.update(env or {})
    return subprocess.run([*CLI, *args], cwd=ROOT, env=full_env, input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str, status: int = 1) -> str:
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if not line.startswith("usage:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("omnidash: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


class Served:
    """`omnidash ...` running in the background until it prints its URL."""

    def __init__(self, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        # Ctrl-C must reach it however the suite was started: a shell's background job (`cmd &`) ignores SIGINT,
        # and a child keeps that, so without this a suite run in the background failed the Ctrl-C test
        self.proc = subprocess.Popen([*CLI, *args], cwd=cwd, env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: list[str] = []
        deadline = time.time() + 90
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"omnidash exited {self.proc.wait()}: {self.proc.stderr.read()}")
            self.lines.append(line)
            if " at http://" in line:
                self.url = line.split(" at ", 1)[1].split()[0].rstrip("/")
                return
        raise AssertionError(f"omnidash did not start: {self.lines}")

    def get_json(self, path: str) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def stop(self, sig: int = signal.SIGINT) -> None:
        stop_process(self.proc, sig)


@pytest.fixture
def served() -> Iterator:
    started: list[Served] = []

    def start(*args: str, **kwargs) -> Served:
        s = Served(*args, **kwargs)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


def sacred_folder(path: Path, n: int = 3) -> Path:
    """A FileStorage folder with `n` runs written by the demo writer."""
    from omnidash.demo import write_demo_runs

    write_demo_runs(str(path), n)
    return path


# -- usage and one-line errors ------------------------------------------------------------------------
def test_no_command_is_a_one_line_usage_error():
    assert_one_line_error(run_cli(), "choose a command", status=2)


def test_serve_without_source_or_mongo_uri_is_a_one_line_usage_error():
    assert_one_line_error(run_cli("serve"), "MONGO_URI", status=2)


def test_bad_arguments_are_usage_errors():
    proc = run_cli("serve", "--port", "abc")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "invalid int value" in proc.stderr


def test_missing_folder_and_unknown_scheme(tmp_path):
    assert_one_line_error(run_cli("serve", str(tmp_path / "nope")), "is not a folder")
    assert_one_line_error(run_cli("serve", "postgres://x/y"), "unsupported source")


def test_folder_without_sacred_runs(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    assert_one_line_error(run_cli("serve", str(tmp_path), "--port", str(free_port())), "no Sacred runs")


def test_port_in_use(tmp_path):
    folder = sacred_folder(tmp_path / "runs", 2)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        assert_one_line_error(run_cli("serve", str(folder), "--port", str(port)), f"port {port}", "in use")
        assert_one_line_error(run_cli("demo", "--dir", str(folder), "--port", str(port)), "in use")


def test_mongodb_unreachable_fails_fast_with_one_line():
    port = free_port()  # nothing listens there
    started = time.time()
    line = assert_one_line_error(run_cli("serve", f"mongodb://127.0.0.1:{port}/sacred", "--port", str(free_port())))
    assert time.time() - started < 30, "server selection timeout should be short"
    assert "127.0.0.1" in line or "reach" in line.lower() or "connect" in line.lower()


def test_mongo_uri_from_environment_is_used():
    port = free_port()
    proc = run_cli("serve", "--port", str(free_port()), env={"MONGO_URI": f"mongodb://127.0.0.1:{port}/x"})
    assert_one_line_error(proc)


def test_authentication_failure_is_one_line(mongo_server):
    """Unknown credentials give one line, not a traceback (a server that checks them refuses the sign-in)."""
    host = mongo_server.uri.split("://", 1)[1].split("/", 1)[0]
    if "@" in host:
        host = host.split("@", 1)[1]
    uri = f"mongodb://nobody:wrong-password@{host}/sacred?authSource=admin&authMechanism=SCRAM-SHA-256"
    proc = run_cli("serve", uri, "--port", str(free_port()))
    if proc.returncode == 0 or "authentication" not in proc.stderr.lower():
        # The test server runs without authentication (the kit's FerretDB has --no-auth): then the same
        # code path is still exercised (a StoreError at open), and the message must still be a single line.
        assert "Traceback" not in proc.stderr
        print(f"auth check: this server accepted unknown credentials ({proc.stderr.strip()[:200]!r})")
        return
    assert_one_line_error(proc, "authentication")
    assert "wrong-password" not in proc.stderr


# -- serving -----------------------------------------------------------------------------------------
def test_serve_folder_health_api_and_page(served, tmp_path):
    folder = sacred_folder(tmp_path / "runs", 4)
    s = served("serve", str(folder), "--port", str(free_port()), "--probably-dead-after", "60")
    assert s.url.startswith("http://127.0.0.1:")
    status, body = s.get_json("/healthz")
    assert status == 200 and body == {"status": "ok", "source": "files", "runs": 4}
    status, body = s.get_json("/api/runs?limit=2&columns=id,status")
    assert status == 200 and body["total"] == 4 and len(body["runs"]) == 2
    with urllib.request.urlopen(s.url + "/", timeout=10) as r:
        assert r.status == 200 and "<html" in r.read().decode().lower()
    with urllib.request.urlopen(s.url + "/assets/base.css", timeout=10) as r:
        assert r.status == 200


def test_serve_read_only(served, tmp_path):
    folder = sacred_folder(tmp_path / "runs", 2)
    s = served("serve", str(folder), "--port", str(free_port()), "--read-only")
    request = urllib.request.Request(s.url + "/api/runs/1", data=b'{"tags": ["x"]}', method="PATCH",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code == 409


def test_demo_writes_runs_then_reuses_them(served, tmp_path):
    target = tmp_path / "demo"
    s = served("demo", "--dir", str(target), "--runs", "6", "--no-live", "--port", str(free_port()))
    assert any("writing 6 demo runs" in line for line in s.lines)
    status, body = s.get_json("/healthz")
    assert status == 200 and body["runs"] == 6 and body["source"] == "files"
    s.stop()
    again = served("demo", "--dir", str(target), "--no-live", "--port", str(free_port()))
    assert any("reusing" in line for line in again.lines)
    assert again.get_json("/healthz")[1]["runs"] == 6


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_demo_keeps_two_runs_really_running_until_it_stops(served, tmp_path, stop_signal):
    """Two live runs get new metric points and output while the demo serves; Ctrl-C, or the SIGTERM of
    `docker stop` or `kill`, ends them INTERRUPTED (a SIGTERM killed the process with its runs RUNNING)."""
    target = tmp_path / "demo"
    s = served("demo", "--dir", str(target), "--runs", "3", "--port", str(free_port()))

    def live_runs() -> list[dict]:
        status, body = s.get_json("/api/runs?q=status%20%3D%3D%20RUNNING&columns=id,status")
        assert status == 200
        return body["runs"]

    deadline = time.time() + 60
    while len(live_runs()) < 2 and time.time() < deadline:
        time.sleep(0.5)
    ids = sorted(int(r["id"]) for r in live_runs())
    assert ids == [4, 5], "two new runs, RUNNING"
    sizes = {i: len(json.loads((target / str(i) / "metrics.json").read_text())["train.loss"]["steps"]) for i in ids}
    out = {i: (target / str(i) / "cout.txt").stat().st_size for i in ids}
    time.sleep(6)  # a few heartbeats
    for i in ids:
        steps = json.loads((target / str(i) / "metrics.json").read_text())["train.loss"]["steps"]
        assert len(steps) > sizes[i] + 4 and steps == sorted(steps), "points keep arriving, in order"
        assert (target / str(i) / "cout.txt").stat().st_size > out[i], "and output"
    s.stop(stop_signal)
    assert s.proc.returncode == 0, "stopped, not killed"
    for i in ids:
        run = json.loads((target / str(i) / "run.json").read_text())
        assert run["status"] == "INTERRUPTED" and "stop_time" in run, "stopped with the server"


def test_demo_default_folder_is_in_the_current_directory(served, tmp_path):
    s = served("demo", "--runs", "3", "--no-live", "--port", str(free_port()), cwd=tmp_path)
    assert (tmp_path / "omnidash-demo").is_dir()
    assert s.get_json("/healthz")[1]["runs"] == 3


# -- users ---------------------------------------------------------------------------------------------
def test_users_add_passwd_role_token_remove(tmp_path):
    users = tmp_path / "users.toml"
    proc = run_cli("users", "add", str(users), "ana", "--role", "editor", stdin="correct horse 1\n")
    assert proc.returncode == 0, proc.stderr
    text = users.read_text()
    assert "correct horse 1" not in text and 'role = "editor"' in text and "scrypt:" in text
    assert oct(users.stat().st_mode & 0o777) == "0o600"
    assert_one_line_error(run_cli("users", "add", str(users), "ana", stdin="another pass\n"), "already exists")
    assert_one_line_error(run_cli("users", "add", str(users), "bob", stdin="short\n"), "at least 8")
    assert_one_line_error(run_cli("users", "add", str(users), "b@d name", stdin="long enough\n"), "invalid user name")
    proc = run_cli("users", "token", str(users), "ana")
    token = proc.stdout.strip()
    assert proc.returncode == 0 and token.startswith("odt_") and token not in users.read_text()

    from omnidash.auth.users import UsersFile

    store = UsersFile(users)
    assert store.authenticate("ana", "correct horse 1") is not None
    assert store.user_for_token(token).name == "ana"
    assert run_cli("users", "passwd", str(users), "ana", stdin="a new password\n").returncode == 0
    assert run_cli("users", "role", str(users), "ana", "--role", "admin").returncode == 0
    store.reload()
    assert store.authenticate("ana", "correct horse 1") is None
    assert store.authenticate("ana", "a new password").role == "admin"
    listing = run_cli("users", "list", str(users))
    assert listing.stdout.startswith("ana\tadmin\t1 token")
    assert run_cli("users", "remove", str(users), "ana").returncode == 0
    assert_one_line_error(run_cli("users", "remove", str(users), "ana"), "no user")
    assert_one_line_error(run_cli("users", "passwd", str(tmp_path / "none.toml"), "x", stdin="whatever1\n"),
                          "does not exist")


def test_users_password_never_from_argv():
    proc = run_cli("users", "add", "users.toml", "ana", "--password", "secret123")
    assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr


def test_a_slow_start_says_what_it_is_doing_and_a_quick_one_stays_quiet() -> None:
    """Opening a folder of 100,000 runs from a cold disk took over a minute with no output and no port: it looked
    hung. Opening a source now says so once it is slow, repeats while it lasts, and says when it is done."""
    import io

    from omnidash.cli import slow_notice

    out = io.StringIO()
    with slow_notice("reading the runs in /data/runs", after=0.1, every=0.15, out=out):
        time.sleep(0.5)
    lines = out.getvalue().splitlines()
    assert lines[0] == "omnidash: reading the runs in /data/runs ..."
    assert any(line.startswith("omnidash: still reading the runs in /data/runs (") for line in lines[1:-1])
    assert lines[-1].startswith("omnidash: done reading the runs in /data/runs in ")

    quiet = io.StringIO()
    with slow_notice("reading the runs in /data/runs", after=0.5, out=quiet):
        time.sleep(0.01)
    assert quiet.getvalue() == ""


def test_a_failure_while_slow_ends_the_notice_without_saying_done() -> None:
    import io

    from omnidash.cli import slow_notice

    out = io.StringIO()
    with pytest.raises(RuntimeError), slow_notice("reading", after=0.05, every=10, out=out):
        time.sleep(0.2)
        raise RuntimeError("gone")
    time.sleep(0.1)  # the notice's thread has ended: nothing more is said, and no "done" after a failure
    assert out.getvalue() == "omnidash: reading ...\n"


def test_what_the_server_reads_at_start_is_kept_out_of_garbage_collection(tmp_path):
    """The runs a folder store holds live as long as the server: frozen, the collector's full passes skip them."""
    import gc

    from omnidash.cli import build_application
    from omnidash.config import single_source_config

    gc.unfreeze()
    try:
        build_application(single_source_config(str(sacred_folder(tmp_path / "runs"))))
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
