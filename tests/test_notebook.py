"""The pandas API (app/notebook.py) against both real backends, with runs written by the real Sacred:
its frames hold what GET /api/runs and /api/metrics return for the same query, with pandas dtypes; a run's
config, output, metrics, artifacts (an image shown inline) and sources; tag and note writes through the
board's store calls, refused on a read-only source."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
from sacred_helpers import ROOT, database_uri, sacred_in_both
from sweep_runs import sweep
from werkzeug.test import Client

from omnidash.context import Settings
from omnidash.notebook import Runs, connect
from omnidash.server import create_server
from omnidash.store import open_store
from omnidash.store.base import NotFound, ReadOnly, StoreError, StoreUnavailable

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


def specs() -> list[dict[str, Any]]:
    runs = sweep(repeats=1)[:6]
    runs.append({"config": {"lr": 0.1, "batch_size": 32, "steps": 12, "mode": "fail", "seed": 99,
                            "tags": ["crash", "interop"]}})
    return runs


def add_png(kind: str, source: str, run_id: int) -> None:
    """An image artifact, stored as the Sacred observer of that backend stores one."""
    if kind == "files":
        run_dir = Path(source) / str(run_id)
        (run_dir / "plot.png").write_bytes(PNG)
        doc = json.loads((run_dir / "run.json").read_text())
        doc["artifacts"].append("plot.png")
        (run_dir / "run.json").write_text(json.dumps(doc))
        return
    import gridfs
    import pymongo

    client = pymongo.MongoClient(source)
    db = client.get_default_database()
    file_id = gridfs.GridFS(db).put(PNG, filename=f"artifact://runs/{run_id}/plot.png")
    db.runs.update_one({"_id": run_id}, {"$push": {"artifacts": {"name": "plot.png", "file_id": file_id}}})
    client.close()


@pytest.fixture(scope="module")
def sources(tmp_path_factory, mongo_server) -> Iterator[dict[str, str]]:
    with sacred_in_both(mongo_server.uri, tmp_path_factory.mktemp("nb"), specs(), "notebook") as (uri, folder):
        for kind, source in (("files", str(folder)), ("mongo", uri)):
            add_png(kind, source, 1)
        yield {"files": str(folder), "mongo": uri, "server": mongo_server.uri}


@pytest.fixture(params=["files", "mongo"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def runs(kind, sources) -> Iterator[Runs]:
    r = connect(sources[kind])
    yield r
    r.store.close()


@pytest.fixture
def api(kind, sources) -> Iterator[Client]:
    store = open_store(sources[kind])
    yield Client(create_server(store, Settings()))
    store.close()


def api_runs(api: Client, query: str = "", columns: str = "") -> list[dict[str, Any]]:
    url = f"/api/runs?limit=10000&sort=id&q={quote(query)}" + (f"&columns={quote(columns)}" if columns else "")
    response = api.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["runs"]


def same(frame_value: Any, api_value: Any, column: str) -> bool:
    """A frame cell equals the API's JSON value (dates as instants, missing as NaN/NA/None)."""
    if api_value is None:
        return frame_value is None or frame_value is pd.NA or (isinstance(frame_value, float) and math.isnan(frame_value)) \
            or frame_value is pd.NaT
    if column in ("start_time", "stop_time", "heartbeat"):
        return frame_value == pd.Timestamp(api_value)
    if isinstance(api_value, float):
        return frame_value == pytest.approx(api_value, rel=1e-12)
    if isinstance(api_value, list):
        return list(frame_value) == api_value
    return frame_value == api_value


@pytest.mark.parametrize("query", ["", 'config.batch_size == 32 or status == "FAILED"', "max(val.acc) > 0.5"])
def test_frame_holds_what_the_api_returns(runs, api, query):
    expected = api_runs(api, query)
    frame = runs.frame(query)
    assert frame.index.name == "id"
    assert frame.index.tolist() == [r["id"] for r in expected]
    assert list(frame.columns) == [c for c in expected[0] if c != "id"] if expected else True
    for row in expected:
        for column, value in row.items():
            if column == "id":
                continue
            assert same(frame.at[row["id"], column], value, column), (row["id"], column, frame.at[row["id"], column],
                                                                      value)


def test_frame_dtypes(runs):
    frame = runs.frame()
    assert len(frame) == 7
    assert str(frame["start_time"].dtype).startswith("datetime64") and str(frame["start_time"].dt.tz) == "UTC"
    assert frame["config.lr"].dtype == "float64" and frame["config.batch_size"].dtype == "int64"
    assert frame["last(train.loss)"].dtype == "float64" and frame["duration"].dtype == "float64"
    assert frame["status"].tolist().count("FAILED") == 1
    assert frame.loc[7, "tags"] == ["crash", "interop"]  # Sacred config tags, as the table shows them
    assert frame["result"].dtype == "float64" and math.isnan(frame.loc[7, "result"])  # the failed run: none


def test_frame_columns_and_bad_query(runs, api):
    cols = ["config.lr", "last_avg(train.loss, 3)", "status"]
    frame = runs.frame("config.lr >= 0.1", columns=cols)
    assert list(frame.columns) == cols
    expected = api_runs(api, "config.lr >= 0.1", ",".join(cols))
    assert frame["last_avg(train.loss, 3)"].tolist() == pytest.approx([r["last_avg(train.loss, 3)"] for r in expected])
    with pytest.raises(StoreError, match="expected a value"):
        runs.frame("config.lr >")


def test_metrics_long_frame_matches_the_api(runs, api):
    ids = [1, 2, 7]
    long = runs.metrics(ids, ["train.loss", "val.acc"])
    assert list(long.columns) == ["run_id", "name", "step", "value", "timestamp"]
    assert str(long["timestamp"].dt.tz) == "UTC" and long["step"].dtype == "int64"
    body = api.get("/api/metrics?runs=1,2,7&name=train.loss,val.acc&max_points=100000").get_json()
    for s in body["series"]:
        part = long[(long.run_id == s["run_id"]) & (long.name == s["name"])]
        assert part["step"].tolist() == s["steps"]
        assert part["value"].tolist() == pytest.approx([math.nan if v is None else v for v in s["values"]],
                                                       nan_ok=True)
    assert len(long) == sum(len(s["steps"]) for s in body["series"])
    assert set(runs.metrics(1)["name"]) == {"train.loss", "val.acc"}  # every metric by default
    assert len(runs.metrics(runs.frame(), "train.loss", max_points=4)) <= 7 * 6  # downsampled like the charts


def test_one_run(runs, api, tmp_path):
    run = runs[1]
    doc = api.get("/api/runs/1").get_json()
    assert run.config == doc["config"] and run.info == doc["info"] and run.status == "COMPLETED"
    assert "step 0 loss=" in run.output
    loss = run.metrics["train.loss"]
    assert loss.index.name == "step" and loss.index.tolist() == list(range(10)) and loss.name == "train.loss"
    assert set(run.metrics) == {"train.loss", "val.acc"}
    assert set(run.artifacts) == {"weights.txt", "plot.png"}
    weights = run.artifacts["weights.txt"]
    assert weights.read().startswith(b"lr=0.01 seed=") and weights._repr_png_() is None
    assert weights.save(tmp_path).read_bytes() == weights.read()
    image = run.artifacts["plot.png"]
    assert image._repr_png_() == PNG and bytes(image) == PNG  # Jupyter shows it inline
    assert "interop_exp.py" in {Path(n).name for n in run.sources}
    source = run.sources[next(n for n in run.sources if n.endswith("interop_exp.py"))]
    assert "from sacred import Experiment" in source.text()
    assert runs.run(7).status == "FAILED" and run.start_time.tzinfo is not None
    with pytest.raises(NotFound):
        runs[12345]


def test_tags_and_notes_through_the_store(kind, sources, tmp_path):
    source = sources[kind]
    if kind == "files":
        source = str(shutil.copytree(source, tmp_path / "runs"))
    else:
        import pymongo

        name = f"nbw_{uuid.uuid4().hex[:8]}"
        client = pymongo.MongoClient(sources["server"])
        src = pymongo.MongoClient(source).get_default_database()
        for coll in src.list_collection_names():
            docs = list(src[coll].find())
            if docs:
                client[name][coll].insert_many(docs)
        source = database_uri(sources["server"], name)
    try:
        runs = connect(source)
        assert runs.add_tags([1, 2], ["best", "keep"]) == 2
        assert runs.remove_tags(2, "keep") == 1
        runs.set_notes(1, "the one to ship")
        frame = runs.frame(columns=["tags", "notes"])
        # Sacred's config tags ("interop") are the starting tags, as on the board
        assert frame.loc[1, "tags"] == ["interop", "best", "keep"] and frame.loc[2, "tags"] == ["interop", "best"]
        assert frame.loc[1, "notes"] == "the one to ship"
        assert runs.frame('tags == "best"').index.tolist() == [1, 2]  # the table's query language sees them
        run = runs[3]
        run.add_tags("x")
        assert run.tags == ["interop", "x"]
        runs.store.close()

        frozen = connect(source, read_only=True)
        with pytest.raises(ReadOnly):
            frozen.add_tags([1], ["nope"])
        with pytest.raises(ReadOnly):
            frozen.set_notes(1, "nope")
        assert frozen.frame(columns=["tags", "notes"]).loc[1].tolist() == [["interop", "best", "keep"],
                                                                     "the one to ship"]
        frozen.store.close()
    finally:
        if kind == "mongo":
            client.drop_database(name)
            client.close()


def test_connect_errors(tmp_path):
    with pytest.raises(StoreUnavailable, match="is not a folder"):
        connect(str(tmp_path / "missing"))
    with pytest.raises(StoreUnavailable, match="no Sacred runs"):
        connect(str(tmp_path))
    with pytest.raises(StoreUnavailable, match="unsupported source"):
        connect("http://example.com/")


def loaded(code: str, roots: tuple[str, ...]) -> list[str]:
    """Modules under `roots` that a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {roots!r}))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().replace("'", '"'))


def test_import_omnidash_loads_neither_dash_nor_pandas():
    assert loaded("import omnidash", ("dash", "plotly", "sklearn", "pandas")) == []
    assert loaded("import omnidash\nassert callable(omnidash.connect)", ("dash", "plotly", "sklearn")) == []
