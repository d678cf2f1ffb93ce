"""app.demo: realistic, deterministic demo runs written with sacredlog (FileStorage folder and MongoDB)."""

from __future__ import annotations

import json
import struct
import zlib
from collections import Counter
from datetime import datetime
from pathlib import Path

import pymongo
import pytest

from app.demo import write_demo_runs, write_demo_runs_mongo

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "runs"
    assert write_demo_runs(folder, n_runs=60, seed=0, now=NOW) == 60
    return folder


def _runs(folder: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text()) for p in folder.glob("*/run.json")}


def test_demo_folder_is_a_realistic_sweep(demo_folder):
    runs = _runs(demo_folder)
    assert sorted(runs) == list(range(1, 61))
    statuses = Counter(r["status"] for r in runs.values())
    assert statuses["COMPLETED"] >= 40 and statuses["FAILED"] >= 2 and statuses["INTERRUPTED"] >= 1
    assert statuses["RUNNING"] == 1
    assert {r["experiment"]["name"] for r in runs.values()} == {"mnist_cnn", "cifar_resnet"}
    starts = [datetime.fromisoformat(runs[i]["start_time"]) for i in sorted(runs)]
    assert (max(starts) - min(starts)).days >= 4, "times spread over the past days"

    configs = [json.loads((demo_folder / str(i) / "config.json").read_text()) for i in sorted(runs)]
    assert {c["optimizer"] for c in configs} == {"adam", "sgd"} and {c["lr"] for c in configs} == {1e-3, 3e-3, 1e-2}
    assert {c["batch_size"] for c in configs} == {32, 128} and all("depth" in c["model"] for c in configs)
    settings = Counter((c["optimizer"], c["lr"], c["batch_size"], c["dropout"]) for c in configs)
    assert max(settings.values()) >= 2, "several seeds per setting"
    assert any("tags" in c for c in configs)


def test_demo_runs_have_curves_output_artifacts_and_failures(demo_folder):
    runs = _runs(demo_folder)
    completed = next(i for i, r in sorted(runs.items()) if r["status"] == "COMPLETED")
    metrics = json.loads((demo_folder / str(completed) / "metrics.json").read_text())
    assert {"train.loss", "val.loss", "val.acc", "lr"} <= set(metrics)
    loss = metrics["train.loss"]["values"]
    assert len(loss) >= 200 and sum(loss[-20:]) < sum(loss[:20]), "a learning curve goes down"
    assert isinstance(runs[completed]["result"], float) and 0.5 < runs[completed]["result"] < 1
    cout = (demo_folder / str(completed) / "cout.txt").read_bytes().decode()
    assert "\r" in cout and "\x1b[" in cout

    names = set(runs[completed]["artifacts"])
    assert {"confusion_matrix.png", "per_class_accuracy.csv", "summary.json"} <= names
    png = (demo_folder / str(completed) / "confusion_matrix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    idat_len = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41:41 + idat_len])
    assert len(raw) == height * (1 + 3 * width)

    failed = [r for r in runs.values() if r["status"] == "FAILED"]
    assert all(r["fail_trace"][-1].startswith("FloatingPointError: loss is NaN") for r in failed)
    running = next(r for r in runs.values() if r["status"] == "RUNNING")
    age = NOW - datetime.fromisoformat(running["heartbeat"]).timestamp()
    assert age > 3600, "the RUNNING run's heartbeat is stale"
    assert "stop_time" not in running


def test_demo_is_deterministic_for_a_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_demo_runs(a, n_runs=8, seed=3, now=NOW)
    write_demo_runs(b, n_runs=8, seed=3, now=NOW)
    write_demo_runs(c, n_runs=8, seed=4, now=NOW)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "1" / "metrics.json").read_bytes() != (c / "1" / "metrics.json").read_bytes()


def test_the_file_store_reads_the_demo(demo_folder):
    from app.store.files import FileStore

    store = FileStore(str(demo_folder))
    assert store.count() == 60
    page = store.list_runs(sort="-id", limit=60)
    assert {row["status"] for row in page.rows} >= {"COMPLETED", "FAILED", "INTERRUPTED"}
    series = store.metric_series([1], ["val.acc"], max_points=None)
    assert series and len(series[0].steps) == 30


@pytest.mark.mongo
def test_demo_runs_in_mongodb(mongo_uri):
    assert write_demo_runs_mongo(mongo_uri, n_runs=30, seed=1, now=NOW) == 30
    assert write_demo_runs_mongo(mongo_uri, n_runs=5, seed=2, now=NOW) == 5
    db = pymongo.MongoClient(mongo_uri).get_default_database()
    runs = list(db.runs.find().sort("_id", 1))
    assert [r["_id"] for r in runs] == list(range(1, 36))
    assert all(r["format"] == "MongoObserver-0.7.0" for r in runs)
    assert {r["status"] for r in runs} >= {"COMPLETED", "FAILED"}
    first = runs[0]
    refs = {m["name"]: m["id"] for m in first["info"]["metrics"]}
    docs = {d["name"]: d for d in db.metrics.find({"run_id": 1})}
    assert set(refs) == set(docs) and all(str(docs[n]["_id"]) == refs[n] for n in refs)
    assert len(docs["train.loss"]["steps"]) == len(docs["train.loss"]["timestamps"]) >= 40
    assert {"run_id": 1, "name": 1} in [dict(ix["key"]) for ix in db.metrics.list_indexes()]

    from app.store.mongo import MongoStore

    store = MongoStore(mongo_uri)
    assert store.count() == 35
    assert store.metric_series([1], ["val.acc"], max_points=None)[0].steps
