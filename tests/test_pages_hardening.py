"""Issue 12, odd URLs and outages: query parameters that clash with a page's path variables or that no page
knows are ignored (through the real routing callback over HTTP), a group key no run has is named; the run page recovers by itself when the
database comes back (Chromium, a private test server stopped and started)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from omnidash.server import create_app
from omnidash.store import open_store


@pytest.fixture(scope="module")
def dash_app(tmp_path_factory):
    from omnidash.demo import write_demo_runs

    folder = tmp_path_factory.mktemp("pages") / "runs"
    write_demo_runs(str(folder), 6)
    return create_app(open_store(str(folder)))


@pytest.fixture
def route(dash_page) -> Callable[..., Any]:
    """`route(dash_app, pathname, search="")`: POST the page-routing callback as the browser does on navigation;
    returns the page's components."""
    return dash_page


def texts(node: Any) -> str:
    return json.dumps(node)


def stored_run_id(page: Any) -> Any:
    match = re.search(r'"data": (\d+), "id": "rd-run-id"|"id": "rd-run-id", [^}]*"data": (\d+)', texts(page))
    assert match, texts(page)[:300]
    return int(match.group(1) or match.group(2))


def test_clashing_and_unknown_query_parameters_are_ignored(dash_app, route):
    assert stored_run_id(route(dash_app, "/runs/1")) == 1
    # the path variable wins over a query parameter of the same name; unknown ones are ignored
    assert stored_run_id(route(dash_app, "/runs/1", "?run_id=5")) == 1
    assert stored_run_id(route(dash_app, "/runs/2", "?run_id=5&tab=config&bogus=1&x-y=%00")) == 2
    for path, search in (("/", "?run_id=5&bogus=1&pathname=x"), ("/compare", "?runs=1,2&run_id=3&bogus=1")):
        page = route(dash_app, path, search)
        assert "error-panel" not in texts(page) and "Traceback" not in texts(page), (path, texts(page)[:300])


def test_grouping_by_a_key_no_run_has_says_so(dash_app, dash_call):
    """`?group=config.typo` (a mistyped link) puts every run in one group: the table says why."""
    view = {"q": "", "group": [], "sort": ["-id"], "ps": 100}
    state = {"tbl-view.data": view, "tbl-group-expanded.data": [], "tbl-groups.id": "tbl-groups"}
    out = dash_call(dash_app, "tbl-group-box.children", {"tbl-group-keys.value": ["config.typo"],
                                                         "tbl-visible.data": ["id", "status"]}, state)
    assert out["tbl-message.children"] == "No listed run has a value for config.typo."
    fine = dash_call(dash_app, "tbl-group-box.children", {"tbl-group-keys.value": ["config.optimizer"],
                                                          "tbl-visible.data": ["id", "status"]}, state)
    assert "tbl-message.children" not in fine and fine["tbl-groups.rowData"][0]["config.optimizer"]


@pytest.mark.browser
@pytest.mark.mongo
def test_run_page_comes_back_by_itself_when_the_database_does(page, private_mongo_server, serve, artifacts_dir):
    """Opened while the database is down, the run page says so, then shows the run once it is back, without
    a reload (the table already did this)."""
    import pymongo

    from omnidash.demo import write_demo_runs_mongo
    from omnidash.store.mongo import MongoStore

    private = private_mongo_server
    write_demo_runs_mongo(private.uri + "outage", 2, steps=20)
    with pymongo.MongoClient(private.uri, serverSelectionTimeoutMS=5000) as client:
        assert client["outage"].runs.count_documents({"_id": 1}) == 1
    store = MongoStore(private.uri + "outage", server_selection_timeout_ms=1000)
    live = serve(create_app(store).server)
    private.stop()
    page.goto(f"{live.url}/runs/1?tab=config")
    page.get_by_text("The database cannot be reached").wait_for(timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "pages-run-outage.png"), full_page=True)
    private.start()
    page.locator(".run-header").wait_for(timeout=60_000)  # no reload: the page retried by itself
    assert page.get_by_text("The database cannot be reached").count() == 0
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    page.screenshot(path=str(artifacts_dir / "pages-run-recovered.png"), full_page=True)
    store.close()
