"""sacredlog.Run behaviour against the real test server and real folders: ids, metrics, statuses, signals,
bounded output, numpy values, per-field write failures, the function forms."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import bson
import numpy as np
import pymongo
import pytest

import sacredlog
from sacredlog import Run

ROOT = Path(__file__).resolve().parent.parent


def _db(mongo_uri: str):
    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    return client.get_default_database()


def _run(mongo_uri: str, tmp_path: Path, **kw) -> Run:
    kw.setdefault("heartbeat", 0.2)
    kw.setdefault("capture_output", False)
    return Run("unit", kw.pop("config", {"lr": 0.1}), mongo_url=mongo_uri, journal_dir=tmp_path / "journal",
               **kw)


@pytest.mark.mongo
def test_ids_are_max_plus_one_and_racing_runs_never_collide(mongo_uri, tmp_path):
    db = _db(mongo_uri)
    db.runs.insert_one({"_id": 41, "status": "COMPLETED"})
    db.runs.insert_one({"_id": "named-run", "status": "COMPLETED"})  # Sacred's max+1 would crash on this
    ids: list[int] = []
    barrier = threading.Barrier(4)

    def one() -> None:
        run = _run(mongo_uri, tmp_path, handle_sigterm=False)
        barrier.wait()
        with run:
            run.log_scalar("x", 1.0)
        ids.append(run.run_id)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(ids) == [42, 43, 44, 45]
    assert db.runs.count_documents({"status": "COMPLETED", "format": "MongoObserver-0.7.0"}) == 4


@pytest.mark.mongo
def test_explicit_run_id(mongo_uri, tmp_path, capfd):
    with _run(mongo_uri, tmp_path, run_id=1000) as run:
        pass
    assert run.run_id == 1000
    assert _db(mongo_uri).runs.find_one({"_id": 1000})["meta"]["options"]["--id"] == "1000"
    with _run(mongo_uri, tmp_path, run_id=1000) as again:  # taken: the next free id, nothing lost
        again.log_scalar("x", 1.0)
    assert again.run_id == 1001
    assert _db(mongo_uri).metrics.find_one({"run_id": 1001})["values"] == [1.0]
    assert "exists already" in capfd.readouterr().err


@pytest.mark.mongo
def test_metrics_are_pushed_in_batches_with_references_and_index(mongo_uri, tmp_path):
    db = _db(mongo_uri)
    with _run(mongo_uri, tmp_path) as run:
        run.log_scalar("train.loss", 0.5)
        run.log_scalar("train.loss", 0.4)
        run.log_scalar("val.acc", 0.9, step=100)
        run.log_scalar("val.acc", 0.91)  # continues from the explicit step: 101
        time.sleep(0.6)  # flushed by the heartbeat thread
        mid = db.metrics.find_one({"run_id": run.run_id, "name": "train.loss"})
        assert mid["steps"] == [0, 1]
        doc = db.runs.find_one({"_id": run.run_id})
        assert doc["status"] == "RUNNING" and doc["heartbeat"] is not None
        run.log_scalar("train.loss", 0.3)
    loss = db.metrics.find_one({"run_id": run.run_id, "name": "train.loss"})
    assert loss["steps"] == [0, 1, 2] and loss["values"] == [0.5, 0.4, 0.3]
    acc = db.metrics.find_one({"run_id": run.run_id, "name": "val.acc"})
    assert acc["steps"] == [100, 101]
    assert db.metrics.count_documents({"run_id": run.run_id}) == 2
    refs = db.runs.find_one({"_id": run.run_id})["info"]["metrics"]
    assert sorted(refs, key=lambda r: r["name"]) == [
        {"name": "train.loss", "id": str(loss["_id"])}, {"name": "val.acc", "id": str(acc["_id"])}]
    assert {"run_id": 1, "name": 1} in [dict(ix["key"]) for ix in db.metrics.list_indexes()]


@pytest.mark.mongo
def test_crash_inside_with_records_failed_and_reraises(mongo_uri, tmp_path):
    run = _run(mongo_uri, tmp_path, file_storage=tmp_path / "fs")
    with pytest.raises(ZeroDivisionError), run:
        run.log_scalar("loss", 1.0)
        1 / 0  # noqa: B018
    doc = _db(mongo_uri).runs.find_one({"_id": run.run_id})
    assert doc["status"] == "FAILED"
    assert doc["fail_trace"][0] == "Traceback (most recent call last):\n"
    assert doc["fail_trace"][-1] == "ZeroDivisionError: division by zero\n"
    assert doc["stop_time"] >= doc["heartbeat"]
    on_disk = json.loads((tmp_path / "fs" / str(run.run_id) / "run.json").read_text())
    assert on_disk["status"] == "FAILED" and on_disk["fail_trace"] == doc["fail_trace"]


@pytest.mark.mongo
def test_keyboard_interrupt_records_interrupted(mongo_uri, tmp_path):
    run = _run(mongo_uri, tmp_path)
    with pytest.raises(KeyboardInterrupt), run:
        raise KeyboardInterrupt
    doc = _db(mongo_uri).runs.find_one({"_id": run.run_id})
    assert doc["status"] == "INTERRUPTED" and "fail_trace" not in doc


SIGTERM_SCRIPT = textwrap.dedent('''
    import sys, time
    from sacredlog import Run
    with Run("sigterm", {"a": 1}, mongo_url=sys.argv[1], heartbeat=0.2) as run:
        for i in range(100000):
            run.log_scalar("loss", 1.0 / (i + 1))
            if i == 10:
                print("READY", flush=True)
            time.sleep(0.01)
''')


@pytest.mark.mongo
def test_sigterm_records_interrupted(mongo_uri, tmp_path):
    script = tmp_path / "sigterm_exp.py"
    script.write_text(SIGTERM_SCRIPT)
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               SACREDLOG_JOURNAL_DIR=str(tmp_path / "journal"))
    proc = subprocess.Popen([sys.executable, str(script), mongo_uri], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "READY"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    doc = _db(mongo_uri).runs.find_one({"experiment.name": "sigterm"})
    assert doc["status"] == "INTERRUPTED"
    assert doc["stop_time"] is not None
    loss = _db(mongo_uri).metrics.find_one({"run_id": doc["_id"], "name": "loss"})
    assert loss["steps"] == list(range(len(loss["steps"]))) and len(loss["steps"]) > 10


@pytest.mark.mongo
def test_captured_output_is_bounded_and_the_full_text_is_an_artifact(mongo_uri, tmp_path, capsys):
    line = "epoch progress " + "#" * 85 + "\n"  # 100 characters
    run = _run(mongo_uri, tmp_path, capture_output=True, max_captured_out=50_000,
               file_storage=tmp_path / "fs")
    with run:
        print("FIRST LINE")
        for _ in range(30_000):  # 3 MB of output
            sys.stdout.write(line)
        print("LAST LINE")
        run.log_scalar("loss", 0.1)
    capsys.readouterr()
    db = _db(mongo_uri)
    doc = db.runs.find_one({"_id": run.run_id})
    out = doc["captured_out"]
    assert len(out) < 51_000
    assert out.startswith("FIRST LINE\n") and out.endswith("LAST LINE\n")
    assert "characters omitted" in out
    assert len(bson.encode(doc)) < 16 * 1024 * 1024
    full = next(a for a in doc["artifacts"] if a["name"] == "captured_out_full.txt")
    import gridfs

    text = gridfs.GridFS(db).get(full["file_id"]).read().decode()
    assert text.startswith("FIRST LINE\n") and text.endswith("LAST LINE\n")
    assert len(text) == len("FIRST LINE\n") + 30_000 * len(line) + len("LAST LINE\n")
    cout = (tmp_path / "fs" / str(run.run_id) / "cout.txt").read_text()
    assert cout == text, "FileStorage's cout.txt keeps the whole output, as Sacred's does"
    assert db.metrics.find_one({"run_id": run.run_id})["values"] == [0.1]


@pytest.mark.mongo
def test_numpy_values_are_stored_like_sacred(mongo_uri, tmp_path):
    config = {"lr": np.float32(0.5), "layers": (np.int64(3), 4), "nested": {"w": np.float64(2.5)}}
    with _run(mongo_uri, tmp_path, config=config) as run:
        run.log_scalar("loss", np.float32(0.25), step=np.int64(7))
        run.log_scalar("acc", np.array(0.75))
        run.info["counts"] = np.array([308, 332])
        run.info["big"] = np.arange(20)
        run.result = np.float64(0.875)
    db = _db(mongo_uri)
    doc = db.runs.find_one({"_id": run.run_id})
    assert doc["config"]["lr"] == 0.5 and doc["config"]["layers"] == [3, 4] and doc["config"]["nested"]["w"] == 2.5
    assert doc["info"]["counts"] == {"py/object": "numpy.ndarray", "dtype": "int64", "values": [308, 332]}
    assert doc["info"]["big"]["shape"] == [20] and doc["info"]["big"]["byteorder"] == "<"
    assert doc["result"] == {"py/object": "numpy.float64", "dtype": "float64", "value": 0.875}
    loss = db.metrics.find_one({"run_id": run.run_id, "name": "loss"})
    assert loss["steps"] == [7] and loss["values"] == [0.25] and type(loss["steps"][0]) is int
    assert db.metrics.find_one({"run_id": run.run_id, "name": "acc"})["values"] == [0.75]


@pytest.mark.mongo
def test_a_field_that_cannot_be_written_never_stops_metrics(mongo_uri, tmp_path, capfd):
    with _run(mongo_uri, tmp_path) as run:
        run.info["huge"] = "x" * (17 * 1024 * 1024)  # the document would exceed 16 MiB
        for i in range(50):
            run.log_scalar("loss", float(i))
        time.sleep(0.5)
        for i in range(50, 100):
            run.log_scalar("loss", float(i))
        run.result = 1.5
    db = _db(mongo_uri)
    doc = db.runs.find_one({"_id": run.run_id})
    assert doc["status"] == "COMPLETED" and doc["result"] == 1.5
    assert "huge" not in doc["info"] or len(str(doc["info"])) < 100_000
    assert db.metrics.find_one({"run_id": run.run_id, "name": "loss"})["steps"] == list(range(100))
    assert "could not be stored" in capfd.readouterr().err


def test_log_scalar_never_blocks_on_an_unreachable_server(tmp_path):
    run = Run("unreachable", {}, mongo_url="mongodb://127.0.0.1:9/db", heartbeat=0.2, mongo_timeout=0.2,
              journal_dir=tmp_path / "journal", capture_output=False, file_storage=tmp_path / "fs")
    start = time.perf_counter()
    with run:
        for i in range(20_000):
            run.log_scalar("loss", float(i))
        elapsed = time.perf_counter() - start
    assert elapsed < 5, f"logging 20k points took {elapsed:.1f}s with the database down"
    assert run.mongo_journal and Path(run.mongo_journal).exists()
    metrics = json.loads((tmp_path / "fs" / "1" / "metrics.json").read_text())
    assert metrics["loss"]["steps"] == list(range(20_000)), "the other writer is unaffected"


def test_function_forms(tmp_path):
    @sacredlog.main("decorated", config={"lr": 0.1, "epochs": 3}, file_storage=tmp_path / "fs", heartbeat=None,
                    capture_output=False)
    def train(run, lr, epochs):
        for e in range(epochs):
            run.log_scalar("loss", lr / (e + 1))
        return lr * 10

    assert train(lr=0.2) == 2.0
    run_json = json.loads((tmp_path / "fs" / "1" / "run.json").read_text())
    config = json.loads((tmp_path / "fs" / "1" / "config.json").read_text())
    assert run_json["command"] == "train" and run_json["result"] == 2.0 and run_json["status"] == "COMPLETED"
    assert config["lr"] == 0.2 and run_json["meta"]["config_updates"] == {"lr": 0.2}

    def broken(config):
        raise ValueError(f"bad lr {config['lr']}")

    with pytest.raises(ValueError):
        sacredlog.run_function(broken, {"lr": 1}, file_storage=tmp_path / "fs", heartbeat=None,
                               capture_output=False)
    failed = json.loads((tmp_path / "fs" / "2" / "run.json").read_text())
    assert failed["status"] == "FAILED" and failed["fail_trace"][-1] == "ValueError: bad lr 1\n"
    assert "decorator.py" not in "".join(failed["fail_trace"])


def test_flatten_matches_sacreds_serializer():
    import datetime as dt
    import warnings

    warnings.simplefilter("ignore")
    from sacred.serializer import flatten as sacred_flatten

    from sacredlog.serialize import flatten

    values = [np.float64(0.5), np.int64(3), np.float32(0.25), np.bool_(True), np.array([1, 2]), np.arange(20),
              np.zeros((2, 3)), np.array(["a", "b"]), np.array([1.5, float("nan")]), (1, 2), {1, 2}, b"ab",
              {3: "x"}, {"a": (1, np.float64(2))}, 1.5, "x", None, True, [1, [2, (3,)]],
              np.asfortranarray(np.zeros((5, 5))), np.arange(30, dtype=np.float32), np.uint8(3),
              dt.datetime(2020, 1, 2, 3, 4, 5, 6), dt.date(2020, 1, 2), np.array(3.5),
              np.arange(40).reshape(5, 8), np.arange(20)[::2], np.arange(20)[3:], np.arange(40).reshape(5, 8).T,
              np.zeros(0), np.complex128(1 + 2j), {"nested": {"deep": [np.int32(1), np.float16(0.5)]}}]
    for value in values:
        assert json.dumps(flatten(value)) == json.dumps(sacred_flatten(value)), repr(value)


UNCLOSED_SCRIPT = textwrap.dedent('''
    import sys
    from sacredlog import Run
    run = Run("unclosed", {"a": 1}, file_storage=sys.argv[1], heartbeat=None, capture_output=False).start()
    run.log_scalar("loss", 0.5)
    if sys.argv[2] == "crash":
        raise RuntimeError("crashed outside any with block")
''')


@pytest.mark.parametrize(("mode", "status"), [("crash", "FAILED"), ("ok", "COMPLETED")])
def test_runs_left_open_are_closed_at_exit(tmp_path, mode, status):
    script = tmp_path / "unclosed_exp.py"
    script.write_text(UNCLOSED_SCRIPT)
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "fs"), mode], env=env,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode != 0) == (mode == "crash")
    run_json = json.loads((tmp_path / "fs" / "1" / "run.json").read_text())
    assert run_json["status"] == status
    if mode == "crash":
        assert run_json["fail_trace"][-1] == "RuntimeError: crashed outside any with block\n"
        assert "RuntimeError: crashed" in proc.stderr, "the usual traceback is still printed"
    metrics = json.loads((tmp_path / "fs" / "1" / "metrics.json").read_text())
    assert metrics["loss"]["values"] == [0.5]


def test_file_storage_folder_taken_falls_back_to_the_next_number(tmp_path, capfd):
    (tmp_path / "fs" / "5").mkdir(parents=True)
    with Run("taken", {}, file_storage=tmp_path / "fs", run_id=5, heartbeat=None, capture_output=False) as run:
        run.log_scalar("x", 1.0)
    assert run.run_id == "6"
    assert json.loads((tmp_path / "fs" / "6" / "run.json").read_text())["status"] == "COMPLETED"
    assert "next free number" in capfd.readouterr().err


FD_SCRIPT = textwrap.dedent('''
    import os, subprocess, sys
    from sacredlog import Run
    with Run("fdcapture", {}, file_storage=sys.argv[1], heartbeat=0.2, capture_output="fd") as run:
        print("from python")
        os.write(1, b"from the file descriptor\\\\n")
        subprocess.run(["echo", "from a child process"], check=True)
        print("to stderr", file=sys.stderr)
    print("after the run")
''')


def test_fd_capture_takes_output_of_child_processes(tmp_path):
    script = tmp_path / "fd_exp.py"
    script.write_text(FD_SCRIPT)
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "fs")], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "from a child process" in proc.stdout and "after the run" in proc.stdout, "output still shown"
    cout = (tmp_path / "fs" / "1" / "cout.txt").read_text()
    for text in ("from python", "from the file descriptor", "from a child process", "to stderr"):
        assert text in cout
    assert "after the run" not in cout
    run_json = json.loads((tmp_path / "fs" / "1" / "run.json").read_text())
    assert run_json["meta"]["options"]["--capture"] == "fd"
