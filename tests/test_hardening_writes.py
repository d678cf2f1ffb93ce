"""Issue 12 (writes): run-page tag edits are atomic (2), notes conflicts are detected (3), size limits (4).

Every test runs on a FileStorage folder and on the MongoDB test server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from omnidash.server import create_app
from omnidash.store.base import BadRequest, Conflict, RunStore
from omnidash.store.common import MAX_NOTES_BYTES, MAX_TAG_LENGTH, MAX_TAGS
from omnidash.store.files import FileStore


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, sort_keys=True, indent=2))


def run_doc(comment: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"command": "main"}
    if comment is not None:
        meta["comment"] = comment
    return {"command": "main", "experiment": {"name": "exp", "sources": []}, "host": {"hostname": "h"},
            "meta": meta, "status": "COMPLETED", "start_time": "2026-11-01T10:00:00",
            "stop_time": "2026-11-01T10:01:00", "heartbeat": "2026-11-01T10:01:00", "artifacts": [],
            "resources": [], "result": None}


@pytest.fixture(params=["files", "mongo"])
def store(request, tmp_path: Path) -> RunStore:
    """Run 1 (config tags a, b), run 2 (notes from meta.comment "from sacred"), run 3 (plain)."""
    if request.param == "files":
        base = tmp_path / "runs"
        for rid, comment, config in ((1, None, {"tags": ["a", "b"]}), (2, "from sacred", {}), (3, None, {})):
            write_json(base / str(rid) / "run.json", run_doc(comment))
            write_json(base / str(rid) / "config.json", config)
        return FileStore(str(base))
    from datetime import UTC, datetime

    from omnidash.store.mongo import MongoStore

    mongo_db = request.getfixturevalue("mongo_db")
    uri = request.getfixturevalue("mongo_uri")
    for rid, comment, config in ((1, None, {"tags": ["a", "b"]}), (2, "from sacred", {}), (3, None, {})):
        doc = {**run_doc(comment), "_id": rid, "config": config}
        for f in ("start_time", "stop_time", "heartbeat"):
            doc[f] = datetime(2026, 11, 1, 10, tzinfo=UTC)
        mongo_db.runs.insert_one(doc)
    return MongoStore(uri)


def tags(store: RunStore, rid: int) -> list[str]:
    from omnidash.store.rows import tags_of

    return tags_of(store.get_run(rid, fields=["omniboard", "config"]))


def notes(store: RunStore, rid: int) -> str:
    from omnidash.store.rows import notes_of

    return notes_of(store.get_run(rid, fields=["omniboard", "meta"]))


def in_threads(n: int, work) -> list[Any]:
    """Run work(i) for i in range(n) at once (a barrier lines them up); their results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as e:  # noqa: BLE001 - reported to the test
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


# -- 2. run page tag edits ---------------------------------------------------------------------------
@pytest.fixture
def add_tag_on_run_page(dash_call) -> Callable[[Any, Any, str], dict[str, Any]]:
    """`add_tag_on_run_page(app, run_id, text)`: the run page's tag input, over HTTP."""
    return lambda app, run_id, text: dash_call(app, "rd-tags.children", {"rd-tag-input.value": text},
                                               {"rd-run-id.data": run_id})


def test_twenty_concurrent_run_page_additions_keep_all_twenty(store: RunStore, add_tag_on_run_page) -> None:
    """20 threads each add one tag through the run page's Dash callback (over HTTP): all 20 are kept,
    with the config tags the run showed (before: a read-modify-write of the list kept a few)."""
    app = create_app(store)
    results = in_threads(20, lambda i: add_tag_on_run_page(app, 1, f"t{i}"))
    assert all(isinstance(r, dict) and r["rd-edit-msg.children"] == "Tags saved." for r in results), results
    assert sorted(tags(store, 1)) == sorted(["a", "b", *(f"t{i}" for i in range(20))])


def test_run_page_remove_and_normalisation_live_in_the_store(store: RunStore, dash_call, add_tag_on_run_page) -> None:
    app = create_app(store)
    out = add_tag_on_run_page(app, 3, "  x , y,x,, ")
    assert tags(store, 3) == ["x", "y"]  # stripped, empties dropped, de-duplicated: by the store
    assert "x" in json.dumps(out["rd-tags.children"])
    chip = {"index": "x", "type": "rd-tag-remove"}
    out = dash_call(app, "rd-tags.children", {}, {"rd-run-id.data": 3}, triggered=json.dumps(
        chip, separators=(",", ":"), sort_keys=True) + ".n_clicks", pattern={"rd-tag-remove": [(chip, 1), (
            {"index": "y", "type": "rd-tag-remove"}, 0)]})
    assert "y" in json.dumps(out["rd-tags.children"])
    assert tags(store, 3) == ["y"]
    store.update_tags([3], add=[" y ", "z", "z"])
    assert tags(store, 3) == ["y", "z"]


# -- 3. notes conflicts ------------------------------------------------------------------------------
def test_notes_save_with_expected_detects_a_change_meanwhile(store: RunStore) -> None:
    store.set_notes(3, "first")
    store.set_notes(3, "second", expected="first")
    with pytest.raises(Conflict) as err:
        store.set_notes(3, "mine", expected="first")
    assert err.value.current == "second"
    assert notes(store, 3) == "second"
    # notes shown from Sacred's meta.comment are the starting point too
    with pytest.raises(Conflict) as err:
        store.set_notes(2, "x", expected="")
    assert err.value.current == "from sacred"
    store.set_notes(2, "edited", expected="from sacred")
    assert notes(store, 2) == "edited"
    store.set_notes(3, "no check")  # without expected: as before (Omniboard's plain $set)
    assert notes(store, 3) == "no check"


def test_concurrent_saves_from_the_same_start_one_wins(store: RunStore) -> None:
    """Ten editors who all started from "start" save at once: exactly one is saved, nine get Conflict."""
    store.set_notes(3, "start")
    results = in_threads(10, lambda i: store.set_notes(3, f"editor {i}", expected="start"))
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 9, results
    winner = next(i for i, r in enumerate(results) if r is None)
    assert notes(store, 3) == f"editor {winner}"
    assert all(c.current == f"editor {winner}" for c in conflicts)


def test_api_notes_expected_and_409_with_the_current_notes(store: RunStore) -> None:
    client = create_app(store).server.test_client()
    assert client.put("/api/runs/3/notes", json={"notes": "one"}).status_code == 200
    ok = client.put("/api/runs/3/notes", json={"notes": "two", "expected": "one"})
    assert ok.status_code == 200 and ok.get_json()["notes"] == "two"
    stale = client.put("/api/runs/3/notes", json={"notes": "three", "expected": "one"})
    assert stale.status_code == 409
    assert stale.get_json()["notes"] == "two" and "changed" in stale.get_json()["error"]
    stale = client.patch("/api/runs/3", json={"notes": "three", "expected_notes": "one"})
    assert stale.status_code == 409 and stale.get_json()["notes"] == "two"
    assert notes(store, 3) == "two"


def test_run_page_save_conflict_then_keep_mine_take_theirs_merge(store: RunStore, dash_call) -> None:
    """The run page callback: Edit reads the notes now; a save after someone else's answers the conflict
    panel with their text; Keep mine saves over it; Merge puts both in the editor; Take theirs keeps theirs."""
    app = create_app(store)
    ids = {"rd-run-id.data": 3}

    def notes_cb(button: str, text: str | None = None, base: str | None = None) -> dict[str, Any]:
        return dash_call(app, "rd-notes-editor.hidden", {f"{button}.n_clicks": 1},
                         {**ids, "rd-notes-text.value": text, "rd-notes-base.data": base})

    store.set_notes(3, "v1")
    out = notes_cb("rd-notes-edit")
    assert out["rd-notes-base.data"] == "v1" and out["rd-notes-text.value"] == "v1"
    store.set_notes(3, "theirs")  # someone else saves meanwhile
    out = notes_cb("rd-notes-save", "mine", "v1")
    assert out["rd-notes-conflict.hidden"] is False and out["rd-notes-theirs.children"] == "theirs"
    assert out["rd-notes-base.data"] == "theirs" and notes(store, 3) == "theirs"
    merged = notes_cb("rd-notes-merge", "mine", "theirs")["rd-notes-text.value"]
    assert "mine" in merged and "theirs" in merged
    taken = notes_cb("rd-notes-take", "mine", "theirs")
    assert taken["rd-notes-text.value"] == "theirs" and notes(store, 3) == "theirs"
    kept = notes_cb("rd-notes-keep", "mine", "theirs")
    assert kept["rd-edit-msg.children"] == "Notes saved." and notes(store, 3) == "mine"


# -- 4. limits ---------------------------------------------------------------------------------------
def test_store_limits_on_tags_and_notes(store: RunStore) -> None:
    long_tag = "x" * (MAX_TAG_LENGTH + 1)
    with pytest.raises(BadRequest, match="at most 200 characters"):
        store.set_tags(3, [long_tag])
    with pytest.raises(BadRequest, match="at most 200 characters"):
        store.update_tags([3], add=[long_tag])
    store.set_tags(3, ["y" * MAX_TAG_LENGTH])  # the limit itself is fine
    with pytest.raises(BadRequest, match="at most 100 tags"):
        store.set_tags(3, [f"t{i}" for i in range(MAX_TAGS + 1)])
    store.set_tags(3, [f"t{i}" for i in range(MAX_TAGS - 1)])
    store.update_tags([3], add=["t0", "last"])  # 100 exactly (t0 is already there)
    with pytest.raises(BadRequest, match="at most 100 tags"):
        store.update_tags([3], add=["one-too-many"])
    assert len(tags(store, 3)) == MAX_TAGS and "one-too-many" not in tags(store, 3)
    with pytest.raises(BadRequest, match="at most 64 KB"):
        store.set_notes(3, "é" * (MAX_NOTES_BYTES // 2 + 1))  # counted in UTF-8 bytes
    store.set_notes(3, "n" * MAX_NOTES_BYTES)
    assert len(notes(store, 3)) == MAX_NOTES_BYTES


def test_tag_limit_holds_under_concurrent_additions(store: RunStore) -> None:
    store.set_tags(3, [f"t{i}" for i in range(MAX_TAGS - 5)])
    results = in_threads(12, lambda i: store.update_tags([3], add=[f"new{i}"]))
    assert len(tags(store, 3)) == MAX_TAGS
    assert sum(isinstance(r, BadRequest) for r in results) == 7, results


def test_api_limits_are_clear_400s(store: RunStore) -> None:
    client = create_app(store).server.test_client()
    resp = client.patch("/api/runs/3", json={"tags": ["x" * 15_000_000]})
    assert resp.status_code == 400 and "at most 200 characters" in resp.get_json()["error"]
    resp = client.post("/api/tags", json={"runs": [3], "add": ["x" * 201]})
    assert resp.status_code == 400 and "at most 200 characters" in resp.get_json()["error"]
    resp = client.patch("/api/runs/3", json={"tags": [f"t{i}" for i in range(101)]})
    assert resp.status_code == 400 and "at most 100 tags" in resp.get_json()["error"]
    resp = client.put("/api/runs/3/notes", json={"notes": "n" * (MAX_NOTES_BYTES + 1)})
    assert resp.status_code == 400 and "at most 64 KB" in resp.get_json()["error"]
    resp = client.patch("/api/runs/3", json={"tags": ["kept?"], "notes": "n" * (MAX_NOTES_BYTES + 1)})
    assert resp.status_code == 400 and tags(store, 3) == []  # nothing written by a refused request


def test_ui_limit_messages_on_run_page_and_table(store: RunStore, dash_call, add_tag_on_run_page) -> None:
    app = create_app(store)
    out = add_tag_on_run_page(app, 3, "x" * 201)
    assert "Tags not saved" in out["rd-edit-msg.children"] and "at most 200 characters" in out["rd-edit-msg.children"]
    out = dash_call(app, "rd-notes-editor.hidden", {"rd-notes-save.n_clicks": 1},
                    {"rd-run-id.data": 3, "rd-notes-text.value": "n" * (MAX_NOTES_BYTES + 1), "rd-notes-base.data": ""})
    assert "Notes not saved" in out["rd-edit-msg.children"] and "at most 64 KB" in out["rd-edit-msg.children"]
    out = dash_call(app, "tbl-message.children", {"tbl-bulk-add.n_clicks": 1},
                    {"tbl-bulk-tag.value": "x" * 201, "tbl-grid.selectedRows": [{"id": 3}],
                     "tbl-view.data": {"q": ""}, "tbl-soft-refresh.data": 0})
    assert "at most 200 characters" in json.dumps(out["tbl-message.children"])
    assert tags(store, 3) == []


def test_table_inline_tag_edits_of_two_users_both_stay(store: RunStore, dash_call) -> None:
    """Two users edit run 1's tags cell from the same shown value [a, b]: one adds x, the other removes a and
    adds y. The cell edit is an atomic add/remove of what changed, so the result is [b, x, y]."""
    app = create_app(store)

    def edit(value: list[str], old: list[str]) -> dict[str, Any]:
        change = [{"colId": "tags", "value": value, "oldValue": old, "data": {"id": 1}, "rowIndex": 0}]
        return dash_call(app, "tbl-message.children", {"tbl-grid.cellValueChanged": change},
                         {"tbl-soft-refresh.data": 0})

    assert "Saved tags of run 1" in json.dumps(edit(["a", "b", "x"], ["a", "b"]))
    assert "Saved tags of run 1" in json.dumps(edit(["b", "y"], ["a", "b"]))
    assert sorted(tags(store, 1)) == ["b", "x", "y"]
    out = edit(["b", "x", "y", "z" * 201], ["b", "x", "y"])
    assert "at most 200 characters" in json.dumps(out["tbl-message.children"])
