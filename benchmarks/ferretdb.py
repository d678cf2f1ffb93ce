"""Retired with FerretDB 1.x: the old names of benchmarks.server (a testdb kit server, tests/testdb.py), kept
only for benchmarks/load.py, table.py and logging.py until their owners import benchmarks.server. Delete then."""

from benchmarks.server import free_port
from benchmarks.server import start_server as start_ferretdb
from benchmarks.server import uri_or_server as uri_or_ferretdb

__all__ = ["free_port", "start_ferretdb", "uri_or_ferretdb"]
