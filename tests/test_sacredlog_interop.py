"""sacredlog writes what Sacred 0.8.7 writes: the same small experiment runs under the real Sacred and
under sacredlog, into the test server and into FileStorage folders; documents are compared path by path
(same key paths, same types; ids, times and hashes aside)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pymongo
import pytest
from bson import ObjectId
from sacred_helpers import run_sacred, sacred_mongo
from sacredlog_helpers import diff_paths, paths, run_sacredlog

pytestmark = pytest.mark.mongo

RUNS = [
    {"config": {"mode": "complete", "seed": 11}},
    {"config": {"mode": "fail", "seed": 12}},
    {"config": {"mode": "interrupt", "seed": 13}},
]
STATUSES = ["COMPLETED", "FAILED", "INTERRUPTED"]


def _db(mongo_server, name: str):
    client = pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=5000)
    return client, client[name]


@pytest.fixture(scope="module")
def both_mongo(mongo_server, tmp_path_factory):
    """The three runs under Sacred (db A) and under sacredlog (db B) in the test server."""
    base = tmp_path_factory.mktemp("interop-mongo")
    uri = mongo_server.uri.rstrip("/")
    run_sacred(base / "sacred", [dict(r, config=dict(r["config"])) for r in RUNS],
               mongo=sacred_mongo(mongo_server.uri, "interop_sacred"))
    run_sacredlog(base / "sacredlog", [dict(r, config=dict(r["config"])) for r in RUNS],
                  mongo_url=f"{uri}/interop_sacredlog")
    client = pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=5000)
    yield client["interop_sacred"], client["interop_sacredlog"]
    client.drop_database("interop_sacred")
    client.drop_database("interop_sacredlog")
    client.close()


@pytest.fixture(scope="module")
def both_files(tmp_path_factory):
    base = tmp_path_factory.mktemp("interop-files")
    run_sacred(base / "sacred", [dict(r, config=dict(r["config"])) for r in RUNS], file_dir=base / "fs_sacred")
    run_sacredlog(base / "sacredlog", [dict(r, config=dict(r["config"])) for r in RUNS],
                  file_dir=base / "fs_sacredlog")
    return base / "fs_sacred", base / "fs_sacredlog"


def test_mongo_run_documents_have_sacreds_paths_and_types(both_mongo):
    sacred_db, ours_db = both_mongo
    sacred_runs = list(sacred_db.runs.find().sort("_id", 1))
    our_runs = list(ours_db.runs.find().sort("_id", 1))
    assert [r["status"] for r in sacred_runs] == STATUSES
    assert [r["status"] for r in our_runs] == STATUSES
    assert [r["_id"] for r in our_runs] == [1, 2, 3]
    for theirs, ours in zip(sacred_runs, our_runs, strict=True):
        assert set(ours) == set(theirs), (theirs["status"], sorted(set(ours) ^ set(theirs)))
        problems = diff_paths(paths(theirs), paths(ours))
        assert not problems, f"{theirs['status']}: " + "\n".join(problems)
        assert ours["format"] == "MongoObserver-0.7.0"
        assert ours["config"] == {**theirs["config"], "workdir": ours["config"]["workdir"]}
        assert ours["meta"]["config_updates"].keys() == theirs["meta"]["config_updates"].keys()
        assert sorted(ours["meta"]["options"]) == sorted(theirs["meta"]["options"])


def test_mongo_fail_trace_result_and_metric_references(both_mongo):
    sacred_db, ours_db = both_mongo
    completed, failed, interrupted = ours_db.runs.find().sort("_id", 1)
    assert completed["result"]["py/object"] == "numpy.float64"
    assert completed["info"]["best_acc"]["py/object"] == "numpy.float64"
    assert completed["heartbeat"] >= completed["stop_time"]
    assert failed["fail_trace"][0] == "Traceback (most recent call last):\n"
    assert failed["fail_trace"][-1] == "RuntimeError: simulated crash\n"
    assert interrupted["stop_time"] >= interrupted["heartbeat"]
    assert "fail_trace" not in interrupted
    for run in (completed, failed, interrupted):
        refs = {r["name"]: r["id"] for r in run["info"]["metrics"]}
        assert set(refs) == {"train.loss", "val.acc"}
        for name, ref in refs.items():
            doc = ours_db.metrics.find_one({"_id": ObjectId(ref)})
            assert doc["run_id"] == run["_id"] and doc["name"] == name
    artifact = completed["artifacts"][0]
    assert artifact["name"] == "weights.txt"
    stored = ours_db["fs.files"].find_one({"_id": artifact["file_id"]})
    assert stored["filename"] == f"artifact://runs/{completed['_id']}/weights.txt"
    assert "metadata" in stored and "contentType" in stored


def test_mongo_metric_documents_match_sacreds(both_mongo):
    sacred_db, ours_db = both_mongo
    theirs = list(sacred_db.metrics.find().sort([("run_id", 1), ("name", 1)]))
    ours = list(ours_db.metrics.find().sort([("run_id", 1), ("name", 1)]))
    assert [(m["run_id"], m["name"]) for m in ours] == [(m["run_id"], m["name"]) for m in theirs]
    for a, b in zip(theirs, ours, strict=True):
        assert not diff_paths(paths(a), paths(b))
        assert b["steps"] == a["steps"]
        assert len(b["timestamps"]) == len(b["values"]) == len(b["steps"])
    index_keys = [dict(ix["key"]) for ix in ours_db.metrics.list_indexes()]
    assert {"run_id": 1, "name": 1} in index_keys


def _json_paths(path: Path) -> dict[str, set[str]]:
    return paths(json.loads(path.read_text()))


def test_file_storage_folders_match_sacreds(both_files):
    fs_sacred, fs_ours = both_files
    assert sorted(p.name for p in fs_ours.iterdir()) == sorted(p.name for p in fs_sacred.iterdir())
    assert sorted(p.name for p in fs_ours.iterdir()) == ["1", "2", "3", "_resources", "_sources"]
    assert len(list((fs_ours / "_sources").iterdir())) == 1
    for run_id in ("1", "2", "3"):
        theirs, ours = fs_sacred / run_id, fs_ours / run_id
        assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
        for name in ("run.json", "config.json", "metrics.json", "info.json"):
            if not (theirs / name).exists():
                continue
            problems = diff_paths(_json_paths(theirs / name), _json_paths(ours / name))
            assert not problems, f"{run_id}/{name}: " + "\n".join(problems)
        run = json.loads((ours / "run.json").read_text())
        assert run["status"] == STATUSES[int(run_id) - 1]
        assert run["experiment"]["sources"][0][1].startswith("_sources/interop_exp_")


def test_file_storage_json_byte_style(both_files):
    """sort_keys, indent=2, bare NaN, ASCII, no trailing newline; cout.txt holds the printed lines."""
    _, fs_ours = both_files
    for path in sorted(fs_ours.glob("*/*.json")):
        text = path.read_text()
        assert not text.endswith("\n"), path
        assert text.isascii()
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2), path
    assert re.search(r"\bNaN\b", (fs_ours / "1" / "metrics.json").read_text())
    cout = (fs_ours / "1" / "cout.txt").read_text()
    assert "step 0 loss=" in cout and "step 29 loss=" in cout


def _compare_stores(theirs, ours) -> None:
    """The dashboard store gives the same rows (columns and value types), metrics and run documents."""
    rows_theirs = theirs.list_runs(sort="id", limit=10).rows
    rows_ours = ours.list_runs(sort="id", limit=10).rows
    assert [r["status"] for r in rows_ours] == [r["status"] for r in rows_theirs] == STATUSES
    for a, b in zip(rows_theirs, rows_ours, strict=True):
        assert set(a) == set(b), sorted(set(a) ^ set(b))
        for key in a:
            assert type(a[key]) is type(b[key]) or None in (a[key], b[key]) and key in ("result", "duration"), key
    ids_theirs = theirs.run_ids()
    ids_ours = ours.run_ids()
    assert sorted(map(str, ids_theirs)) == sorted(map(str, ids_ours))
    names_theirs = theirs.metric_names(ids_theirs)
    names_ours = ours.metric_names(ids_ours)
    assert sorted(map(sorted, names_theirs.values())) == sorted(map(sorted, names_ours.values()))
    s_theirs = theirs.metric_series(ids_theirs[:1], ["train.loss", "val.acc"], max_points=None)
    s_ours = ours.metric_series(ids_ours[:1], ["train.loss", "val.acc"], max_points=None)
    assert [(s.name, s.steps) for s in s_ours] == [(s.name, s.steps) for s in s_theirs]
    assert [[v is None for v in s.values] for s in s_ours] == [[v is None for v in s.values] for s in s_theirs]
    doc_theirs, doc_ours = theirs.get_run(ids_theirs[0]), ours.get_run(ids_ours[0])
    assert set(doc_ours) == set(doc_theirs)
    assert [a.name for a in ours.list_artifacts(ids_ours[0])] == [a.name for a in theirs.list_artifacts(ids_theirs[0])]


def test_file_store_reads_sacredlog_runs_like_sacreds(both_files):
    from omnidash.store.files import FileStore

    fs_sacred, fs_ours = both_files
    _compare_stores(FileStore(str(fs_sacred)), FileStore(str(fs_ours)))


def test_mongo_store_reads_sacredlog_runs_like_sacreds(both_mongo, mongo_server):
    from omnidash.store.mongo import MongoStore

    base = mongo_server.uri.rstrip("/")
    _compare_stores(MongoStore(f"{base}/interop_sacred"), MongoStore(f"{base}/interop_sacredlog"))


def test_mongo_nested_sources_resources_and_nan_as_sacred_stores_them(both_mongo):
    """`experiment.sources` [[name, ObjectId]], `resources` [[path, md5]] and NaN metric values: sacredlog
    stores them exactly as Sacred's MongoObserver does (no FerretDB 1.x flattening to [] or null)."""
    for db in both_mongo:
        run = db.runs.find_one({"status": "COMPLETED"})
        sources = run["experiment"]["sources"]
        assert sources and all(isinstance(s, list) and len(s) == 2 and isinstance(s[1], ObjectId) for s in sources)
        assert db["fs.files"].find_one({"_id": sources[0][1]}) is not None
        resources = run["resources"]
        assert resources and all(isinstance(r, list) and re.fullmatch(r"[0-9a-f]{32}", r[1]) for r in resources)
        acc = db.metrics.find_one({"run_id": run["_id"], "name": "val.acc"})
        assert any(v != v for v in acc["values"]), f"{db.name}: NaN was not stored as NaN"
