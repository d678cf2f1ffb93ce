"""MongoStore against raw pymongo on the same server and data (issues 2 and 11).

Loads N synthetic Sacred runs (20 config keys, 4 metrics x 200 steps, MongoObserver-shaped documents) and
prints, in one run:

1. the first summary build (every run summarised and stored), an incremental refresh after 100 runs
   moved (new points, later heartbeat), and the check a request makes when nothing moved;
2. per page (50 rows), the store's list_runs next to raw pymongo fetching the same page with its total
   (count_documents, then find() with the same filter, sort and projection): sorted by a config key,
   filtered, sorted by a metric summary; and the store's count() next to its page;
3. every row for CSV export (store.iter_rows) against a raw find() of every document;
4. the indexes omnidash creates (a read-only user goes without), each dropped in turn to measure what it
   buys, and what a read-only user's metric sort costs (summaries computed in the process).

    python benchmarks/store.py                      # 20,000 runs on its own test server (tests/testdb.py)
    python benchmarks/store.py --runs 100000
    python benchmarks/store.py --uri mongodb://localhost:27017/ [--reuse]

Targets: each page within 1.5x of raw pymongo; the metric-summary sort under 300 ms; the count no dearer
than the page it totals. Times are medians of --repeat calls made more than the summary refresh interval
apart, so each call includes the store's refresh check (as a user's request would).
"""

from __future__ import annotations

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import os
import signal  # noqa: E402
import statistics  # noqa: E402
import sys
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymongo  # noqa: E402

from benchmarks.server import uri_or_server  # noqa: E402
from benchmarks.synthetic_runs import METRICS, load  # noqa: E402
from omnidash.store.base import SortKey  # noqa: E402
from omnidash.store.mongo import INDEXES, MongoStore  # noqa: E402
from omnidash.store.mongo_summaries import REFRESH_EVERY, STATE_ID  # noqa: E402

QUERY = "lr < 0.01 and optimizer == adam and batch_size >= 64"
PAGE = 50
MOVED = 100  # runs that get new points before the incremental refresh


def median_time(fn: Callable[[], Any], repeat: int, spaced: bool = False) -> float:
    times = []
    for _ in range(repeat):
        if spaced:
            time.sleep(REFRESH_EVERY + 0.1)
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def move_runs(db: pymongo.database.Database, ids: list[int]) -> None:
    """What Sacred does at a running run's heartbeat: $push new points to each metric, then $set the run
    (status RUNNING, a later heartbeat)."""
    for rid in ids:
        for name in METRICS:
            db.metrics.update_one({"run_id": rid, "name": name}, {"$push": {
                "steps": {"$each": [200, 201]}, "values": {"$each": [0.5, 0.25]}}})
        db.runs.update_one({"_id": rid}, {"$set": {"status": "RUNNING", "heartbeat": dt.datetime.now(dt.UTC)}})


def raw_page(store: MongoStore, query: str, sort: str, columns: list[str] | None) -> Callable[[], Any]:
    """count_documents + find(filter, projection).sort().limit(): the same page with its total, plain pymongo."""
    ctx = store._context(dt.datetime.now(dt.UTC))
    flt, sort_spec, _ = store._prepare(query, SortKey.parse_list(sort), columns, ctx)
    projection, _ = store._projection(columns, ctx)
    return lambda: (store.runs.count_documents(flt), list(store.runs.find(flt, projection).sort(sort_spec).limit(PAGE)))


def summaries_section(db: pymongo.database.Database, uri: str, runs: int) -> MongoStore:
    db.runs.update_many({}, {"$unset": {"omnidash": ""}})
    db["omnidash.state"].delete_many({"_id": STATE_ID})
    store = MongoStore(uri)
    t = time.perf_counter()
    built = store.summaries.refresh(force=True)
    first = time.perf_counter() - t
    moved = list(range(1, MOVED + 1))
    move_runs(db, moved)
    t = time.perf_counter()
    again = store.summaries.refresh(force=True)
    incremental = time.perf_counter() - t
    check = median_time(lambda: store.summaries.refresh(force=True), 5)
    print(f"\n2. summaries ({runs:,} runs x {len(METRICS)} metrics)")
    print(f"   first build: {built:,} runs in {first:.1f} s")
    print(f"   incremental refresh after {MOVED} runs moved: {again} runs in {ms(incremental)}")
    print(f"   refresh check, nothing moved (each request, at most every {REFRESH_EVERY:.0f} s): {ms(check)}")
    return store


def pages_section(store: MongoStore, runs: int, repeat: int) -> list[tuple[str, float, float]]:
    ops = [
        ("sorted by config.lr", "", "config.lr", None, 1.5),
        ("filtered: " + QUERY, QUERY, "-id", None, 1.5),
        ("sorted by -max(val.acc)", "", "-max(val.acc)", None, 1.5),
    ]
    print(f"\n3. a page of {PAGE} rows, {runs:,} runs on {store.describe()} (median of {repeat}; the store's "
          "calls include its refresh check)")
    print(f"   {'page':62s} {'store':>9s} {'raw':>9s} {'ratio':>6s} {'target':>7s}   {'count()':>9s} {'count/page':>10s}")
    out = []
    for label, query, sort, columns, target in ops:
        ours = lambda q=query, s=sort, c=columns: store.list_runs(q, sort=s, limit=PAGE, columns=c)  # noqa: E731
        raw = raw_page(store, query, sort, columns)
        ours()  # warm caches (column catalogue, shared columns)
        raw()
        t_ours = median_time(ours, repeat, spaced=True)
        t_raw = median_time(raw, repeat)
        t_count = median_time(lambda q=query: store.count(q), repeat, spaced=True)
        print(f"   {label:62s} {ms(t_ours):>9s} {ms(t_raw):>9s} {t_ours / t_raw:5.2f}x {f'<={target}x':>7s}   "
              f"{ms(t_count):>9s} {t_count / t_ours:9.2f}x")
        out.append((label, t_ours, t_raw))
    return out


def csv_section(store: MongoStore, repeat: int) -> None:
    t_ours = median_time(lambda: sum(1 for _ in store.iter_rows()), repeat)
    t_raw = median_time(lambda: sum(1 for _ in store.runs.find({})), repeat)
    print(f"\n4. CSV, every row: store.iter_rows {ms(t_ours)}, raw find() of every document {ms(t_raw)} "
          f"({t_ours / t_raw:.2f}x)")


def indexes_section(db: pymongo.database.Database, uri: str, repeat: int) -> None:
    """Each index omnidash creates, dropped and re-created, timed on the operations it serves (without it:
    one call, since a call may scan the whole collection)."""
    nothing = lambda store: None  # noqa: E731
    moved = lambda store: move_runs(db, list(range(101, 101 + MOVED)))  # noqa: E731 - needs the metrics index
    series = lambda store: store.metric_series(list(range(1000, 1010)), ["val.loss"])  # noqa: E731
    check = lambda store: store.summaries.refresh(force=True)  # noqa: E731
    running = lambda store: store.list_runs("status == RUNNING", sort="-id", limit=PAGE)  # noqa: E731
    tagged = lambda store: store.list_runs("tags has best", sort="-id", limit=PAGE)  # noqa: E731
    tag_list = lambda store: store.distinct("tags", limit=500)  # noqa: E731
    uses: dict[str, list[tuple[str, Callable[[MongoStore], Any], Callable[[MongoStore], Any]]]] = {
        "metrics run_id_1_name_1": [("10-run series of one metric (plot)", nothing, series),
                                    (f"incremental refresh, {MOVED} runs moved", moved, check)],
        "runs omnidash.v_1": [("refresh check, nothing moved", nothing, check)],
        "runs omnidash.status_1": [("refresh check, nothing moved", nothing, check)],
        "runs status_1": [("refresh check, nothing moved", nothing, check),
                          ("page filtered status == RUNNING", nothing, running)],
        "runs omniboard.tags_1": [("page filtered tags has best", nothing, tagged),
                                  ("the tag list (tag inputs' suggestions)", nothing, tag_list)],
        "runs config.tags_1": [("page filtered tags has best", nothing, tagged),
                               ("the tag list (tag inputs' suggestions)", nothing, tag_list)],
    }
    print("\n5. indexes omnidash creates (not created for a read-only user); each dropped in turn")
    print(f"   {'index':26s} {'operation':40s} {'with':>10s} {'without':>10s} {'buys':>8s}")
    for collection, keys in INDEXES:
        coll = db[collection]
        name = "_".join(f"{k}_{d}" for k, d in keys)
        label = f"{collection} {name}"
        for what, prepare, fn in uses.get(label, []):
            # a fresh client per phase: FerretDB 2.5 connections that saw an index dropped and re-created
            # may then fail queries with "tuple offset out of range: 0"
            store = MongoStore(uri)
            times = []
            for _ in range(repeat):
                prepare(store)
                t = time.perf_counter()
                fn(store)
                times.append(time.perf_counter() - t)
            with_index = statistics.median(times)
            prepare(store)
            store.close()
            coll.drop_index(name)
            store = MongoStore(uri, read_only=True)  # creates no index ...
            store.summaries.writable = True  # ... yet keeps the summaries in the runs like a writer
            try:
                t = time.perf_counter()
                fn(store)
                without = time.perf_counter() - t
            finally:
                store.close()
                coll.create_index(keys)
            print(f"   {label:26s} {what:40s} {ms(with_index):>10s} {ms(without):>10s} {without / with_index:7.1f}x")
    reader = MongoStore(uri, read_only=True)
    t = time.perf_counter()
    reader.list_runs(sort="-max(val.acc)", limit=PAGE)
    first = time.perf_counter() - t
    later = median_time(lambda: reader.list_runs(sort="-max(val.acc)", limit=PAGE), repeat)
    config = median_time(lambda: reader.list_runs(sort="config.lr", limit=PAGE), repeat)
    print(f"   read-only user (no stored summaries written, no indexes created): page sorted by -max(val.acc) "
          f"{ms(first)} first (summaries computed in the process), {ms(later)} after; by config.lr {ms(config)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--uri", default=os.environ.get("OMNIDASH_TEST_MONGO_URI"),
                        help="a MongoDB server URI (default: OMNIDASH_TEST_MONGO_URI, else start a test server)")
    parser.add_argument("--repeat", type=int, default=3, help="calls per measurement (median)")
    parser.add_argument("--db", default="omnidash_bench_store")
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded database (and leave it)")
    parser.add_argument("--sections", default="2345", help="which sections to run after loading (default: all)")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # still remove our server
    server_uri, server = uri_or_server(args.uri, "bench-store-")
    client = pymongo.MongoClient(server_uri, tz_aware=True)
    db = client[args.db]
    uri = server_uri.split("?")[0].rstrip("/") + "/" + args.db
    try:
        if not (args.reuse and db.runs.estimated_document_count() == args.runs):
            client.drop_database(args.db)
            print(f"1. loading {args.runs:,} synthetic runs into {uri}")
            load(db, args.runs)
        else:
            print(f"1. reusing {args.runs:,} runs in {uri}")
        store = summaries_section(db, uri, args.runs) if "2" in args.sections else MongoStore(uri)
        if "3" in args.sections:
            pages_section(store, args.runs, args.repeat)
        if "4" in args.sections:
            csv_section(store, args.repeat)
        if "5" in args.sections:
            indexes_section(db, uri, args.repeat)
        page = store.list_runs(sort="-max(val.acc)", limit=3, columns=["max(val.acc)", "config.lr"])
        print(f"\n   best runs by max(val.acc): {page.rows}")
    finally:
        if not args.reuse:
            client.drop_database(args.db)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
