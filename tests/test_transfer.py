"""Bytes on the wire: responses are compressed (brotli or gzip, as the browser asks) and the fingerprinted
JavaScript and CSS are cacheable for good, with accounts on or off (the login guard still answers 401).

Real parts: a FileStore folder written by omnidash.demo and the real Flask/Dash app through werkzeug's client."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import brotli
import pytest
from werkzeug.test import Client

from omnidash.auth.users import UsersFile
from omnidash.auth.web import AuthConfig
from omnidash.context import Settings
from omnidash.server import create_app
from omnidash.store.files import FileStore
from omnidash.transfer import IMMUTABLE

SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture(scope="module")
def folder(demo_folder: Path) -> Path:
    return demo_folder


@pytest.fixture(scope="module")
def client(folder) -> Client:
    return Client(create_app(FileStore(str(folder)), Settings(refresh_interval=0)).server)


def decoded(response: Any) -> bytes:
    """The body as the browser sees it after undoing Content-Encoding."""
    body = response.get_data()
    encoding = response.headers.get("Content-Encoding")
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    assert encoding is None, encoding
    return body


def page_urls(client: Client) -> tuple[list[str], list[str]]:
    """The (scripts, stylesheets) the index page links, as app-relative URLs."""
    html = decoded(client.get("/", headers={"Accept-Encoding": "br"})).decode()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    return scripts, styles


def route_payload(client: Client, pathname: str = "/") -> dict[str, Any]:
    """The /_dash-update-component request of the page router (url.pathname -> page-content)."""
    deps = json.loads(decoded(client.get("/_dash-dependencies", headers={"Accept-Encoding": "gzip"})))
    dep = next(d for d in deps if d["output"].startswith(("page-content.children", "..page-content.children")))
    values = {"pathname": pathname, "search": ""}
    parts = dep["output"].strip(".").split("...")
    outputs = [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True)) for p in parts]
    return {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [{**i, "value": values.get(i["property"])} for i in dep["inputs"]],
            "state": [{**s, "value": None} for s in dep["state"]], "changedPropIds": ["url.pathname"]}


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_scripts_styles_and_callbacks_are_compressed(client, encoding):
    scripts, styles = page_urls(client)
    suites = [s for s in scripts if "/_dash-component-suites/" in s]
    assets = [s for s in scripts + styles if "/assets/" in s]
    assert len(suites) >= 5 and assets, (scripts, styles)
    for url in suites + assets:
        plain = client.get(url)
        packed = client.get(url, headers={"Accept-Encoding": f"{encoding}, identity;q=0.5"})
        assert plain.status_code == packed.status_code == 200, url
        assert "Content-Encoding" not in plain.headers, url  # nothing asked, nothing compressed
        if len(plain.get_data()) < 500:
            continue
        assert packed.headers["Content-Encoding"] == encoding, url
        assert "Accept-Encoding" in packed.headers["Vary"]
        assert decoded(packed) == plain.get_data(), url
        assert len(packed.get_data()) < 0.6 * len(plain.get_data()), url
    grid = next(s for s in suites if "dash_ag_grid" in s)
    assert len(client.get(grid, headers={"Accept-Encoding": encoding}).get_data()) < 0.35 * len(
        client.get(grid).get_data())

    headers = {"Accept-Encoding": encoding}
    callback = client.post("/_dash-update-component", json=route_payload(client), headers=headers)
    assert callback.status_code == 200
    assert callback.headers["Content-Encoding"] == encoding
    assert "tbl-grid" in json.loads(decoded(callback))["response"]["page-content"]["children"].__repr__()
    for path in ("/_dash-layout", "/_dash-dependencies", "/api/runs?columns=id,status,config.lr"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        json.loads(decoded(response))
        if len(decoded(response)) >= 500:
            assert response.headers["Content-Encoding"] == encoding, path


def test_fingerprinted_files_are_cached_for_good_and_the_rest_revalidates(client):
    scripts, styles = page_urls(client)
    versioned = [u for u in scripts + styles if "/_dash-component-suites/" in u or "?m=" in u]
    assert len(versioned) >= 8
    for url in versioned:
        for encoding in ("br", "gzip", ""):
            response = client.get(url, headers={"Accept-Encoding": encoding} if encoding else {})
            assert response.headers["Cache-Control"] == IMMUTABLE, url
            assert "max-age=31536000" in IMMUTABLE and "immutable" in IMMUTABLE
    # the second compressed answer comes from the server's cache and is the same bytes
    grid = next(u for u in scripts if "dash_ag_grid" in u)
    first = client.get(grid, headers={"Accept-Encoding": "br"}).get_data()
    assert client.get(grid, headers={"Accept-Encoding": "br"}).get_data() == first
    # what has no version in its URL is never cached for good
    for url in ("/_dash-component-suites/dash/dcc/async-dropdown.js", "/assets/table.js", "/_dash-layout", "/"):
        response = client.get(url, headers={"Accept-Encoding": "br"})
        assert response.status_code == 200, url
        assert "immutable" not in response.headers.get("Cache-Control", ""), url


def test_the_login_guard_still_refuses_compressed_requests(folder, tmp_path):
    users = UsersFile(tmp_path / "users.toml", must_exist=False)
    users.add("vera", "viewer-pass-1", "viewer")
    app = create_app(FileStore(str(folder)), Settings(refresh_interval=0),
                     auth=AuthConfig(users=users, secret_key=SECRET))
    client = Client(app.server)
    headers = {"Accept-Encoding": "br, gzip"}
    for path in ("/_dash-layout", "/_dash-dependencies", "/api/runs"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, path
        assert json.loads(decoded(response)) == {"error": "authentication required"}
    denied = client.post("/_dash-update-component", json={"output": "page-content.children"}, headers=headers)
    assert denied.status_code == 401
    assert client.get("/", headers=headers).status_code == 302
    scripts, _ = page_urls(Client(create_app(FileStore(str(folder)), Settings(refresh_interval=0)).server))
    suite = next(u for u in scripts if "dash_ag_grid" in u)
    public = client.get(suite, headers=headers)  # scripts stay public (the login page needs none of ours)
    assert public.status_code == 200 and public.headers["Content-Encoding"] == "br"
    assert public.headers["Cache-Control"] == IMMUTABLE

    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    client.post("/login", data={"csrf": csrf, "username": "vera", "password": "viewer-pass-1", "next": "/"})
    callback = client.post("/_dash-update-component", json=route_payload(client), headers=headers)
    assert callback.status_code == 200 and callback.headers["Content-Encoding"] == "br"
    assert "tbl-grid" in repr(json.loads(decoded(callback))["response"])
