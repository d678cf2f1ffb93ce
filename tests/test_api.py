"""The JSON API against both real backends: runs written by the real `sacred` package into a Sacred
FileStorage folder and into the test MongoDB server, served by the real Flask app."""

from __future__ import annotations

import csv
import io
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sacred_helpers import run_sacred, sacred_mongo
from werkzeug.test import Client

from omnidash.context import Settings
from omnidash.server import create_server

RUNS = [
    {"config": {"lr": 0.01, "seed": 1, "steps": 300}},
    {"config": {"lr": 0.1, "seed": 2, "steps": 300, "tags": ["baseline", "v2"]}},
    {"config": {"lr": 0.3, "seed": 3, "steps": 300}},
    {"config": {"lr": 0.5, "seed": 4, "mode": "fail", "steps": 40}},
]
ACTIVE = {
    "report.html": b"<html><script>document.title='owned'</script></html>",
    "plot.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "table.csv": b"a,b\n1,2\n",
}


# -- data: written once per module through Sacred, copied for every test that writes ----------------
@pytest.fixture(scope="module")
def sacred_data(tmp_path_factory, mongo_server) -> dict[str, Any]:
    """Sacred writes RUNS through FileStorageObserver and MongoObserver (one module database)."""
    base = tmp_path_factory.mktemp("sacred")
    db_name = f"api_{uuid.uuid4().hex[:8]}"
    run_sacred(
        base / "work",
        [dict(r, config=dict(r["config"])) for r in RUNS],
        file_dir=base / "files",
        mongo=sacred_mongo(mongo_server.uri, db_name),
    )
    add_artifacts_files(base / "files", 1)
    add_artifacts_mongo(mongo_server.uri, db_name, 1)
    yield {"files": base / "files", "db_name": db_name}
    import pymongo

    pymongo.MongoClient(mongo_server.uri).drop_database(db_name)


def add_artifacts_files(folder: Path, run_id: int) -> None:
    """Add artifacts exactly as FileStorageObserver does: the file in the run folder, its name in run.json."""
    run_dir = folder / str(run_id)
    run = json.loads((run_dir / "run.json").read_text())
    for name, data in ACTIVE.items():
        (run_dir / name).write_bytes(data)
        run["artifacts"].append(name)
    (run_dir / "run.json").write_text(json.dumps(run))


def add_artifacts_mongo(uri: str, db_name: str, run_id: int) -> None:
    """Add artifacts exactly as MongoObserver does: a GridFS file, then $push to the run's artifacts."""
    import gridfs
    import pymongo

    db = pymongo.MongoClient(uri)[db_name]
    fs = gridfs.GridFS(db)
    for name, data in ACTIVE.items():
        file_id = fs.put(data, filename=f"artifact://runs/{run_id}/{name}")
        db.runs.update_one({"_id": run_id}, {"$push": {"artifacts": {"name": name, "file_id": file_id}}})


def copy_mongo_db(uri: str, source: str, target: str) -> None:
    import pymongo

    client = pymongo.MongoClient(uri)
    for name in client[source].list_collection_names():
        docs = list(client[source][name].find())
        if docs:
            client[target][name].insert_many(docs)
    client.close()


def open_backend(kind: str, sacred_data: dict[str, Any], tmp_path: Path, mongo_server, mongo_db_name: str,
                 read_only: bool = False):
    """A fresh, writable copy of the module's runs, opened with the real backend of `kind`."""
    from omnidash.store import open_store

    if kind == "files":
        folder = tmp_path / "runs"
        shutil.copytree(sacred_data["files"], folder)
        return open_store(str(folder), read_only=read_only)
    copy_mongo_db(mongo_server.uri, sacred_data["db_name"], mongo_db_name)
    return open_store(f"{mongo_server.uri.rstrip('/')}/{mongo_db_name}", read_only=read_only)


@pytest.fixture(params=["files", "mongo"])
def backend(request, sacred_data, tmp_path, mongo_server, mongo_uri, mongo_db_name):
    store = open_backend(request.param, sacred_data, tmp_path, mongo_server, mongo_db_name)
    yield store
    store.close()


@pytest.fixture
def client(backend) -> Iterator[Client]:
    yield Client(create_server(backend, Settings()))


def get_json(client: Client, url: str, status: int = 200) -> Any:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    return response.get_json()


# -- reads ---------------------------------------------------------------------------------------
def test_healthz_reports_source_and_run_count(client, backend):
    body = get_json(client, "/healthz")
    assert body == {"status": "ok", "source": backend.kind, "runs": 4}


def test_list_runs_default_page_sorted_by_id_descending(client):
    body = get_json(client, "/api/runs")
    assert body["total"] == 4 and body["offset"] == 0
    assert [r["id"] for r in body["runs"]] == [4, 3, 2, 1]
    first = body["runs"][-1]
    assert first["experiment"] == "interop_toy" and first["status"] == "COMPLETED"
    assert first["config.lr"] == 0.01
    assert isinstance(first["max(train.loss)"], float)
    assert body["runs"][0]["status"] == "FAILED"


def test_list_runs_query_sort_offset_limit_columns(client):
    body = get_json(client, "/api/runs?q=lr%20%3E%3D%200.1&sort=config.lr&offset=1&limit=1&columns=id,config.lr,tags")
    assert body["total"] == 3 and body["offset"] == 1
    assert body["runs"] == [{"id": 3, "config.lr": 0.3, "tags": ["interop"]}]  # config.tags fallback
    tagged = get_json(client, "/api/runs?q=tags%20has%20baseline&columns=id,tags")
    assert tagged["runs"] == [{"id": 2, "tags": ["baseline", "v2"]}]


def test_columns_and_sort_keep_commas_inside_parentheses(client):
    body = get_json(client, "/api/runs?sort=-last_avg(train.loss,%202),id&columns=id,last_avg(train.loss,%202)")
    assert set(body["runs"][0]) == {"id", "last_avg(train.loss, 2)"}
    values = [r["last_avg(train.loss, 2)"] for r in body["runs"] if r["last_avg(train.loss, 2)"] is not None]
    assert values == sorted(values, reverse=True) and values


def test_list_runs_limit_bounds(client):
    assert len(get_json(client, "/api/runs?limit=10000")["runs"]) == 4
    assert "limit" in get_json(client, "/api/runs?limit=10001", 400)["error"]
    assert "limit" in get_json(client, "/api/runs?limit=ten", 400)["error"]
    assert "offset" in get_json(client, "/api/runs?offset=-1", 400)["error"]


def test_bad_query_is_400_with_position(client):
    error = get_json(client, "/api/runs?q=(lr%20%3E%201", 400)["error"]
    assert "column" in error
    error = get_json(client, "/api/runs.csv?q=lr%20%3E%3E%201", 400)["error"]
    assert "column" in error


def test_csv_export_streams_every_matching_row(client):
    response = client.get("/api/runs.csv?q=status%20%3D%3D%20COMPLETED&columns=id,config.lr,tags,result")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["id", "config.lr", "tags", "result"]
    assert [r[0] for r in rows[1:]] == ["3", "2", "1"]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id["2"][2] == "baseline, v2"
    assert float(by_id["1"][1]) == 0.01 and float(by_id["1"][3]) > 0


def test_csv_default_columns_are_every_column(client):
    rows = list(csv.reader(io.StringIO(client.get("/api/runs.csv").get_data(as_text=True))))
    header = rows[0]
    assert {"id", "status", "config.lr", "max(train.loss)"} <= set(header)
    assert len(rows) == 5


def test_get_run_whole_document(client):
    doc = get_json(client, "/api/runs/2")
    assert doc["config"]["lr"] == 0.1
    assert doc["status"] == "COMPLETED"
    assert isinstance(doc["start_time"], str) and doc["start_time"].startswith("20")
    assert "step 0 loss" in doc["captured_out"]
    get_json(client, "/api/runs/999", 404)
    get_json(client, "/api/runs/no-such-run", 404)


def test_artifacts_content_types_and_active_content(client):
    text = client.get("/api/runs/1/artifacts/weights.txt")
    assert text.status_code == 200 and text.mimetype == "text/plain"
    assert text.headers["Content-Disposition"].startswith("inline")
    assert text.get_data(as_text=True).startswith("lr=0.01")
    assert text.headers["X-Content-Type-Options"] == "nosniff"
    csv_file = client.get("/api/runs/1/artifacts/table.csv")
    assert csv_file.mimetype == "text/csv" and csv_file.data == ACTIVE["table.csv"]
    for name in ("report.html", "plot.svg"):
        r = client.get(f"/api/runs/1/artifacts/{name}")
        assert r.status_code == 200 and r.data == ACTIVE[name]
        assert r.headers["Content-Disposition"].startswith("attachment"), name
        assert r.mimetype not in ("text/html", "image/svg+xml"), name
        assert "sandbox" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    download = client.get("/api/runs/1/artifacts/weights.txt?download=1")
    assert download.headers["Content-Disposition"].startswith("attachment")
    get_json(client, "/api/runs/1/artifacts/missing.bin", 404)
    get_json(client, "/api/runs/1/artifacts/..%2F2%2Frun.json", 404)
    get_json(client, "/api/runs/99/artifacts/weights.txt", 404)


def test_metrics_series_downsampled_with_nan_as_gaps(client):
    body = get_json(client, "/api/metrics?runs=1,2&name=train.loss&name=val.acc&max_points=50")
    series = {(s["run_id"], s["name"]): s for s in body["series"]}
    assert set(series) == {(1, "train.loss"), (1, "val.acc"), (2, "train.loss"), (2, "val.acc")}
    loss = series[(1, "train.loss")]
    assert loss["total_points"] == 300 and 2 <= len(loss["steps"]) <= 50
    assert loss["steps"] == sorted(loss["steps"]) and loss["steps"][0] == 0 and loss["steps"][-1] == 299
    full = get_json(client, "/api/metrics?runs=1&names=val.acc&max_points=1000")["series"][0]
    assert len(full["values"]) == 300 and full["values"][4] is None  # NaN at step 4 is a gap
    every = get_json(client, "/api/metrics?runs=2")["series"]
    assert {s["name"] for s in every} == {"train.loss", "val.acc"}
    window = get_json(client, "/api/metrics?runs=1&name=train.loss&x_min=100&x_max=120")["series"][0]
    assert window["steps"] and min(window["steps"]) >= 100 and max(window["steps"]) <= 120
    assert "runs" in get_json(client, "/api/metrics?name=loss", 400)["error"]
    assert "max_points" in get_json(client, "/api/metrics?runs=1&max_points=x", 400)["error"]


def test_unknown_api_route_is_json_404(client):
    assert "no API route" in get_json(client, "/api/nothing/here", 404)["error"]


# -- writes ---------------------------------------------------------------------------------------
def test_patch_tags_and_notes(client):
    r = client.patch("/api/runs/1", json={"tags": ["good", "good", "sweep"], "notes": "best so far"})
    assert r.status_code == 200, r.get_data(as_text=True)
    row = get_json(client, "/api/runs?q=id%20%3D%3D%201&columns=id,tags,notes")["runs"][0]
    assert row == {"id": 1, "tags": ["good", "sweep"], "notes": "best so far"}
    doc = get_json(client, "/api/runs/1")
    assert doc["omniboard"] == {"tags": ["good", "sweep"], "notes": "best so far"}


def test_patch_errors(client):
    assert client.patch("/api/runs/999", json={"tags": ["x"]}).status_code == 404
    assert client.patch("/api/runs/1", json={"tags": "x"}).status_code == 400
    assert client.patch("/api/runs/1", json={"color": "red"}).status_code == 400
    assert client.patch("/api/runs/1", data="tags=x").status_code == 400
    assert client.patch("/api/runs/1", json={"notes": 5}).status_code == 400


def test_bulk_tags_by_ids_and_by_query(client):
    r = client.post("/api/tags", json={"runs": [1, 2], "add": ["picked"]})
    assert r.status_code == 200 and r.get_json()["matched"] == 2
    r = client.post("/api/tags", json={"q": "lr >= 0.1", "add": ["high"], "remove": ["v2"]})
    assert r.status_code == 200 and r.get_json()["matched"] == 3
    tags = {row["id"]: set(row["tags"]) for row in get_json(client, "/api/runs?columns=id,tags")["runs"]}
    assert "picked" in tags[1] and "high" not in tags[1]
    assert {"picked", "high"} <= tags[2] and "v2" not in tags[2]
    assert "high" in tags[3] and "high" in tags[4] and "picked" not in tags[3]
    assert client.post("/api/tags", json={"runs": [1]}).status_code == 400
    assert client.post("/api/tags", json={"add": ["x"]}).status_code == 400
    assert client.post("/api/tags", json={"q": "lr >", "add": ["x"]}).status_code == 400


def test_delete_run(client):
    r = client.delete("/api/runs/3")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json()["deleted"] == 3
    get_json(client, "/api/runs/3", 404)
    assert get_json(client, "/api/runs")["total"] == 3
    assert get_json(client, "/api/metrics?runs=3")["series"] == []
    assert client.delete("/api/runs/3").status_code == 404


def test_read_only_refuses_writes_with_409(request, sacred_data, tmp_path, mongo_server, mongo_db_name):
    for kind in ("files", "mongo"):
        store = open_backend(kind, sacred_data, tmp_path / kind, mongo_server, f"{mongo_db_name}_{kind}")
        try:
            client = Client(create_server(store, Settings(read_only=True)))
            assert client.patch("/api/runs/1", json={"tags": ["x"]}).status_code == 409
            assert client.post("/api/tags", json={"runs": [1], "add": ["x"]}).status_code == 409
            assert client.delete("/api/runs/1").status_code == 409
            assert get_json(client, "/api/runs?columns=id,tags")["total"] == 4
            assert get_json(client, "/api/runs/1").get("omniboard") is None
        finally:
            store.close()
            if kind == "mongo":
                import pymongo

                pymongo.MongoClient(mongo_server.uri).drop_database(f"{mongo_db_name}_{kind}")


# -- database down ---------------------------------------------------------------------------------
def test_database_down_is_503(private_mongo_server):
    """A private test server we stop under a running app: JSON 503s and /healthz 503, then recovery."""
    from omnidash.store import open_store

    server = private_mongo_server
    try:
        import pymongo

        pymongo.MongoClient(server.uri).down.runs.insert_one(
            {"_id": 1, "status": "COMPLETED", "config": {"lr": 1}, "experiment": {"name": "e"}})
        store = open_store(f"{server.uri}down")
        client = Client(create_server(store, Settings()))
        assert get_json(client, "/healthz")["runs"] == 1
        server.stop()
        down = get_json(client, "/healthz", 503)
        assert down["status"] == "unavailable" and down["reason"]
        assert get_json(client, "/api/runs", 503)["error"]
        assert get_json(client, "/api/runs/1", 503)["error"]
        server.start()
        assert get_json(client, "/api/runs")["total"] == 1
        store.close()
    finally:
        server.start()
