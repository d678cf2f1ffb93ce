"""Issue 12 item 3 in Chromium: two people edit one run's notes; the second save shows both versions and
the three ways out (merge, take theirs, keep mine). Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from omnidash.server import create_app
from omnidash.store.files import FileStore

pytestmark = pytest.mark.browser

TIMEOUT = 45_000  # ms; the machine is shared


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    base = tmp_path / "runs"
    (base / "1").mkdir(parents=True)
    (base / "1" / "run.json").write_text(json.dumps({
        "command": "main", "experiment": {"name": "notes_exp", "sources": []}, "host": {"hostname": "h"},
        "meta": {}, "status": "COMPLETED", "start_time": "2026-11-01T10:00:00", "stop_time": "2026-11-01T10:01:00",
        "heartbeat": "2026-11-01T10:01:00", "artifacts": [], "resources": [], "result": None}))
    (base / "1" / "config.json").write_text(json.dumps({"lr": 0.1}))
    return FileStore(str(base))


def stored_notes(store: FileStore) -> str:
    return store.get_run(1, fields=["omniboard"]).get("omniboard", {}).get("notes")


def begin_edit_then_someone_else_saves(page, store: FileStore, theirs: str, mine: str) -> None:
    page.click("#rd-notes-edit")
    page.locator("#rd-notes-text").wait_for(state="visible", timeout=TIMEOUT)
    store.set_notes(1, theirs)  # another user, after this editor began
    page.fill("#rd-notes-text", mine)
    page.click("#rd-notes-save")
    page.locator("#rd-notes-conflict").wait_for(state="visible", timeout=TIMEOUT)
    assert page.locator("#rd-notes-theirs").inner_text() == theirs
    assert page.locator("#rd-notes-text").input_value() == mine  # nothing typed is lost
    assert stored_notes(store) == theirs


def test_notes_conflict_shows_both_versions_and_lets_the_user_choose(page, serve, store, artifacts_dir):
    store.set_notes(1, "first version")
    live = serve(create_app(store).server)
    page.goto(f"{live.url}/runs/1")
    page.wait_for_selector(".run-header", timeout=TIMEOUT)

    # merge: both versions in the editor, edited into one, saved over theirs
    begin_edit_then_someone_else_saves(page, store, "their **change**", "my change")
    assert page.locator("#rd-edit-msg").inner_text() == "Not saved: the notes changed meanwhile."
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts_dir / "hardening-notes-conflict.png"), full_page=True)
    page.click("#rd-notes-merge")
    page.wait_for_function("document.querySelector('#rd-notes-text').value.includes('>>>>>>> theirs')",
                           timeout=TIMEOUT)
    merged = page.locator("#rd-notes-text").input_value()
    assert "my change" in merged and "their **change**" in merged
    assert page.locator("#rd-notes-conflict").is_hidden()
    page.screenshot(path=str(artifacts_dir / "hardening-notes-merge.png"), full_page=True)
    page.fill("#rd-notes-text", "my change and their **change**")
    page.click("#rd-notes-save")
    page.locator("#rd-notes-view strong", has_text="change").wait_for(timeout=TIMEOUT)
    assert page.locator("#rd-edit-msg").inner_text() == "Notes saved."
    assert stored_notes(store) == "my change and their **change**"

    # take theirs: my text is dropped, theirs shown
    begin_edit_then_someone_else_saves(page, store, "theirs again", "mine again")
    page.click("#rd-notes-take")
    page.locator("#rd-notes-view", has_text="theirs again").wait_for(timeout=TIMEOUT)
    assert page.locator("#rd-notes-editor").is_hidden()
    assert stored_notes(store) == "theirs again"

    # keep mine: saved over theirs, knowingly
    begin_edit_then_someone_else_saves(page, store, "theirs a third time", "mine wins")
    page.click("#rd-notes-keep")
    page.locator("#rd-notes-view", has_text="mine wins").wait_for(timeout=TIMEOUT)
    assert page.locator("#rd-edit-msg").inner_text() == "Notes saved."
    assert stored_notes(store) == "mine wins"
    page.screenshot(path=str(artifacts_dir / "hardening-notes-kept.png"), full_page=True)


def test_refused_regex_is_a_message_in_the_query_bar(page, serve, store, artifacts_dir):
    """Issue 12 item 1 in the browser: a pattern RE2 cannot run says why under the query bar."""
    live = serve(create_app(store).server)
    page.goto(f"{live.url}/")
    page.locator("#tbl-query").wait_for(timeout=TIMEOUT)
    page.fill("#tbl-query", 'experiment ~ "(a)\\1"')
    page.press("#tbl-query", "Enter")
    error = page.locator("#tbl-query-error")
    error.get_by_text("backreferences are not supported", exact=False).wait_for(timeout=TIMEOUT)
    assert "linear-time" in error.inner_text()
    page.screenshot(path=str(artifacts_dir / "hardening-regex-refused.png"), full_page=True)
