"""Concurrent tag edits through MongoStore: 20 threads, each with its own store and client, on the same runs.

The final tags must be exact: every tag a thread added and kept is there, every tag a thread removed is
gone, tags copied from config.tags survive. No lost update.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from omnidash.store.mongo import MongoStore

pytestmark = pytest.mark.mongo

THREADS = 20
ROUNDS = 3
RUN_IDS = list(range(1, 9))


def run_doc(run_id: int) -> dict:
    start = dt.datetime(2026, 11, 28, 0, 40)
    doc = {
        "_id": run_id, "experiment": {"name": "toy", "sources": []}, "format": "MongoObserver-0.7.0",
        "command": "train", "host": {"hostname": "vm"}, "start_time": start, "status": "COMPLETED",
        "config": {"lr": 0.1, "seed": run_id}, "meta": {"command": "train"}, "resources": [], "artifacts": [],
        "captured_out": "", "info": {}, "heartbeat": start, "result": 0.5, "stop_time": start,
    }
    if run_id % 2:
        doc["omniboard"] = {"tags": [f"old{i}" for i in range(THREADS)] + ["keep"]}
    else:  # tags shown from config until someone edits them (Omniboard's fallback)
        doc["config"]["tags"] = [f"old{i}" for i in range(THREADS)] + ["keep"]
    return doc


def test_twenty_threads_editing_tags_on_the_same_runs(mongo_uri, mongo_db):
    mongo_db.runs.insert_many([run_doc(i) for i in RUN_IDS])
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def editor(k: int) -> None:
        store = MongoStore(mongo_uri)
        try:
            barrier.wait()
            for r in range(ROUNDS):
                store.update_tags(RUN_IDS, add=[f"t{k}_{r}", f"tmp{k}"], remove=[f"old{k}"] if r == 0 else [])
                store.update_tags(RUN_IDS, remove=[f"tmp{k}"])
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=editor, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not errors, errors
    expected = {"keep"} | {f"t{k}_{r}" for k in range(THREADS) for r in range(ROUNDS)}
    for doc in mongo_db.runs.find({}, {"omniboard": 1, "config.tags": 1}):
        tags = doc["omniboard"]["tags"]
        assert len(tags) == len(set(tags)), f"run {doc['_id']}: duplicated tags"
        assert set(tags) == expected, f"run {doc['_id']}: missing {expected - set(tags)}, extra {set(tags) - expected}"
        if doc["_id"] % 2 == 0:  # config.tags itself is never modified
            assert doc["config"]["tags"][-1] == "keep" and len(doc["config"]["tags"]) == THREADS + 1
    rows = MongoStore(mongo_uri).list_runs(columns=["tags"]).rows
    assert all(set(r["tags"]) == expected for r in rows)
