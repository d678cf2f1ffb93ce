"""The MongoDB server a benchmark uses when it is given no URI: a private FerretDB 2 + DocumentDB server from
the testdb kit (tests/testdb.py), removed at exit.

    from benchmarks.server import uri_or_server

    uri, server = uri_or_server(args.uri, "bench-store-")  # without the kit: exits saying why
    ... pymongo.MongoClient(uri) ...
    if server is not None:
        server.stop()  # stop it and delete its data (also done at exit)

    with bench_database(args.uri, "bench-plots-", "bench_plots") as (uri, db):
        ...  # afterwards the database is dropped, the client closed and a server started here stopped

Import it as `benchmarks.server` with the repository root on sys.path.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pymongo
from pymongo.database import Database

from tests.testdb import HOW_TO_POINT, TestServer

NO_URI = "pass --uri mongodb://HOST:PORT/ (or set OMNIDASH_TEST_MONGO_URI)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchServer(TestServer):
    """A kit server a benchmark stops with stop() or by leaving a `with` block."""

    def stop(self) -> None:
        self.remove()

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def start_server(prefix: str = "bench-", alternative: str = NO_URI) -> BenchServer:
    """A started kit server, or exit saying how to get one (`alternative`: the script's other way)."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so the server is removed at exit
    try:
        return BenchServer.start(prefix)
    except RuntimeError as e:
        sys.exit(f"no test server: {e}; {alternative}, or {HOW_TO_POINT}")


def uri_or_server(uri: str | None, prefix: str, alternative: str = NO_URI,
                  announce: bool = True) -> tuple[str, BenchServer | None]:
    """`uri` when one is given, else a started kit server's: (the server URI, the server to stop or None)."""
    if uri:
        return uri, None
    server = start_server(prefix, alternative)
    if announce:
        print(f"test server (FerretDB 2 + DocumentDB) started at {server.uri}")
    return server.uri, server


@contextlib.contextmanager
def bench_database(uri: str | None, prefix: str, name: str, keep: bool = False, announce: bool = True,
                   **client_options: Any) -> Iterator[tuple[str, Database]]:
    """(server URI, database `name`) as uri_or_server gives the server; on the way out the database is dropped
    (unless `keep`), the client closed and a server started here stopped."""
    uri, server = uri_or_server(uri, prefix, announce=announce)
    client: pymongo.MongoClient = pymongo.MongoClient(uri, **client_options)
    try:
        yield uri, client[name]
    finally:
        if not keep:
            client.drop_database(name)
        client.close()
        if server is not None:
            server.stop()
