"""Never lossy: the database stops mid-run and comes back; it is down at exit (journal, then `sacredlog
replay`, twice); it is down from the start. Each test has its own FerretDB, so stopping it disturbs no one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pymongo
import pytest
from conftest import MongoServer

from sacredlog import Run

pytestmark = pytest.mark.mongo
ROOT = Path(__file__).resolve().parent.parent


def _db(server: MongoServer, name: str = "outage"):
    return pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=10_000)[name]


def _log(run: Run, start: int, stop: int, pause: float = 0.0) -> None:
    for i in range(start, stop):
        run.log_scalar("loss", 1.0 / (i + 1))
        run.log_scalar("acc", i / 1000.0, step=i)
        if pause:
            time.sleep(pause)


def _assert_exactly_once(db, run_id, n: int) -> None:
    for name in ("loss", "acc"):
        docs = list(db.metrics.find({"run_id": run_id, "name": name}))
        assert len(docs) == 1, f"{name}: {len(docs)} metric documents"
        assert docs[0]["steps"] == list(range(n)), f"{name}: steps are not 0..{n - 1} exactly once"
        assert len(docs[0]["values"]) == len(docs[0]["timestamps"]) == n


def _assert_refs(db, run_id) -> None:
    """info.metrics names every series with the id of the document that holds it."""
    from bson import ObjectId

    refs = db.runs.find_one({"_id": run_id})["info"]["metrics"]
    assert sorted(r["name"] for r in refs) == ["acc", "loss"]
    for ref in refs:
        doc = db.metrics.find_one({"_id": ObjectId(ref["id"])}, {"run_id": 1, "name": 1})
        assert doc is not None and doc["run_id"] == run_id and doc["name"] == ref["name"]


def test_database_stopped_mid_run_and_started_again_keeps_every_point_once(private_mongo_server, tmp_path):
    uri = private_mongo_server.uri + "outage"
    run = Run("outage", {"a": 1}, mongo_url=uri, heartbeat=0.2, journal_dir=tmp_path / "journal",
              mongo_timeout=1.0, max_buffered_points=150, capture_output=False)
    with run:
        _log(run, 0, 200, pause=0.002)
        time.sleep(0.5)  # some beats reach the database
        private_mongo_server.stop()
        t0 = time.time()
        _log(run, 200, 600, pause=0.003)  # beats fail; beyond 150 pending points they spill to the journal
        assert time.time() - t0 < 10, "log_scalar must not block while the database is down"
        deadline = time.time() + 30  # failed beats take up to mongo_timeout each
        while run.mongo_journal is None and time.time() < deadline:
            time.sleep(0.1)
        assert run.mongo_journal is not None, "points beyond the memory bound should be in the journal"
        private_mongo_server.start()
        _log(run, 600, 800, pause=0.002)
        time.sleep(1.5)
    db = _db(private_mongo_server)
    doc = db.runs.find_one({"_id": run.run_id})
    assert doc["status"] == "COMPLETED"
    _assert_exactly_once(db, run.run_id, 800)
    _assert_refs(db, run.run_id)
    assert not list((tmp_path / "journal").glob("*.journal")), "the journal is removed once everything is stored"


def _replay(journal: str, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run([sys.executable, "-m", "sacredlog.cli", "replay", journal, *extra],
                          capture_output=True, text=True, env=env, timeout=120)


def test_database_down_at_exit_journal_then_replay_exactly_once(private_mongo_server, tmp_path):
    uri = private_mongo_server.uri + "outage"
    artifact = tmp_path / "weights.bin"
    artifact.write_bytes(b"\x00\x01" * 1000)
    run = Run("outage", {"a": 1}, mongo_url=uri, heartbeat=0.2, journal_dir=tmp_path / "journal",
              mongo_timeout=0.5, max_buffered_points=100, capture_output=False)
    with run:
        _log(run, 0, 100)
        time.sleep(0.6)
        private_mongo_server.stop()
        _log(run, 100, 500, pause=0.001)
        run.add_artifact(artifact, metadata={"epoch": 3})
        run.info["best_epoch"] = 3
        run.result = 0.93
    artifact.unlink()  # the journal keeps its own copy
    journal = run.mongo_journal
    assert journal and Path(journal).exists()
    private_mongo_server.start()
    db = _db(private_mongo_server)
    before = db.runs.find_one({"_id": run.run_id})
    assert before["status"] == "RUNNING", "the final state could not have been written"

    first = _replay(journal)
    assert first.returncode == 0, first.stderr
    assert "points sent" in first.stdout
    doc = db.runs.find_one({"_id": run.run_id})
    assert doc["status"] == "COMPLETED" and doc["result"] == 0.93 and doc["info"]["best_epoch"] == 3
    _assert_exactly_once(db, run.run_id, 500)
    assert [a["name"] for a in doc["artifacts"]] == ["weights.bin"]
    _assert_refs(db, run.run_id)

    second = _replay(journal)  # idempotent: nothing is sent twice
    assert second.returncode == 0, second.stderr
    assert "0 points sent" in second.stdout
    _assert_exactly_once(db, run.run_id, 500)
    again = db.runs.find_one({"_id": run.run_id})
    assert [a["name"] for a in again["artifacts"]] == ["weights.bin"]
    assert db["fs.files"].count_documents({"filename": f"artifact://runs/{run.run_id}/weights.bin"}) == 1


def test_database_down_from_the_start_replay_inserts_the_run(private_mongo_server, tmp_path):
    uri = private_mongo_server.uri + "outage"
    db = _db(private_mongo_server)
    db.runs.insert_one({"_id": 7, "status": "COMPLETED"})  # replay must take max + 1
    private_mongo_server.stop()
    run = Run("outage", {"a": 2}, mongo_url=uri, heartbeat=0.2, journal_dir=tmp_path / "journal",
              mongo_timeout=0.3, capture_output=False)
    with run:
        _log(run, 0, 50)
    assert run.run_id is None
    journal = run.mongo_journal
    assert journal
    private_mongo_server.start()
    result = _replay(journal)
    assert result.returncode == 0, result.stderr
    doc = db.runs.find_one({"_id": 8})
    assert doc is not None and doc["status"] == "COMPLETED" and doc["config"]["a"] == 2
    assert doc["format"] == "MongoObserver-0.7.0" and doc["experiment"]["name"] == "outage"
    _assert_exactly_once(db, 8, 50)
    _assert_refs(db, 8)
    again = _replay(str(Path(journal).parent))  # a folder: every journal in it
    assert again.returncode == 0 and "0 points sent" in again.stdout
    assert db.runs.count_documents({}) == 2
    _assert_exactly_once(db, 8, 50)


def test_replay_of_a_missing_journal_says_so(tmp_path):
    result = _replay(str(tmp_path / "nope.journal"))
    assert result.returncode == 1
    assert "no journal" in result.stderr
