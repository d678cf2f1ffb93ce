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
import signal  # noqa: E402
import statistics  # noqa: E402
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
from benchmarks.ferretdb import uri_or_ferretdb  # noqa: E402
from benchmarks.synthetic_runs import load  # noqa: E402

QUERY = "lr < 0.01 and optimizer == adam and batch_size >= 64"
PAGE = 50


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
    server, ferret = uri_or_ferretdb(args.uri, "bench-store-ferretdb-")
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
        if ferret is not None:
            ferret.stop()


if __name__ == "__main__":
    main()
