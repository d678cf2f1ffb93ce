"""Round trips at load: the layout carries the page of its address, the table's layout its first rows (answered
in the browser), the compare page builds hidden tabs only when opened, and pages preload their lazy scripts.

Real parts: a FileStore folder written by omnidash.demo, the Flask/Dash app through werkzeug's client, Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from werkzeug.test import Client

from omnidash.context import Settings
from omnidash.pages.compare import LAZY
from omnidash.pages.registry import all_pages
from omnidash.server import LAZY_SCRIPTS, PAGE_SCRIPTS, create_app, lazy_scripts
from omnidash.store.files import FileStore
from tests.test_transfer import decoded

HOST = "http://localhost"


@pytest.fixture(scope="module")
def folder(demo_folder: Path) -> Path:
    return demo_folder


@pytest.fixture(scope="module")
def app(folder):
    return create_app(FileStore(str(folder)), Settings(refresh_interval=0))


def find(tree: Any, component_id: str) -> dict[str, Any] | None:
    """The component with this id in a layout as JSON, or None."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and props.get("id") == component_id:
            return tree
        for value in (props or {}).values() if "props" in tree else tree.values():
            found = find(value, component_id)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for item in tree:
            found = find(item, component_id)
            if found is not None:
                return found
    return None


def layout_for(client: Client, address: str | None) -> dict[str, Any]:
    headers = {"Referer": HOST + address} if address is not None else {}
    response = client.get("/_dash-layout", headers=headers)
    assert response.status_code == 200
    return json.loads(decoded(response))


def test_the_layout_holds_the_table_and_its_first_rows(app, folder):
    client = Client(app.server)
    store = FileStore(str(folder))
    layout = layout_for(client, "/?sort=config.lr&ps=100")
    preload = find(layout, "tbl-preload")["props"]["data"]
    expected = store.list_runs("", ["config.lr"], 0, 100, ["id", "status"])
    assert preload["sort"] == ["config.lr"] and preload["end"] == 100 and preload["total"] == expected.total
    assert [r["id"] for r in preload["rows"]] == [r["id"] for r in expected.rows]
    assert find(layout, "tbl-count")["props"]["children"] == f"{expected.total:,} runs"
    assert find(layout, "tbl-baseline")["props"]["data"] == expected.total
    # the address as the browser's location reads it: the router is not called for it (test below)
    assert find(layout, "rendered-url")["props"]["data"] == ["/", "?sort=config.lr&ps=100"]
    # a filtered view ships the filtered rows; a grouped view ships none (its grid is hidden)
    failed = find(layout_for(client, "/?q=status%20%3D%3D%20FAILED"), "tbl-preload")["props"]["data"]
    assert failed["total"] == store.count("status == FAILED")
    assert all(r["status"] == "FAILED" for r in failed["rows"])
    assert find(layout_for(client, "/?group=config.optimizer"), "tbl-preload")["props"]["data"] is None
    # no Referer (or another site's): the router renders the page, as before
    for address in (None, "http://elsewhere.example/"):
        headers = {"Referer": address} if address else {}
        bare = json.loads(decoded(client.get("/_dash-layout", headers=headers)))
        assert find(bare, "tbl-grid") is None and find(bare, "rendered-url")["props"]["data"] is None


def test_a_new_filter_carries_its_first_rows(app, folder):
    from omnidash.pages.table_state import View
    from tests.test_table_unit import call

    store = FileStore(str(folder))
    state = {"tbl-query.value": "", "tbl-view.data": View(sort=["status", "-id"]).to_dict(), "tbl-refresh.data": 1,
             "tbl-visible.data": ["id", "config.lr"]}
    out = call(app, "tbl-query-error.children", {"tbl-query-submit.data": {"text": "status == COMPLETED", "t": 1}},
               state)
    block = out["tbl-preload.data"]
    expected = store.list_runs("status == COMPLETED", ["status", "-id"], 0, View().ps, ["id", "status", "config.lr"])
    assert block["sort"] == ["status", "-id"] and block["total"] == expected.total == out["tbl-baseline.data"]
    assert [r["id"] for r in block["rows"]] == [r["id"] for r in expected.rows]
    assert out["tbl-refresh.data"] == 2 and out["tbl-view.data"]["q"] == "status == COMPLETED"
    bad = call(app, "tbl-query-error.children", {"tbl-query-submit.data": {"text": "lr > (0.1", "t": 2}}, state)
    assert "tbl-preload.data" not in bad and "tbl-refresh.data" not in bad


def test_a_new_filter_on_the_default_view_reads_columns_and_rows_at_once(app, folder, monkeypatch):
    """On the default columns, a new filter's two reads (which config keys vary among the runs it lists; its
    first block) go at the same time, and give what the two reads one after the other give."""
    import threading

    from omnidash.pages.table_rows import fetch_columns
    from omnidash.pages.table_state import View
    from omnidash.store import cache
    from tests.test_table_unit import call

    store = FileStore(str(folder))
    query = "status == COMPLETED"
    both = threading.Barrier(2, timeout=10)  # each of the two reads waits for the other: broken if one at a time
    real = FileStore.list_runs

    def list_runs(self, q="", sort="-id", offset=0, limit=50, columns=None):
        if q == query:
            both.wait()
        return real(self, q, sort, offset, limit, columns)

    monkeypatch.setattr(FileStore, "list_runs", list_runs)
    state = {"tbl-query.value": "", "tbl-view.data": View().to_dict(), "tbl-refresh.data": 1,
             "tbl-visible.data": ["id", "status"]}
    cache.forget(app.server.extensions["omnidash"]["store"])  # no varying columns cached for the query
    out = call(app, "tbl-query-error.children", {"tbl-query-submit.data": {"text": query, "t": 1}}, state)
    assert not both.broken
    visible = out["tbl-visible.data"]
    assert visible[:3] == ["id", "experiment", "status"] and any(c.startswith("config.") for c in visible)
    block = out["tbl-preload.data"]
    expected = real(store, query, ["-id"], 0, View().ps, fetch_columns(visible))
    assert block["rows"] == expected.rows and block["total"] == expected.total == out["tbl-baseline.data"]
    assert block["sort"] == ["-id"] and block["end"] == View().ps


def test_compare_builds_hidden_tabs_when_opened(app):
    client = Client(app.server)
    layout = layout_for(client, "/compare?runs=1,2,3")
    hidden = ["config", "summary", "output", "sources", "hparams"]
    for name in hidden:
        assert find(layout, f"cmp-sec-{name}")["props"]["children"] is None, name
    assert find(layout, "cmp-parcoords") is None and find(layout, "cmp-charts") is not None
    lazy = find(layout, "cmp-lazy")["props"]["data"]
    assert lazy == {"tabs": dict.fromkeys(hidden, True), "q": ""}
    opened = layout_for(client, "/compare?runs=1,2,3&tab=hparams&q=status%20%3D%3D%20COMPLETED")
    assert find(opened, "cmp-parcoords") is not None and find(opened, "cmp-sec-config")["props"]["children"] is None
    assert find(opened, "cmp-lazy")["props"]["data"]["tabs"] == dict.fromkeys(hidden[:-1], True)
    summary = layout_for(client, "/compare?runs=1,2,3&tab=summary")  # the tab the address names: in the layout
    assert "cmp-best" in json.dumps(find(summary, "cmp-sec-summary")["props"]["children"])

    def open_tab(tab: str, state: Any) -> Any:
        outputs = [{"id": f"cmp-sec-{name}", "property": "children"} for name in LAZY]
        payload = {"output": "".join(f"..{o['id']}.children." for o in outputs) + "..cmp-lazy.data..",
                   "outputs": [*outputs, {"id": "cmp-lazy", "property": "data"}],
                   "inputs": [{"id": "cmp-tabs", "property": "value", "value": tab}],
                   "state": [{"id": "cmp-lazy", "property": "data", "value": state},
                             {"id": "cmp-ids", "property": "data", "value": [1, 2, 3]}],
                   "changedPropIds": ["cmp-tabs.value"]}
        return client.post("/_dash-update-component", json=payload)

    hp = json.loads(open_tab("hparams", lazy).get_data())["response"]
    assert "cmp-parcoords" in json.dumps(hp["cmp-sec-hparams"]["children"]) and "cmp-sec-config" not in hp
    assert hp["cmp-lazy"]["data"] == {"tabs": dict.fromkeys(hidden[:-1], True), "q": ""}
    config = json.loads(open_tab("config", hp["cmp-lazy"]["data"]).get_data())["response"]
    assert "cmp-only-diff" in json.dumps(config["cmp-sec-config"]["children"])
    assert config["cmp-lazy"]["data"]["tabs"] == dict.fromkeys(["summary", "output", "sources"], True)
    assert open_tab("config", config["cmp-lazy"]["data"]).status_code == 204  # built once
    output = json.loads(open_tab("output", lazy).get_data())["response"]  # built with the diff of the first two
    assert "cmp-out-a" in json.dumps(output["cmp-sec-output"]["children"])
    assert "diff-view" in json.dumps(output["cmp-sec-output"]["children"])


def test_compare_fires_no_callback_of_a_hidden_tab_at_load(app):
    """The summary and the two diffs are built with their tab: no callback of theirs goes out as the page loads
    (each was a round trip answered "no change")."""
    callbacks = {c["output"]: c for c in app._callback_list}
    diffs = [c for out, c in callbacks.items() if out.startswith(("cmp-out-diff", "cmp-src-diff"))]
    assert len(diffs) == 2 and all(c.get("prevent_initial_call") for c in diffs)
    assert not any("cmp-summary" in out for out in callbacks)


def test_pages_preload_the_lazy_scripts_they_use(folder):
    client = Client(create_app(FileStore(str(folder)), Settings(refresh_interval=0)).server)
    table = client.get("/").get_data(as_text=True)
    compare = client.get("/compare?runs=1,2").get_data(as_text=True)
    run = client.get("/runs/1").get_data(as_text=True)
    for html in (table, compare, run):  # the renderer's two first requests, in parallel with the scripts
        assert '<link rel="preload" as="fetch" crossorigin href="/_dash-layout">' in html
        assert '<link rel="preload" as="fetch" crossorigin href="/_dash-dependencies">' in html
    grid = '<link rel="preload" as="script" href="/_dash-component-suites/dash_ag_grid/async-community.js">'
    plotly = '<link rel="preload" as="script" href="/_dash-component-suites/plotly/package_data/plotly.min.js">'
    dropdown = '<link rel="preload" as="script" href="/_dash-component-suites/dash/dcc/async-dropdown.js">'
    assert grid in table and dropdown in table and plotly not in table
    assert plotly in compare and dropdown in compare and grid not in compare  # the charts its callbacks add at load
    # a run's page shows charts on one tab and a traceback on another: a preload could go unused (Chromium warns),
    # even after one of them has been rendered
    assert 'as="script"' not in run
    layout_for(client, "/runs/1")
    assert 'as="script"' not in client.get("/runs/2").get_data(as_text=True)
    for url in ("/_dash-component-suites/dash_ag_grid/async-community.js",
                "/_dash-component-suites/plotly/package_data/plotly.min.js",
                "/_dash-component-suites/dash/dcc/async-dropdown.js"):
        assert client.get(url).status_code == 200


def test_pages_leave_out_the_scripts_dash_adds_that_they_do_not_use(app):
    """No @babel/polyfill (its one use, regeneratorRuntime, is served alone) and no dash_table loader; the
    scripts kept are served."""
    client = Client(app.server)
    html = client.get("/").get_data(as_text=True)
    scripts = [line.split('src="', 1)[1].split('"', 1)[0] for line in html.splitlines() if "<script src=" in line]
    assert not [s for s in scripts if "polyfill" in s or "dash_table" in s], scripts
    runtime = [s for s in scripts if "/assets/vendor/regenerator-runtime.js" in s]
    renderer = [s for s in scripts if "dash_renderer" in s]
    assert len(runtime) == 1 and scripts.index(runtime[0]) < scripts.index(renderer[0])
    assert b"regeneratorRuntime = runtime" in decoded(client.get(runtime[0]))
    assert all(client.get(s).status_code == 200 for s in scripts)


@pytest.mark.parametrize(("path", "added_by_callbacks"), [
    ("/", ()), ("/?group=config.optimizer", ()), ("/?q=status%20%3D%3D%20FAILED", ()),
    ("/compare?runs=1,2", LAZY_SCRIPTS[("dash_core_components", "Graph")]),
])
def test_every_preloaded_script_is_one_the_page_renders(folder, path, added_by_callbacks):
    """What a page's head preloads, its layout (or, for compare's charts, its load callbacks) uses: never a
    preload left unused."""
    app = create_app(FileStore(str(folder)), Settings(refresh_interval=0))
    page = next(p for p in all_pages() if p.match(path.split("?")[0]) is not None)
    query = dict(pair.split("=", 1) for pair in path.split("?", 1)[1].split("&")) if "?" in path else {}
    with app.server.test_request_context(path):
        layout = page.layout(**{k: unquote(v) for k, v in query.items()})
    assert set(PAGE_SCRIPTS[page.name]) <= lazy_scripts(layout) | set(added_by_callbacks)


def test_unversioned_package_scripts_are_compressed_once_and_revalidated_without_reading_them(app, monkeypatch):
    import pkgutil

    client = Client(app.server)
    url = "/_dash-component-suites/plotly/package_data/plotly.min.js"
    first = client.get(url, headers={"Accept-Encoding": "br"})
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "br"
    assert "immutable" not in first.headers.get("Cache-Control", "")  # no version in the URL: revalidated
    reads: list[str] = []
    real = pkgutil.get_data
    monkeypatch.setattr(pkgutil, "get_data", lambda *a: reads.append(a[1]) or real(*a))
    again = client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"] and reads == []
    other = client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": '"another-version"'})
    assert other.status_code == 200 and decoded(other) == decoded(first)


# -- in Chromium ---------------------------------------------------------------------------------------------
@pytest.mark.browser
def test_first_rows_need_no_rows_callback_and_hidden_tabs_load_on_demand(page, serve, app):
    server = serve(app.server)
    posts: list[str] = []
    answers: list[tuple[str, int, str]] = []
    page.on("request", lambda r: posts.append(r.post_data or "") if "_dash-update-component" in r.url else None)
    page.on("response", lambda r: answers.append((json.loads(r.request.post_data)["output"], r.status,
                                                  r.text() if r.status == 200 else ""))
            if "_dash-update-component" in r.url else None)
    page.goto(server.url + "/")
    page.wait_for_selector("#tbl-grid .ag-row [col-id='id']", timeout=60_000)
    page.wait_for_timeout(800)
    rows_calls = [p for p in posts if "tbl-grid.getRowsResponse" in p and "tbl-count" in p]
    assert rows_calls == []  # the first block came with the layout
    # the router does not run at load (the layout holds the page): no round trip, no loading state that
    # re-renders the page while its grid is built
    assert not any("page-content.children" in output for output, _, _ in answers)
    # every callback a load sends has something to say: none answers "nothing changed" (a store declared
    # with data=None, say, fires what it feeds as it mounts)
    assert [output for output, status, _ in answers if status == 204] == []
    # the tag list (a scan of the tag index) is read when a tag input is first used, not at load
    # (test_table_browser: test_tag_suggestions_are_read_when_a_tag_input_is_first_used)
    assert not any("tbl-tag-options" in output for output, _, _ in answers)
    assert not any("tbl-group-box.children" in output for output, _, _ in answers)  # not grouped: no grouping
    assert page.inner_text("#tbl-count") == "6 runs"
    ids = [int(t) for t in page.locator("#tbl-grid .ag-pinned-left-cols-container [col-id='id']").all_inner_texts()]
    assert sorted(ids, reverse=True) == ids and len(ids) == 6
    page.locator("#tbl-grid [role='columnheader'][col-id='status'] .ag-header-cell-label").click()  # a new sort
    page.wait_for_function("() => new URLSearchParams(location.search).get('sort') === 'status'", timeout=30_000)
    assert len([p for p in posts if "tbl-grid.getRowsResponse" in p and "tbl-count" in p]) == 1  # the server's

    posts.clear()
    page.goto(server.url + "/compare?runs=1,2,3")
    page.wait_for_selector("#cmp-sec-metrics .js-plotly-plot .scatterlayer .trace", timeout=60_000)
    assert page.locator("#cmp-parcoords").count() == 0 and page.locator("#cmp-config").count() == 0
    assert not any("cmp-parcoords" in p for p in posts)  # the hidden tab's query never ran
    page.get_by_text("Hyper-parameters", exact=True).click()
    page.wait_for_selector("#cmp-parcoords .js-plotly-plot, #cmp-parcoords.js-plotly-plot", timeout=60_000)
    page.wait_for_function("() => /\\d+ (compared )?runs?/.test(document.getElementById('cmp-hp-count').innerText)",
                           timeout=60_000)  # the tab's callback ran once its body was built
    page.get_by_text("Config diff", exact=True).click()
    page.wait_for_selector("#cmp-config table", timeout=30_000)
    assert page.locator("#cmp-sec-hparams").is_hidden()


@pytest.mark.browser
def test_a_layout_fetched_without_referer_still_shows_its_page(page, serve, app):
    """The layout renders the page of its Referer; without one (a proxy's Referrer-Policy, say) it holds no
    page and the router, which does not run at load otherwise, renders it."""
    server = serve(app.server)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.post_data or "") if "_dash-update-component" in r.url else None)

    def no_referrer(route):  # the page's HTML as a proxy with `Referrer-Policy: no-referrer` sends it
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "referrer-policy": "no-referrer"})

    page.route("**/compare?runs=1,2", no_referrer)
    page.goto(server.url + "/compare?runs=1,2")
    page.wait_for_selector("#cmp-sec-metrics", timeout=60_000)
    assert page.evaluate("() => window.dash_component_api.getLayout('rendered-url').props.data") is None
    assert any("page-content.children" in p for p in posts)
    page.unroute("**/compare?runs=1,2")
    posts.clear()
    page.goto(server.url + "/")
    page.wait_for_selector("#tbl-grid .ag-row [col-id='id'] .run-link", timeout=60_000)
    page.get_by_role("link", name="Compare").first.click()
    page.wait_for_function("() => location.pathname.endsWith('/compare')", timeout=30_000)
    page.wait_for_selector("h2:has-text('Compare runs')", timeout=60_000)
    assert any("page-content.children" in p for p in posts)  # a navigation still goes through the router


GRID_PROP = "p => (window.dash_component_api.getLayout('tbl-grid').props || {})[p] ?? null"
PRELOADED = "() => window.dash_component_api.getLayout('tbl-preload').props.data"


@pytest.mark.browser
def test_blocks_the_server_sent_ahead_reach_the_grid_without_a_trip_through_dash(page, serve, app):
    """The page's first block and a filter's are answered in the grid's datasource (assets/table.js
    answerInPlace): dash-ag-grid's getRowsRequest -> callback -> getRowsResponse trip does not run for them. A
    block is used once: a reload after it asks the server."""
    server = serve(app.server)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.post_data or "") if "_dash-update-component" in r.url else None)
    page.goto(server.url + "/")
    page.wait_for_selector("#tbl-grid .ag-row [col-id='id'] .run-link", timeout=60_000)
    assert page.evaluate(GRID_PROP, "getRowsRequest") is None  # the rows never went through Dash
    page.wait_for_function(f"() => ({PRELOADED})() === null", timeout=10_000)  # and the block is spent

    page.fill("#tbl-query", "status == COMPLETED")
    page.press("#tbl-query", "Enter")
    page.wait_for_function("() => /^\\d+ runs? match/.test(document.getElementById('tbl-count').innerText)",
                           timeout=30_000)
    matched = int(page.inner_text("#tbl-count").split()[0])
    assert 0 < matched < 6
    page.wait_for_function("n => document.querySelectorAll('#tbl-grid .ag-center-cols-container .ag-row').length"
                           " === n", arg=matched, timeout=30_000)
    assert page.evaluate(GRID_PROP, "getRowsRequest") is None
    assert not any("tbl-grid.getRowsResponse" in p for p in posts)
    page.wait_for_function(f"() => ({PRELOADED})() === null", timeout=10_000)

    # a reload (what a deletion or the refresh of a filter does) gets fresh rows from the server
    page.evaluate("() => window.dash_clientside.set_props('tbl-refresh', {data: 99})")
    page.wait_for_function(f"() => ({GRID_PROP})('getRowsRequest') !== null", timeout=30_000)
    page.wait_for_function("n => document.querySelectorAll('#tbl-grid .ag-center-cols-container .ag-row').length"
                           " === n", arg=matched, timeout=30_000)
    assert [p for p in posts if "tbl-grid.getRowsResponse" in p and "tbl-count" in p]


@pytest.mark.browser
def test_the_head_preloads_the_layout_and_a_filter_brings_rows_and_columns_in_one_request(page, serve, app, folder):
    from omnidash.pages.table_state import quote

    store = FileStore(str(folder))
    value = max(store.distinct("config.batch_size"), key=lambda v: store.count(f"config.batch_size == {quote(v)}"))
    query = f"config.batch_size == {quote(value)}"  # every run listed has the same batch size
    assert store.count(query) >= 2
    server = serve(app.server)
    requests: list[Any] = []
    warnings: list[str] = []
    page.on("request", lambda r: requests.append(r))
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    page.goto(server.url + "/")
    page.wait_for_selector("#tbl-grid .ag-row [col-id='id']", timeout=60_000)
    for name in ("_dash-layout", "_dash-dependencies"):
        assert len([r for r in requests if r.url.split("?")[0].endswith("/" + name)]) == 1, name
        # the renderer's fetch() used the response the <link rel=preload> in the head asked for
        initiators = page.evaluate("n => performance.getEntriesByType('resource')"
                                   ".filter(e => e.name.endsWith('/' + n)).map(e => e.initiatorType)", name)
        assert initiators == ["link"], (name, initiators)
    page.wait_for_timeout(3500)  # Chromium warns of a preload left unused a few seconds after the load
    assert not [w for w in warnings if "preload" in w], warnings

    column = "() => !!dash_ag_grid.getApi('tbl-grid').getColumn('config.batch_size')"
    assert page.evaluate(column)
    requests.clear()
    page.fill("#tbl-query", query)
    page.press("#tbl-query", "Enter")
    page.wait_for_function(f"() => !({column})()", timeout=30_000)  # the same in every listed run
    page.wait_for_function("() => /^\\d+ runs? match/.test(document.getElementById('tbl-count').innerText)",
                           timeout=30_000)
    page.wait_for_timeout(1500)
    answered = [(json.loads(r.post_data)["output"], r.response().status) for r in requests
                if "_dash-update-component" in r.url]
    # one reply brings the query's first rows and the columns that vary among them (204: nothing changed)
    carrying = [o for o, status in answered if status == 200 and ("tbl-preload.data" in o or "tbl-grid.columnDefs" in o
                                                                  or "tbl-grid.getRowsResponse" in o)]
    assert len(carrying) == 1 and "tbl-preload.data" in carrying[0] and "tbl-grid.columnDefs" in carrying[0], answered
    shown = page.locator("#tbl-grid .ag-center-cols-container .ag-row").count()
    assert shown == int(page.inner_text("#tbl-count").split()[0])
