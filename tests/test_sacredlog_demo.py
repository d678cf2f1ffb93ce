"""omnidash.demo: realistic, deterministic demo runs written with sacredlog (FileStorage folder and MongoDB)."""

from __future__ import annotations

import json
import math
import re
import struct
import time
import zlib
from collections import Counter
from datetime import datetime
from pathlib import Path

import pymongo
import pytest

from omnidash.demo import write_demo_runs, write_demo_runs_mongo

NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "runs"
    assert write_demo_runs(folder, n_runs=60, seed=0, now=NOW) == 60
    return folder


def _runs(folder: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text()) for p in folder.glob("*/run.json")}


def _config(folder: Path, run_id: int) -> dict:
    return json.loads((folder / str(run_id) / "config.json").read_text())


def _metrics(folder: Path, run_id: int) -> dict:
    return json.loads((folder / str(run_id) / "metrics.json").read_text())


def _annotations(folder: Path, run_id: int) -> dict:
    sidecar = folder / str(run_id) / "omnidash.json"
    return json.loads(sidecar.read_text()).get("omniboard", {}) if sidecar.exists() else {}


def test_demo_folder_is_a_realistic_sweep(demo_folder):
    runs = _runs(demo_folder)
    assert sorted(runs) == list(range(1, 61))
    statuses = Counter(r["status"] for r in runs.values())
    assert statuses["COMPLETED"] >= 40 and statuses["FAILED"] >= 2 and statuses["INTERRUPTED"] >= 1
    assert statuses["RUNNING"] == 1
    assert {r["experiment"]["name"] for r in runs.values()} == {"mnist_cnn", "cifar_resnet"}
    starts = [datetime.fromisoformat(runs[i]["start_time"]) for i in sorted(runs)]
    assert (max(starts) - min(starts)).days >= 4, "times spread over the past days"

    configs = [_config(demo_folder, i) for i in sorted(runs)]
    assert {c["optimizer"] for c in configs} == {"adam", "sgd"} and {c["lr"] for c in configs} == {1e-3, 3e-3, 1e-2}
    assert {c["batch_size"] for c in configs} == {32, 128} and all("depth" in c["model"] for c in configs)
    # grouping over seeds: every setting (the whole config but the seed) has exactly 3 runs
    settings = Counter(json.dumps({k: v for k, v in c.items() if k != "seed"}, sort_keys=True) for c in configs)
    assert set(settings.values()) == {3} and len(settings) == 20
    assert len({c["seed"] for c in configs}) == 60


def test_demo_losses_fall_and_accuracies_are_fractions(demo_folder):
    runs = _runs(demo_folder)
    diverged = []
    for i, run in runs.items():
        m = _metrics(demo_folder, i)
        for name in ("train.loss", "val.loss"):
            values = m.get(name, {}).get("values", [])
            finite = [v for v in values if v is not None and math.isfinite(v)]
            assert all(v > 0 for v in finite), f"run {i}: {name} is a loss, never negative"
            if len(finite) < len(values):
                diverged.append((i, name))
                assert values[-1] is None or math.isnan(values[-1]), "only the last point of a divergence is NaN"
            if run["status"] == "COMPLETED":
                assert sum(finite[:3]) / 3 > 1.5 * sum(finite[-5:]) / 5, f"run {i}: {name} goes down"
        acc = m.get("val.acc", {}).get("values", [])
        assert all(0 <= v <= 1 for v in acc), f"run {i}: val.acc in [0, 1]"
        if run["status"] == "COMPLETED":
            assert 0.5 < run["result"] < 1 and acc[-1] > acc[0]
    assert [name for _, name in diverged] == ["train.loss"], "one run diverges to NaN"
    (nan_run, _), = diverged
    assert runs[nan_run]["status"] == "FAILED"


def test_demo_failures_point_into_the_experiments_train_py(demo_folder):
    failed = {i: r for i, r in _runs(demo_folder).items() if r["status"] == "FAILED"}
    assert len(failed) == 2
    for i, run in failed.items():
        trace = "".join(run["fail_trace"])
        files = re.findall(r'File "([^"]+)", line (\d+)', trace)
        assert files and all(f == f"/home/demo/{run['experiment']['name']}/train.py" for f, _ in files), trace
        assert "omnidash" not in trace and "app/" not in trace and "sacredlog/" not in trace
        source = next(p for p in (demo_folder / "_sources").iterdir() if p.name.startswith("train_")
                      and f"Train {run['experiment']['name']}" in p.read_text())
        lines = source.read_text().splitlines()
        for frame in re.finditer(r'line (\d+), in \w+\n    (.+)\n', trace):
            assert lines[int(frame.group(1)) - 1].strip() == frame.group(2), "the line numbers match the source"
        cout = (demo_folder / str(i) / "cout.txt").read_text()
        assert "Traceback (most recent call last)" in cout and "Failed after" in cout
    last_lines = sorted(r["fail_trace"][-1].split(":")[0] for r in failed.values())
    assert last_lines == ["FloatingPointError", "torch.OutOfMemoryError"]


def test_demo_runs_have_curves_output_and_artifacts_dated_inside_the_run(demo_folder):
    runs = _runs(demo_folder)
    completed = next(i for i, r in sorted(runs.items()) if r["status"] == "COMPLETED")
    metrics = _metrics(demo_folder, completed)
    assert {"train.loss", "val.loss", "val.acc", "lr"} <= set(metrics)
    assert len(metrics["train.loss"]["values"]) >= 200
    assert isinstance(runs[completed]["result"], float) and 0.5 < runs[completed]["result"] < 1
    cout = (demo_folder / str(completed) / "cout.txt").read_bytes().decode()
    assert "\r" in cout and "\x1b[" in cout and "val_acc=\x1b[1m0." in cout

    names = set(runs[completed]["artifacts"])
    assert {"confusion_matrix.png", "per_class_accuracy.csv", "summary.json"} <= names
    png = (demo_folder / str(completed) / "confusion_matrix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    idat_len = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41:41 + idat_len])
    assert len(raw) == height * (1 + 3 * width)
    for i, run in runs.items():
        if not run["artifacts"]:
            continue
        start = datetime.fromisoformat(run["start_time"]).timestamp()
        stop = datetime.fromisoformat(run["stop_time"]).timestamp()
        for name in run["artifacts"]:
            mtime = (demo_folder / str(i) / name).stat().st_mtime
            assert start <= mtime <= stop, f"run {i}: {name} dated inside the run"
            assert mtime < NOW - 3600

    running = next(r for r in runs.values() if r["status"] == "RUNNING")
    age = NOW - datetime.fromisoformat(running["heartbeat"]).timestamp()
    assert age > 3600, "the RUNNING run's heartbeat is stale"
    assert "stop_time" not in running


def test_demo_has_omniboard_tags_and_notes(demo_folder):
    annotations = {i: _annotations(demo_folder, i) for i in _runs(demo_folder)}
    tagged = {i: a["tags"] for i, a in annotations.items() if a.get("tags")}
    notes = {i: a["notes"] for i, a in annotations.items() if a.get("notes")}
    assert 5 <= len(tagged) <= 20 and 3 <= len(notes) <= 8
    assert {"baseline", "best", "diverged"} <= {t for tags in tagged.values() for t in tags}
    assert all(isinstance(t, str) for tags in tagged.values() for t in tags)
    assert not any("tags" in _config(demo_folder, i) for i in annotations)


def test_the_readme_free_text_example_finds_runs(demo_folder):
    from omnidash.store.files import FileStore

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = re.search(r"^(resnet baseline)\s+# no operator: free text$", readme, re.M)
    assert example, "the README's free-text example"
    rows = FileStore(str(demo_folder)).list_runs(query=example.group(1), limit=60).rows
    assert rows and all(r["experiment"] == "cifar_resnet" for r in rows)


def test_live_runs_append_points_and_output_then_stop(tmp_path):
    from omnidash.demo import LiveRuns

    write_demo_runs(tmp_path, n_runs=3, seed=0)
    live = LiveRuns(tmp_path, steps=60, steps_per_second=20.0, beat=0.3).start()
    try:
        deadline = time.time() + 20
        seen: list[int] = []
        while time.time() < deadline and len(set(seen)) < 3:  # run 4's points as they are written
            metrics = tmp_path / "4" / "metrics.json"
            if metrics.exists():
                seen.append(len(json.loads(metrics.read_text()).get("train.loss", {}).get("steps", [])))
            time.sleep(0.2)
        assert len(set(seen)) >= 3 and seen == sorted(seen), "points keep arriving while the run is RUNNING"
        assert _runs(tmp_path)[4]["status"] == "RUNNING" or seen[-1] == 60
        while time.time() < deadline and _runs(tmp_path)[4]["status"] == "RUNNING":
            time.sleep(0.2)
        assert len(live.started) >= 3, "a finished live run is followed by a new one"
    finally:
        live.stop()
    runs = _runs(tmp_path)
    assert live.started[:2] == ["4", "5"]
    done = runs[4]
    assert done["status"] == "COMPLETED" and "confusion_matrix.png" in done["artifacts"]
    assert len(_metrics(tmp_path, 4)["train.loss"]["steps"]) == 60
    assert "Completed after" in (tmp_path / "4" / "cout.txt").read_text()
    assert runs[int(live.started[-1])]["status"] == "INTERRUPTED", "stop() ends the open runs"
    assert all(runs[int(i)]["status"] != "RUNNING" for i in live.started)


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
    from omnidash.store.files import FileStore

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
    assert any("baseline" in r.get("omniboard", {}).get("tags", []) for r in runs), "Omniboard's tags field"
    assert all('File "/home/demo/' in "".join(r["fail_trace"]) for r in runs if r["status"] == "FAILED")
    first = runs[0]
    refs = {m["name"]: m["id"] for m in first["info"]["metrics"]}
    docs = {d["name"]: d for d in db.metrics.find({"run_id": 1})}
    assert set(refs) == set(docs) and all(str(docs[n]["_id"]) == refs[n] for n in refs)
    assert len(docs["train.loss"]["steps"]) == len(docs["train.loss"]["timestamps"]) >= 40
    assert {"run_id": 1, "name": 1} in [dict(ix["key"]) for ix in db.metrics.list_indexes()]

    from omnidash.store.mongo import MongoStore

    store = MongoStore(mongo_uri)
    assert store.count() == 35
    assert store.metric_series([1], ["val.acc"], max_points=None)[0].steps
