"""Load test (issue 7): gunicorn with 2 workers, 50 simulated users for 60 s on 20,000 runs.

Each simulated user loops over a realistic mix, authenticated with an editor's API token:
  page load      GET /, /_dash-layout, /_dash-dependencies (what a browser fetches first)      10 %
  table page     GET /api/runs?sort=...&offset=...&limit=50 (a quarter of them with a query)   45 %
  metric fetch   GET /api/metrics?runs=a,b,c&name=...&max_points=1000                          30 %
  tag write      POST /api/tags {"runs": [id], "add": [unique tag]} on 20 shared runs          15 %
and the script prints requests per second, p50 and p95 latency per kind, errors, and checks in the
database that no tag write was lost (every tag answered 200 is on its run).

With `--expensive N` it runs twice on the same server: the users alone, then the users plus N users who
only send expensive table queries (a regular expression, free text, a sort by a metric summary, deep
pages), and prints the ordinary users' p95 in both runs and their ratio (the target is at most 2x).

    python benchmarks/load.py                       # starts a test MongoDB server (tests/testdb.py)
    python benchmarks/load.py --expensive 5         # ... and the same load with 5 expensive users
    python benchmarks/load.py --uri mongodb://localhost:27017/ --reuse --users 50 --seconds 60
    python benchmarks/load.py --folder /tmp/runs20k # a FileStorage folder instead

The runs are the synthetic Sacred documents of benchmarks/store.py (benchmarks/synthetic_runs.py: 20 config
keys, 4 metrics x 200 steps).
"""

from __future__ import annotations

import argparse  # noqa: E402
import http.client  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import quote  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymongo  # noqa: E402

from benchmarks.synthetic_runs import METRICS, load, write_folder  # noqa: E402
from tests.testdb import TestServer  # noqa: E402

SORTS = ["-id", "config.lr", "-config.batch_size", "status", "-max(val.acc)", "min(train.loss)", "-start_time"]
QUERIES = ["lr < 0.01 and optimizer == adam", "status == FAILED", "max(val.acc) > 0.5", "model ~ resnet"]
TAGGED_RUNS = 20  # tag writes concentrate on these runs, so concurrent writers collide
# What the expensive users send: regular expressions, free text, sorts by a metric summary, deep pages.
EXPENSIVE = [
    ("regex", 'notes ~ "^(a|b|c)*.*x$" or config.model ~ "n.*t.*1"', "-id"),
    ("regex", 'experiment.name ~ ".*sweep.*[0-9]{2}"', "config.lr"),
    ("free text", "resnet adam", "-start_time"),
    ("free text", "sweep 0.001", "-id"),
    ("metric sort", "", "-max(val.acc)"),
    ("metric sort", "status == COMPLETED", "min(train.loss)"),
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the server under test --------------------------------------------------------------------------
def start_gunicorn(uri: str, workdir: Path, workers: int, threads: int) -> tuple[subprocess.Popen, int, str]:
    """gunicorn running omnidash.wsgi with accounts on; returns the process, its port and an editor token."""
    from omnidash.auth.users import UsersFile

    users = UsersFile(workdir / "users.toml", must_exist=False)
    users.add("loadtest", "load-test-password", "editor")
    token = users.new_token("loadtest")
    port = free_port()
    env = dict(os.environ, OMNIDASH_SOURCE=uri, OMNIDASH_USERS=str(workdir / "users.toml"),
               OMNIDASH_SECRET_KEY="load-test-secret-key-0123456789abcdef", PYTHONPATH=str(ROOT))
    if shutil.which("gunicorn") is None and importlib.util.find_spec("gunicorn") is None:
        sys.exit("gunicorn is missing: pip install '.[server]'")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "gthread",
         "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--timeout", "120", "omnidash.wsgi:application"],
        cwd=workdir, env=env, stdout=open(workdir / "gunicorn.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )
    deadline = time.time() + 900  # a first scan of 20,000 run folders on a busy machine takes minutes
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited; see {workdir / 'gunicorn.log'}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                # one warm request per worker-ish, so the first users do not pay the imports
                for _ in range(workers * 2):
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    conn.request("GET", "/api/runs?limit=1", headers={"Authorization": f"Bearer {token}"})
                    conn.getresponse().read()
                return proc, port, token
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    log = (workdir / "gunicorn.log").read_text(errors="replace")[-2000:]
    sys.exit(f"gunicorn did not become healthy in 15 minutes; its log ends with:\n{log}")


# -- simulated users ----------------------------------------------------------------------------------
@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)
    tags_written: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if not ok:
                self.errors[kind] += 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(f"{kind}: {detail}")


class User(threading.Thread):
    def __init__(self, index: int, port: int, token: str, runs: int, stop_at: float, results: Results,
                 expensive: bool = False) -> None:
        super().__init__(daemon=True)
        self.expensive = expensive
        self.index, self.port, self.runs, self.stop_at, self.results = index, port, runs, stop_at, results
        self.headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
        self.rng = random.Random(index)
        self.conn: http.client.HTTPConnection | None = None
        self.writes = 0

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None  # keep-alive connection closed by the server: reconnect once
                if attempt == 2 or method != "GET":
                    raise
        raise AssertionError("unreachable")

    def timed(self, kind: str, method: str, path: str, body: dict | None = None) -> bool:
        started = time.perf_counter()
        try:
            status, data = self.request(method, path, body)
            ok, detail = 200 <= status < 300, f"{status} {path} {data[:120]!r}"
        except Exception as e:  # noqa: BLE001 - any failure is an error of the run
            ok, detail = False, f"{type(e).__name__}: {e} {path}"
            self.conn = None
        self.results.record(kind, time.perf_counter() - started, ok, detail)
        return ok

    def run(self) -> None:
        while time.time() < self.stop_at:
            if self.expensive:
                kind, query, sort = self.rng.choice(EXPENSIVE)
                offset = self.rng.randrange(0, 15_000, 50)
                q = f"&q={quote(query)}" if query else ""
                self.timed(f"expensive {kind}", "GET", f"/api/runs?sort={quote(sort)}&offset={offset}&limit=50{q}")
                continue
            roll = self.rng.random()
            if roll < 0.10:
                for path in ("/", "/_dash-layout", "/_dash-dependencies"):
                    self.timed("page load", "GET", path)
            elif roll < 0.55:
                sort = self.rng.choice(SORTS)
                offset = self.rng.randrange(0, 2000, 50)
                query = f"&q={quote(self.rng.choice(QUERIES))}" if self.rng.random() < 0.25 else ""
                self.timed("table page", "GET", f"/api/runs?sort={quote(sort)}&offset={offset}&limit=50{query}")
            elif roll < 0.85:
                ids = ",".join(str(self.rng.randrange(1, self.runs + 1)) for _ in range(3))
                name = self.rng.choice(METRICS)
                self.timed("metric fetch", "GET", f"/api/metrics?runs={ids}&name={quote(name)}&max_points=1000")
            else:
                run_id = self.rng.randrange(1, TAGGED_RUNS + 1)
                tag = f"u{self.index}-t{self.stop_at:.0f}-w{self.writes}"  # unique across phases and runs
                self.writes += 1
                if self.timed("tag write", "POST", "/api/tags", {"runs": [run_id], "add": [tag]}):
                    with self.results.lock:
                        self.results.tags_written.append((run_id, tag))


def lost_writes(store, written: list[tuple[int, str]]) -> int:
    """Tags that were acknowledged but are not on their run (read back through a fresh RunStore)."""
    by_run: dict[int, set[str]] = defaultdict(set)
    for run_id, tag in written:
        by_run[run_id].add(tag)
    lost = 0
    for run_id, tags in by_run.items():
        row = store.list_runs(f"id == {run_id}", limit=1, columns=["id", "tags"]).rows
        stored = set(row[0]["tags"]) if row else set()
        lost += len(tags - stored)
    return lost


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--uri", default=os.environ.get("OMNIDASH_TEST_MONGO_URI"),
                        help="a MongoDB server URI (default: OMNIDASH_TEST_MONGO_URI, else start a test server)")
    parser.add_argument("--expensive", type=int, default=0, metavar="N",
                        help="run again with N more users sending expensive queries; compare the others' p95")
    parser.add_argument("--db", default="omnidash_bench_load")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    parser.add_argument("--folder", default=None,
                        help="serve a Sacred FileStorage folder instead of MongoDB (the same runs written if it has fewer)")
    args = parser.parse_args()
    if args.folder:
        run_folder(args)
        return

    test_server = None
    if args.uri:
        server = args.uri
    else:
        print("0. starting a test MongoDB server (FerretDB 2.5 + DocumentDB, tests/testdb.py)")
        test_server = TestServer.start("bench-load-testdb-")
        server = test_server.uri
    client = pymongo.MongoClient(server)
    db = client[args.db]
    uri = server.split("?")[0].rstrip("/") + "/" + args.db
    workdir = Path(tempfile.mkdtemp(prefix="omnidash-load-"))
    gunicorn = None
    try:
        if not (args.reuse and db.runs.estimated_document_count() == args.runs):
            client.drop_database(args.db)
            print(f"1. loading {args.runs:,} synthetic runs into {uri}")
            load(db, args.runs)
        db.runs.update_many({"_id": {"$lte": TAGGED_RUNS}}, {"$unset": {"omniboard": ""}})
        from omnidash.store.mongo import MongoStore

        started = time.perf_counter()
        store = MongoStore(uri)
        if hasattr(store, "summaries"):
            store.summaries.refresh(force=True)
        store.close()
        print(f"2. metric summaries ready in {time.perf_counter() - started:.1f} s")
        gunicorn, port, token = start_gunicorn(uri, workdir, args.workers, args.threads)
        simulate(args, port, token, lambda: MongoStore(uri))
    finally:
        if gunicorn is not None:
            stop(gunicorn)
        client.close()
        if test_server is not None:
            test_server.remove()
        shutil.rmtree(workdir, ignore_errors=True)


def stop(gunicorn: subprocess.Popen) -> None:
    gunicorn.send_signal(signal.SIGTERM)
    try:
        gunicorn.wait(20)
    except subprocess.TimeoutExpired:
        gunicorn.kill()


def run_folder(args: argparse.Namespace) -> None:
    """The same load on a FileStorage folder holding the same synthetic runs (FerretDB 1.x reads a whole
    collection per query, so 20,000 runs there take minutes per metric read: see the README)."""
    from omnidash.store import open_store

    folder = Path(args.folder).resolve()
    existing = sum(1 for p in folder.glob("*/run.json")) if folder.is_dir() else 0
    if existing < args.runs:
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        print(f"1. writing {args.runs:,} synthetic runs into {folder}")
        write_folder(str(folder), args.runs)
        print(f"   written in {time.perf_counter() - started:.0f} s")
    store = open_store(str(folder))
    for run_id in range(1, TAGGED_RUNS + 1):
        store.set_tags(run_id, [])  # tags of earlier runs of this script would pile up
    store.close()
    workdir = Path(tempfile.mkdtemp(prefix="omnidash-load-"))
    gunicorn = None
    try:
        gunicorn, port, token = start_gunicorn(str(folder), workdir, args.workers, args.threads)
        simulate(args, port, token, lambda: open_store(str(folder)))
    finally:
        if gunicorn is not None:
            stop(gunicorn)
        shutil.rmtree(workdir, ignore_errors=True)


def simulate(args: argparse.Namespace, port: int, token: str, open_check_store: Callable[[], Any]) -> None:
    """Run the simulated users (then again with the expensive users) and print the figures."""
    ok, p95_alone = run_phase(args, port, token, open_check_store, 0)
    if not args.expensive:
        print("verdict:", "OK" if ok else "FAILED (errors or lost writes)")
        return
    ok_with, p95_with = run_phase(args, port, token, open_check_store, args.expensive)
    ratio = p95_with / p95_alone
    print(f"\nordinary users' p95: {p95_alone * 1000:.0f} ms alone, {p95_with * 1000:.0f} ms with "
          f"{args.expensive} expensive users: {ratio:.2f}x (target: at most 2x)")
    print("verdict:", "OK" if ok and ok_with and ratio <= 2 else
          "FAILED (errors, lost writes or p95 over 2x)")


def run_phase(args: argparse.Namespace, port: int, token: str, open_check_store: Callable[[], Any],
              expensive: int) -> tuple[bool, float]:
    """One timed run; returns (no errors and no lost writes, the ordinary users' p95 in seconds)."""
    extra = f" + {expensive} expensive users" if expensive else ""
    print(f"\n3. gunicorn: {args.workers} workers x {args.threads} threads on 127.0.0.1:{port}; "
          f"{args.users} users{extra} for {args.seconds:.0f} s ...")
    results = Results()
    stop_at = time.time() + args.seconds
    users = [User(i, port, token, args.runs, stop_at, results) for i in range(args.users)]
    users += [User(1000 + i, port, token, args.runs, stop_at, results, expensive=True) for i in range(expensive)]
    t0 = time.perf_counter()
    for user in users:
        user.start()
    for user in users:
        user.join(args.seconds + 120)
    elapsed = time.perf_counter() - t0

    ordinary = ("page load", "table page", "metric fetch", "tag write")
    kinds = [*ordinary, *sorted(k for k in results.latencies if k not in ordinary)]
    total = sum(len(v) for v in results.latencies.values())
    errors = sum(results.errors.values())
    print(f"\n{'kind':<22}{'requests':>10}{'p50 ms':>10}{'p95 ms':>10}{'errors':>8}")
    for kind in kinds:
        values = results.latencies.get(kind, [])
        print(f"{kind:<22}{len(values):>10,}{percentile(values, 50) * 1000:>10.0f}"
              f"{percentile(values, 95) * 1000:>10.0f}{results.errors.get(kind, 0):>8}")
    others = [x for k in ordinary for x in results.latencies.get(k, [])]
    print(f"{'ordinary users':<22}{len(others):>10,}{percentile(others, 50) * 1000:>10.0f}"
          f"{percentile(others, 95) * 1000:>10.0f}{sum(results.errors.get(k, 0) for k in ordinary):>8}")
    every = [x for v in results.latencies.values() for x in v]
    print(f"{'all':<22}{total:>10,}{percentile(every, 50) * 1000:>10.0f}{percentile(every, 95) * 1000:>10.0f}"
          f"{errors:>8}")
    print(f"\nthroughput: {total / elapsed:.1f} requests/s over {elapsed:.0f} s with {len(users)} users")
    lost = lost_writes(open_check_store(), results.tags_written)
    print(f"tag writes acknowledged: {len(results.tags_written):,} on {TAGGED_RUNS} runs; lost: {lost}")
    for sample in results.error_samples:
        print(f"  error sample: {sample}")
    return errors == 0 and lost == 0, percentile(others, 95)


if __name__ == "__main__":
    main()
