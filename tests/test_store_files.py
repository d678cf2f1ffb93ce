"""FileStore: Sacred FileStorageObserver folders (written by hand and by the real Sacred) as a RunStore."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sacred_helpers import run_sacred

from omnidash.store import open_store
from omnidash.store.base import BadRequest, NotFound, ReadOnly, StoreUnavailable
from omnidash.store.files import FileStore


def write_json(path: Path, value) -> None:
    """Exactly as Sacred's FileStorageObserver: sort_keys, indent 2, bare NaN allowed, no newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, sort_keys=True, indent=2))


def iso_naive(d: datetime) -> str:
    return d.astimezone(UTC).replace(tzinfo=None).isoformat()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A hand-written FileStorage folder covering the quirks of sacred-format.md §3 and §6."""
    base = tmp_path / "runs"
    now = datetime.now(UTC)
    src_a = base / "_sources" / "train_aaaa.py"
    src_shared = base / "_sources" / "utils_bbbb.py"
    src_a.parent.mkdir(parents=True)
    src_a.write_text("print('train')\n")
    src_shared.write_text("def helper(): pass\n")
    (base / "_resources").mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    experiment = {
        "name": "mnist",
        "base_dir": "/home/u/exp",
        "mainfile": "train.py",
        "dependencies": ["numpy==2.0"],
        "repositories": [],
        "sources": [["train.py", "_sources/train_aaaa.py"], ["utils.py", "_sources/utils_bbbb.py"]],
    }
    write_json(base / "1" / "run.json", {
        "artifacts": ["model.txt", "missing.bin"],
        "command": "train",
        "experiment": experiment,
        "heartbeat": "2026-11-01T10:00:05.500000",
        "host": {"hostname": "gpu1", "os": ["Linux", "Linux-6"]},
        "meta": {"command": "train", "options": {}},
        "resources": [["/data/x.csv", str(base / "_resources" / "x_1.csv")]],
        "result": {"py/object": "numpy.float64", "dtype": "float64", "value": 0.875},
        "start_time": "2026-11-01T10:00:00",
        "status": "COMPLETED",
        "stop_time": "2026-11-01T10:00:05.400000",
    })
    write_json(base / "1" / "config.json", {
        "lr": 0.1, "adam": {"beta1": 0.9}, "tags": ["baseline", "cnn"], "seed": 1, "__doc__": "doc",
    })
    write_json(base / "1" / "info.json", {"val.best": 0.9})
    (base / "1" / "metrics.json").write_text(
        '{"loss": {"steps": [2, 0, 1, 3], "timestamps": ["2026-11-01T10:00:02", "2026-11-01T10:00:00",'
        ' "2026-11-01T10:00:01.5", "2026-11-01T10:00:03"], "values": [0.5, 1.0, NaN, Infinity]},'
        ' "val.acc": {"steps": [0, 1, 2], "timestamps": [], "values": [0.5, 0.75, 0.7]}}'
    )
    (base / "1" / "cout.txt").write_text("epoch 1\nepoch 2\n")
    (base / "1" / "model.txt").write_text("weights")

    write_json(base / "2" / "run.json", {
        "artifacts": [], "command": "train", "experiment": {**experiment, "sources": [["utils.py", "_sources/utils_bbbb.py"]]},
        "heartbeat": iso_naive(now - timedelta(minutes=10)), "host": {"hostname": "gpu2"},
        "meta": {"command": "train", "comment": "first try"}, "resources": [], "result": None,
        "start_time": iso_naive(now - timedelta(minutes=30)), "status": "RUNNING",
    })
    write_json(base / "2" / "config.json", {"lr": 0.01, "adam": {"beta1": 0.8}, "tags": "a, b", "seed": 2})
    write_json(base / "2" / "metrics.json", {"loss": {"steps": list(range(50)), "timestamps": [],
                                                      "values": [1 / (i + 1) for i in range(50)]}})

    write_json(base / "3" / "run.json", {
        "command": "train", "experiment": {**experiment, "sources": [{"py/tuple": ["train.py", "ab12"]}]},
        "host": {"hostname": "gpu1"}, "meta": {"command": "train"}, "status": "QUEUED",
    })
    write_json(base / "3" / "config.json", {"lr": 0.5, "seed": 3})
    (base / "3" / "train.py").write_text("print('queued copy')\n")

    write_json(base / "lr-0.1-final" / "run.json", {
        "artifacts": ["leak.txt", "../outside.txt"], "command": "train", "experiment": {**experiment, "sources": [
            ["evil.py", "../outside.txt"]]},
        "fail_trace": ["Traceback (most recent call last):\n", "RuntimeError: boom\n"], "heartbeat": None,
        "host": {"hostname": "cpu"}, "meta": {}, "resources": [], "result": None,
        "start_time": "2026-11-02T08:00:00.123456", "status": "FAILED", "stop_time": "2026-11-02T08:01:00",
    })
    write_json(base / "lr-0.1-final" / "config.json", {"lr": 0.1, "seed": 4})
    os.symlink(tmp_path / "outside.txt", base / "lr-0.1-final" / "leak.txt")

    (base / "4").mkdir()
    (base / "4" / "run.json").write_text('{"status": "COMPL')  # a writer caught mid-rewrite
    write_json(base / "4" / "config.json", {"lr": 0.2})
    (base / "notarun").mkdir()
    (base / "notarun" / "readme.txt").write_text("no run.json here")
    return base


@pytest.fixture
def store(folder: Path) -> FileStore:
    return FileStore(str(folder), scan_ttl=0)


# -- opening ----------------------------------------------------------------------------------
def test_missing_or_empty_folder_is_reported_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist"):
        FileStore(str(tmp_path / "nope"))
    (tmp_path / "empty" / "_sources").mkdir(parents=True)
    with pytest.raises(StoreUnavailable, match=r"no Sacred runs in .*expected sub-folders with run.json"):
        open_store(str(tmp_path / "empty"))


def test_open_store_gives_a_file_store(folder: Path) -> None:
    s = open_store(str(folder))
    assert isinstance(s, FileStore) and s.kind == "files"
    assert s.describe() == str(folder)
    s.ping()


# -- listing -----------------------------------------------------------------------------------
def test_run_folders_become_ids_like_mongo(store: FileStore) -> None:
    assert store.run_ids() == [1, 2, 3, 4, "lr-0.1-final"]
    assert store.count() == 5
    page = store.list_runs(sort="id", limit=2, offset=1)
    assert page.total == 5 and [r["id"] for r in page.rows] == [2, 3]


def test_rows_match_the_shared_row_model(store: FileStore) -> None:
    rows = {r["id"]: r for r in store.list_runs(limit=50).rows}
    r1 = rows[1]
    assert r1["experiment"] == "mnist" and r1["command"] == "train" and r1["status"] == "COMPLETED"
    assert r1["start_time"] == "2026-11-01T10:00:00.000Z" and r1["heartbeat"] == "2026-11-01T10:00:05.500Z"
    assert r1["duration"] == 5.5 and r1["hostname"] == "gpu1" and r1["result"] == 0.875
    assert r1["tags"] == ["baseline", "cnn"] and r1["notes"] == ""
    assert r1["config.lr"] == 0.1 and r1["config.adam.beta1"] == 0.9 and "config.__doc__" not in r1
    assert rows[2]["status"] == "PROBABLY_DEAD" and rows[2]["tags"] == ["a", "b"] and rows[2]["notes"] == "first try"
    assert rows[3]["status"] == "QUEUED" and rows[3]["start_time"] is None and rows[3]["duration"] is None
    assert rows["lr-0.1-final"]["status"] == "FAILED" and rows["lr-0.1-final"]["heartbeat"] is None
    assert rows[4]["config.lr"] == 0.2  # run.json does not parse: the run shows with what does


def test_query_sort_and_metric_columns(store: FileStore) -> None:
    page = store.list_runs("lr >= 0.1", sort="-lr,id", columns=["lr", "max(val.acc)", "last(loss)"])
    assert [r["id"] for r in page.rows] == [3, 4, 1, "lr-0.1-final"]
    assert page.rows[2] == {"id": 1, "lr": 0.1, "max(val.acc)": 0.75, "last(loss)": None}
    assert store.run_ids("status == PROBABLY_DEAD") == [2]
    assert store.run_ids("tags has cnn or notes ~ FIRST") == [1, 2]
    assert store.run_ids("max(loss) > 0.9 and min(loss) < 0.1") == [2]
    assert store.run_ids("last_avg(loss, 5) < 0.1") == [2]
    ordered = store.list_runs(sort="-min(loss)", columns=["min(loss)", "last_avg(loss, 2)"]).rows
    assert [r["id"] for r in ordered][:2] == [1, 2]
    assert ordered[1]["last_avg(loss, 2)"] == pytest.approx((1 / 49 + 1 / 50) / 2)
    assert store.run_ids("experiment == mnist and id != 1") == [2, 3, "lr-0.1-final"]
    assert store.run_ids("mnist") == [1, 2, 3, "lr-0.1-final"]  # free text
    with pytest.raises(BadRequest):
        store.list_runs("lr >")
    with pytest.raises(BadRequest):
        store.list_runs(limit=10_001)


def test_columns_and_distinct(store: FileStore) -> None:
    cols = {c.name: c for c in store.columns()}
    assert cols["status"].kind == "base" and cols["config.lr"].kind == "config"
    assert cols["config.lr"].dtype == "number" and cols["max(val.acc)"].kind == "metric"
    assert "config.__doc__" not in cols
    assert store.distinct("lr") == [0.01, 0.1, 0.2, 0.5]
    assert store.distinct("tags") == ["a", "b", "baseline", "cnn"]
    assert store.distinct("status") == ["COMPLETED", "FAILED", "PROBABLY_DEAD", "QUEUED", "UNKNOWN"]
    run_id = store.run_ids()[0]
    store.update_tags([run_id], add=["fresh"])  # a remembered answer never hides a write
    assert store.distinct("tags") == ["a", "b", "baseline", "cnn", "fresh"]


# -- one run -----------------------------------------------------------------------------------
def test_get_run_is_the_whole_json_safe_document(store: FileStore) -> None:
    doc = store.get_run("1")
    json.dumps(doc, allow_nan=False)
    assert doc["_id"] == 1 and doc["captured_out"] == "epoch 1\nepoch 2\n"
    assert doc["start_time"] == "2026-11-01T10:00:00.000Z" and doc["info"] == {"val.best": 0.9}
    assert doc["config"]["adam"] == {"beta1": 0.9} and doc["experiment"]["name"] == "mnist"
    assert doc["resources"][0][0] == "/data/x.csv"
    assert store.get_run("lr-0.1-final")["fail_trace"][-1] == "RuntimeError: boom\n"
    with pytest.raises(NotFound):
        store.get_run(99)


def test_artifacts_sizes_contents_and_missing(store: FileStore) -> None:
    arts = {a.name: a for a in store.list_artifacts(1)}
    assert arts["model.txt"].size == 7 and not arts["model.txt"].missing and arts["model.txt"].date is not None
    assert arts["model.txt"].content_type == "text/plain"
    assert arts["missing.bin"].missing
    stream, info = store.open_artifact(1, "model.txt")
    with stream:
        assert stream.read() == b"weights"
    for bad in ("missing.bin", "run.json", "../2/config.json", "/etc/passwd"):
        with pytest.raises(NotFound):
            store.open_artifact(1, bad)


def test_path_traversal_is_refused(store: FileStore) -> None:
    arts = {a.name: a for a in store.list_artifacts("lr-0.1-final")}
    assert arts["leak.txt"].missing and arts["../outside.txt"].missing  # symlink out, and ../
    for name in ("leak.txt", "../outside.txt"):
        with pytest.raises(NotFound):
            store.open_artifact("lr-0.1-final", name)
    assert [s.missing for s in store.list_sources("lr-0.1-final")] == [True]
    with pytest.raises(NotFound):
        store.open_source("lr-0.1-final", "evil.py")


def test_sources_with_size_and_queued_copies(store: FileStore) -> None:
    sources = store.list_sources(1)
    assert [(s.name, s.size, s.missing) for s in sources] == [("train.py", 15, False), ("utils.py", 19, False)]
    stream, _ = store.open_source(1, "train.py")
    with stream:
        assert stream.read() == b"print('train')\n"
    stream, _ = store.open_source(3, "train.py")  # QUEUED: Sacred copied the file into the run folder
    with stream:
        assert stream.read() == b"print('queued copy')\n"
    with pytest.raises(NotFound):
        store.open_source(1, "nope.py")


def test_metric_names_and_series(store: FileStore) -> None:
    assert store.metric_names([1, "2", 3, 77]) == {1: ["loss", "val.acc"], 2: ["loss"]}
    (loss,) = store.metric_series([1], ["loss"])
    assert loss.steps == [0, 1, 2, 3] and loss.values == [1.0, None, 0.5, None]
    assert loss.timestamps[1] == datetime(2026, 11, 1, 10, 0, 1, 500000, tzinfo=UTC)
    (clipped,) = store.metric_series([2], ["loss"], x_range=(10, 19))
    assert clipped.steps == list(range(10, 20)) and clipped.total_points == 50
    (newer,) = store.metric_series([2], ["loss"], since_step=47)
    assert newer.steps == [48, 49]
    (small,) = store.metric_series([2], ["loss"], max_points=10)
    assert len(small.steps) <= 10 and 0 in small.steps and small.values[0] == 1.0
    assert [(s.run_id, s.name) for s in store.metric_series([1, 2], ["val.acc", "loss"])] == [
        (1, "val.acc"), (1, "loss"), (2, "loss")]


# -- writes ------------------------------------------------------------------------------------
def test_annotations_survive_sacred_rewriting_run_json(store: FileStore, folder: Path) -> None:
    store.set_tags(2, ["keep", "me"])
    store.set_notes(2, "looks good")
    sidecar = json.loads((folder / "2" / "omnidash.json").read_text())
    assert sidecar == {"omniboard": {"tags": ["keep", "me"], "notes": "looks good"}}
    run_json = json.loads((folder / "2" / "run.json").read_text())
    run_json["status"] = "COMPLETED"  # Sacred's heartbeat/final event rewrites the whole file
    write_json(folder / "2" / "run.json", run_json)
    row = store.list_runs("id == 2", columns=["tags", "notes", "status"]).rows[0]
    assert row == {"id": 2, "tags": ["keep", "me"], "notes": "looks good", "status": "COMPLETED"}
    assert store.get_run(2)["omniboard"] == {"tags": ["keep", "me"], "notes": "looks good"}
    assert not [p for p in (folder / "2").iterdir() if p.name.endswith(".tmp")]


def test_writes_are_atomic_for_concurrent_readers(store: FileStore, folder: Path) -> None:
    path = folder / "1" / "omnidash.json"
    store.set_notes(1, "start")
    bad: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            text = path.read_text()
            try:
                json.loads(text)
            except ValueError:
                bad.append(text)

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        store.set_notes(1, "x" * (i * 50))
    stop.set()
    t.join()
    assert bad == []


def test_update_tags_starts_from_displayed_tags(store: FileStore) -> None:
    assert store.update_tags([1, 2, "lr-0.1-final", 404], add=["good"], remove=["cnn", "b"]) == 3
    tags = {r["id"]: r["tags"] for r in store.list_runs(columns=["tags"]).rows}
    assert tags[1] == ["baseline", "good"] and tags[2] == ["a", "good"] and tags["lr-0.1-final"] == ["good"]
    assert store.run_ids("tags has good") == [1, 2, "lr-0.1-final"]


def test_a_tag_write_keeps_other_listings_and_updates_tag_listings(folder: Path) -> None:
    old = time.time() - 60  # files written just now are re-read at every scan (same timestamp tick)
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (old, old))
    store = FileStore(str(folder))
    by_lr = store.run_ids("lr > 0")
    before = store.cache.generation
    assert store.run_ids("tags has shiny") == [] and store.run_ids("not tags has shiny") == store.run_ids()
    sorted_by_tags = [r["id"] for r in store.list_runs(sort="tags", columns=["tags"]).rows]
    store.set_tags(2, ["shiny"])
    assert store.cache.generation == before  # only annotations moved: unrelated listings stay remembered
    assert store.run_ids("lr > 0") == by_lr
    assert store.run_ids("tags has shiny") == [2] and 2 not in store.run_ids("not tags has shiny")
    assert store.list_runs("id == 2", columns=["tags"]).rows[0]["tags"] == ["shiny"]
    assert [r["id"] for r in store.list_runs(sort="tags", columns=["tags"]).rows] != sorted_by_tags
    assert "shiny" in store.distinct("tags")
    store.set_notes(2, "spike")
    assert store.run_ids("notes ~ spike") == [2]


def test_twenty_threads_adding_and_removing_lose_nothing(store: FileStore) -> None:
    runs = [1, 2, 3]
    store.update_tags(runs, add=[f"old{i}" for i in range(20)])

    def work(i: int) -> None:
        s = FileStore(store.basedir, scan_ttl=0) if i % 2 else store
        for _ in range(3):
            s.update_tags(runs, add=[f"new{i}"], remove=[f"old{i}"])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for row in store.list_runs("id in [1, 2, 3]", columns=["tags"]).rows:
        assert sorted(t for t in row["tags"] if t.startswith(("new", "old"))) == sorted(f"new{i}" for i in range(20))


def test_two_processes_adding_tags_lose_nothing(store: FileStore) -> None:
    code = (
        "import sys; from omnidash.store.files import FileStore\n"
        "s = FileStore(sys.argv[1], scan_ttl=0)\n"
        "for i in range(25): s.update_tags([1, 2], add=[sys.argv[2] + str(i)])\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    procs = [subprocess.Popen([sys.executable, "-c", code, store.basedir, p], cwd=root) for p in ("p", "q")]
    assert [p.wait(120) for p in procs] == [0, 0]
    for row in store.list_runs("id in [1, 2]", columns=["tags"]).rows:
        assert {t for t in row["tags"] if t[0] in "pq" and t[1:].isdigit()} == {
            f"{p}{i}" for p in "pq" for i in range(25)}


def test_delete_run_removes_unshared_sources_only(store: FileStore, folder: Path) -> None:
    preview = store.delete_preview(1)
    assert preview.sources == 1 and preview.files == ["1/", "_sources/train_aaaa.py"]
    assert (folder / "1").exists()
    report = store.delete_run(1)
    assert report.metrics == 2 and report.artifacts == 1 and report.sources == 1
    assert not (folder / "1").exists() and not (folder / "_sources" / "train_aaaa.py").exists()
    assert (folder / "_sources" / "utils_bbbb.py").exists()  # run 2 still uses it
    assert (folder.parent / "outside.txt").exists()
    assert 1 not in store.run_ids()
    with pytest.raises(NotFound):
        store.delete_run(1)
    store.delete_run("lr-0.1-final")  # its source points outside basedir: nothing outside is touched
    assert (folder.parent / "outside.txt").read_text() == "secret"


def test_writes_to_a_run_deleted_meanwhile_are_not_found(folder: Path) -> None:
    import shutil

    s = FileStore(str(folder), scan_ttl=3600)  # its cache still lists run 3
    shutil.rmtree(folder / "3")
    assert s.update_tags([3, 1], add=["x"]) == 1
    with pytest.raises(NotFound):
        s.set_notes(3, "gone")
    assert not (folder / "3").exists()


def test_read_only_refuses_every_write(folder: Path) -> None:
    s = FileStore(str(folder), read_only=True)
    for call in (
        lambda: s.set_tags(1, ["x"]), lambda: s.set_notes(1, "x"), lambda: s.update_tags([1], add=["x"]),
        lambda: s.delete_run(1), lambda: s.save_view("v", {}), lambda: s.delete_view("v"),
        lambda: s.add_custom_column("c", "config.lr"), lambda: s.add_metric_column("m", "loss", "max"),
    ):
        with pytest.raises(ReadOnly):
            call()
    assert not (folder / "1" / "omnidash.json").exists() and (folder / "1").exists()


def test_views_and_omniboard_shared_columns(store: FileStore, folder: Path) -> None:
    store.save_view("best", {"q": "lr > 0.1", "sort": "-id"})
    store.save_view("all", {"q": ""})
    store.save_view("best", {"q": "lr > 0.2"})
    assert [(v["name"], v["state"]) for v in store.list_views()] == [("all", {"q": ""}), ("best", {"q": "lr > 0.2"})]
    store.delete_view("all")
    assert [v["name"] for v in store.list_views()] == ["best"]

    store.add_custom_column("beta", "config.adam.beta1")
    store.add_metric_column("best_acc", "val.acc", "max")
    store.add_metric_column("tail_loss", "loss", "last_avg", lastn=2)
    saved = json.loads((folder / "_omnidash" / "columns.json").read_text())
    assert saved["omniboard.custom.columns"] == [{"name": "beta", "config_path": "config.adam.beta1"}]
    assert saved["omniboard.metric.columns"][0] == {"name": "best_acc", "metric_name": "val.acc", "extrema": "max",
                                                    "lastn": 1}
    rows = {r["id"]: r for r in store.list_runs().rows}
    assert rows[1]["beta"] == 0.9 and rows[1]["best_acc"] == 0.75
    assert rows[2]["tail_loss"] == pytest.approx((1 / 49 + 1 / 50) / 2)
    assert store.run_ids("best_acc > 0.7") == [1]
    assert [r["id"] for r in store.list_runs(sort="-beta", limit=2).rows] == [1, 2]
    names = {c.name: c for c in store.columns()}
    assert names["beta"].kind == "custom" and names["beta"].path == "config.adam.beta1"
    with pytest.raises(BadRequest):
        store.add_metric_column("bad", "loss", "median")
    with pytest.raises(BadRequest):
        store.add_custom_column("a.b", "config.lr")
    assert store.run_ids() == [1, 2, 3, 4, "lr-0.1-final"]  # _omnidash is not a run


# -- live folders ------------------------------------------------------------------------------
def test_malformed_json_keeps_the_previous_version(store: FileStore, folder: Path) -> None:
    assert store.list_runs("id == 1", columns=["status"]).rows[0]["status"] == "COMPLETED"
    full = (folder / "1" / "run.json").read_text()
    (folder / "1" / "run.json").write_text(full[: len(full) // 2])  # mid-rewrite
    (folder / "1" / "metrics.json").write_text('{"loss": {"steps": [0, 1')
    row = store.list_runs("id == 1", columns=["status", "max(val.acc)"]).rows[0]
    assert row == {"id": 1, "status": "COMPLETED", "max(val.acc)": 0.75}
    (folder / "1" / "run.json").write_text(full.replace('"COMPLETED"', '"INTERRUPTED"'))
    assert store.list_runs("id == 1", columns=["status"]).rows[0]["status"] == "INTERRUPTED"


def test_unreadable_files_do_not_break_listing(store: FileStore, folder: Path) -> None:
    if os.geteuid() == 0:
        print("root reads files whatever their mode: using a directory in place of config.json instead")
        (folder / "2" / "config.json").unlink()
        (folder / "2" / "config.json").mkdir()
    else:
        (folder / "2" / "config.json").chmod(0)
    fresh = FileStore(str(folder))
    assert 2 in fresh.run_ids() and fresh.list_runs().total == 5


def age_files(folder: Path, seconds: float = 3600) -> None:
    """Move every mtime into the past, as if the files were written long ago."""
    then = datetime.now(UTC).timestamp() - seconds
    for p in [folder, *folder.rglob("*")]:
        os.utime(p, (then, then), follow_symlinks=False)


def test_refresh_re_reads_only_changed_runs(folder: Path) -> None:
    age_files(folder)
    s = FileStore(str(folder), scan_ttl=0)
    first = s.cache.parse_count
    assert first >= 12
    s.list_runs()
    s.list_runs("lr > 0")
    assert s.cache.parse_count == first  # unchanged files are only stat'ed
    run_json = json.loads((folder / "2" / "run.json").read_text())
    run_json["heartbeat"] = iso_naive(datetime.now(UTC))
    write_json(folder / "2" / "run.json", run_json)
    age_files(folder / "2" / "run.json", 60)  # (else a change this recent is re-checked at every scan)
    assert s.list_runs("id == 2", columns=["status"]).rows[0]["status"] == "RUNNING"
    assert s.cache.parse_count == first + 1
    write_json(folder / "9" / "run.json", {"status": "RUNNING"})
    age_files(folder / "9", 60)
    assert 9 in s.run_ids()
    assert s.cache.parse_count == first + 2
    s.list_runs()
    assert s.cache.parse_count == first + 2


def test_changes_within_one_timestamp_tick_are_seen(folder: Path) -> None:
    s = FileStore(str(folder), scan_ttl=0)
    path = folder / "2" / "run.json"
    run_json = json.loads(path.read_text())
    for status in ("COMPLETED", "CANCELLED", "COMPLETED"):  # same size, back to back: mtime may not move
        run_json["status"] = status
        write_json(path, run_json)
        assert s.list_runs("id == 2", columns=["status"]).rows[0]["status"] == status


def test_scan_ttl_limits_directory_scans(folder: Path) -> None:
    s = FileStore(str(folder), scan_ttl=60)
    write_json(folder / "9" / "run.json", {"status": "RUNNING"})
    assert 9 not in s.run_ids()  # within the TTL nothing is re-scanned
    s.cache.refresh(force=True)
    assert 9 in s.run_ids()


def test_finished_runs_are_watched_through_their_folder(folder: Path, monkeypatch) -> None:
    import omnidash.store.files_cache as files_cache

    age_files(folder)
    s = FileStore(str(folder), scan_ttl=0)
    s.cache.refresh(force=True)  # a full check marks runs 1 and lr-0.1-final (finished long ago) settled
    assert {e.dirname for e in s.cache.entries.values() if e.settled} == {"1", "lr-0.1-final"}
    calls: list[str] = []
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: calls.append(str(p)) or real_stat(p, *a, **k))
    s.cache.refresh(force=True)
    monkeypatch.setattr(os, "stat", real_stat)
    assert [c for c in calls if c.startswith(str(folder / "1"))] == [str(folder / "1")]  # its folder only
    assert len([c for c in calls if c.startswith(str(folder / "2"))]) == 3  # a RUNNING run: folder, run, metrics

    other = FileStore(str(folder), scan_ttl=0)  # another dashboard tags it: an atomic rename in the folder
    other.set_tags(1, ["from-elsewhere"])
    assert s.list_runs("id == 1", columns=["tags"]).rows[0]["tags"] == ["from-elsewhere"]

    run_json = json.loads((folder / "1" / "run.json").read_text())
    run_json["result"] = 0.5  # an in-place rewrite (Sacred never does this to a finished run)
    write_json(folder / "1" / "run.json", run_json)
    monkeypatch.setattr(files_cache, "FULL_CHECK_SECONDS", 0.0)
    assert s.list_runs("id == 1", columns=["result"]).rows[0]["result"] == 0.5  # seen at the next full check


def test_large_folders_are_rescanned_in_the_background(folder: Path) -> None:
    import time

    s = FileStore(str(folder), scan_ttl=0.05)
    s.cache._scan_seconds = 5.0  # as slow as 100,000 runs: requests must not wait for the rescan
    write_json(folder / "9" / "run.json", {"status": "RUNNING"})
    time.sleep(0.1)
    deadline = time.monotonic() + 10
    while 9 not in s.run_ids():  # served from the cache while the scan runs, then seen
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert s.cache._scanner is not None


# -- the real Sacred ---------------------------------------------------------------------------
def test_folder_written_by_real_sacred(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    run_sacred(tmp_path / "exp", [
        {"config": {"seed": 1, "lr": 0.1}},
        {"config": {"seed": 2, "mode": "fail"}},
        {"config": {"seed": 3, "mode": "interrupt"}},
        {"config": {"seed": 4}, "queue": True},
    ], file_dir=base)
    s = FileStore(str(base))
    rows = {r["id"]: r for r in s.list_runs(columns=["status", "lr", "result", "max(val.acc)"]).rows}
    assert {i: r["status"] for i, r in rows.items()} == {1: "COMPLETED", 2: "FAILED", 3: "INTERRUPTED", 4: "QUEUED"}
    assert rows[1]["lr"] == 0.1 and isinstance(rows[1]["result"], float)
    (acc,) = s.metric_series([1], ["val.acc"])
    assert acc.values[4] is None and all(v is not None for i, v in enumerate(acc.values) if i != 4)
    stream, _ = s.open_artifact(1, "weights.txt")
    with stream:
        assert stream.read().startswith(b"lr=0.1 seed=1")
    assert [x.name for x in s.list_sources(1)] == ["interop_exp.py"] and not s.list_sources(1)[0].missing
    stream, _ = s.open_source(4, "interop_exp.py")
    with stream:
        assert b"interop_toy" in stream.read()
    doc = s.get_run(2)
    assert doc["fail_trace"][-1].startswith("RuntimeError: simulated crash")
    assert doc["resources"] and doc["resources"][0][0].endswith("data.csv")
    assert "step 0" in s.get_run(1)["captured_out"]


# -- property: arbitrary contents never break a listing ------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
run_like = st.fixed_dictionaries(
    {},
    optional={
        "status": json_values | st.sampled_from(["RUNNING", "COMPLETED"]),
        "start_time": json_values | st.just("2026-11-01T10:00:00"),
        "heartbeat": json_values | st.just("2026-11-01T10:00:01.5"),
        "experiment": json_values, "artifacts": json_values, "host": json_values, "result": json_values,
        "meta": json_values, "omniboard": json_values,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=run_like | json_values, config=json_values, metrics=json_values, sidecar=json_values)
def test_arbitrary_json_never_breaks_a_listing(tmp_path_factory, run, config, metrics, sidecar) -> None:
    base = tmp_path_factory.mktemp("prop")
    write_json(base / "1" / "run.json", {"status": "COMPLETED"})
    write_json(base / "x" / "run.json", run)
    write_json(base / "x" / "config.json", config)
    write_json(base / "x" / "metrics.json", metrics)
    write_json(base / "x" / "omnidash.json", sidecar)
    s = FileStore(str(base))
    page = s.list_runs(sort="-start_time,lr", columns=None)
    assert page.total == 2 and {r["id"] for r in page.rows} == {1, "x"}
    json.dumps(page.rows, allow_nan=False)
    s.list_runs("status == COMPLETED or lr > 1 or tags has a or max(loss) > 0", sort="-max(loss)")
    s.columns()
    s.distinct("tags")
    json.dumps(s.get_run("x"), allow_nan=False)
    s.list_artifacts("x")
    s.list_sources("x")
    for series in s.metric_series(["x"], s.metric_names(["x"]).get("x", [])):
        assert all(v is None or math.isfinite(v) for v in series.values)


def test_parallel_first_load_gives_the_same_runs(folder: Path, monkeypatch) -> None:
    import omnidash.store.files_cache as files_cache

    serial = FileStore(str(folder))
    monkeypatch.setattr(files_cache, "PARALLEL_MIN_RUNS", 2)
    parallel = FileStore(str(folder))  # parsed in worker processes
    if threading.active_count() == 1:
        assert parallel.cache.parallel_loads == 1
    else:
        print("other threads are running: the first load stayed serial (never fork a threaded process)")
    columns = [c.name for c in serial.columns()] + ["last_avg(loss, 3)"]
    assert parallel.list_runs(columns=columns).rows == serial.list_runs(columns=columns).rows
    assert parallel.get_run(1) == serial.get_run(1)


def test_one_filter_asked_twice_at_once_is_evaluated_once(folder: Path, monkeypatch) -> None:
    """A new filter lists its first block and samples its varying columns in two threads: the selection (and its
    order) is computed by the first and waited for by the second, not evaluated twice over every run."""
    import omnidash.store.files as files_module

    an_hour_ago = time.time() - 3600
    for path in folder.rglob("*"):  # settled files: a fresh write is re-read at each scan (a new generation)
        os.utime(path, (an_hour_ago, an_hour_ago))
    store = FileStore(folder)
    expected = [r["id"] for r in store.list_runs("lr >= 0.1", sort="-id").rows]
    store = FileStore(folder)
    calls: list[object] = []
    real = files_module.matching_entries

    def slow_matching(entries, flt):
        calls.append(flt)
        time.sleep(0.25)  # both threads are inside the selection before either has finished it
        return real(entries, flt)

    monkeypatch.setattr(files_module, "matching_entries", slow_matching)
    results: list[list] = []
    threads = [threading.Thread(target=lambda: results.append(
        [r["id"] for r in store.list_runs("lr >= 0.1", sort="-id", columns=["lr"]).rows])) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == results[1] == expected
    assert len(calls) == 1
