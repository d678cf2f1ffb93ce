"""Issue 12 (data side): hostile run folders and hostile queries on a folder source, and the same on MongoDB.

Items: 1 (linear-time regexes), 5 (FIFO run.json), 6 (900-level documents), 11 (CSV formula injection),
12 (sources only from _sources), 13 (folder 00012 next to 12).
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from omnidash.server import create_app, create_server
from omnidash.store.files import FileStore


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, sort_keys=True, indent=2))


def write_run(base: Path, name: str, config: dict[str, Any], **run: Any) -> Path:
    """A minimal completed FileStorageObserver run folder."""
    folder = base / name
    write_json(folder / "run.json", {
        "command": "main", "experiment": {"name": "exp", "sources": []}, "host": {"hostname": "h"},
        "meta": {}, "status": "COMPLETED", "start_time": "2026-11-01T10:00:00",
        "stop_time": "2026-11-01T10:01:00", "heartbeat": "2026-11-01T10:01:00", "artifacts": [],
        "resources": [], "result": None, **run,
    })
    write_json(folder / "config.json", config)
    return folder


def get(client: Any, url: str) -> tuple[int, Any, float]:
    """(status, parsed JSON or text, seconds)."""
    t0 = time.perf_counter()
    resp = client.get(url)
    elapsed = time.perf_counter() - t0
    body: Any = resp.get_data(as_text=True)
    if resp.mimetype == "application/json":
        body = json.loads(body)
    return resp.status_code, body, elapsed


# -- 1. regular expressions ---------------------------------------------------------------------
CATASTROPHIC = [
    ("dataset.cache_dir", "^([a-z/-]|[a-z/-])+X"),  # the one from the issue (38 s before)
    ("dataset.name", "^(a+)+$"),
    ("dataset.name", "^(a|aa)+$"),
    ("dataset.name", "^(a|a?)+$"),
    ("dataset.words", "^(\\w+\\s?)*$"),
]


@pytest.fixture
def regex_folder(tmp_path: Path) -> Path:
    base = tmp_path / "runs"
    for i in range(1, 201):
        write_run(base, str(i), {"dataset": {
            "cache_dir": f"/home/user/cache/datasets/mnist-version-{'abcdefghij'[i % 10]}/shards",
            "name": "a" * 40 + "!",
            "words": "some words and more words and still more words here!",
        }, "seed": i})
    return base


@pytest.mark.timeout(60)
def test_catastrophic_regexes_cost_about_a_plain_query(regex_folder: Path) -> None:
    """Each classic catastrophic pattern answers (200) within a small multiple of a plain equality query
    over the same 200 runs; with Python's backtracking `re` the first one alone took minutes."""
    client = create_server(FileStore(str(regex_folder))).test_client()
    plain_url = "/api/runs?limit=5&q=" + quote('dataset.cache_dir == "nothing"')
    assert get(client, plain_url)[0] == 200  # warm the cache
    plain = statistics.median(get(client, plain_url)[2] for _ in range(3))
    for field, pattern in CATASTROPHIC:
        status, body, seconds = get(client, "/api/runs?limit=5&q=" + quote(f'{field} ~ "{pattern}"'))
        assert status == 200, body
        assert body["total"] == 0
        assert seconds < 10 * plain + 0.5, f"{pattern}: {seconds:.2f}s against {plain:.3f}s for a plain query"
    # and a regex that does match still selects the right runs
    status, body, _ = get(client, "/api/runs?limit=1&q=" + quote('dataset.cache_dir ~ "version-[ab]/"'))
    assert status == 200 and body["total"] == 40


@pytest.mark.parametrize("pattern, why", [
    ("(a)\\1", "backreferences are not supported"),
    ("(?=a)b", "lookahead (?=...) is not supported"),
    ("(?<!a)b", "negative lookbehind (?<!...) is not supported"),
    ("a++", "possessive quantifiers are not supported"),
    ("(?>a)", "atomic groups (?>...) is not supported"),
])
def test_patterns_re2_cannot_run_are_a_400_that_says_why(regex_folder: Path, pattern: str, why: str) -> None:
    client = create_server(FileStore(str(regex_folder))).test_client()
    status, body, _ = get(client, "/api/runs?q=" + quote(f'dataset.name ~ "{pattern}"'))
    assert status == 400
    assert why in body["error"] and "linear-time" in body["error"]


def test_refused_pattern_is_a_message_in_the_query_bar(regex_folder: Path, dash_call) -> None:
    """The table's row callback answers the same refusal as text (the grid shows it; nothing crashes)."""
    app = create_app(FileStore(str(regex_folder)))
    view = {"q": 'dataset.name ~ "(a)\\1"'}
    out = dash_call(app, "tbl-grid.getRowsResponse",
                    inputs={"tbl-rows-request.data": {"startRow": 0, "endRow": 5, "sortModel": [], "filterModel": {}}},
                    state={"tbl-view.data": view, "tbl-visible.data": ["id"]})
    assert "backreferences are not supported" in out["tbl-count.children"]


def test_mongo_source_accepts_the_same_patterns(mongo_uri: str, mongo_db) -> None:
    """The MongoDB backend validates with the same engine before sending $regex to the server."""
    from omnidash.store.mongo import MongoStore

    mongo_db.runs.insert_many([{"_id": i, "status": "COMPLETED", "experiment": {"name": "exp"}, "start_time": None,
                                "config": {"dataset": {"name": "a" * 40 + "!", "words": "some words and more words!",
                                                       "cache_dir": "/home/user/cache/datasets/mnist-version-a/shards"}}}
                               for i in range(1, 201)])
    client = create_server(MongoStore(mongo_uri)).test_client()
    status, body, _ = get(client, "/api/runs?q=" + quote('dataset.name ~ "(a)\\1"'))
    assert status == 400 and "backreferences are not supported" in body["error"]
    status, body, _ = get(client, "/api/runs?q=" + quote('dataset.name ~ "^a+!$"'))
    assert status == 200 and body["total"] == 200
    plain_url = "/api/runs?limit=5&q=" + quote('dataset.cache_dir == "nothing"')
    get(client, plain_url)
    plain = statistics.median(get(client, plain_url)[2] for _ in range(3))
    for field, pattern in CATASTROPHIC:  # on the server's $regex, or the in-memory listing: both fast
        status, body, seconds = get(client, "/api/runs?limit=5&q=" + quote(f'{field} ~ "{pattern}"'))
        assert status == 200 and body["total"] == 0, body
        assert seconds < 10 * plain + 0.5, f"{pattern}: {seconds:.2f}s against {plain:.3f}s for a plain query"


# -- 5. a FIFO run.json -----------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_fifo_run_json_does_not_hang_health_or_listing(tmp_path: Path) -> None:
    """A run folder whose run.json (and cout.txt, and an artifact) is a FIFO: /healthz, the listing, the run
    and the artifact answer at once (before, the blocking open hung every route)."""
    base = tmp_path / "runs"
    write_run(base, "1", {"lr": 0.1}, artifacts=["pipe.bin"])
    os.mkfifo(base / "1" / "cout.txt")
    os.mkfifo(base / "1" / "pipe.bin")
    (base / "2").mkdir()
    os.mkfifo(base / "2" / "run.json")
    write_json(base / "2" / "config.json", {"lr": 0.2})
    client = create_server(FileStore(str(base))).test_client()
    result: dict[str, Any] = {}

    def requests() -> None:
        result["health"] = get(client, "/healthz")
        result["list"] = get(client, "/api/runs")
        result["run"] = get(client, "/api/runs/1")
        result["artifact"] = get(client, "/api/runs/1/artifacts/pipe.bin")

    worker = threading.Thread(target=requests, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "a request hung on a FIFO"
    assert result["health"][0] == 200
    status, body, _ = result["list"]
    assert status == 200 and 1 in [r["id"] for r in body["runs"]]
    assert result["run"][0] == 200 and result["run"][1]["captured_out"] == ""
    assert result["artifact"][0] == 404


# -- 6. a 900-level document ------------------------------------------------------------------------
def nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.fixture
def deep_folder(tmp_path: Path) -> Path:
    base = tmp_path / "runs"
    write_run(base, "1", {"deep": nested(900), "lr": 0.1}, info_deep=nested(900))
    write_json(base / "1" / "info.json", {"deep": nested(900)})
    write_run(base, "2", {"deep": {"k": 1}, "lr": 0.2})
    return base


@pytest.fixture
def python_recursion_limit():
    """Python's own recursion limit (1000) while the test runs: an installed library may raise it on import
    (jedi sets 3000), which hid a listing that recursed once per level of a document."""
    import sys

    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(before)


@pytest.mark.timeout(120)
def test_deep_documents_render_truncated_with_a_note(deep_folder: Path, dash_call, dash_page,
                                                     python_recursion_limit) -> None:
    """API, run page (every tab), compare page and table rows answer 200 for a 900-level run.json and
    config.json; the part past the depth limit is replaced by a note saying so."""
    from omnidash.core.values import MAX_DEPTH, TOO_DEEP

    app = create_app(FileStore(str(deep_folder)))
    client = app.server.test_client()
    status, body, _ = get(client, "/api/runs/1")
    assert status == 200, body
    value, depth = body["config"]["deep"], 1
    while isinstance(value, dict):
        value, depth = value["k"], depth + 1
    assert value == TOO_DEEP and depth <= MAX_DEPTH + 1
    assert get(client, "/api/runs?columns=id,config.deep.k")[0] == 200
    assert get(client, "/api/runs.csv")[0] == 200
    layout = json.dumps(dash_page(app, "/runs/1"))
    assert "rd-tabs" in layout
    for tab in ("overview", "config", "info", "metrics", "output", "artifacts", "sources"):
        out = dash_call(app, "rd-tab-body.children", {"rd-tabs.value": tab}, {"rd-run-id.data": 1})
        assert "rd-tab-body.children" in out
    config_tab = json.dumps(dash_call(app, "rd-tab-body.children", {"rd-tabs.value": "config"},
                                      {"rd-run-id.data": 1}))
    assert "nested deeper than" in config_tab and "not shown" in config_tab
    compare = json.dumps(dash_page(app, "/compare", "?runs=1,2"))
    assert "no run" not in compare.lower()


# -- 11. CSV formula injection ----------------------------------------------------------------------
def test_csv_export_neutralises_formulas_and_keeps_numbers(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    write_run(base, "1", {"lr": -3, "neg_text": "-3", "formula": "=HYPERLINK(\"http://x\",\"y\")",
                          "plus": "+1+cmd", "at": "@SUM(A1)", "tab": "\tx", "cr": "\rx", "dash": "-x", "ok": "a=b"})
    base_store = FileStore(str(base))
    base_store.set_tags(1, ["=cmd|' /C calc'!A0", "fine"])
    base_store.set_notes(1, "@notes start with an at")
    client = create_server(base_store).test_client()
    status, text, _ = get(client, "/api/runs.csv")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    row = rows[0]
    assert row["config.formula"] == "'=HYPERLINK(\"http://x\",\"y\")"
    assert row["config.plus"] == "'+1+cmd"
    assert row["config.at"] == "'@SUM(A1)"
    assert row["config.tab"] == "'\tx"
    assert row["config.cr"] == "'\rx"
    assert row["config.dash"] == "'-x"
    assert row["config.ok"] == "a=b"
    assert row["config.lr"] == "-3"  # a number stays a number
    assert row["config.neg_text"] == "-3"  # so does text that is a plain number
    assert row["tags"] == "'=cmd|' /C calc'!A0, fine"
    assert row["notes"] == "'@notes start with an at"


# -- 12. sources only from _sources ------------------------------------------------------------------
def test_sources_are_served_only_from_the_sources_folder(tmp_path: Path) -> None:
    base = tmp_path / "runs"
    (base / "_sources").mkdir(parents=True)
    (base / "_sources" / "train_abc.py").write_text("print('train')\n")
    (base / "users_in_basedir.toml").write_text("secret = 1\n")
    write_run(base, "1", {}, artifacts=[], experiment={"name": "exp", "sources": [
        ["train.py", "_sources/train_abc.py"], ["d.py", "users_in_basedir.toml"],
        ["e.py", "2/run.json"], ["f.py", "_sources/../users_in_basedir.toml"]]})
    write_run(base, "2", {})
    client = create_app(FileStore(str(base))).server.test_client()
    ok = client.get("/download/runs/1/sources/train.py")
    assert ok.status_code == 200 and ok.get_data(as_text=True) == "print('train')\n"
    for name in ("d.py", "e.py", "f.py"):
        resp = client.get(f"/download/runs/1/sources/{name}")
        assert resp.status_code == 404, (name, resp.get_data(as_text=True)[:200])
        assert b"secret" not in resp.data


# -- 13. 00012 next to 12 -----------------------------------------------------------------------------
def test_non_canonical_integer_folder_is_a_string_id(tmp_path: Path, dash_page) -> None:
    base = tmp_path / "runs"
    write_run(base, "12", {"which": "twelve"})
    write_run(base, "00012", {"which": "zeros"})
    app = create_app(FileStore(str(base)))
    client = app.server.test_client()
    status, body, _ = get(client, "/api/runs?columns=id,config.which")
    assert status == 200 and body["total"] == 2
    assert sorted((str(r["id"]), r["config.which"]) for r in body["runs"]) == [("00012", "zeros"), ("12", "twelve")]
    assert get(client, "/api/runs/00012")[1]["config"]["which"] == "zeros"
    assert get(client, "/api/runs/12")[1]["config"]["which"] == "twelve"
    assert get(client, "/api/runs/012")[0] == 404
    assert "zeros" in json.dumps(dash_page(app, "/runs/00012"))
    assert "twelve" in json.dumps(dash_page(app, "/runs/12"))


def test_regex_options_and_literals_follow_mongodb() -> None:
    """i, m, s, x as MongoDB's $options; unknown options refused; a literal (free text) matches as RE2 would."""
    from omnidash.store.patterns import RegexError, compile_regex

    assert compile_regex("ABC", "i").search("xabcx")
    assert not compile_regex("ABC", "").search("xabcx")
    assert compile_regex("^b$", "m").search("a\nb\nc") and not compile_regex("^b$", "").search("a\nb\nc")
    assert compile_regex("a.b", "s").search("a\nb") and not compile_regex("a.b", "").search("a\nb")
    assert compile_regex("a b # comment\n c", "x").search("abc")
    assert compile_regex("Ünïcode", "i").search("ünïcode")
    assert compile_regex(r"a\.b\ c", "").search("a.b c") and not compile_regex(r"a\.b", "").search("axb")
    with pytest.raises(RegexError, match="options"):
        compile_regex("a", "g")
    with pytest.raises(RegexError, match="too large|bad repetition"):
        compile_regex("(a{1000}){1000}", "")


@pytest.mark.timeout(180)
def test_deep_documents_on_mongodb(mongo_uri: str, mongo_db, dash_call, dash_page, python_recursion_limit) -> None:
    """The MongoDB test server stores a 900-level document: the same routes answer 200, truncated with a note."""
    from datetime import UTC, datetime

    from omnidash.core.values import TOO_DEEP
    from omnidash.store.mongo import MongoStore

    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    mongo_db.runs.insert_many([
        {"_id": 1, "status": "COMPLETED", "experiment": {"name": "exp"}, "start_time": start, "heartbeat": start,
         "config": {"deep": nested(900), "lr": 0.1}, "info": {"deep": nested(900)}, "host": {"hostname": "h"}},
        {"_id": 2, "status": "COMPLETED", "experiment": {"name": "exp"}, "start_time": start, "heartbeat": start,
         "config": {"deep": {"k": 1}, "lr": 0.2}, "host": {"hostname": "h"}},
    ])
    app = create_app(MongoStore(mongo_uri))
    client = app.server.test_client()
    status, body, _ = get(client, "/api/runs/1")
    assert status == 200 and TOO_DEEP in json.dumps(body, ensure_ascii=False)
    assert get(client, "/api/runs")[0] == 200
    assert get(client, "/api/runs.csv")[0] == 200
    assert "rd-tabs" in json.dumps(dash_page(app, "/runs/1"))
    for tab in ("config", "info"):
        out = json.dumps(dash_call(app, "rd-tab-body.children", {"rd-tabs.value": tab}, {"rd-run-id.data": 1}))
        assert "nested deeper than" in out
    assert "no run" not in json.dumps(dash_page(app, "/compare", "?runs=1,2")).lower()


@pytest.mark.parametrize("pattern, risky", [
    *((p, True) for _f, p in CATASTROPHIC), ("a*a*a*b", True), ("(a{2,})*", True),
    ("(^|,)\\s*tag\\s*(,|$)", False), ("free\\ text\\ \\+", False), ("version-[ab]/", False), ("^a+!$", False),
    ("(ab)+", False), ("\\(a+\\)+", False), ("[(|]+x", False),
])
def test_patterns_a_backtracking_server_would_stall_on_are_kept_from_it(pattern: str, risky: bool) -> None:
    """On MongoDB, a filter with such a pattern is evaluated here on RE2, not by the server's PCRE (which took
    30 s for ^(a+)+$ over 200 runs); free text, tag filters and simple patterns still go to the server."""
    from omnidash.store.patterns import backtracks, filter_backtracks

    assert backtracks(pattern) is risky
    assert filter_backtracks({"$and": [{"x": 1}, {"$nor": [{"c": {"$regex": pattern, "$options": "i"}}]}]}) is risky


def test_plot_csv_neutralises_formulas_too() -> None:
    """The plot panel's CSV (run ids, legend labels, metric names are user text) follows the same rule."""
    from omnidash.core.types import Series
    from omnidash.pages.plot_panel import series_csv

    s = Series(run_id="=evil()", name="@metric", steps=[0, 1], values=[-3.0, 2.5], timestamps=[], total_points=2)
    info = {"runs": [{"id": "=evil()", "config": {"=k": "v"}, "start": None}]}
    rows = list(csv.reader(io.StringIO(series_csv([s], info, ["=k"], 0.0))))
    assert rows[1][0] == "'=evil()" and rows[1][2] == "'@metric"
    assert rows[1][1].startswith("'=k")
    assert [r[5] for r in rows[1:]] == ["-3.0", "2.5"]  # numbers untouched
