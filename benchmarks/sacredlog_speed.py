"""sacredlog against Sacred 0.8.7, in one process (issue 3):

1. per-call overhead of `run.log_scalar` against Sacred's `_run.log_scalar` (best of several rounds);
2. time to get 1,000,000 points (10 metrics) into the test server: sacredlog's Run(mongo_url=...) against
   Sacred's MongoObserver, each from before the run starts until it has returned with everything written.

    python benchmarks/sacredlog_speed.py                 # starts its own test server (FerretDB 2, tests/testdb.py)
    python benchmarks/sacredlog_speed.py --uri mongodb://localhost:27017/ --points 1000000

Both write through their unmodified observers. Targets: overhead <= Sacred's; end-to-end at least 3x faster.

Expect the Sacred side to take many minutes on FerretDB: each of its metric upserts filters on
{run_id, name}, which FerretDB answers by reading every (large) metric document of the collection.
"""

from __future__ import annotations

import argparse  # noqa: E402
import sys
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

import pymongo  # noqa: E402

from benchmarks.server import uri_or_server  # noqa: E402
from sacredlog import Run  # noqa: E402

METRICS = [f"metric_{i}" for i in range(10)]


def _db_uri(server_uri: str, name: str) -> str:
    return server_uri.rstrip("/") + "/" + name


# -- Sacred -----------------------------------------------------------------------------------
def _sacred_experiment(observer: Any = None, body: Any = None) -> Any:
    from sacred import Experiment

    ex = Experiment("bench_sacred", save_git_info=False)
    if observer is not None:
        ex.observers.append(observer)
    ex.main(body)
    return ex


def _log_points(log: Callable[[str, float], Any], points: int, slope: float = 0.0) -> float:
    """Seconds to log `points` points, the metrics in turn, step i of each with the value 0.5 + i * slope."""
    names = METRICS
    start = time.perf_counter()
    for i in range(points // len(names)):
        value = 0.5 + i * slope
        for name in names:
            log(name, value)
    return time.perf_counter() - start


def sacred_overhead(n: int) -> float:
    """Seconds per `_run.log_scalar` call inside a Sacred run."""
    out: dict[str, float] = {}

    def main(_run: Any) -> None:
        out["t"] = _log_points(_run.log_scalar, n)

    _sacred_experiment(body=main).run(options={"--loglevel": "ERROR"})
    return out["t"] / n


def sacredlog_overhead(n: int) -> float:
    """Seconds per `run.log_scalar` call."""
    with Run("bench_sacredlog", {}, capture_output=False, save_git_info=False, handle_sigterm=False) as run:
        elapsed = _log_points(run.log_scalar, n)
    return elapsed / n


def sacred_end_to_end(uri: str, points: int) -> float:
    from sacred.observers import MongoObserver

    db = pymongo.MongoClient(uri).get_default_database()
    observer = MongoObserver(url=uri, db_name=db.name)

    def main(_run: Any) -> None:
        _log_points(_run.log_scalar, points, 0.001)

    import threading

    from sacred.utils import IntervalTimer

    start = time.perf_counter()
    _sacred_experiment(observer, main).run(options={"--loglevel": "WARNING"})
    # Sacred joins its heartbeat thread with a 2 s timeout, so ex.run() may return before the final beat
    # has written the metrics: wait for it, the points are not in the database before.
    for thread in threading.enumerate():
        if isinstance(thread, IntervalTimer):
            thread.join()
    return time.perf_counter() - start


def sacredlog_end_to_end(uri: str, points: int) -> float:
    start = time.perf_counter()
    with Run("bench_sacredlog", {}, mongo_url=uri, capture_output=False, save_git_info=False,
             handle_sigterm=False) as run:
        _log_points(run.log_scalar, points, 0.001)
    return time.perf_counter() - start


def check_points(uri: str, points: int) -> str:
    """Every point arrived (metric documents of the one run, with their lengths)."""
    db = pymongo.MongoClient(uri).get_default_database()
    docs = list(db.metrics.find({}, {"name": 1, "steps": 1}))
    total = sum(len(d["steps"]) for d in docs)
    status = db.runs.find_one({}, {"status": 1})["status"]
    assert total == points, f"{uri}: {total} points stored, expected {points}"
    return f"{len(docs)} metric documents, {total:,} points, status {status}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", help="a MongoDB server URI (default: start a test server)")
    parser.add_argument("--points", type=int, default=1_000_000, help="points for the end-to-end test")
    parser.add_argument("--calls", type=int, default=200_000, help="log_scalar calls per overhead round")
    parser.add_argument("--rounds", type=int, default=5, help="overhead rounds (best is kept)")
    args = parser.parse_args()

    uri, server = uri_or_server(args.uri, "bench-logging-", alternative="pass --uri mongodb://HOST:PORT/")
    try:
        print(f"\n1. per-call overhead, {args.calls:,} calls x {args.rounds} rounds (best)")
        theirs = min(sacred_overhead(args.calls) for _ in range(args.rounds))
        ours = min(sacredlog_overhead(args.calls) for _ in range(args.rounds))
        print(f"   Sacred _run.log_scalar   {theirs * 1e6:8.3f} us/call")
        print(f"   sacredlog run.log_scalar {ours * 1e6:8.3f} us/call")
        print(f"   ratio sacredlog/Sacred   {ours / theirs:8.2f}  (target <= 1.00)")

        print(f"\n2. end to end: {args.points:,} points, {len(METRICS)} metrics, into {uri}")
        client = pymongo.MongoClient(uri)
        for name in ("bench_logging_sacred", "bench_logging_sacredlog"):
            client.drop_database(name)
        ours_uri = _db_uri(uri, "bench_logging_sacredlog")
        ours_t = sacredlog_end_to_end(ours_uri, args.points)
        print(f"   sacredlog Run(mongo_url)  {ours_t:8.1f} s   ({check_points(ours_uri, args.points)})")
        theirs_uri = _db_uri(uri, "bench_logging_sacred")
        theirs_t = sacred_end_to_end(theirs_uri, args.points)
        print(f"   Sacred MongoObserver      {theirs_t:8.1f} s   ({check_points(theirs_uri, args.points)})")
        print(f"   speed-up Sacred/sacredlog {theirs_t / ours_t:8.2f}x (target >= 3x)")
        for name in ("bench_logging_sacred", "bench_logging_sacredlog"):
            client.drop_database(name)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
