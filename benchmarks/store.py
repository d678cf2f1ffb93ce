"""MongoStore against raw pymongo on the same server and data (issue 2).

Loads N synthetic Sacred runs (20 config keys, 4 metrics x 200 steps, MongoObserver-shaped documents) and
prints, per operation, the store's time next to raw pymongo fetching the same page:

1. first page (50 rows) sorted by a config key;
2. first page filtered by a query;
3. first page sorted by max(metric) (raw: the same sort on the stored summary path, for reference);
4. every row for CSV export (store.iter_rows) against a raw find() of every document.

    python benchmarks/store.py                      # starts its own FerretDB, like tests/conftest.py
    python benchmarks/store.py --runs 20000 --uri mongodb://localhost:27017/

Targets: config sort and filter within 2x of raw pymongo; metric-summary sort under 500 ms.
Times are the median of --repeat calls made more than the summary refresh interval apart, so each call
includes the store's incremental-refresh check (as a user's request would).
"""

from __future__ import annotations

import os
import sys

# benchmarks/logging.py would shadow the standard library's logging: keep this folder off sys.path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymongo  # noqa: E402

from app.store.mongo import MongoStore  # noqa: E402
from app.store.mongo_summaries import REFRESH_EVERY  # noqa: E402
from app.store.query import QueryContext, compile_query  # noqa: E402

METRICS = ["train.loss", "val.loss", "val.acc", "lr"]
STEPS = 200
QUERY = "lr < 0.01 and optimizer == adam and batch_size >= 64"
PAGE = 50


# -- a server ---------------------------------------------------------------------------------
def ferretdb_binary() -> str | None:
    gopath = os.environ.get("GOPATH") or os.path.expanduser("~/go")
    for c in (os.environ.get("FERRETDB_BIN", ""), os.path.join(gopath, "bin", "ferretdb"), shutil.which("ferretdb")):
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def start_ferretdb() -> tuple[str, subprocess.Popen, str]:
    binary = ferretdb_binary()
    if binary is None:
        sys.exit("no ferretdb binary (see tests/run.sh) and neither --uri nor OMNIDASH_TEST_MONGO_URI")
    workdir = tempfile.mkdtemp(prefix="bench-store-ferretdb-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--handler=sqlite", f"--sqlite-url=file:{workdir}/", f"--state-dir={workdir}",
         f"--listen-addr=127.0.0.1:{port}", "--debug-addr=-", "--telemetry=disable", "--log-level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    uri = f"mongodb://127.0.0.1:{port}/"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            pymongo.MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("ping")
            return uri, proc, workdir
        except pymongo.errors.PyMongoError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("FerretDB did not start")


# -- synthetic Sacred runs ----------------------------------------------------------------------
def config_of(rng: random.Random, i: int) -> dict[str, Any]:
    """20 config leaves, like a real sweep: floats, ints, strings, bools, an ingredient sub-dict."""
    return {
        "lr": rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]),
        "batch_size": rng.choice([16, 32, 64, 128, 256]),
        "optimizer": rng.choice(["adam", "sgd", "adamw"]),
        "epochs": rng.choice([10, 20, 50]),
        "l2": rng.choice([0.0, 1e-5, 1e-4]),
        "momentum": rng.random(),
        "dropout": round(rng.random() * 0.5, 3),
        "warmup_steps": rng.randrange(0, 2000, 100),
        "shuffle": rng.random() < 0.5,
        "model": rng.choice(["resnet18", "resnet50", "vit-s"]),
        "width": rng.choice([64, 128, 256]),
        "depth": rng.randrange(2, 12),
        "label_smoothing": rng.choice([0.0, 0.1]),
        "grad_clip": rng.choice([None, 1.0, 5.0]),
        "seed": rng.randrange(1, 10**9),
        "adam": {"beta1": 0.9, "beta2": rng.choice([0.99, 0.999]), "eps": 1e-8},
        "dataset": {"name": rng.choice(["cifar10", "cifar100"]), "augment": rng.random() < 0.5},
        "run_index": i,
    }


def run_doc(rng: random.Random, i: int, base: dt.datetime) -> dict[str, Any]:
    start = base + dt.timedelta(minutes=i)
    status = rng.choices(["COMPLETED", "FAILED", "INTERRUPTED", "RUNNING"], [90, 6, 3, 1])[0]
    beat = start + dt.timedelta(seconds=rng.randrange(60, 3600))
    doc: dict[str, Any] = {
        "_id": i,
        "experiment": {"name": rng.choice(["cifar_sweep", "ablation"]), "base_dir": "/home/ana/exp", "sources": [],
                       "dependencies": ["numpy==2.4.6", "sacred==0.8.7", "torch==2.5.1"],
                       "repositories": [{"url": "https://github.com/example/exp.git", "commit": "3488b54" * 5,
                                         "dirty": False}], "mainfile": "train.py"},
        "format": "MongoObserver-0.7.0",
        "command": "train",
        "host": {"hostname": f"gpu{i % 8}", "os": ["Linux", "Linux-6.1-x86_64"], "python_version": "3.11.7",
                 "cpu": "Intel(R) Xeon(R)", "ENV": {}},
        "start_time": start,
        "config": config_of(rng, i),
        "meta": {"command": "train", "options": {"--beat-interval": None, "--comment": None, "--name": None},
                 "named_configs": [], "config_updates": {}},
        "status": status,
        "resources": [],
        "artifacts": [],
        "captured_out": "".join(f"epoch {e:3d} loss={rng.random():.4f}\n" for e in range(20)),
        "info": {"metrics": [{"name": m, "id": f"{i:024x}"} for m in METRICS]},
        "heartbeat": beat,
        "result": round(rng.random(), 4),
    }
    if status != "RUNNING":
        doc["stop_time"] = beat
    return doc


def metric_docs(rng: random.Random, i: int, start: dt.datetime) -> list[dict[str, Any]]:
    stamps = [start + dt.timedelta(seconds=s) for s in range(STEPS)]
    out = []
    for name in METRICS:
        scale = rng.random()
        values = [round(scale * (1 + rng.random()) / (1 + s / 20), 5) for s in range(STEPS)]
        out.append({"run_id": i, "name": name, "steps": list(range(STEPS)), "values": values, "timestamps": stamps})
    return out


def load(db: pymongo.database.Database, n: int) -> None:
    rng = random.Random(42)
    base = dt.datetime(2026, 1, 1)
    runs, metrics = [], []
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        doc = run_doc(rng, i, base)
        runs.append(doc)
        metrics.extend(metric_docs(rng, i, doc["start_time"]))
        if len(runs) == 1000:
            db.runs.insert_many(runs)
            db.metrics.insert_many(metrics)
            runs, metrics = [], []
            print(f"\r   loaded {i:,} runs ({time.perf_counter() - t0:.0f} s)", end="", flush=True)
    if runs:
        db.runs.insert_many(runs)
        db.metrics.insert_many(metrics)
    print(f"\r   loaded {n:,} runs, {n * len(METRICS):,} metric documents in {time.perf_counter() - t0:.0f} s")


# -- timing ---------------------------------------------------------------------------------------
def median_time(fn: Callable[[], Any], repeat: int, spaced: bool) -> float:
    times = []
    for _ in range(repeat):
        if spaced:
            time.sleep(REFRESH_EVERY + 0.1)
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--uri", default=os.environ.get("OMNIDASH_TEST_MONGO_URI"),
                        help="a MongoDB server URI (default: OMNIDASH_TEST_MONGO_URI, else start a FerretDB)")
    parser.add_argument("--repeat", type=int, default=3, help="calls per measurement (median)")
    parser.add_argument("--db", default="omnidash_bench_store")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # still stop our FerretDB
    proc = workdir = None
    server = args.uri
    if server is None:
        server, proc, workdir = start_ferretdb()
        print(f"FerretDB started at {server}")
    client = pymongo.MongoClient(server, tz_aware=True)
    db = client[args.db]
    uri = server.split("?")[0].rstrip("/") + "/" + args.db
    try:
        if not (args.reuse and db.runs.estimated_document_count() == args.runs):
            client.drop_database(args.db)
            print(f"1. loading {args.runs:,} synthetic runs into {uri}")
            load(db, args.runs)
        store = MongoStore(uri)
        t = time.perf_counter()
        built = store.summaries.refresh(force=True)
        print(f"2. one-time summary build: {built:,} runs in {time.perf_counter() - t:.1f} s "
              f"(later refreshes only touch runs whose heartbeat or status moved)")

        ctx = QueryContext(now=dt.datetime.now(dt.UTC), config_paths=store._catalogue()[1])
        flt = compile_query(QUERY, ctx)
        metric_path = "omnidash.metrics.val%2Eacc.max"

        def raw_page(filter_: dict, sort: list[tuple[str, int]]) -> Callable[[], Any]:
            return lambda: (db.runs.count_documents(filter_), list(db.runs.find(filter_).sort(sort).limit(PAGE)))

        ops = [
            ("page sorted by config.lr", lambda: store.list_runs(sort="config.lr", limit=PAGE),
             raw_page({}, [("config.lr", 1), ("_id", 1)]), "<= 2x raw"),
            (f"page filtered: {QUERY}", lambda: store.list_runs(QUERY, limit=PAGE),
             raw_page(flt, [("_id", -1)]), "<= 2x raw"),
            ("page sorted by -max(val.acc)",
             lambda: store.list_runs(sort="-max(val.acc)", limit=PAGE, columns=None),
             raw_page({}, [(metric_path, -1), ("_id", 1)]), "< 500 ms"),
            ("CSV: every row (iter_rows)", lambda: sum(1 for _ in store.iter_rows()),
             lambda: sum(1 for _ in db.runs.find({})), "-"),
        ]
        print(f"\n3. {args.runs:,} runs on {store.describe()} (median of {args.repeat})\n")
        print(f"   {'operation':58s} {'store':>10s} {'raw':>10s} {'ratio':>7s}  target")
        for label, ours, raw, target in ops:
            ours()  # warm caches (column catalogue, shared columns)
            t_ours = median_time(ours, args.repeat, spaced=True)
            t_raw = median_time(raw, args.repeat, spaced=False)
            print(f"   {label:58s} {t_ours * 1000:8.0f}ms {t_raw * 1000:8.0f}ms {t_ours / t_raw:6.2f}x  {target}")
        page = store.list_runs(sort="-max(val.acc)", limit=3, columns=["max(val.acc)", "config.lr"])
        print(f"\n   best runs by max(val.acc): {page.rows}")
    finally:
        client.drop_database(args.db) if not args.reuse else None
        if proc is not None:
            proc.terminate()
            proc.wait(10)
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
