"""Interop: the REAL sacred package writes the same runs through MongoObserver (into the test server) and
FileStorageObserver (into a folder); MongoStore and FileStore must agree on everything but captured_out
(sacred-format.md §6 items 3, 4, 8) and sub-millisecond times (Mongo keeps milliseconds, files microseconds).
"""

from __future__ import annotations

from typing import Any

import pytest
from sacred_helpers import sacred_in_both

from omnidash.store import open_store
from omnidash.store.files import FileStore

pytestmark = pytest.mark.mongo

RUNS: list[dict[str, Any]] = [
    {"config": {"seed": 11, "lr": 0.1}},
    {"config": {"seed": 12, "lr": 0.01, "mode": "fail"}},
    {"config": {"seed": 13, "lr": 0.05, "mode": "interrupt", "adam": {"beta1": 0.8}}},
    {"config": {"seed": 14, "optimizer": "sgd", "tags": ["interop", "queued"]}, "queue": True},
    {"config": {"seed": 15, "lr": 0.2, "batch_size": 64, "nan_at": -1}},
]
STATUSES = {1: "COMPLETED", 2: "FAILED", 3: "INTERRUPTED", 4: "QUEUED", 5: "COMPLETED"}


class Pair:
    """The same Sacred runs opened through both backends."""

    def __init__(self, mongo, files: FileStore) -> None:
        self.mongo = mongo
        self.files = files


@pytest.fixture(scope="module")
def pair(mongo_server, tmp_path_factory):
    runs = [dict(r, config=dict(r["config"])) for r in RUNS]
    with sacred_in_both(mongo_server.uri, tmp_path_factory.mktemp("interop"), runs, "t_interop") as (uri, folder):
        mongo = open_store(uri)
        yield Pair(mongo, FileStore(str(folder)))
        mongo.close()


def both(pair: Pair, method: str, *args, **kwargs) -> tuple[Any, Any]:
    return getattr(pair.mongo, method)(*args, **kwargs), getattr(pair.files, method)(*args, **kwargs)


def test_same_ids_and_statuses(pair: Pair) -> None:
    m, f = both(pair, "run_ids")
    assert m == f == [1, 2, 3, 4, 5]
    m, f = both(pair, "list_runs", sort="id", columns=["status"])
    assert [r["status"] for r in m.rows] == [r["status"] for r in f.rows] == [STATUSES[i] for i in range(1, 6)]
    assert pair.mongo.kind == "mongodb" and pair.files.kind == "files"


def test_same_rows_for_every_base_and_config_column(pair: Pair) -> None:
    m, f = both(pair, "list_runs", sort="id", columns=None)
    assert m.total == f.total == 5
    for mrow, frow in zip(m.rows, f.rows, strict=True):
        assert set(mrow) == set(frow), mrow["id"]
        for key in mrow:
            if key == "duration":  # heartbeat - start_time: ms (Mongo) vs µs (files) resolution
                assert (mrow[key] is None) == (frow[key] is None)
                if mrow[key] is not None:
                    assert abs(mrow[key] - frow[key]) <= 0.002
            else:  # start/stop/heartbeat are ISO with milliseconds in both, so they agree exactly
                assert mrow[key] == frow[key], (mrow["id"], key)
    first = f.rows[0]
    assert first["config.lr"] == 0.1 and first["config.adam.beta1"] == 0.9 and first["tags"] == ["interop"]
    assert isinstance(first["result"], float) and first["experiment"] == "interop_toy"
    assert f.rows[2]["config.adam.beta1"] == 0.8 and f.rows[2]["config.adam.beta2"] == 0.999


def test_same_metric_summaries_and_series(pair: Pair) -> None:
    cols = ["max(val.acc)", "min(train.loss)", "last(train.loss)", "mean(val.acc)", "last_avg(train.loss, 5)"]
    m, f = both(pair, "list_runs", sort="id", columns=cols)
    for mrow, frow in zip(m.rows, f.rows, strict=True):
        for c in cols:
            assert mrow[c] == pytest.approx(frow[c], rel=1e-12, abs=0) if frow[c] is not None else mrow[c] is None
    m_names, f_names = both(pair, "metric_names", [1, 2, 3, 4, 5])
    assert m_names == f_names == {1: ["train.loss", "val.acc"], 2: ["train.loss", "val.acc"],
                                  3: ["train.loss", "val.acc"], 5: ["train.loss", "val.acc"]}
    m_series, f_series = both(pair, "metric_series", [1, 2, 3, 5], ["val.acc", "train.loss"], max_points=None)
    assert [(s.run_id, s.name) for s in m_series] == [(s.run_id, s.name) for s in f_series]
    for ms, fs in zip(m_series, f_series, strict=True):
        assert ms.steps == fs.steps and ms.values == fs.values and ms.total_points == fs.total_points
        assert [t.replace(microsecond=t.microsecond // 1000 * 1000) for t in fs.timestamps] == ms.timestamps
    acc = {(s.run_id, s.name): s for s in f_series}
    assert acc[(1, "val.acc")].values[4] is None  # the NaN is a gap in both
    assert None not in acc[(5, "val.acc")].values
    assert len(acc[(2, "train.loss")].steps) == 16  # failed at step 15: metrics up to the crash


def test_same_artifacts_and_contents(pair: Pair) -> None:
    for rid in range(1, 6):
        m, f = both(pair, "list_artifacts", rid)
        assert [a.name for a in m] == [a.name for a in f] == (["weights.txt"] if STATUSES[rid] == "COMPLETED" else [])
        for a, b in zip(m, f, strict=True):
            assert a.size == b.size and not a.missing and not b.missing
            ms, _ = pair.mongo.open_artifact(rid, a.name)
            fs, _ = pair.files.open_artifact(rid, a.name)
            with ms, fs:
                assert ms.read() == fs.read()


def test_same_run_details(pair: Pair) -> None:
    for rid in range(1, 6):
        m, f = both(pair, "get_run", rid)
        assert m["_id"] == f["_id"] == rid
        for key in ("command", "status", "config", "result", "fail_trace", "start_time", "stop_time", "heartbeat"):
            assert m.get(key) == f.get(key), (rid, key)
        assert m["experiment"]["name"] == f["experiment"]["name"] == "interop_toy"
        assert m["experiment"]["dependencies"] == f["experiment"]["dependencies"]
        assert m["host"] == f["host"] and m["meta"]["command"] == f["meta"]["command"]
        # info.json is only written when info is non-empty, Mongo's QUEUED documents have no info at all;
        # with info.metrics in both, as Sacred shares run.info between observers
        assert (m.get("info") or {}) == (f.get("info") or {})
        assert [r[0] for r in m.get("resources", [])] == [r[0] for r in f.get("resources", [])]
    assert pair.files.get_run(2)["fail_trace"][-1] == "RuntimeError: simulated crash\n"
    assert "step 0" in pair.files.get_run(1)["captured_out"]


def test_same_sources(pair: Pair) -> None:
    files_sources = pair.files.list_sources(1)
    assert [s.name for s in files_sources] == ["interop_exp.py"] and not files_sources[0].missing
    for rid in (1, 4):
        m, f = both(pair, "list_sources", rid)
        assert [s.name for s in m] == [s.name for s in f]
        ms, _ = pair.mongo.open_source(rid, "interop_exp.py")
        fs, _ = pair.files.open_source(rid, "interop_exp.py")
        with ms, fs:
            assert ms.read() == fs.read()


def test_same_annotations_after_the_same_writes(pair: Pair) -> None:
    for store in (pair.mongo, pair.files):
        store.set_tags(1, ["best", "interop"])
        store.set_notes(2, "crashed at step 15")
        assert store.update_tags([3, 4, 5], add=["swept"], remove=["queued"]) == 3
    m, f = both(pair, "list_runs", sort="id", columns=["tags", "notes"])
    assert m.rows == f.rows
    assert f.rows[0]["tags"] == ["best", "interop"] and f.rows[1]["notes"] == "crashed at step 15"
    assert f.rows[3]["tags"] == ["interop", "swept"]
    m_ids, f_ids = both(pair, "run_ids", "tags has swept or notes ~ crashed")
    assert m_ids == f_ids == [2, 3, 4, 5]
