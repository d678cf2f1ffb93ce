"""Issue 12, accounts behind a proxy and sessions, against real `omnidash serve` processes (waitress):
forwarded client addresses throttled apart, sign-out revoking the session and the remember-me cookie in
every process, the throttle under 40 concurrent wrong passwords, one rule for the session secret."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import stop_process

from omnidash.auth.users import UsersFile

ROOT = Path(__file__).resolve().parent.parent
SECRET = "hardening-secret-key-0123456789abcdef"
PASSWORD = "right-password-1"


class Serve:
    """`omnidash serve ...` in a subprocess until it prints its URL."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", OMNIDASH_SECRET_KEY=SECRET, **(env or {}))
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        full_env.pop("OMNIDASH_AUTH_STATE", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "omnidash.cli", "serve", *args], cwd=ROOT, env=full_env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"omnidash exited {self.proc.wait()}: {self.proc.stderr.read()}")
            if " at http://" in line:
                self.url = line.split(" at ", 1)[1].split()[0].rstrip("/")
                return
        raise AssertionError("omnidash did not start")

    def stop(self) -> None:
        stop_process(self.proc)


class Browser:
    """A client with its own cookies (kept by hand: with --https they are Secure, and requests would not send
    them back over http) and, optionally, the address the proxy forwards for it."""

    def __init__(self, url: str, forwarded_for: str | None = None) -> None:
        self.url = url
        self.cookies: dict[str, str] = {}
        self.headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"} if forwarded_for else {}

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, self.url + path, headers={**self.headers, **kwargs.pop("headers", {})},
                                    cookies=dict(self.cookies), allow_redirects=False, timeout=60, **kwargs)
        for cookie in response.cookies:
            if cookie.value and not cookie.is_expired():
                self.cookies[cookie.name] = cookie.value
            else:
                self.cookies.pop(cookie.name, None)
        return response

    def csrf(self, path: str) -> str:
        page = self.request("GET", path).text
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    def login(self, name: str, password: str, remember: bool = False) -> requests.Response:
        form = {"csrf": self.csrf("/login"), "username": name, "password": password}
        if remember:
            form["remember"] = "on"
        return self.request("POST", "/login", data=form)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[tuple[Path, Path]]:
    """A runs folder and a users file (users u0..u9 and ada, all with PASSWORD)."""
    from omnidash.demo import write_demo_runs

    base = tmp_path_factory.mktemp("hardening")
    write_demo_runs(str(base / "runs"), 3)
    users = UsersFile(base / "users.toml", must_exist=False)
    for name in ["ada", *(f"u{i}" for i in range(10))]:
        users.add(name, PASSWORD, "editor")
    return base / "runs", base / "users.toml"


@pytest.fixture(scope="module")
def two_processes(deployment) -> Iterator[tuple[str, str]]:
    """Two `omnidash serve --https` processes on one folder and one users file (as behind a load balancer)."""
    runs, users = deployment
    servers = []
    try:
        for _ in range(2):
            servers.append(Serve(str(runs), "--users", str(users), "--https", "--port", str(free_port()),
                                 "--threads", "16"))
        yield servers[0].url, servers[1].url
    finally:
        for server in servers:
            server.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lock_out(client: Browser, name: str) -> None:
    """Wrong passwords until the client's address (and `name`) are locked for 8 s or more: the first lock,
    after 5 failures, lasts 2 s and each further failure doubles it; a long lock keeps a slow machine from
    letting it expire between two steps of a test."""
    for _ in range(20):
        response = client.login(name, "wrong-password")
        if response.status_code == 429:
            wait = int(response.headers["Retry-After"])
            if wait >= 8:
                return
            time.sleep(wait)
        else:
            assert response.status_code == 401
    raise AssertionError("never locked")


# -- 7. behind the proxy, each client has its own address ---------------------------------------------------
def test_clients_behind_the_proxy_are_throttled_apart(two_processes, deployment):
    url = two_processes[0]
    attacker, colleague = Browser(url, "203.0.113.7"), Browser(url, "198.51.100.20")
    for _ in range(5):
        assert attacker.login("u1", "wrong-password").status_code == 401
    lock_out(attacker, "u1")
    assert attacker.login("u2", PASSWORD).status_code == 429  # the attacker's address is locked ...
    signed_in = colleague.login("u3", PASSWORD)  # ... not the colleague's, behind the same proxy
    assert signed_in.status_code == 302, signed_in.text[:300]
    assert colleague.request("GET", "/api/runs?limit=1").status_code == 200
    assert "Secure" in signed_in.headers["Set-Cookie"]
    # nginx appends the real peer to what the client sent: only that last hop counts, so a client cannot
    # pick its own address by sending X-Forwarded-For itself
    spoofer = Browser(url)
    spoofer.headers = {"X-Forwarded-For": "198.51.100.20, 203.0.113.7"}
    assert spoofer.login("u4", PASSWORD).status_code == 429

    # from a peer that is not the trusted proxy, the forwarded headers are ignored: everyone is 127.0.0.1
    runs, users = deployment
    untrusted = Serve(str(runs), "--users", str(users), "--https", "--trusted-proxy", "192.0.2.1",
                      "--port", str(free_port()))
    try:
        first, second = Browser(untrusted.url, "203.0.113.8"), Browser(untrusted.url, "198.51.100.21")
        lock_out(first, "u5")
        assert second.login("u6", PASSWORD).status_code == 429
    finally:
        untrusted.stop()


# -- 8. sign-out ends the session everywhere ----------------------------------------------------------------------
def test_sign_out_revokes_the_session_and_remember_cookie_in_every_process(two_processes):
    url_a, url_b = two_processes
    on_a = Browser(url_a, "192.0.2.50")
    assert on_a.login("u7", PASSWORD, remember=True).status_code == 302
    stolen = dict(on_a.cookies)
    assert {"omnidash_session", "omnidash_remember"} <= set(stolen)

    def works(url: str, cookies: dict[str, str]) -> bool:
        status = requests.get(url + "/api/runs?limit=1", cookies=cookies, timeout=60).status_code
        assert status in (200, 401)
        return status == 200

    remember_only = {"omnidash_remember": stolen["omnidash_remember"]}
    assert works(url_b, stolen) and works(url_b, remember_only)  # one sign-in is valid in both processes

    # the UI's control is a POST form carrying the session's CSRF token
    forms = list(components(on_a.request("GET", "/_dash-layout").json(), "Form"))
    assert [(f["action"], f["method"]) for f in forms] == [("/logout", "POST")]
    assert [c["props"]["name"] for c in forms[0]["children"] if c["type"] == "Input"] == ["csrf"]
    assert on_a.request("GET", "/logout").status_code == 200  # asks; signs nobody out
    assert works(url_a, stolen)
    assert on_a.request("POST", "/logout", data={"csrf": "forged"}).status_code == 400  # another site's form
    assert works(url_a, stolen)

    signed_out = on_a.request("POST", "/logout", data={"csrf": on_a.csrf("/logout")})
    assert signed_out.status_code == 302 and signed_out.headers["Location"].endswith("/login")
    for url in (url_a, url_b):
        assert not works(url, stolen), url  # the old session cookie (with its remember cookie) is refused
        assert not works(url, remember_only), url  # and the 30-day cookie alone too
    assert Browser(url_b, "192.0.2.51").login("u7", PASSWORD).status_code == 302  # signing in again works


def components(node: object, kind: str) -> Iterator[dict]:
    """The props of every component of type `kind` in a Dash layout (JSON)."""
    if isinstance(node, dict):
        if node.get("type") == kind:
            yield node["props"]
        for value in node.values():
            yield from components(value, kind)
    elif isinstance(node, list):
        for value in node:
            yield from components(value, kind)


# -- 9. the throttle cannot be raced ----------------------------------------------------------------------------
def test_forty_concurrent_wrong_passwords_get_exactly_five_checks(two_processes):
    """40 clients, half on each process, one name, one forwarded address, all sent at once."""
    clients = [Browser(two_processes[i % 2], "203.0.113.99") for i in range(40)]
    forms = [{"csrf": c.csrf("/login"), "username": "u8", "password": f"wrong-{i}"} for i, c in enumerate(clients)]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def attempt(client: Browser, form: dict[str, str]) -> None:
        barrier.wait()
        statuses.append(client.request("POST", "/login", data=form).status_code)

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, forms, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(statuses) == [401] * 5 + [429] * 35  # 5 passwords checked, every other attempt refused


# -- 10. one rule for the session secret ------------------------------------------------------------------------
def test_the_secret_key_has_one_rule_for_every_way_in(deployment, tmp_path, monkeypatch):
    from omnidash.cli import CliError, build_application
    from omnidash.config import single_source_config

    runs, users = deployment
    monkeypatch.delenv("OMNIDASH_SECRET_KEY", raising=False)
    monkeypatch.delenv("OMNIDASH_SECRET_KEY_FILE", raising=False)
    monkeypatch.setenv("OMNIDASH_AUTH_STATE", str(tmp_path / "state.db"))
    rule = "is too short: use at least 32 characters"

    def config(env_key: str | None = None, text_key: str | None = None, file_key: bytes | None = None):
        monkeypatch.delenv("OMNIDASH_SECRET_KEY", raising=False)
        if env_key is not None:
            monkeypatch.setenv("OMNIDASH_SECRET_KEY", env_key)
        c = single_source_config(str(runs))
        c.users_file = str(users)
        c.secret_key = text_key
        if file_key is not None:
            path = tmp_path / f"key-{secrets.token_hex(4)}"
            path.write_bytes(file_key)
            c.secret_key_file = str(path)
        return c

    for short in ("a", "k" * 16, "k" * 31):
        for way in ({"env_key": short}, {"text_key": short}, {"file_key": short.encode() + b"\n"}):
            with pytest.raises(CliError, match=rule):
                build_application(config(**way))
    with pytest.raises(CliError, match=rule):
        build_application(config(file_key=b"\xff" + os.urandom(14)))  # 15 random bytes
    for good in ({"env_key": "k" * 32}, {"text_key": secrets.token_hex(16)},
                 {"file_key": secrets.token_hex(32).encode() + b"\n"}, {"file_key": b"\xff" + os.urandom(15)}):
        wsgi, _ = build_application(config(**good))
        assert wsgi is not None


def test_gunicorn_entry_applies_forwarded_headers_only_from_the_trusted_proxy():
    """omnidash.wsgi (gunicorn passes X-Forwarded-* through) wraps the app in `trust_proxy_headers`."""
    from werkzeug.test import Client
    from werkzeug.wrappers import Request, Response

    from omnidash.cli import trust_proxy_headers

    @Request.application
    def echo(request: Request) -> Response:
        return Response(f"{request.remote_addr} {request.scheme} {request.host}")

    app = trust_proxy_headers(echo, "127.0.0.1")
    forwarded = {"X-Forwarded-For": "10.1.1.1, 203.0.113.5", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "board.example"}
    via_proxy = Client(app).get("/", headers=forwarded, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert via_proxy.get_data(as_text=True) == "203.0.113.5 https board.example"
    direct = Client(app).get("/", headers=forwarded, environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert direct.get_data(as_text=True) == "198.51.100.9 http localhost"
