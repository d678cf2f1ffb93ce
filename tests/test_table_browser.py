"""The runs table in Chromium against a real FerretDB: sort, filter, errors, tags, bulk tags, grouping,
URL state, CSV export, and screenshots in both themes."""

from __future__ import annotations

import csv
import io
import random
import re
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

from omnidash.components.columns import default_width
from omnidash.context import Settings

pytestmark = [pytest.mark.browser, pytest.mark.mongo]
N_RUNS = 40


def insert_runs(db, n: int, seed: int = 7) -> None:
    """Sacred MongoObserver documents (runs + metrics) for a small sweep: lr x optimizer x seeds."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    runs, metrics = [], []
    for i in range(1, n + 1):
        lr = [0.0001, 0.001, 0.003, 0.01][i % 4]
        optimizer = ["adam", "sgd"][(i // 4) % 2]
        status = "FAILED" if i % 9 == 0 else ("INTERRUPTED" if i % 13 == 0 else "COMPLETED")
        start = now - timedelta(hours=n - i + 1)
        runs.append({
            "_id": i, "experiment": {"name": "sweep", "sources": [], "dependencies": []},
            "command": "train", "status": status, "start_time": start, "heartbeat": start + timedelta(minutes=5),
            "stop_time": start + timedelta(minutes=5), "host": {"hostname": f"node-{i % 3}"},
            "config": {"lr": lr, "optimizer": optimizer, "batch_size": 32, "seed": i},
            "result": round(rng.uniform(0.8, 0.99), 4), "info": {}, "meta": {"comment": ""},
        })
        for name, base in (("val.acc", 0.6 + 20 * lr), ("train.loss", 1.0 - 10 * lr)):
            values = [base + rng.uniform(-0.05, 0.05) + 0.01 * step for step in range(10)]
            metrics.append({"run_id": i, "name": name, "steps": list(range(10)), "values": values,
                            "timestamps": [start + timedelta(seconds=30 * s) for s in range(10)]})
    db["runs"].insert_many(runs)
    db["metrics"].insert_many(metrics)


@pytest.fixture(scope="module")
def table_uri(mongo_server):
    """One database of runs for the module (tests that write use tags of their own)."""
    import pymongo

    name = f"t_table_browser_{int(time.time() * 1000) % 10**8}"
    uri = f"{mongo_server.uri.rstrip('/')}/{name}"
    client = pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=5000)
    insert_runs(client[name], N_RUNS)
    client.close()
    yield uri
    client = pymongo.MongoClient(mongo_server.uri, serverSelectionTimeoutMS=3000)
    client.drop_database(name)
    client.close()


@pytest.fixture
def store(table_uri):
    from omnidash.store.mongo import MongoStore

    s = MongoStore(table_uri)
    yield s
    s.close()


@pytest.fixture
def live(store, serve):
    from omnidash.server import create_app

    return serve(create_app(store, Settings(refresh_interval=0)).server)


def open_table(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#tbl-grid .ag-row .run-link", timeout=30_000)  # id is pinned


def column_texts(page, col: str) -> list[str]:
    return page.locator(f'.ag-center-cols-container [col-id="{col}"]').all_inner_texts()


def wait_count(page, pattern: str) -> str:
    page.wait_for_function(
        "p => new RegExp(p).test(document.getElementById('tbl-count').innerText)", arg=pattern, timeout=20_000)
    return page.inner_text("#tbl-count")


def test_sort_filter_count_error_and_screenshots(page, live, store, artifacts_dir):
    open_table(page, live.url + "/")
    assert wait_count(page, rf"^{N_RUNS} runs$") == f"{N_RUNS} runs"
    page.screenshot(path=str(artifacts_dir / "table-light.png"))

    # sort by a config column: one click ascending, the rows come back sorted from the store
    page.locator('[role="columnheader"][col-id="config.lr"] .ag-header-cell-label').click()
    page.wait_for_function("() => location.search.includes('sort=config.lr')", timeout=20_000)
    page.wait_for_function(
        "() => { const c = [...document.querySelectorAll('.ag-center-cols-container [col-id=\"config.lr\"]')];"
        " const v = c.map(e => parseFloat(e.innerText)); return v.length > 5 &&"
        " v.every((x, i) => i === 0 || v[i - 1] <= x); }", timeout=20_000)
    expected = store.list_runs("", ["config.lr", "-id"], 0, 5, ["id"]).rows
    shown_lr = [float(t) for t in column_texts(page, "config.lr")[:5]]
    assert shown_lr == sorted(shown_lr) and shown_lr[0] == min(store.distinct("config.lr"))
    assert len(expected) == 5

    # filter by a query: the count of matching runs updates, and the URL holds the query
    query = "config.lr >= 0.003 and status == COMPLETED"
    total = store.count(query)
    page.fill("#tbl-query", query)
    page.press("#tbl-query", "Enter")
    assert wait_count(page, rf"^{total} runs? match") .startswith(str(total))
    assert parse_qs(urlparse(page.url).query)["q"] == [query]
    page.wait_for_function(
        "n => document.querySelectorAll('.ag-center-cols-container .ag-row').length === n", arg=total,
        timeout=20_000)

    # a bad query: the error with its position, and the table keeps the last good query
    page.fill("#tbl-query", "config.lr >= (0.003")
    page.press("#tbl-query", "Enter")
    page.wait_for_selector(".query-error .error-caret", timeout=20_000)
    error = page.inner_text("#tbl-query-error")
    assert "column 14" in error and "^" in error
    assert page.inner_text("#tbl-count").startswith(str(total))

    page.click("#theme-toggle")
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    time.sleep(0.3)
    page.screenshot(path=str(artifacts_dir / "table-dark.png"))
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('.ag-center-cols-viewport')).backgroundColor")
    channels = [int(x) for x in re.findall(r"\d+", background)[:3]]
    assert max(channels) < 80, f"the grid stays light in dark mode: {background}"


def test_inline_tag_edit_is_stored_under_omniboard_tags(page, live, table_uri, store):
    import pymongo

    run_id = store.list_runs("", ["-id"], 0, 1, ["id"]).rows[0]["id"]
    open_table(page, live.url + "/")
    cell = page.locator(f'.ag-center-cols-container .ag-row[row-id="{run_id}"] [col-id="tags"]')
    cell.dblclick()
    editor = page.locator(".tags-editor-input")
    editor.fill("inline-a, inline-b")
    editor.press("Enter")
    page.wait_for_selector(".msg-ok", timeout=20_000)
    client = pymongo.MongoClient(table_uri, serverSelectionTimeoutMS=3000)
    try:
        doc = client.get_default_database()["runs"].find_one({"_id": run_id}, {"omniboard": 1})
    finally:
        client.close()
    assert doc["omniboard"]["tags"] == ["inline-a", "inline-b"]
    page.wait_for_function(
        "id => { const c = document.querySelector(`.ag-center-cols-container .ag-row[row-id=\"${id}\"]"
        " [col-id=\"tags\"]`); return c && c.innerText.includes('inline-b'); }", arg=str(run_id), timeout=20_000)


def test_tag_suggestions_are_read_when_a_tag_input_is_first_used(page, live, store):
    """The tag list (a scan of the tag index: 0.5 s at 100,000 tagged runs, beside the user's first sort) is
    not read at load; opening a tags cell reads it, and its editor and the bulk bar's field both suggest."""
    oldest = store.list_runs("", ["id"], 0, 1, ["id"]).rows[0]["id"]
    store.update_tags([oldest], add=["suggest-me"])
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "_dash-update-component" in r.url
            and "tbl-tag-options.data" in (r.post_data or "") else None)
    open_table(page, live.url + "/")
    page.wait_for_timeout(2500)  # the list used to be read 1.5 s after every load
    assert asked == []
    newest = store.list_runs("", ["-id"], 0, 1, ["id"]).rows[0]["id"]
    page.locator(f'.ag-center-cols-container .ag-row[row-id="{newest}"] [col-id="tags"]').dblclick()
    page.locator(".tags-editor-input").fill("sugg")
    page.wait_for_selector(".tags-editor-options li:text-is('suggest-me')", timeout=20_000)
    page.locator(".tags-editor-input").press("Escape")
    page.focus("#tbl-bulk-tag")
    page.wait_for_selector("#tbl-tag-datalist option[value='suggest-me']", state="attached", timeout=20_000)
    page.wait_for_timeout(500)
    assert len(asked) == 1  # once for both inputs


def test_bulk_tag_all_runs_matching_the_filter(page, live, store):
    query = "config.lr < 0.003"
    matching = set(store.run_ids(query))
    assert 0 < len(matching) < N_RUNS
    open_table(page, live.url + "/?q=" + urllib.request.quote(query))
    wait_count(page, rf"^{len(matching)} runs? match")
    page.check("#tbl-select-all input")
    page.wait_for_function(
        "n => document.getElementById('tbl-selection-info').innerText.includes(`All ${n} runs`)",
        arg=len(matching), timeout=20_000)
    page.fill("#tbl-bulk-tag", "bulk-small-lr")
    page.click("#tbl-bulk-add")
    page.wait_for_selector(".msg-ok", timeout=20_000)
    assert f"to {len(matching)} runs" in page.inner_text("#tbl-message")
    assert set(store.run_ids("tags has bulk-small-lr")) == matching


def test_group_by_a_key_matches_pandas(page, live, store):
    open_table(page, live.url + "/")
    page.click("#tbl-group-keys")
    # pick the option itself: keys typed while the menu is still opening are lost, and Enter then takes the
    # first option (CI once grouped by config.batch_size that way)
    page.get_by_role("option", name="config.optimizer", exact=True).click()
    page.wait_for_selector(".group-toggle", timeout=20_000)
    page.wait_for_function("() => location.search.includes('group=config.optimizer')", timeout=20_000)
    metric = "last(val.acc)"
    frame = pd.DataFrame(store.iter_rows("", ["id"], ["id", "config.optimizer", metric]))
    expected = frame.groupby("config.optimizer")[metric].agg(["count", "mean", "std"])
    rows = page.locator("#tbl-groups .ag-center-cols-container .ag-row")
    assert rows.count() == len(expected)
    for i in range(rows.count()):
        row = rows.nth(i)
        key = row.locator('[col-id="config.optimizer"]').inner_text()
        text = row.locator(f'[col-id="mean:{metric}"]').inner_text()
        mean, std = (float(x) for x in text.split("±"))
        e = expected.loc[key]
        assert mean == pytest.approx(e["mean"], rel=1e-3) and std == pytest.approx(e["std"], rel=1e-3)
        count_text = page.locator("#tbl-groups .ag-pinned-left-cols-container .ag-row").nth(i).inner_text()
        assert count_text.endswith(f"{int(e['count'])} runs")
    # expanding a group lists its runs under it
    page.locator(".group-toggle").first.click()
    page.wait_for_selector(".member-link", timeout=20_000)


def test_url_restores_the_view_on_reload_and_back(page, live, store):
    query = "status == COMPLETED"
    url = live.url + "/?q=" + urllib.request.quote(query) + "&sort=-config.lr&cols=id,status,config.lr,result"
    open_table(page, url)
    total = store.count(query)
    wait_count(page, rf"^{total} runs? match")
    headers = page.locator('#tbl-grid .ag-header-row-column [role="columnheader"]').evaluate_all(
        "els => els.map(e => e.getAttribute('col-id'))")
    assert [h for h in headers if not h.startswith("ag-")] == ["id", "status", "config.lr", "result"]
    assert page.get_attribute('[role="columnheader"][col-id="config.lr"]', "aria-sort") == "descending"

    page.click('button.chip:has-text("failed")')  # a committed change: a new history entry
    page.wait_for_function("() => location.search.includes('FAILED')", timeout=20_000)
    failed_total = store.count(page.input_value("#tbl-query"))
    wait_count(page, rf"^{failed_total} runs? match" if failed_total else r"^0 runs")

    page.go_back()
    page.wait_for_function("() => !location.search.includes('FAILED')", timeout=20_000)
    page.wait_for_function(
        "q => document.getElementById('tbl-query') && document.getElementById('tbl-query').value === q",
        arg=query, timeout=20_000)
    wait_count(page, rf"^{total} runs? match")

    page.reload()
    page.wait_for_selector("#tbl-grid .ag-row .run-link", timeout=30_000)  # id is pinned
    assert page.input_value("#tbl-query") == query
    wait_count(page, rf"^{total} runs? match")
    assert page.get_attribute('[role="columnheader"][col-id="config.lr"]', "aria-sort") == "descending"


def test_csv_export_matches_the_api(page, live, store):
    query = "status == COMPLETED"
    open_table(page, live.url + "/?q=" + urllib.request.quote(query) + "&sort=config.lr&cols=id,config.lr,result")
    page.wait_for_function("() => document.getElementById('tbl-export').href.includes('columns=')")
    href = page.get_attribute("#tbl-export", "href")
    with page.expect_download() as info:
        page.click("#tbl-export")
    downloaded = Path(info.value.path()).read_bytes().decode("utf-8")
    api = urllib.request.urlopen(live.url + "/api/runs.csv?" + urlparse(href).query).read().decode("utf-8")
    assert downloaded == api
    rows = list(csv.reader(io.StringIO(downloaded)))
    assert rows[0] == ["id", "config.lr", "result"]
    assert len(rows) - 1 == store.count(query)
    lrs = [float(r[1]) for r in rows[1:]]
    assert lrs == sorted(lrs)


def header_width(page, col: str) -> float:
    return page.evaluate(
        "c => document.querySelector(`#tbl-grid .ag-header-cell[col-id=\"${c}\"]`).getBoundingClientRect().width",
        col)


HEADER_ORDER_JS = ("() => [...document.querySelectorAll('#tbl-grid .ag-header-row-column [role=\"columnheader\"]')]"
                   ".sort((a, b) => a.getAttribute('aria-colindex') - b.getAttribute('aria-colindex'))"
                   ".map(e => e.getAttribute('col-id')).filter(c => !c.startsWith('ag-')).join()")


def header_order(page) -> list[str]:
    """The columns in the order the grid shows them (its DOM keeps moved headers where they were)."""
    return page.evaluate(HEADER_ORDER_JS).split(",")


def url_widths(page) -> dict[str, int]:
    text = parse_qs(urlparse(page.url).query).get("w", [""])[0]
    return {name: int(px) for name, px in (part.rsplit(":", 1) for part in text.split(",") if part)}


def test_default_columns_also_resets_widths(page, live):
    open_table(page, live.url + "/?cols=id,status,config.lr&w=config.lr:260")
    page.wait_for_load_state("networkidle")
    assert header_width(page, "config.lr") == pytest.approx(260, abs=1)
    page.click("#tbl-picker-toggle")
    page.click("#tbl-picker-reset")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('cols')", timeout=20_000)
    page.wait_for_function("() => !new URLSearchParams(location.search).has('w')", timeout=20_000)
    assert header_width(page, "config.lr") == pytest.approx(default_width("config.lr"), abs=1)


def test_resized_and_moved_columns_live_in_the_url(page, live, artifacts_dir):
    open_table(page, live.url + "/?cols=id,status,config.lr,result")
    # let the page's first callbacks finish, as a user would: a drag begun while the grid is still being
    # set up can be cut short by them (seen as 152 px instead of 260)
    page.wait_for_load_state("networkidle")
    assert header_width(page, "config.lr") == pytest.approx(default_width("config.lr"), abs=1)
    entries = page.evaluate("() => history.length")

    # drag the right edge of the lr header 120 px to the right, as a user does, pausing halfway: the grid
    # reports a width that has not moved for 500 ms, so the URL first takes the halfway width (a loaded CI
    # machine made that pause by itself, and this test read the halfway width); the drag's end must win
    box = page.locator('#tbl-grid .ag-header-cell[col-id="config.lr"] .ag-header-cell-resize').bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 60, y, steps=5)
    page.wait_for_function("() => (new URLSearchParams(location.search).get('w') || '').includes('config.lr:')",
                           timeout=20_000)
    page.mouse.move(x + 120, y, steps=5)
    page.mouse.up()
    expected = default_width("config.lr") + 120
    page.wait_for_function(
        "px => { const w = new URLSearchParams(location.search).get('w') || '';"
        " const n = Number((w.match(/config\\.lr:(\\d+)/) || [])[1]); return Math.abs(n - px) <= 4; }",
        arg=expected, timeout=20_000)
    width = url_widths(page)["config.lr"]
    assert width == pytest.approx(expected, abs=4)
    assert width == pytest.approx(header_width(page, "config.lr"), abs=1)
    assert set(url_widths(page)) == {"config.lr"}  # only widths that differ from the default
    assert page.evaluate("() => history.length") == entries  # a resize replaces the entry, Back skips it
    page.screenshot(path=str(artifacts_dir / "table-resized.png"))

    page.reload()
    page.wait_for_selector("#tbl-grid .ag-row .run-link", timeout=30_000)  # id is pinned
    assert header_width(page, "config.lr") == pytest.approx(width, abs=1)
    assert url_widths(page) == {"config.lr": width}

    # moving a column (through the grid's API: what a header drag ends in) reorders `cols`, widths kept
    page.evaluate("() => dash_ag_grid.getApi('tbl-grid').moveColumns(['result'], 2)")
    page.wait_for_function("() => (new URLSearchParams(location.search).get('cols') || '').startsWith('id,result')",
                           timeout=20_000)
    assert header_order(page) == ["id", "result", "status", "config.lr"]
    assert url_widths(page) == {"config.lr": width}

    page.go_back()  # the order before the move comes back, with the width
    page.wait_for_function("() => (new URLSearchParams(location.search).get('cols') || '').startsWith('id,status')",
                           timeout=20_000)
    page.wait_for_function(f"() => ({HEADER_ORDER_JS})() === 'id,status,config.lr,result'", timeout=20_000)
    assert header_width(page, "config.lr") == pytest.approx(width, abs=1)
