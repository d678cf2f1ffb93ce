"""Download routes of the run detail page on runs written by the real Sacred: raw output, source files,
all artifacts as a zip; names that try to climb out of the run reach nothing."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from detail_runs import HOSTILE_ARTIFACT, shared_file_runs, shared_mongo_runs

from omnidash.server import create_server
from omnidash.store.files import FileStore

SECRET = "TOP-SECRET-CONTENT"


@pytest.fixture(scope="module")
def runs():
    runs = shared_file_runs()
    (runs.basedir / "secret.txt").write_text(SECRET)
    (runs.basedir.parent / "secret.txt").write_text(SECRET)
    return runs


@pytest.fixture(scope="module")
def client(runs):
    server = create_server(FileStore(str(runs.basedir)))
    return server.test_client()


def test_raw_output_download(client, runs):
    r = client.get("/download/runs/1/output.txt")
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert r.mimetype == "text/plain"
    assert r.data == (runs.basedir / "1" / "cout.txt").read_bytes()
    assert b"\r" in r.data  # raw: progress bars not collapsed


def test_output_download_without_escape_codes(client, runs):
    raw = (runs.basedir / "1" / "cout.txt").read_bytes()
    assert b"\x1b[1;32mstarting\x1b[0m training" in raw
    r = client.get("/download/runs/1/output.txt?ansi=0")
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
    assert "-plain.txt" in r.headers["Content-Disposition"]
    assert b"\x1b" not in r.data and b"starting training" in r.data
    assert b"\r" in r.data  # only the escape codes go; the text is otherwise as captured
    assert r.data == raw.replace(b"\x1b[1;32m", b"").replace(b"\x1b[0m", b"").replace(b"\x1b[33m", b"").replace(
        b"\x1b[4m", b"")


def test_raw_output_of_a_string_id_and_a_huge_run(client, runs):
    r = client.get("/download/runs/lr-0.1-final/output.txt")
    assert r.status_code == 200 and b"Started run with ID" in r.data
    big = client.get("/download/runs/huge/output.txt")
    assert big.status_code == 200 and len(big.data) > 15 * 1024 * 1024
    assert big.data.rstrip().endswith(b"THE-LAST-LINE")


def test_unknown_run_is_a_clear_404(client):
    r = client.get("/download/runs/nope/output.txt")
    assert r.status_code == 404
    assert "nope" in r.get_json()["error"]


def test_source_download(client, runs):
    r = client.get("/download/runs/1/sources/toy_detail.py")
    assert r.status_code == 200
    assert r.data == (runs.basedir.parent / "toy_detail.py").read_bytes()
    assert "toy_detail.py" in r.headers["Content-Disposition"]
    assert client.get("/download/runs/1/sources/nothere.py").status_code == 404


def test_artifacts_zip(client, runs):
    r = client.get("/download/runs/1/artifacts.zip")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.data))
    names = set(zf.namelist())
    assert {"plot.png", "table.csv", "summary.json", "report.html", "log.txt", HOSTILE_ARTIFACT,
            "MISSING.txt"} == names
    assert "gone.txt" in zf.read("MISSING.txt").decode()
    assert zf.read("log.txt") == (runs.basedir / "1" / "log.txt").read_bytes()
    assert zf.read("plot.png").startswith(b"\x89PNG")


def test_zip_of_a_run_without_artifacts(client):
    r = client.get("/download/runs/2/artifacts.zip")
    assert r.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(r.data)).namelist() == []


def test_single_artifact_with_a_hostile_name(client):
    r = client.get(f"/api/runs/1/artifacts/{quote(HOSTILE_ARTIFACT, safe='')}?download=1")
    assert r.status_code == 200 and r.data == b"hostile name"
    html = client.get("/api/runs/1/artifacts/report.html")
    assert "text/html" not in html.headers["Content-Type"]  # never served as an active page


@pytest.mark.parametrize("path", [
    "/download/runs/1/sources/..%2F..%2Fsecret.txt",
    "/download/runs/1/sources/../../secret.txt",
    "/download/runs/1/sources/%2e%2e/%2e%2e/secret.txt",
    "/download/runs/1/sources/..%2Fsecret.txt",
    "/download/runs/1/sources/%2Fetc%2Fpasswd",
    "/download/runs/..%2Fsecret.txt/output.txt",
    "/api/runs/1/artifacts/..%2Fsecret.txt",
    "/api/runs/1/artifacts/../secret.txt",
    "/api/runs/1/artifacts/..%2F..%2Fsecret.txt",
    "/api/runs/1/artifacts/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/api/runs/1/artifacts/run.json",
    "/api/runs/1/artifacts/%2Fetc%2Fpasswd",
])
def test_names_escaping_the_run_reach_nothing(client, path):
    r = client.get(path, follow_redirects=True)  # werkzeug merges "//" with a redirect first
    assert r.status_code in (400, 404), (path, r.status_code)
    assert SECRET.encode() not in r.data
    assert b"root:" not in r.data


def test_route_level_paths_are_not_normalised_into_the_basedir(client, runs):
    """Even a request that a client normalises (`/x/../y`) lands on a route that asks the store."""
    assert Path(runs.basedir / "secret.txt").exists()
    r = client.get("/download/runs/1/sources/_sources/../../secret.txt")
    assert r.status_code == 404 and SECRET.encode() not in r.data


# -- MongoDB (GridFS) -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mongo_client(mongo_server):
    from omnidash.store.mongo import MongoStore

    uri, ids = shared_mongo_runs(mongo_server.uri)
    store = MongoStore(uri)
    yield create_server(store).test_client(), uri, ids
    store.close()


@pytest.mark.mongo
def test_mongo_zip_output_and_escaping_names(mongo_client):
    import gridfs
    import pymongo

    client, uri, ids = mongo_client
    r = client.get(f"/download/runs/{ids['completed']}/artifacts.zip")
    assert r.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(r.data))
    assert "gone.txt" in zf.read("MISSING.txt").decode()
    assert {"plot.png", "table.csv", "log.txt", HOSTILE_ARTIFACT} <= set(zf.namelist())
    out = client.get(f"/download/runs/{ids['completed']}/output.txt")
    assert out.status_code == 200 and b"starting" in out.data

    # an artifact *named* "../escape.txt", stored the way MongoObserver stores artifacts, on a copy of the run
    mc = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    db = mc.get_default_database()
    doc = db.runs.find_one({"_id": ids["completed"]})
    file_id = gridfs.GridFS(db).put(b"inside GridFS", filename="artifact://runs/900/../escape.txt")
    doc.update(_id=900, artifacts=[{"name": "../escape.txt", "file_id": file_id}])
    db.runs.insert_one(doc)
    try:
        names = zipfile.ZipFile(io.BytesIO(client.get("/download/runs/900/artifacts.zip").data)).namelist()
        assert names == ["escape.txt"]  # extracting the zip cannot climb out of the folder
        one = client.get("/api/runs/900/artifacts/..%2Fescape.txt")
        assert one.status_code == 200 and one.data == b"inside GridFS"
        assert client.get("/api/runs/900/artifacts/..%2F..%2Fetc%2Fpasswd").status_code == 404
    finally:
        db.runs.delete_one({"_id": 900})
        mc.close()
