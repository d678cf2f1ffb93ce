"""MongoStore against a real MongoDB wire-protocol server (the testdb kit's FerretDB 2, or OMNIDASH_TEST_MONGO_URI).

Documents are written exactly as Sacred's MongoObserver writes them (sacred-format.md §2.2).
"""

from __future__ import annotations

import copy
import datetime as dt
import socket
import threading

import gridfs
import pymongo
import pytest
from bson import ObjectId
from bson.errors import InvalidDocument
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pymongo import monitoring

from omnidash.store.base import BadRequest, NotFound, ReadOnly, StoreUnavailable
from omnidash.store.mongo import MongoStore
from omnidash.store.mongo_summaries import SUMMARY_VERSION

pytestmark = pytest.mark.mongo

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def sacred_doc(run_id, config=None, status="COMPLETED", start=None, heartbeat=None, stop=None, **extra):
    """A run document shaped like MongoObserver's (sacred-format.md §2.2)."""
    start = start or NOW - dt.timedelta(minutes=10)
    doc = {
        "_id": run_id,
        "experiment": {"name": extra.pop("experiment", "toy"), "base_dir": "/home/ana/toy", "sources": [],
                       "dependencies": ["numpy==2.4.6", "sacred==0.8.7"], "repositories": [],
                       "mainfile": "toy.py"},
        "format": "MongoObserver-0.7.0",
        "command": "train",
        "host": {"hostname": "vm", "os": ["Linux", "Linux-6"], "python_version": "3.11.7", "cpu": "x", "ENV": {}},
        "start_time": start,
        "config": {"lr": 0.1, "seed": 1} if config is None else config,
        "meta": {"command": "train", "options": {"--beat-interval": "10"}, "named_configs": []},
        "status": status,
        "resources": [],
        "artifacts": [],
        "captured_out": "INFO - toy - Running command 'train'\n" + "x" * 500,
        "info": {},
        "heartbeat": heartbeat if heartbeat is not None else start + dt.timedelta(minutes=5),
        "result": 0.5,
    }
    if status not in ("RUNNING", "QUEUED"):
        doc["stop_time"] = stop or start + dt.timedelta(minutes=5)
    doc.update(extra)
    return doc


def metric_doc(run_id, name, values, steps=None):
    steps = list(range(len(values))) if steps is None else steps
    return {"run_id": run_id, "name": name, "steps": steps, "values": values,
            "timestamps": [NOW for _ in values]}


def add_runs(db, docs, metrics=()):
    db.runs.insert_many(docs)
    if metrics:
        db.metrics.insert_many(list(metrics))


@pytest.fixture
def store(mongo_uri):
    s = MongoStore(mongo_uri)
    yield s
    s.close()


def ids(page):
    return [r["id"] for r in page.rows]


# -- listing ---------------------------------------------------------------------------------------
def test_listing_pages_and_total(store, mongo_db):
    add_runs(mongo_db, [sacred_doc(i, {"lr": i / 100, "seed": i}) for i in range(1, 31)])
    page = store.list_runs(sort="-id", offset=10, limit=5)
    assert page.total == 30 and page.offset == 10
    assert ids(page) == [20, 19, 18, 17, 16]
    row = page.rows[0]
    assert row["experiment"] == "toy" and row["status"] == "COMPLETED" and row["duration"] == 300.0
    assert row["config.lr"] == 0.2 and row["hostname"] == "vm" and row["start_time"].endswith("Z")
    assert store.list_runs(offset=30).rows == []
    assert store.count() == 30 and store.count("lr < 0.05") == 4
    assert [r["id"] for r in store.iter_rows(sort="id", batch=7)] == list(range(1, 31))
    with pytest.raises(BadRequest):
        store.list_runs(limit=10_001)


def test_sort_by_config_key_with_ties(store, mongo_db):
    lrs = {1: 0.3, 2: 0.1, 3: 0.3, 4: 0.2, 5: 0.1}
    add_runs(mongo_db, [sacred_doc(i, {"lr": lr, "seed": i}) for i, lr in lrs.items()])
    assert ids(store.list_runs(sort="config.lr")) == [2, 5, 4, 1, 3]
    assert ids(store.list_runs(sort="-lr")) == [1, 3, 4, 2, 5]  # ties broken by _id ascending
    assert ids(store.list_runs(sort=["-lr", "-id"])) == [3, 1, 4, 5, 2]


def test_sort_by_metric_summary(store, mongo_db):
    add_runs(
        mongo_db,
        [sacred_doc(i) for i in range(1, 6)],
        [
            metric_doc(1, "val.acc", [0.1, 0.9, 0.2]),
            metric_doc(2, "val.acc", [0.5, 0.4]),
            metric_doc(3, "val.acc", [0.9, 0.1]),  # ties with run 1 on max
            metric_doc(4, "val.acc", [0.3, 0.6], steps=[5, 1]),  # last = value at the largest step
            metric_doc(4, "loss", [1.0]),
        ],
    )
    page = store.list_runs(sort="-max(val.acc)", columns=["max(val.acc)", "last(val.acc)"])
    assert ids(page) == [1, 3, 4, 2, 5]
    assert page.rows[0]["max(val.acc)"] == 0.9 and page.rows[2]["last(val.acc)"] == 0.3
    assert page.rows[4]["max(val.acc)"] is None
    assert ids(store.list_runs(sort="max(val.acc)")) == [5, 2, 4, 1, 3]  # missing sorts first ascending
    assert ids(store.list_runs(sort="-last_avg(val.acc, 2)")) == [1, 3, 2, 4, 5]
    stored = mongo_db.runs.find_one({"_id": 1})["omnidash"]
    assert stored["v"] == SUMMARY_VERSION and stored["metrics"]["val%2Eacc"]["max"] == 0.9
    assert stored["metrics"]["val%2Eacc"]["last_avg_2"] == pytest.approx(0.55)
    assert store.run_ids("max(val.acc) >= 0.9") == [1, 3]
    assert store.count("mean(val.acc) > 0.41") == 3
    names = {c.name for c in store.columns()}
    assert {"max(val.acc)", "min(loss)", "mean(val.acc)", "last(loss)"} <= names


def test_last_avg_window_longer_than_the_stored_tail(store, mongo_db):
    add_runs(mongo_db, [sacred_doc(1), sacred_doc(2)],
             [metric_doc(1, "loss", [float(i) for i in range(60)]), metric_doc(2, "loss", [30.0] * 60)])
    page = store.list_runs(sort="-last_avg(loss, 5)", columns=["last_avg(loss, 5)"])
    assert page.rows == [{"id": 1, "last_avg(loss, 5)": 57.0}, {"id": 2, "last_avg(loss, 5)": 30.0}]
    assert len(mongo_db.runs.find_one({"_id": 1})["omnidash"]["metrics"]["loss"]["tail"]) == 20
    page = store.list_runs(sort="last_avg(loss, 50)", columns=["last_avg(loss, 50)"])
    assert page.rows == [{"id": 2, "last_avg(loss, 50)": 30.0}, {"id": 1, "last_avg(loss, 50)": 34.5}]
    stored = mongo_db.runs.find_one({"_id": 1})["omnidash"]["metrics"]["loss"]
    assert len(stored["tail"]) == 50 and stored["last_avg_5"] == 57.0 and stored["last_avg_50"] == 34.5
    assert store.run_ids("last_avg(loss, 50) > 31") == [1]


def test_filter_language(store, mongo_db):
    add_runs(mongo_db, [
        sacred_doc(1, {"lr": 0.1, "optimizer": "adam", "seed": 1}),
        sacred_doc(2, {"lr": 0.01, "optimizer": "sgd", "seed": 2}, status="FAILED"),
        sacred_doc(3, {"lr": 0.2, "optimizer": "adam", "seed": 3}, experiment="other"),
    ])
    assert store.run_ids("lr > 0.05 and optimizer == adam") == [1, 3]
    assert store.run_ids("status == FAILED") == [2]
    assert store.run_ids("experiment ~ OTH") == [3]
    assert store.run_ids("sgd") == [2]  # free text
    assert store.list_runs("lr > 0.05", sort="-lr").total == 2
    with pytest.raises(BadRequest) as err:
        store.list_runs("lr > (")
    assert "column" in str(err.value)


class FindSpy(monitoring.CommandListener):
    """Records the commands a client sends (to see projections and collections)."""

    def __init__(self) -> None:
        self.commands: list[dict] = []

    def started(self, event):
        self.commands.append({"name": event.command_name, **dict(event.command)})

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def test_projection_really_limits_fields(mongo_uri, mongo_db):
    add_runs(mongo_db, [sacred_doc(i, {"lr": 0.1 * i, "seed": i, "big": "y" * 1000}) for i in range(1, 4)],
             [metric_doc(1, "loss", [3.0, 2.0])])
    spy = FindSpy()
    client = pymongo.MongoClient(mongo_uri, tz_aware=True, event_listeners=[spy])
    store = MongoStore(mongo_uri, client=client)
    store.list_runs(sort="-id", columns=["status", "config.lr", "max(loss)"])

    def last_page_projection() -> dict:
        """The $project of the last page query (after $sort and $limit: DocumentDB projects less that way)."""
        pages = [c for c in spy.commands if c["name"] == "aggregate" and c["aggregate"] == "runs"
                 and {"$limit": 50} in c["pipeline"]]
        assert pages, spy.commands
        stages = pages[-1]["pipeline"]
        assert list(stages[-1]) == ["$project"] and stages.index({"$limit": 50}) < len(stages) - 1
        return stages[-1]["$project"]

    projection = last_page_projection()
    assert "captured_out" not in projection and "config" not in projection and "info" not in projection
    assert projection.get("config.lr") == 1 and "omnidash.metrics.loss" in projection
    page = store.list_runs(sort="id", columns=["status", "config.lr", "max(loss)"])
    assert page.rows[0] == {"id": 1, "status": "COMPLETED", "config.lr": 0.1, "max(loss)": 3.0}
    # every row column by default: the config is projected, not the captured output
    store.list_runs()
    projection = last_page_projection()
    assert "config" in projection and "captured_out" not in projection and "experiment" not in projection
    client.close()


# -- summaries -------------------------------------------------------------------------------------
def test_summaries_follow_a_running_run(store, mongo_db):
    start = NOW - dt.timedelta(seconds=30)
    add_runs(
        mongo_db,
        [sacred_doc(1, status="RUNNING", start=start, heartbeat=start + dt.timedelta(seconds=10)), sacred_doc(2)],
        [metric_doc(1, "loss", [5.0, 4.0]), metric_doc(2, "loss", [3.0, 1.0])],
    )
    page = store.list_runs(sort="min(loss)", columns=["min(loss)", "duration"])
    assert ids(page) == [2, 1] and page.rows[1]["min(loss)"] == 4.0
    assert store.summaries.refresh(force=True) == 0  # nothing moved: nothing recomputed
    # Sacred's next heartbeat: $push new points, then $set the whole run entry with a later heartbeat
    mongo_db.metrics.update_one({"run_id": 1, "name": "loss"},
                                {"$push": {"steps": {"$each": [2, 3]}, "values": {"$each": [0.5, 0.7]},
                                           "timestamps": {"$each": [NOW, NOW]}}})
    mongo_db.runs.update_one({"_id": 1}, {"$set": {"heartbeat": start + dt.timedelta(seconds=20)}})
    store.summaries._last_refresh = 0.0  # the next listing is more than REFRESH_EVERY later
    page = store.list_runs(sort="min(loss)", columns=["min(loss)", "last(loss)", "duration"])
    assert ids(page) == [1, 2]
    assert page.rows[0] == {"id": 1, "min(loss)": 0.5, "last(loss)": 0.7, "duration": 20.0}
    assert store.run_ids("duration > 15") == [1, 2]
    # the run completes: one more recomputation, then it is settled
    mongo_db.runs.update_one({"_id": 1}, {"$set": {"status": "COMPLETED", "stop_time": NOW}})
    assert store.summaries.refresh(force=True) == 1
    assert store.summaries.refresh(force=True) == 0
    assert mongo_db.runs.find_one({"_id": 1})["omnidash"]["status"] == "COMPLETED"


def test_summaries_of_int_and_string_ids(store, mongo_db):
    """Dense integer ids are read as one id range (a long $in is slow on FerretDB 2); what the range adds
    (an orphan metric of a run that does not exist) is left out."""
    add_runs(mongo_db, [sacred_doc(i) for i in (1, 2, 5)] + [sacred_doc("s-1"), sacred_doc("s-2")],
             [metric_doc(rid, "acc", [0.1 * k, 0.05]) for k, rid in enumerate([1, 2, 5, "s-1", "s-2"], 1)]
             + [metric_doc(3, "acc", [9.0])])  # an orphan metric inside the id range is ignored
    page = store.list_runs(sort="-max(acc)", columns=["max(acc)"])
    assert [(r["id"], r["max(acc)"]) for r in page.rows] == [
        ("s-2", pytest.approx(0.5)), ("s-1", pytest.approx(0.4)), (5, pytest.approx(0.3)),
        (2, pytest.approx(0.2)), (1, pytest.approx(0.1))]


def test_summaries_built_in_parallel_batches(store, mongo_db, monkeypatch):
    """Many stale runs are summarised BATCH at a time by WORKERS threads: every run gets its own summary."""
    import omnidash.store.mongo_summaries as summaries

    monkeypatch.setattr(summaries, "BATCH", 2)
    run_ids = [1, 2, 3, 50, 51, 200, "s-1"]
    add_runs(mongo_db, [sacred_doc(rid) for rid in run_ids],
             [metric_doc(rid, "acc", [0.01 * k, 0.0]) for k, rid in enumerate(run_ids, 1)])
    assert store.summaries.refresh(force=True) == 7
    stored = {d["_id"]: d["omnidash"]["metrics"]["acc"]["max"] for d in mongo_db.runs.find({}, {"omnidash": 1})}
    assert stored == {rid: pytest.approx(0.01 * k) for k, rid in enumerate(run_ids, 1)}
    assert store.summaries.refresh(force=True) == 0


def test_a_failing_refresh_check_still_serves_the_stored_summaries(store, mongo_db):
    """FerretDB 2.5 once answered a refresh query with 'tuple offset out of range: 0' (an InternalError):
    the listing is still served, from the summaries already stored, and the next check retries."""
    add_runs(mongo_db, [sacred_doc(1), sacred_doc(2)], [metric_doc(1, "acc", [0.3]), metric_doc(2, "acc", [0.7])])
    assert ids(store.list_runs(sort="-max(acc)")) == [2, 1]
    runs = store.summaries.runs

    class Failing:
        def __getattr__(self, name):
            return getattr(runs, name)

        def find(self, *args, **kwargs):
            raise pymongo.errors.OperationFailure("tuple offset out of range: 0", code=1)

    store.summaries.runs = Failing()
    store.summaries._last_refresh = 0.0
    page = store.list_runs(sort="-max(acc)", columns=["max(acc)"])
    assert page.rows == [{"id": 2, "max(acc)": 0.7}, {"id": 1, "max(acc)": 0.3}]
    store.summaries.runs = runs
    mongo_db.runs.insert_one(sacred_doc(3))
    mongo_db.metrics.insert_one(metric_doc(3, "acc", [0.9]))
    assert store.summaries.refresh(force=True) == 1  # the next check catches up


def test_metric_reads_by_range_only_for_dense_ids():
    from omnidash.store.mongo_summaries import metrics_filter

    assert metrics_filter([3, 1, 2, 5]) == {"run_id": {"$gte": 1, "$lte": 5}}
    assert metrics_filter([1, 2, "a"]) == {"$or": [{"run_id": {"$gte": 1, "$lte": 2}}, {"run_id": {"$in": ["a"]}}]}
    assert metrics_filter([1, 500]) == {"run_id": {"$in": [1, 500]}}  # sparse: a range would read 498 others
    assert metrics_filter([7]) == {"run_id": {"$in": [7]}}


def test_probably_dead(mongo_uri, mongo_db):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # not the module's NOW: the suite may reach this test minutes later
    add_runs(mongo_db, [
        sacred_doc(1, status="RUNNING", start=now - dt.timedelta(hours=1), heartbeat=now - dt.timedelta(minutes=5)),
        sacred_doc(2, status="RUNNING", start=now - dt.timedelta(hours=1), heartbeat=now - dt.timedelta(seconds=5)),
        {k: v for k, v in sacred_doc(3, status="RUNNING", start=now - dt.timedelta(hours=1)).items()
         if k != "heartbeat"},
        sacred_doc(4, status="COMPLETED", heartbeat=now - dt.timedelta(hours=3)),
    ])
    store = MongoStore(mongo_uri)
    statuses = {r["id"]: r["status"] for r in store.list_runs().rows}
    assert statuses == {1: "PROBABLY_DEAD", 2: "RUNNING", 3: "PROBABLY_DEAD", 4: "COMPLETED"}
    assert store.run_ids("status == PROBABLY_DEAD") == [1, 3]
    assert store.run_ids("status == RUNNING") == [2]
    patient = MongoStore(mongo_uri, probably_dead_after=600)
    assert {r["id"]: r["status"] for r in patient.list_runs().rows}[1] == "RUNNING"


# -- writes ------------------------------------------------------------------------------------------
def test_tags_and_notes_written_like_omniboard(store, mongo_db):
    add_runs(mongo_db, [sacred_doc(1), sacred_doc(2), sacred_doc(3, {"lr": 1, "tags": "a, b"})])
    # what Omniboard's PUT /api/v1/Runs/2 {"omniboard": {"tags": [...]}} does after moredots
    mongo_db.runs.update_one({"_id": 2}, {"$set": {"omniboard.tags": ["baseline", "best"]}})
    mongo_db.runs.update_one({"_id": 2}, {"$set": {"omniboard.notes": "lr too high"}})
    before = mongo_db.runs.find_one({"_id": 1})
    store.set_tags(1, ["baseline", "best"])
    store.set_notes(1, "lr too high")
    ours, omniboards = mongo_db.runs.find_one({"_id": 1}), mongo_db.runs.find_one({"_id": 2})
    assert ours["omniboard"] == omniboards["omniboard"] == {"tags": ["baseline", "best"], "notes": "lr too high"}
    untouched = {k: v for k, v in ours.items() if k not in ("omniboard", "omnidash")}
    assert untouched == {k: v for k, v in before.items() if k != "omnidash"}
    store.set_notes(1, "")  # the sibling field stays
    assert mongo_db.runs.find_one({"_id": 1})["omniboard"] == {"tags": ["baseline", "best"], "notes": ""}
    # bulk add on a run that shows config tags: the full displayed list is kept (Omniboard writes it whole)
    assert store.update_tags([1, 3], add=["new"], remove=["best"]) == 2
    assert mongo_db.runs.find_one({"_id": 3})["omniboard"]["tags"] == ["a", "b", "new"]
    assert mongo_db.runs.find_one({"_id": 1})["omniboard"]["tags"] == ["baseline", "new"]
    assert store.update_tags(["3"], remove=["a"]) == 1  # a string id finds the int id
    assert store.list_runs("tags has b", columns=["tags"]).rows == [{"id": 3, "tags": ["b", "new"]}]
    with pytest.raises(NotFound):
        store.set_tags(99, ["x"])
    with pytest.raises(BadRequest):
        store.set_tags(1, "not-a-list")
    assert store.update_tags([98, 99], add=["x"]) == 0


def test_concurrent_tag_edits_through_the_store_lose_nothing(mongo_uri, mongo_db):
    """20 editors (each its own store, as separate processes would be) add a tag each to the same two runs
    while 5 others remove tags that were there: every addition and every removal is kept (atomic
    $addToSet with $each / $pull with $in, no lock, no check-and-retry)."""
    from concurrent.futures import ThreadPoolExecutor

    add_runs(mongo_db, [sacred_doc(1, omniboard={"tags": ["old-0", "old-1", "old-2", "keep"]}),
                        sacred_doc(2, {"lr": 0.1, "tags": "cfg"})])
    stores = [MongoStore(mongo_uri) for _ in range(25)]
    barrier = threading.Barrier(len(stores))

    def edit(k: int) -> int:
        barrier.wait()
        if k < 20:
            return stores[k].update_tags([1, 2], add=[f"t{k}"])
        return stores[k].update_tags([1], remove=[f"old-{k - 20}", "old-2", "missing"])

    with ThreadPoolExecutor(len(stores)) as pool:
        assert list(pool.map(edit, range(len(stores)))) == [2] * 20 + [1] * 5
    one = mongo_db.runs.find_one({"_id": 1})["omniboard"]["tags"]
    two = mongo_db.runs.find_one({"_id": 2})["omniboard"]["tags"]
    added = {f"t{k}" for k in range(20)}
    assert set(one) == added | {"keep"} and len(one) == 21  # 20 of 20 added, each once; old-* all removed
    assert set(two) == added | {"cfg"} and len(two) == 21  # the displayed config tag was copied over first
    for s in stores:
        s.close()


def test_removing_several_tags_at_once(store, mongo_db):
    add_runs(mongo_db, [sacred_doc(1, omniboard={"tags": ["a", "b", "c", "a"]}), sacred_doc(2)])
    assert store.update_tags([1, 2], remove=["a", "c", "z"]) == 2
    assert mongo_db.runs.find_one({"_id": 1})["omniboard"]["tags"] == ["b"]  # every copy of "a" goes
    assert mongo_db.runs.find_one({"_id": 2})["omniboard"]["tags"] == []


def put_file(db, data: bytes, filename: str, **kw) -> ObjectId:
    return gridfs.GridFS(db).put(data, filename=filename, **kw)


def sources_field(db, pairs):
    """experiment.sources as Sacred writes it: [[name, file id], ...]."""
    return [[name, fid] for name, fid in pairs]


def test_delete_removes_exactly_its_files(store, mongo_db):
    shared = put_file(mongo_db, b"print('shared')\n", "/home/ana/toy/util.py")
    own = put_file(mongo_db, b"print('main')\n", "/home/ana/toy/toy.py")
    other_own = put_file(mongo_db, b"print('main2')\n", "/home/ana/toy/toy.py")
    weights = put_file(mongo_db, b"\x00" * 300_000, "artifact://runs/1/weights.npy", metadata=None, contentType=None)
    log = put_file(mongo_db, b"a,b\n1,2\n", "artifact://runs/1/log.csv", metadata={"epoch": 3},
                   contentType="text/csv")
    keep = put_file(mongo_db, b"other", "artifact://runs/2/x.txt", metadata=None, contentType=None)
    d1 = sacred_doc(1, artifacts=[{"name": "weights.npy", "file_id": weights}, {"name": "log.csv", "file_id": log}])
    d1["experiment"]["sources"] = sources_field(mongo_db, [("toy.py", own), ("util.py", shared)])
    d2 = sacred_doc(2, artifacts=[{"name": "x.txt", "file_id": keep}])
    d2["experiment"]["sources"] = sources_field(mongo_db, [("toy.py", other_own), ("util.py", shared)])
    add_runs(mongo_db, [d1, d2], [metric_doc(1, "loss", [1.0]), metric_doc(1, "acc", [0.5]),
                                  metric_doc(2, "loss", [2.0])])
    arts = {a.name: a for a in store.list_artifacts(1)}
    assert arts["weights.npy"].size == 300_000 and arts["log.csv"].content_type == "text/csv"
    assert arts["weights.npy"].date is not None
    stream, info = store.open_artifact(1, "log.csv")
    assert stream.read() == b"a,b\n1,2\n" and info.size == 8
    assert [s.name for s in store.list_sources(1)] == ["toy.py", "util.py"]
    assert store.open_source(1, "util.py")[0].read() == b"print('shared')\n"
    preview = store.delete_preview(1)
    assert (preview.metrics, preview.artifacts, preview.sources) == (2, 2, 1)
    report = store.delete_run(1)
    assert (report.metrics, report.artifacts, report.sources) == (2, 2, 1)
    assert mongo_db.runs.count_documents({"_id": 1}) == 0
    assert mongo_db.metrics.count_documents({"run_id": 1}) == 0 and mongo_db.metrics.count_documents({}) == 1
    remaining = {f["_id"] for f in mongo_db["fs.files"].find({}, {"_id": 1})}
    assert remaining == {shared, other_own, keep}
    chunk_owners = set(mongo_db["fs.chunks"].distinct("files_id"))
    assert chunk_owners == {shared, other_own, keep}
    assert store.open_source(2, "util.py")[0].read() == b"print('shared')\n"
    with pytest.raises(NotFound):
        store.get_run(1)
    with pytest.raises(NotFound):
        store.delete_run(1)


def test_missing_artifact_file_and_detail_json(store, mongo_db):
    gone = ObjectId()
    doc = sacred_doc(
        7, artifacts=[{"name": "model.pt", "file_id": gone}],
        result={"py/object": "numpy.float64", "dtype": "float64", "value": 0.8875},
        info={"metrics": [{"name": "loss", "id": str(ObjectId())}], "blob": b"\x00\x01"},
        fail_trace=["Traceback (most recent call last):\n", "RuntimeError: boom\n"],
    )
    add_runs(mongo_db, [doc])
    (art,) = store.list_artifacts(7)
    assert art.missing and art.name == "model.pt" and art.file_id == str(gone)
    with pytest.raises(NotFound):
        store.open_artifact(7, "model.pt")
    with pytest.raises(NotFound):
        store.open_artifact(7, "../../etc/passwd")
    run = store.get_run(7)
    assert run["_id"] == 7 and run["result"] == 0.8875 and run["artifacts"][0]["file_id"] == str(gone)
    assert run["start_time"].endswith("Z") and run["info"]["blob"] == "<2 bytes>"
    assert "omnidash" not in run and run["fail_trace"][-1] == "RuntimeError: boom\n"
    assert store.list_runs(columns=["result"]).rows == [{"id": 7, "result": 0.8875}]


def test_metric_series(store, mongo_db):
    add_runs(mongo_db, [sacred_doc(1), sacred_doc("lr-0.1-final")], [
        metric_doc(1, "loss", [3.0, 1.0, 2.0, None], steps=[2, 0, 1, 3]),
        metric_doc("lr-0.1-final", "loss", [float(i % 17) for i in range(5000)]),
        metric_doc(1, "acc", [0.5]),
    ])
    assert store.metric_names([1, "lr-0.1-final", 99]) == {1: ["acc", "loss"], "lr-0.1-final": ["loss"]}
    (s,) = store.metric_series(["1"], ["loss"])
    assert s.run_id == 1 and s.steps == [0, 1, 2, 3] and s.values == [1.0, 2.0, 3.0, None]
    assert store.metric_series([1], ["loss"], since_step=1)[0].steps == [2, 3]
    assert store.metric_series([1], ["loss"], x_range=(1, 2))[0].values == [2.0, 3.0]
    (big,) = store.metric_series(["lr-0.1-final"], ["loss"], max_points=200)
    assert big.total_points == 5000 and len(big.steps) <= 200
    assert max(v for v in big.values if v is not None) == 16.0 and min(big.values) == 0.0
    assert big.steps == sorted(big.steps)
    full = {(s.run_id, s.name): s for s in store.iter_metric_series(["1", "lr-0.1-final"], ["loss", "acc"])}
    assert set(full) == {(1, "loss"), (1, "acc"), ("lr-0.1-final", "loss")}
    assert full[("lr-0.1-final", "loss")].steps == list(range(5000))
    assert full[(1, "loss")].values == [1.0, 2.0, 3.0, None]
    # timestamps are read naive (faster) and handed out aware, in UTC, as stored
    assert s.timestamps == [NOW.replace(tzinfo=dt.UTC)] * 4
    assert all(t.tzinfo is not None and t.utcoffset().total_seconds() == 0 for t in s.timestamps)


def test_series_cache_reads_every_run_in_one_pass(store, mongo_db, monkeypatch):
    """The plot panel's cache asks the store once for all missing runs (one query)."""
    from omnidash.store.cache import SeriesCache

    add_runs(mongo_db, [sacred_doc(i) for i in range(1, 8)],
             [metric_doc(i, "loss", [float(i * 10 + k) for k in range(300)]) for i in range(1, 8)])
    calls = []
    real = store.iter_metric_series
    monkeypatch.setattr(store, "iter_metric_series", lambda ids, names: calls.append(list(ids)) or real(ids, names))
    cache = SeriesCache()
    ids = ["1", "2", "3", "4", "5", "6", "7"]  # text ids, as a URL gives them; stored as ints
    got = cache.series(store, ids, ["loss"], max_points=50)
    assert calls == [ids] and [s.run_id for s in got] == list(range(1, 8))
    want = store.metric_series(ids, ["loss"], max_points=50)
    assert [(s.steps, s.values) for s in got] == [(s.steps, s.values) for s in want]
    cache.series(store, ids, ["loss"], max_points=50, x_range=(10, 20))
    assert len(calls) == 1  # zooming is served from memory


# -- read-only --------------------------------------------------------------------------------------------
def test_read_only_store_refuses_writes_and_still_sorts_by_metric(mongo_uri, mongo_db):
    add_runs(mongo_db, [sacred_doc(i, {"lr": i / 10, "seed": i}) for i in range(1, 5)],
             [metric_doc(i, "acc", [0.1 * i, 0.05]) for i in (1, 2, 3)])
    store = MongoStore(mongo_uri, read_only=True)
    for write in (lambda: store.set_tags(1, ["x"]), lambda: store.set_notes(1, "n"),
                  lambda: store.update_tags([1], add=["x"]), lambda: store.delete_run(1),
                  lambda: store.save_view("v", {}), lambda: store.add_custom_column("c", "config.lr")):
        with pytest.raises(ReadOnly):
            write()
    page = store.list_runs(sort="-max(acc)", columns=["max(acc)", "lr"], limit=2)
    assert page.total == 4 and ids(page) == [3, 2] and page.rows[0]["max(acc)"] == pytest.approx(0.3)
    assert store.run_ids("max(acc) > 0.15 and lr < 0.35") == [2, 3]
    assert store.count("duration > 100") == 4
    assert [r["id"] for r in store.iter_rows(sort="max(acc)", columns=["max(acc)"])] == [4, 1, 2, 3]
    assert mongo_db.runs.count_documents({"omnidash": {"$exists": True}}) == 0  # nothing written
    assert mongo_db.metrics.index_information().keys() == {"_id_"}
    assert mongo_db.runs.index_information().keys() == {"_id_"}


def test_summaries_are_stored_in_the_runs_by_default(mongo_uri, mongo_db):
    add_runs(mongo_db, [sacred_doc(i, {"lr": i / 10, "seed": i}) for i in range(1, 5)],
             [metric_doc(i, "acc", [0.1 * i, 0.05]) for i in (1, 2, 3)])
    store = MongoStore(mongo_uri)
    assert store.summaries.writable
    page = store.list_runs(sort="-max(acc)", columns=["max(acc)"], limit=2)
    assert ids(page) == [3, 2] and page.rows[0]["max(acc)"] == pytest.approx(0.3)
    assert store.run_ids("max(acc) > 0.15") == [2, 3]
    assert mongo_db.runs.count_documents({"omnidash.v": SUMMARY_VERSION}) == 4
    assert store.summaries.cache == {}  # nothing kept per process


# -- shared columns and views ----------------------------------------------------------------------------
def test_omniboard_shared_columns(store, mongo_db):
    add_runs(mongo_db, [sacred_doc(1, {"lr": 0.1, "train": {"bs": 32}}), sacred_doc(2, {"lr": 0.2})],
             [metric_doc(1, "val.loss", [1.0, 0.5, 0.25]), metric_doc(2, "val.loss", [0.9, 0.8])])
    # as Omniboard's POST creates them (mongoose adds __v; an edited lastn may be a string)
    mongo_db["omniboard.custom.columns"].insert_one({"name": "batch", "config_path": "config.train.bs", "__v": 0})
    mongo_db["omniboard.metric.columns"].insert_many([
        {"name": "best_loss", "metric_name": "val.loss", "extrema": "min", "lastn": 1, "__v": 0},
        {"name": "tail_loss", "metric_name": "val.loss", "extrema": "last_avg", "lastn": "2", "__v": 0},
        {"name": "broken", "metric_name": "val.loss", "extrema": "median", "__v": 0},
    ])
    store.add_metric_column("avg_loss", "val.loss", "avg")
    with pytest.raises(BadRequest):
        store.add_metric_column("med", "val.loss", "median")
    assert {c["name"] for c in store.metric_columns()} == {"best_loss", "tail_loss", "avg_loss"}
    saved = mongo_db["omniboard.metric.columns"].find_one({"name": "avg_loss"})
    assert {k: saved[k] for k in ("metric_name", "extrema", "lastn", "__v")} == {
        "metric_name": "val.loss", "extrema": "avg", "lastn": 1, "__v": 0}
    rows = {r["id"]: r for r in store.list_runs().rows}
    assert rows[1]["batch"] == 32 and rows[2]["batch"] is None
    assert rows[1]["best_loss"] == 0.25 and rows[1]["tail_loss"] == pytest.approx(0.375)
    assert rows[2]["avg_loss"] == pytest.approx(0.85)
    assert ids(store.list_runs(sort="best_loss")) == [1, 2]
    assert store.run_ids("best_loss < 0.5") == [1]
    names = {c.name: c for c in store.columns()}
    assert names["batch"].kind == "custom" and names["best_loss"].kind == "metric"


def test_saved_views(store, mongo_db):
    store.save_view("best runs", {"q": "max(acc) > 0.9", "sort": "-max(acc)"})
    store.save_view("best runs", {"q": "max(acc) > 0.95"})
    store.save_view("all", {})
    views = store.list_views()
    assert [v["name"] for v in views] == ["all", "best runs"] and views[1]["state"] == {"q": "max(acc) > 0.95"}
    assert mongo_db["omnidash.views"].count_documents({}) == 2
    store.delete_view("all")
    assert [v["name"] for v in store.list_views()] == ["best runs"]


def test_distinct_for_autocomplete(store, mongo_db):
    add_runs(mongo_db, [
        sacred_doc(1, {"lr": 0.1, "opt": "adam", "tags": ["cfg"]}),
        sacred_doc(2, {"lr": 0.2, "opt": "sgd", "tags": "x, y"}, omniboard={"tags": ["ob"]}),
        sacred_doc(3, {"lr": 0.1, "opt": "adam"}, status="FAILED"),
    ])
    assert store.distinct("opt") == ["adam", "sgd"] and store.distinct("config.lr") == [0.1, 0.2]
    assert store.distinct("tags") == ["cfg", "ob", "x", "y"]
    assert "FAILED" in store.distinct("status") and "PROBABLY_DEAD" in store.distinct("status")
    assert store.distinct("experiment") == ["toy"]
    assert store.distinct("max(acc)") == []


def test_tags_are_indexed_for_tag_filters_and_the_tag_list(store, mongo_db):
    """Both places a tag lives are indexed (a tag filter over 100,000 runs on DocumentDB: 3 s without, 25 ms
    with; the tag list: 2 s, 0.15 s), and the tag list read through them still finds every kind of tag."""
    add_runs(mongo_db, [
        sacred_doc(1, {"lr": 0.1, "tags": ["cfg"]}),
        sacred_doc(2, {"lr": 0.2, "tags": "x, y"}, omniboard={"tags": ["ob", 7]}),
        sacred_doc(3, {"lr": 0.3}),
    ])
    keys = [dict(ix["key"]) for ix in mongo_db.runs.list_indexes()]
    assert {"omniboard.tags": 1} in keys and {"config.tags": 1} in keys
    assert store.distinct("tags") == [7, "cfg", "ob", "x", "y"]
    assert store.run_ids("tags has ob") == [2] and store.run_ids("tags has cfg") == [1]


# -- robustness ---------------------------------------------------------------------------------------------
MALFORMED = [
    {"_id": 101},
    {"_id": 102, "config": "not a dict", "status": 3, "start_time": "yesterday", "heartbeat": 12},
    {"_id": "str-id", "experiment": "flat", "host": None, "omniboard": "oops", "meta": [], "result": [1, 2]},
    {"_id": 104, "status": "QUEUED", "config": {"__doc__": "Few epochs.", "lr": "0.1"}, "command": "train"},
    {"_id": 105, "start_time": "2026-11-01T10:00:00", "heartbeat": "2026-11-01T10:00:30.5", "status": "RUNNING",
     "omniboard": {"tags": None, "notes": 5}, "config": {"tags": None, "a": {"b": {"c": None}}}},
    {"_id": 106, "artifacts": "none", "experiment": {"sources": "x"}, "info": {"metrics": 3}},
]


def test_malformed_documents_never_break_a_listing(store, mongo_db):
    mongo_db.runs.insert_many(copy.deepcopy(MALFORMED) + [sacred_doc(1)])
    mongo_db.metrics.insert_many([{"run_id": 102, "name": "loss", "values": "bad"}, {"run_id": 104, "name": 7},
                                  {"run_id": 105, "name": "acc", "steps": [0, "x"], "values": [1, "y"]}])
    for sort in ("-id", "start_time", "-duration", "max(loss)", "-tags", "config.lr", "status", "notes"):
        page = store.list_runs(sort=sort)
        assert page.total == 7 and len(page.rows) == 7, sort
    rows = {r["id"]: r for r in store.list_runs(columns=None).rows}
    assert rows[102]["status"] == "UNKNOWN" and rows[102]["start_time"] is None
    assert rows[105]["duration"] == 30.5 and rows[105]["status"] == "PROBABLY_DEAD"
    assert "config.__doc__" not in rows[104] and rows[104]["config.lr"] == "0.1"
    assert rows["str-id"]["experiment"] is None and rows["str-id"]["tags"] == []
    assert store.list_runs(sort="-max(acc)", columns=["max(acc)"]).rows[0] == {"id": 105, "max(acc)": 1.0}
    for rid in (101, 102, "str-id", 104, 105, 106):
        assert store.get_run(rid)["_id"] == rid
        assert isinstance(store.list_artifacts(rid), list) and isinstance(store.list_sources(rid), list)
    store.columns()
    # "omniboard": "oops" cannot hold tags: that run is left as it is, the others are tagged
    assert store.update_tags([101, 102, "str-id", 105], add=["t"]) == 3
    assert mongo_db.runs.find_one({"_id": "str-id"})["omniboard"] == "oops"
    assert mongo_db.runs.find_one({"_id": 105})["omniboard"] == {"tags": ["t"], "notes": 5}


json_scalars = st.none() | st.booleans() | st.integers(-2**31, 2**31) | st.floats(allow_nan=False,
                                                                                   allow_infinity=False) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=12)
field_names = st.sampled_from(["experiment", "command", "status", "start_time", "heartbeat", "stop_time",
                               "host", "config", "meta", "result", "omniboard", "info", "artifacts", "omnidash"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=st.lists(st.dictionaries(field_names, json_values, max_size=6), min_size=1, max_size=4))
def test_property_arbitrary_documents_never_break_a_listing(mongo_uri, mongo_db, docs):
    mongo_db.runs.delete_many({})
    inserted = 0
    for i, doc in enumerate(docs):
        try:
            mongo_db.runs.insert_one({"_id": i + 1, **doc})
            inserted += 1
        except (pymongo.errors.PyMongoError, InvalidDocument, ValueError, OverflowError):
            continue  # the server refuses some shapes (keys with '.' or '$', ...)
    assume(inserted > 0)
    store = MongoStore(mongo_uri)
    for sort in ("-id", "config.a", "-duration", "status"):
        page = store.list_runs(sort=sort)
        assert page.total == inserted and len(page.rows) == inserted
    store.list_runs("status == RUNNING or tags has x", columns=["max(loss)", "config.a", "notes"])
    store.columns()
    store.close()


# -- connection errors ----------------------------------------------------------------------------------------
def test_unreachable_server_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreUnavailable) as err:
        MongoStore(f"mongodb://user:secret@127.0.0.1:{port}/sacred", server_selection_timeout_ms=300)
    message = str(err.value)
    assert message.startswith(f"cannot reach MongoDB at 127.0.0.1:{port}") and "\n" not in message
    assert "secret" not in message


def test_describe_hides_password(mongo_uri):
    host = mongo_uri.split("//", 1)[1].split("/", 1)[0]
    store = MongoStore(mongo_uri)
    assert store.kind == "mongodb" and store.describe().startswith(f"mongodb://{host}/t_")
    with_password = mongo_uri.replace("//", "//ana:hunter2@", 1)
    described = MongoStore.describe(type("S", (), {"uri": with_password})())
    assert "hunter2" not in described and "ana" not in described


def test_metric_names_come_from_info_metrics_when_every_run_lists_them(store, mongo_db):
    listed = sacred_doc(1)
    listed["info"] = {"metrics": [{"name": "loss", "id": "a" * 24}, {"name": "acc", "id": "b" * 24}]}
    add_runs(mongo_db, [listed, sacred_doc(2)], [metric_doc(1, "loss", [1.0]), metric_doc(1, "acc", [0.5]),
                                                 metric_doc(2, "f1", [0.3])])
    mongo_db.metrics.insert_one(metric_doc(1, "unlisted", [0.0]))  # not in info.metrics: not asked for
    assert store.metric_names([1]) == {1: ["acc", "loss"]}
    assert store.metric_names([1, 2]) == {1: ["acc", "loss", "unlisted"], 2: ["f1"]}  # run 2 lists none



def test_metric_names_scanned_once_are_remembered_for_the_column_catalogue(mongo_uri, mongo_db):
    """Runs summarised by a process that kept no metric names (benchmarks/table.py writes them so) cost two
    scans per catalogue (0.6 s every 10 s at 100,000 runs on DocumentDB); the names found are kept instead."""
    add_runs(mongo_db, [sacred_doc(1), sacred_doc(2)], [metric_doc(1, "loss", [1.0]), metric_doc(2, "acc", [0.5])])
    MongoStore(mongo_uri).list_runs(columns=["max(acc)"])  # summaries stored
    mongo_db["omnidash.state"].update_one({"_id": "summaries"}, {"$unset": {"names": 1}})
    assert {c.name for c in MongoStore(mongo_uri).columns() if c.kind == "metric"} >= {"max(acc)", "max(loss)"}
    mongo_db.metrics.delete_many({})  # the names now come from what the first catalogue remembered
    assert {c.name for c in MongoStore(mongo_uri).columns() if c.kind == "metric"} >= {"max(acc)", "max(loss)"}

def test_the_column_catalogue_is_refreshed_in_the_background(store, mongo_db, monkeypatch):
    """Once COLUMNS_TTL old, the catalogue (0.1-0.25 s at 100,000 runs) is recomputed beside the requests, not
    in one: the request that finds it old is answered with it, and a new config key shows right after."""
    import threading

    from omnidash.store import mongo

    add_runs(mongo_db, [sacred_doc(1, {"lr": 0.1})])
    now = [1000.0]
    monkeypatch.setattr(store._columns, "clock", lambda: now[0])
    assert "config.momentum" not in {c.name for c in store.columns()}
    add_runs(mongo_db, [sacred_doc(2, {"lr": 0.2, "momentum": 0.9})])
    now[0] += mongo.COLUMNS_TTL + 1
    reads: list[int] = []
    real = mongo.MongoStore._read_catalogue
    monkeypatch.setattr(mongo.MongoStore, "_read_catalogue",
                        lambda self: reads.append(threading.get_ident()) or real(self))
    assert "config.momentum" not in {c.name for c in store.columns()}  # answered at once
    for t in threading.enumerate():
        if t.name == "omnidash-refresh":
            t.join(10)
    assert reads and threading.get_ident() not in reads  # read by another thread
    assert "config.momentum" in {c.name for c in store.columns()}


def test_a_new_filter_listed_twice_at_once_is_counted_once(store, mongo_db, monkeypatch):
    """The table lists a new filter's first block and its sample of varying columns side by side; each
    counts the filter, a scan of every run on MongoDB: the two share one count."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    add_runs(mongo_db, [sacred_doc(i, {"lr": i / 10}) for i in range(1, 6)])
    counted: list[dict] = []
    real = store.runs.count_documents

    def slow_count(flt, *a, **k):  # a count over many runs: the other listing asks while it runs
        counted.append(flt)
        time.sleep(0.5)
        return real(flt, *a, **k)

    monkeypatch.setattr(store.runs, "count_documents", slow_count)
    together = threading.Barrier(2)

    def listing(limit: int) -> int:
        together.wait(10)
        return store.list_runs("config.lr > 0.25", "-id", 0, limit, ["id"]).total

    with ThreadPoolExecutor(2) as pool:
        totals = list(pool.map(listing, [2, 500]))
    assert totals == [3, 3] and len(counted) == 1
    assert store.count("config.lr > 0.25") == 3 and len(counted) == 2  # asked afterwards: counted anew


def test_write_conflicts_are_retried_and_other_errors_are_not():
    """DocumentDB aborts one of two update_many statements that lock the same runs in another order
    ("deadlock detected", code 16908292); MongoDB reports WriteConflict (112). Idempotent writes retry."""
    from pymongo.errors import OperationFailure

    from omnidash.store.mongo_util import retry_conflicts

    calls: list[int] = []

    def deadlocking() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationFailure("deadlock detected", code=16908292)
        return "written"

    assert retry_conflicts(deadlocking) == "written" and len(calls) == 3
    with pytest.raises(OperationFailure):
        retry_conflicts(lambda: (_ for _ in ()).throw(OperationFailure("bad $set", code=9)))
    always: list[int] = []

    def conflicting() -> None:
        always.append(1)
        raise OperationFailure("WriteConflict", code=112)

    with pytest.raises(OperationFailure):
        retry_conflicts(conflicting, attempts=4)
    assert len(always) == 4
