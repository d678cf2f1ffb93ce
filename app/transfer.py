"""Bytes on the wire: compressed responses (brotli or gzip) and long-lived caching of fingerprinted files.

flask-compress (the extension behind Dash's `compress=True`) compresses JavaScript, CSS, the layout, callback
replies and the JSON API. We install it ourselves rather than through `Dash(compress=True)`: Dash 4.4 then
forces gzip only, and brotli is ~20% smaller on the 3.5 MB of JavaScript a first visit loads.

Files whose URL names their version (Dash's fingerprinted component suites, `/assets/x.js?m=<mtime>`, the
favicon's `?v=<dash version>`) are `immutable` for a year, so a returning visit asks for none of them; their
compressed bytes are kept in memory (a few MB), compressed once per encoding.

The lazily loaded chunks (AG Grid's, dcc's, plotly.js: omnidash.plotly_bundle) have no version in their URL, so browsers
revalidate them; but they are files of the installed packages, fixed while the server runs: their compressed
bytes are kept too (brotli of plotly.js took seconds on every first visit), and a revalidation is answered 304
from the remembered ETag before Dash reads and hashes the file again.
"""

from __future__ import annotations

import threading

from dash.fingerprint import check_fingerprint
from flask import Flask, Request, Response, request

IMMUTABLE = "public, max-age=31536000, immutable"
ALGORITHMS = ["br", "gzip"]  # in order of preference when the browser accepts both
SUITES = "/_dash-component-suites/"
ASSETS = "/assets/"


def versioned(req: Request) -> bool:
    """Whether the URL names the exact version of a static file (so it can be cached for good)."""
    path = req.path
    if req.method not in ("GET", "HEAD"):
        return False
    if path.startswith(SUITES):
        return check_fingerprint(path)[1]
    if path.startswith(ASSETS):
        return bool(req.args.get("m"))
    return path == "/_favicon.ico" and bool(req.args.get("v"))


def packaged(req: Request) -> bool:
    """Whether the URL names a file of an installed package (versioned or not: fixed while the server runs)."""
    return req.method in ("GET", "HEAD") and req.path.startswith(SUITES)


def cache_key(req: Request) -> str:
    """flask-compress's cache key: the URL of a versioned or packaged file, "" for everything else (never
    cached)."""
    return req.full_path if versioned(req) or packaged(req) else ""


class VersionedFilesCache:
    """flask-compress cache backend keeping only the compressed bodies of versioned files."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _kept(key: str) -> bool:
        return not key.endswith(";")  # "<algorithm>;<cache_key>", the key being "" when not versioned

    def get(self, key: str) -> bytes | None:
        return self._data.get(key) if self._kept(key) else None

    def set(self, key: str, value: bytes) -> None:
        if self._kept(key):
            with self._lock:
                self._data[key] = value


def install_transfer(server: Flask) -> None:
    """Compress responses and mark versioned files immutable."""
    from flask_compress import Compress

    server.config.setdefault("COMPRESS_ALGORITHM", ALGORITHMS)
    server.config.setdefault("COMPRESS_MIN_SIZE", 500)
    server.config["COMPRESS_CACHE_BACKEND"] = VersionedFilesCache
    server.config["COMPRESS_CACHE_KEY"] = cache_key
    Compress(server)

    etags: dict[str, str] = {}  # unversioned package file -> the ETag Dash gave it

    @server.before_request
    def not_modified() -> Response | None:
        """A revalidation of an unversioned package file answered from its remembered ETag."""
        if packaged(request) and not versioned(request):
            tag = etags.get(request.path)
            for sent in request.if_none_match.as_set() if tag is not None else ():
                if sent.split(":")[0] == tag:  # flask-compress tags a compressed body "<etag>:<algorithm>"
                    response = Response(status=304)
                    response.set_etag(sent)
                    return response
        return None

    # registered after Compress, so it runs before it (Flask runs after_request hooks in reverse)
    @server.after_request
    def cache_versioned(response: Response) -> Response:
        if response.status_code == 200 and packaged(request) and not versioned(request):
            tag = response.get_etag()[0]
            if tag:
                etags[request.path] = tag
        if response.status_code == 200 and versioned(request):
            response.headers["Cache-Control"] = IMMUTABLE
            if response.is_streamed and request.method == "GET":
                # /assets are sent as file streams, which flask-compress would not gzip: read them whole
                response.direct_passthrough = False
                response.set_data(response.get_data())
        return response


__all__ = ["install_transfer", "versioned", "IMMUTABLE"]
