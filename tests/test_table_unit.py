"""Runs table without a browser: pure helpers, component trees, and callbacks through Dash's endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omnidash.components.columns import (
    Col,
    column_def,
    column_defs,
    default_columns,
    default_width,
    grouped_column_defs,
    leaf_defs,
    split_columns,
)
from omnidash.components.filter_bar import error_view
from omnidash.context import Settings
from omnidash.pages.table_state import (
    DEFAULT_PAGE_SIZE,
    View,
    filter_model_to_query,
    page_size_default,
    page_sizes,
    sort_from_model,
    status_chips,
    toggle_status,
    view_from_params,
    view_to_params,
    widths_from_param,
)
from omnidash.pages.table_suggest import suggestions
from omnidash.store.query import quote


# -- pure helpers ----------------------------------------------------------------------------------
def test_default_columns_follow_omniboard_then_varying_config_then_metrics():
    cols = [Col("id", "base"), Col("experiment", "base"), Col("status", "base"), Col("tags", "base"),
            Col("notes", "base"), Col("start_time", "base", "date"), Col("duration", "base", "number"),
            Col("hostname", "base"), Col("result", "base"), Col("command", "base"),
            Col("config.lr", "config", "number"), Col("config.epochs", "config", "number", varies=False),
            Col("config.seed", "config", "number"), Col("last(train.loss)", "metric", "number"),
            Col("max(val.acc)", "metric", "number"), Col("last(val.acc)", "metric", "number"),
            Col("best", "custom", "number", label="best"), Col("top_acc", "metric", "number", label="top_acc")]
    out = default_columns(cols)
    # id, experiment, status; the varying config (seed last); Omniboard's shared columns; per metric its last
    # value and its best (max for accuracies, min for losses), validation first; tags, notes; the run facts
    assert out == ["id", "experiment", "status", "config.lr", "config.seed", "best", "top_acc", "last(val.acc)",
                   "max(val.acc)", "last(train.loss)", "tags", "notes", "start_time",
                   "duration", "hostname", "result"]
    assert default_columns(cols, varying_only=False)[3:6] == ["config.lr", "config.epochs", "config.seed"]


def test_column_defs_render_status_links_tags_and_times():
    status = column_def(Col("status", "base"))
    assert status["cellRenderer"] == "StatusCell"
    run_id = column_def(Col("id", "base"), base_path="/sub/")
    assert run_id["cellRenderer"] == "RunIdCell" and run_id["cellRendererParams"] == {"basePath": "/sub/"}
    tags = column_def(Col("tags", "base"))
    assert tags["editable"] and tags["cellEditor"] == "TagsEditor"
    assert not column_def(Col("tags", "base"), read_only=True)["editable"]
    notes = column_def(Col("notes", "base"))
    assert notes["cellEditor"] == "agLargeTextCellEditor"
    start = column_def(Col("start_time", "base", "date"), timezone="Europe/Berlin")
    assert start["valueFormatter"]["function"] == "omniFormatTime(params.value, 'Europe/Berlin')"
    assert start["filter"] == "agDateColumnFilter"
    metric = column_def(Col("max(val.acc)", "metric", "number"))
    assert metric["filter"] == "agNumberColumnFilter" and metric["type"] == "rightAligned"
    defs = column_defs(["id", "config.lr", "info.x"], [Col("config.lr", "config", "number")], pinned=["id"])
    assert [d["colId"] for d in defs] == ["id", "config.lr", "info.x"]
    assert defs[0]["pinned"] == "left" and defs[1]["headerName"] == "lr"


def test_a_group_cut_by_the_pinned_edge_is_titled_once():
    known = [Col("id", "base"), Col("experiment", "base"), Col("status", "base"),
             Col("config.lr", "config", "number"), Col("max(acc)", "metric", "number")]
    visible = ["id", "experiment", "status", "config.lr", "max(acc)"]
    groups = grouped_column_defs(column_defs(visible, known, pinned=["id", "experiment"]), known)
    assert [(g["headerName"], [c["colId"] for c in g["children"]]) for g in groups] == [
        ("Run", ["id", "experiment"]), ("", ["status"]), ("Config", ["config.lr"]), ("Metrics", ["max(acc)"])]
    assert groups[1]["headerClass"] == groups[0]["headerClass"]  # the same group, continued
    apart = grouped_column_defs(column_defs(["id", "config.lr", "status"], known, pinned=["id"]), known)
    assert [g["headerName"] for g in apart] == ["Run", "Config", "Run"]  # not neighbours: each titled


def test_split_columns_keeps_commas_inside_parentheses():
    assert split_columns("id,last_avg(loss, 5),config.lr") == ["id", "last_avg(loss, 5)", "config.lr"]
    assert split_columns("") == [] and split_columns(None) == []


def test_view_round_trips_through_url_parameters():
    view = View(q="lr > 1e-3 and tags has baseline", sort=["-config.lr", "id"], cols=["id", "last_avg(loss, 5)"],
                pin=["id"], group=["config.lr"], ps=200, w={"last_avg(loss, 5)": 95, "config.lr": 260})
    params = view_to_params(view)
    assert params["w"] == "config.lr:260,last_avg(loss, 5):95"  # sorted by name: one URL per view
    assert view_from_params(params) == view
    assert View.from_dict(view.to_dict()) == view
    assert view.to_dict()["w"] == [["config.lr", 260], ["last_avg(loss, 5)", 95]]  # no dotted keys for MongoDB
    assert view_to_params(View()) == {}
    assert view_to_params(View(w={"id": default_width("id"), "config.lr": default_width("config.lr")})) == {}
    bad = view_from_params({"ps": "7", "sort": "", "cols": ""})
    assert bad.ps == 100 and bad.sort == ["-id"] and bad.cols is None and bad.w == {}


def test_malformed_widths_in_the_url_are_ignored():
    text = ("config.lr:abc,:90,status,id:-5,config.x:1e3,config.y:,config.z:12.5,result:99999,notes:10,"
            f"experiment:{default_width('experiment')},a:b:120,last_avg(loss, 5):88,config.lr:200")
    assert widths_from_param(text) == {
        "a:b": 120,  # the last colon separates the width
        "config.lr": 200,  # the last one wins
        "last_avg(loss, 5)": 88,
        "notes": 70,  # clamped to the grid's minimum
        "result": 2000,  # and to the maximum
    }  # experiment:150 is its default width
    assert view_from_params({"w": "nonsense"}).w == {} and view_from_params({"w": ""}).w == {}
    stored = {"w": [["a", True], ["b", 100.0], ["c"], 5, [3, 100], ["d", "95"], ["e", None], "x:100"]}
    assert View.from_dict(stored).w == {"b": 100, "d": 95}
    assert View.from_dict({"w": {"config.lr": 300}}).w == {"config.lr": 300}
    assert View.from_dict({"w": "config.lr:300"}).w == {}


def test_page_size_default_comes_from_the_source_settings():
    assert page_size_default(75) == 75 and page_size_default("250") == 250
    for unusable in (None, 0, -5, "many", 10**6):
        assert page_size_default(unusable) == DEFAULT_PAGE_SIZE
    assert page_sizes(75) == [50, 75, 100, 200, 500] and page_sizes(100) == [50, 100, 200, 500]
    assert view_from_params({}, default_ps=75).ps == 75
    assert view_from_params({"ps": "75"}, default_ps=75).ps == 75
    assert view_from_params({"ps": "200"}, default_ps=75).ps == 200
    assert view_from_params({"ps": "75"}).ps == DEFAULT_PAGE_SIZE  # 75 is no menu size on a default source
    assert view_to_params(View(ps=75), default_ps=75) == {}
    assert view_to_params(View(ps=100), default_ps=75) == {"ps": "100"}
    assert View.from_dict(View(ps=75).to_dict()).ps == 75  # the page's own store keeps a configured size


def test_sort_model_becomes_sort_keys():
    model = [{"colId": "config.lr", "sort": "desc", "type": "default"}, {"colId": "id", "sort": "asc"}]
    assert sort_from_model(model) == ["-config.lr", "id"]
    assert sort_from_model([]) == ["-id"]


def test_grid_filters_become_query_clauses():
    model = {
        "config.lr": {"filterType": "number", "type": "inRange", "filter": 0.001, "filterTo": 0.1},
        "experiment": {"filterType": "text", "operator": "OR", "conditions": [
            {"filterType": "text", "type": "contains", "filter": "mn.st"},
            {"filterType": "text", "type": "equals", "filter": "cifar resnet"}]},
        "start_time": {"filterType": "date", "type": "greaterThan", "dateFrom": "2026-11-01 00:00:00", "dateTo": None},
        "notes": {"filterType": "text", "type": "blank"},
        "hostname": {"filterType": "text", "type": "startsWith", "filter": "gpu"},
    }
    q = filter_model_to_query(model)
    assert q == ('config.lr >= 0.001 and config.lr <= 0.1 and (experiment ~ "mn\\\\.st" or experiment == '
                 '"cifar resnet") and start_time > 2026-11-01 and notes missing and hostname ~ "^gpu"')
    assert filter_model_to_query({}) == ""


def test_grid_filter_queries_parse_and_select_the_same_runs(demo_store):
    """The translated clauses are valid query language and select what the grid filter means."""
    q = filter_model_to_query({"config.lr": {"filterType": "number", "type": "greaterThan", "filter": 0.001}})
    rows = list(demo_store.iter_rows(q, ["id"], ["id", "config.lr"]))
    assert rows and all(r["config.lr"] > 0.001 for r in rows)
    q = filter_model_to_query({"experiment": {"filterType": "text", "type": "contains", "filter": "CIFAR"}})
    assert {r["experiment"] for r in demo_store.iter_rows(q, ["id"], ["experiment"])} == {"cifar_resnet"}


def test_status_chips_edit_one_trailing_clause():
    q = toggle_status("lr > 1 or x", "FAILED")
    assert q == "(lr > 1 or x) and status in [FAILED]"
    q = toggle_status(q, "COMPLETED")
    assert status_chips(q) == ["COMPLETED", "FAILED"]
    assert toggle_status(toggle_status(q, "FAILED"), "COMPLETED") == "(lr > 1 or x)"
    assert toggle_status("", "RUNNING") == "status in [RUNNING]"


def test_quote_keeps_words_bare_and_quotes_the_rest():
    assert quote("baseline") == "baseline"
    assert quote("two words") == '"two words"'
    assert quote("and") == '"and"' and quote("0.1") == '"0.1"'
    assert quote(0.001) == "0.001" and quote(True) == "true" and quote(None) == "null"


def test_suggestions_complete_names_operators_and_values():
    cols = ["status", "tags", "config.lr", "max(val.acc)"]
    distinct = {"config.lr": [0.1, 0.01], "tags": ["baseline", "x y"]}.get
    assert suggestions("st", cols, lambda c: distinct(c) or []) == ["status "]
    assert "status == " in suggestions("status ", cols, lambda c: [])
    assert suggestions("status == CO", cols, lambda c: []) == ["status == COMPLETED "]
    assert suggestions("tags has ", cols, lambda c: distinct(c) or []) == ["tags has baseline ", 'tags has "x y" ']
    assert suggestions("lr > ", cols, lambda c: distinct(c) or []) == ["lr > 0.1 ", "lr > 0.01 "]
    assert suggestions("lr > 0.1 and max", cols, lambda c: []) == ["lr > 0.1 and max(val.acc) "]


def test_error_view_points_at_the_column():
    parts = error_view("unexpected ')' at column 5", "a == ) b", 6)
    caret = parts[-1]
    assert caret.children[-1] == "     ^"


# -- the page, built and driven through Dash's own callback endpoint ---------------------------------------
@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    from omnidash.demo import write_demo_runs

    d = tmp_path_factory.mktemp("table-demo")
    write_demo_runs(d, n_runs=24, seed=3)
    return d


@pytest.fixture
def demo_store(demo_dir):
    from omnidash.store.files import FileStore

    return FileStore(str(demo_dir))


@pytest.fixture
def dash_app(demo_store):
    from omnidash.server import create_app

    return create_app(demo_store, Settings(timezone="Europe/Berlin", refresh_interval=30))


def find(component: Any, component_id: Any) -> Any:
    """The component with this id in a layout tree (None when absent)."""
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    if children is None:
        return None
    for child in children if isinstance(children, list | tuple) else [children]:
        found = find(child, component_id)
        if found is not None:
            return found
    return None


def build(dash_app, **params):
    from omnidash.pages import table

    with dash_app.server.test_request_context("/"):
        return table.layout(**params)


def test_layout_restores_the_whole_view_from_the_url(dash_app):
    page = build(dash_app, q="lr > 0.001 and status in [COMPLETED]", sort="-config.lr", cols="id,status,config.lr",
                 pin="id", group="config.lr", ps="200", w="config.lr:260,status:80,bogus,hidden.col:300")
    assert find(page, "tbl-query").value == "lr > 0.001 and status in [COMPLETED]"
    view = find(page, "tbl-view").data
    assert view == {"q": "lr > 0.001 and status in [COMPLETED]", "sort": ["-config.lr"],
                    "cols": ["id", "status", "config.lr"], "pin": ["id"], "group": ["config.lr"], "ps": 200,
                    "w": [["config.lr", 260], ["status", 80]], "varying": True}  # hidden columns' widths go
    grid = find(page, "tbl-grid")
    defs = {d["colId"]: d for d in leaf_defs(grid.columnDefs)}
    assert list(defs) == ["id", "status", "config.lr"]
    assert defs["config.lr"]["sort"] == "desc" and defs["id"]["pinned"] == "left"
    assert [defs[c]["width"] for c in defs] == [default_width("id"), 80, 260]
    assert grid.dashGridOptions["cacheBlockSize"] == 200 and grid.rowModelType == "infinite"
    assert find(page, "tbl-group-keys").value == ["config.lr"]
    assert find(page, "tbl-grid-box").hidden is True and find(page, "tbl-group-box").hidden is False
    chips = find(page, "tbl-chips").children
    active = [c.id["status"] for c in chips if "chip-active" in c.className]
    assert active == ["COMPLETED"]
    export = find(page, "tbl-export").href
    assert export.startswith("/api/runs.csv?") and "sort=-config.lr" in export and "columns=id%2Cstatus" in export


def test_default_view_shows_varying_config_and_metric_columns(dash_app):
    page = build(dash_app)
    cols = [d["colId"] for d in leaf_defs(find(page, "tbl-grid").columnDefs)]
    assert cols[:3] == ["id", "experiment", "status"]
    assert any(c.startswith("config.") for c in cols) and any(c.startswith("last(") for c in cols)
    assert find(page, "tbl-view").data["cols"] is None


def callback_key(dash_app, fragment: str | tuple[str, ...]) -> str:
    """The one callback whose output key contains the fragment (or all of several fragments)."""
    fragments = (fragment,) if isinstance(fragment, str) else fragment
    keys = [k for k in dash_app.callback_map if all(f in k for f in fragments)]
    if len(keys) > 1:  # a single-output callback named by its output
        keys = [k for k in keys if k.startswith(fragments[0])] or keys
    assert len(keys) == 1, keys
    return keys[0]


def call(dash_app, fragment: str | tuple[str, ...], inputs: dict[str, Any], state: dict[str, Any] | None = None,
         triggered: str | None = None, client: Any = None) -> dict[str, Any]:
    """POST one callback to /_dash-update-component as the browser would; returns {"id.prop": value}.

    `client` (a werkzeug test client of a whole deployment) receives the request instead of dash_app."""
    from omnidash.core.status import STATUSES

    key = callback_key(dash_app, fragment)
    spec = dash_app.callback_map[key]

    def concrete(comp: Any) -> list[Any] | None:
        """Wildcard ids (the status chips) expand to the components the page has; None for plain ids."""
        if isinstance(comp, str) and comp.startswith("{"):
            comp = json.loads(comp)
        if isinstance(comp, dict):
            return [{**comp, "status": s} for s in STATUSES] if comp.get("type") == "tbl-chip" else []
        return None

    outputs: list[Any] = []
    for part in key.strip(".").split("...") if key.startswith("..") else [key]:
        comp, _, prop = part.rpartition(".")
        ids = concrete(comp)
        outputs.append({"id": comp, "property": prop} if ids is None else
                       [{"id": i, "property": prop.split("@")[0]} for i in ids])

    def items(specs, values):
        out: list[Any] = []
        for s in specs:
            ids = concrete(s["id"])
            if ids is not None:
                out.append([{"id": i, "property": s["property"], "value": None} for i in ids])
                continue
            name = f"{s['id']}.{s['property']}"
            out.append({"id": s["id"], "property": s["property"], "value": (values or {}).get(name)})
        return out

    payload = {
        "output": key,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": items(spec["inputs"], inputs),
        "state": items(spec["state"], state),
        "changedPropIds": [triggered or next(iter(inputs))],
    }
    resp = (client or dash_app.server.test_client()).post("/_dash-update-component", json=payload)
    if resp.status_code == 204:
        return {}
    assert resp.status_code == 200, resp.data[:500]
    body = json.loads(resp.data)
    updates = {**body.get("sideUpdate", {}), **body["response"]}  # set_props() updates, then the outputs
    return {f"{c}.{p}": v for c, props in updates.items() for p, v in props.items() if not c.startswith("{")}


# the server's rows callback: the grid's requests reach it through tbl-rows-request (assets/table.js firstRows)
ROWS = ("tbl-grid.getRowsResponse", "tbl-count.children")


def test_rows_callback_pages_sorts_and_counts_through_the_store(dash_app, demo_store):
    view = View(q="status == COMPLETED").to_dict()
    request = {"startRow": 0, "endRow": 5, "sortModel": [{"colId": "config.lr", "sort": "desc", "type": "default"}],
               "filterModel": {}}
    out = call(dash_app, ROWS, {"tbl-rows-request.data": request},
               {"tbl-view.data": view, "tbl-visible.data": ["id", "config.lr"]})
    response = out["tbl-grid.getRowsResponse"]
    expected = demo_store.list_runs("status == COMPLETED", ["-config.lr"], 0, 5, ["id", "status", "config.lr"])
    assert response["rowCount"] == expected.total
    assert [r["id"] for r in response["rowData"]] == [r["id"] for r in expected.rows]
    assert out["tbl-count.children"] == f"{expected.total:,} runs match"
    assert out["tbl-view.data"]["sort"] == ["-config.lr"]  # the sort goes to the URL state


def test_apply_query_validates_and_reports_the_error_position(dash_app):
    fragment = "tbl-query-error.children"
    state = {"tbl-query.value": "", "tbl-view.data": View().to_dict(), "tbl-refresh.data": 3}
    bad = call(dash_app, fragment, {"tbl-query-submit.data": {"text": "lr > (0.1", "t": 1}}, state)
    assert "tbl-view.data" not in bad  # the view (and URL) stay as they were
    error = json.dumps(bad["tbl-query-error.children"])
    assert "column 6" in error and "     ^" in error
    good = call(dash_app, fragment, {"tbl-query-submit.data": {"text": "status == FAILED", "t": 2}}, state)
    assert good["tbl-view.data"]["q"] == "status == FAILED"
    assert good["tbl-refresh.data"] == 4 and good["tbl-query-error.children"] == []
    assert good["tbl-count.children"].endswith("match") or good["tbl-count.children"].endswith("matches")


def test_grid_column_filter_lands_in_the_query_and_the_grid_filter_is_cleared(dash_app):
    state = {"tbl-query.value": "status == COMPLETED", "tbl-view.data": View(q="status == COMPLETED").to_dict(),
             "tbl-refresh.data": 0}
    model = {"config.lr": {"filterType": "number", "type": "lessThan", "filter": 0.01}}
    out = call(dash_app, "tbl-query-error.children", {"tbl-grid.filterModel": model}, state,
               triggered="tbl-grid.filterModel")
    assert out["tbl-query.value"] == "status == COMPLETED and config.lr < 0.01"
    assert out["tbl-view.data"]["q"] == out["tbl-query.value"]
    assert out["tbl-grid.filterModel"] == {}


def test_grouping_callback_aggregates_the_matching_runs(dash_app, demo_store):
    import pandas as pd

    view = View().to_dict()
    out = call(dash_app, "tbl-group-box.children",
               {"tbl-group-keys.value": ["config.lr"], "tbl-refresh.data": 0,
                "tbl-visible.data": ["id", "result", "last(val.acc)"]},
               {"tbl-view.data": view, "tbl-group-expanded.data": [], "tbl-groups.id": "tbl-groups"},
               triggered="tbl-group-keys.value")
    assert out["tbl-view.data"]["group"] == ["config.lr"]
    assert "tbl-group-box.children" not in out  # the page has its group grid: updated in place
    groups = out["tbl-groups.rowData"]
    assert len(groups) > 1
    df = pd.DataFrame(demo_store.iter_rows("", ["id"], ["id", "config.lr", "last(val.acc)"]))
    expected = df.groupby("config.lr")["last(val.acc)"].agg(["count", "mean", "std"])
    for g in groups:
        e = expected.loc[g["config.lr"]]
        assert g["n"] == e["count"]
        assert g["mean:last(val.acc)"] == pytest.approx(e["mean"])
        assert g["std:last(val.acc)"] == pytest.approx(e["std"])


def test_the_group_grid_is_added_by_the_first_grouping(dash_app, demo_store):
    """A page that is not grouped holds no group grid (a hidden AG Grid costs every first visit); the first
    grouping adds it, rows included; a page opened grouped (?group=) has it from the start."""
    page = build(dash_app)
    assert find(page, "tbl-groups") is None and find(page, "tbl-group-box").hidden
    out = call(dash_app, "tbl-group-box.children",
               {"tbl-group-keys.value": ["config.lr"], "tbl-refresh.data": 0, "tbl-visible.data": ["id", "result"]},
               {"tbl-view.data": View().to_dict(), "tbl-group-expanded.data": [], "tbl-groups.id": None},
               triggered="tbl-group-keys.value")
    grid = out["tbl-group-box.children"]
    assert grid["props"]["id"] == "tbl-groups" and out["tbl-group-box.hidden"] is False
    assert [d["colId"] for d in grid["props"]["columnDefs"]] == ["n", "config.lr", "mean:result"]
    assert sum(g["n"] for g in grid["props"]["rowData"]) == demo_store.count("")
    assert "tbl-groups.rowData" not in out  # nothing is set on a grid the page does not have yet
    ungrouped = call(dash_app, "tbl-group-box.children",
                     {"tbl-group-keys.value": [], "tbl-refresh.data": 0, "tbl-visible.data": ["id"]},
                     {"tbl-view.data": View(group=["config.lr"]).to_dict(), "tbl-group-expanded.data": [],
                      "tbl-groups.id": None}, triggered="tbl-group-keys.value")
    assert ungrouped["tbl-group-box.hidden"] is True and "tbl-groups.rowData" not in ungrouped
    grouped = build(dash_app, group="config.lr")  # its groups come with the layout: no callback at load
    assert not find(grouped, "tbl-group-box").hidden and find(grouped, "tbl-message").children is None
    assert sum(g["n"] for g in find(grouped, "tbl-groups").rowData) == demo_store.count("")
    mistyped = build(dash_app, group="config.typo")
    assert find(mistyped, "tbl-message").children == "No listed run has a value for config.typo."


def test_the_plot_panel_is_added_by_the_first_selection(dash_app, demo_store):
    """The table page has no metric plot panel (and none of its controls) until runs are selected; the first
    selection adds the panel for those runs; later ones hand the panel their runs."""
    page = build(dash_app)
    assert find(page, "runs-plot-panel") is None and find(page, "tbl-plot-slot") is not None
    ids = demo_store.run_ids("")[:3]
    rows = [{"id": i, "status": "COMPLETED"} for i in ids]
    assert call(dash_app, "tbl-plot-slot.children", {"tbl-grid.selectedRows": []}, {"runs-plot-panel.id": None}) == {}
    out = call(dash_app, "tbl-plot-slot.children", {"tbl-grid.selectedRows": rows}, {"runs-plot-panel.id": None})
    panel = out["tbl-plot-slot.children"]
    assert panel["props"]["id"] == "runs-plot-panel"
    stores = {c["props"]["id"]: c["props"].get("data") for c in panel["props"]["children"]
              if isinstance(c, dict) and c.get("type") == "Store"}
    assert stores["runs-plot-runs"] == ids and stores["runs-plot-info"]["runs"]  # loaded with the panel
    again = call(dash_app, "tbl-plot-slot.children", {"tbl-grid.selectedRows": rows[:1]},
                 {"runs-plot-panel.id": "runs-plot-panel"})
    assert again == {"runs-plot-runs.data": ids[:1]}


def test_bulk_tag_on_all_matching_runs(dash_app, demo_store):
    view = View(q="config.lr > 0.001").to_dict()
    out = call(dash_app, "tbl-soft-refresh.data@", {"tbl-bulk-add.n_clicks": 1},
               {"tbl-bulk-tag.value": "broken", "tbl-grid.selectedRows": [], "tbl-select-all.value": ["all"],
                "tbl-view.data": view, "tbl-soft-refresh.data": 0}, triggered="tbl-bulk-add.n_clicks")
    matching = set(demo_store.run_ids("config.lr > 0.001"))
    assert matching and set(demo_store.run_ids("tags has broken")) == matching
    assert f"to {len(matching)} run" in json.dumps(out["tbl-message.children"])


def test_inline_tag_edit_failure_reports_and_reloads_the_cell(dash_app, demo_store):
    change = [{"colId": "tags", "value": ["ok"], "oldValue": [], "data": {"id": 999999}, "rowIndex": 0}]
    out = call(dash_app, "tbl-message.children..", {"tbl-grid.cellValueChanged": change},
               {"tbl-soft-refresh.data": 5})
    assert "Could not save tags of run 999999" in json.dumps(out["tbl-message.children"])
    assert out["tbl-soft-refresh.data"] == 6  # the grid re-reads the stored value


def test_delete_asks_with_exactly_what_goes_then_deletes(dash_app, demo_store):
    ids = [r["id"] for r in demo_store.list_runs("", ["-id"], 0, 2, ["id"]).rows]
    selected = [{"id": i} for i in ids]
    asked = call(dash_app, "tbl-delete-list.children", {"tbl-bulk-delete.n_clicks": 1},
                 {"tbl-grid.selectedRows": selected, "tbl-select-all.value": [], "tbl-view.data": View().to_dict()},
                 triggered="tbl-bulk-delete.n_clicks")
    assert asked["tbl-delete-dialog.hidden"] is False and asked["tbl-delete-target.data"] == ids
    listing = json.dumps(asked["tbl-delete-list.children"])
    assert "2 runs will be deleted for good" in listing
    for i in ids:
        report = demo_store.delete_preview(i)
        assert f"Run {i}: the run, {report.metrics} metric series" in listing
    done = call(dash_app, "tbl-delete-dialog.hidden@", {"tbl-delete-confirm.n_clicks": 1},
                {"tbl-delete-target.data": ids, "tbl-refresh.data": 0})
    assert done["tbl-delete-dialog.hidden"] is True and "Deleted 2 runs" in json.dumps(done["tbl-message.children"])
    assert not set(ids) & set(demo_store.run_ids(""))


def test_compare_opens_the_compare_page_with_the_selected_runs(dash_app):
    out = call(dash_app, "url.pathname", {"tbl-compare.n_clicks": 1},
               {"tbl-grid.selectedRows": [{"id": 5}, {"id": 2}, {"id": 9}], "tbl-select-all.value": [],
                "tbl-view.data": View().to_dict()})
    assert out["url.pathname"] == "/compare" and out["url.search"] == "?runs=5,2,9"


def test_saved_views_are_stored_and_listed(dash_app, demo_store):
    view = View(q="status == COMPLETED", sort=["-config.lr"], group=["config.lr"]).to_dict()
    out = call(dash_app, "tbl-view-list.children", {"tbl-view-save.n_clicks": 1},
               {"tbl-view-name.value": "best lr", "tbl-view.data": view}, triggered="tbl-view-save.n_clicks")
    assert [v["name"] for v in demo_store.list_views()] == ["best lr"]
    link = json.dumps(out["tbl-view-list.children"])
    assert "q=status+%3D%3D+COMPLETED" in link and "group=config.lr" in link


def test_columns_picker_adds_pins_and_moves_columns(dash_app):
    state = {"tbl-picker-list.options": [{"label": "x", "value": v} for v in ("id", "status", "max(val.acc)")],
             "tbl-view.data": View().to_dict(), "tbl-visible.data": ["id", "status"], "tbl-refresh.data": 0}
    out = call(dash_app, "tbl-picker-message.children", {"tbl-picker-list.value": ["id", "status", "max(val.acc)"]},
               state, triggered="tbl-picker-list.value")
    assert out["tbl-visible.data"] == ["id", "status", "max(val.acc)"]
    assert out["tbl-view.data"]["cols"] == ["id", "status", "max(val.acc)"]
    assert out["tbl-refresh.data"] == 1  # a new column: the rows are fetched again with it
    assert [d["colId"] for d in leaf_defs(out["tbl-grid.columnDefs"])] == ["id", "status", "max(val.acc)"]
    moved = [{"colId": "ag-Grid-SelectionColumn"}, {"colId": "status", "pinned": "left", "width": 90},
             {"colId": "id", "width": 80}, {"colId": "max(val.acc)", "hide": False}]
    state["tbl-visible.data"] = out["tbl-visible.data"]
    out = call(dash_app, "tbl-picker-message.children", {"tbl-column-state.data": moved}, state,
               triggered="tbl-column-state.data")
    assert out["tbl-view.data"]["cols"] == ["status", "id", "max(val.acc)"]
    assert out["tbl-view.data"]["pin"] == ["status"]


def test_database_going_away_shows_a_banner_and_recovers(private_mongo_server):
    import pymongo

    from omnidash.pages import table
    from omnidash.server import create_app
    from omnidash.store.mongo import MongoStore

    client = pymongo.MongoClient(private_mongo_server.uri)
    client["outage"]["runs"].insert_one({"_id": 1, "status": "COMPLETED", "config": {"lr": 0.1}})
    client.close()
    store = MongoStore(private_mongo_server.uri + "outage", server_selection_timeout_ms=300)
    app = create_app(store, Settings())
    request = {"startRow": 0, "endRow": 50, "sortModel": [], "filterModel": {}}
    args = ({"tbl-rows-request.data": request}, {"tbl-view.data": View().to_dict(), "tbl-visible.data": ["id"]})
    assert call(app, ROWS, *args)["tbl-grid.getRowsResponse"]["rowCount"] == 1

    private_mongo_server.stop()
    out = call(app, ROWS, *args)
    assert out["tbl-grid.getRowsResponse"] == {"rowData": [], "rowCount": 0}
    assert out["tbl-banner.hidden"] is False and out["tbl-retry.disabled"] is False
    assert "cannot be reached" in json.dumps(out["tbl-banner.children"])
    with app.server.test_request_context("/"):
        page = table.layout()
    assert find(page, "tbl-offline-retry") is not None  # a fresh visit gets the retrying banner page
    assert call(app, ("tbl-retry.disabled@", "tbl-refresh.data@"), {"tbl-retry.n_intervals": 1}, {"tbl-refresh.data": 0}) == {}

    private_mongo_server.start()
    back = call(app, ("tbl-retry.disabled@", "tbl-refresh.data@"), {"tbl-retry.n_intervals": 2}, {"tbl-refresh.data": 0})
    assert back == {"tbl-banner.hidden": True, "tbl-retry.disabled": True, "tbl-refresh.data": 1}
    assert call(app, ROWS, *args)["tbl-grid.getRowsResponse"]["rowCount"] == 1
    store.close()


def test_refresh_tick_updates_loaded_rows_and_announces_new_runs(dash_app, demo_store):
    total = demo_store.count("")
    ids = [r["id"] for r in demo_store.list_runs("", ["-id"], 0, 3, ["id"]).rows]
    out = call(dash_app, "tbl-running-rows.data", {"tbl-running-ids.data": {"ids": ids, "t": 1}},
               {"tbl-view.data": View().to_dict(), "tbl-visible.data": ["id", "status", "config.lr"],
                "tbl-baseline.data": total - 4})
    assert sorted(r["id"] for r in out["tbl-running-rows.data"]) == sorted(ids)
    assert all("config.lr" in r for r in out["tbl-running-rows.data"])
    assert out["tbl-new-runs.children"].startswith("4 new runs") and out["tbl-new-runs.hidden"] is False
    quiet = call(dash_app, "tbl-running-rows.data", {"tbl-running-ids.data": {"ids": [], "t": 2}},
                 {"tbl-view.data": View().to_dict(), "tbl-visible.data": ["id"], "tbl-baseline.data": total})
    assert quiet["tbl-new-runs.hidden"] is True and quiet["tbl-running-rows.data"] == []


def test_page_size_change_goes_through_the_url(dash_app):
    out = call(dash_app, "url.search@", {"tbl-page-size.value": 200},
               {"tbl-view.data": View(q="status == FAILED").to_dict()})
    assert out["url.search"] == "?q=status+%3D%3D+FAILED&ps=200"


def test_column_resize_goes_to_the_view_and_survives_column_changes(dash_app):
    state = {"tbl-picker-list.options": [{"label": "x", "value": v} for v in ("id", "status", "config.lr")],
             "tbl-view.data": View(cols=["id", "status"]).to_dict(), "tbl-visible.data": ["id", "status"],
             "tbl-refresh.data": 0}
    grid_state = [{"colId": "ag-Grid-SelectionColumn", "width": 50},
                  {"colId": "id", "width": default_width("id"), "pinned": "left"},
                  {"colId": "status", "width": default_width("status")}]
    same = call(dash_app, "tbl-picker-message.children", {"tbl-column-state.data": grid_state}, state,
                triggered="tbl-column-state.data")
    assert same == {}  # the grid reporting the widths it was given changes nothing

    grid_state[2] = {"colId": "status", "width": 233}
    out = call(dash_app, "tbl-picker-message.children", {"tbl-column-state.data": grid_state}, state,
               triggered="tbl-column-state.data")
    assert out["tbl-view.data"]["w"] == [["status", 233]] and out["tbl-view.data"]["cols"] == ["id", "status"]
    # the grid already shows the new width: no new colDefs, and no new visible list to re-run things with
    assert "tbl-grid.columnDefs" not in out and "tbl-visible.data" not in out and "tbl-refresh.data" not in out

    state["tbl-view.data"] = out["tbl-view.data"]
    added = call(dash_app, "tbl-picker-message.children", {"tbl-picker-list.value": ["id", "status", "config.lr"]},
                 state, triggered="tbl-picker-list.value")
    widths = {d["colId"]: d["width"] for d in leaf_defs(added["tbl-grid.columnDefs"])}
    # a picker change keeps the resized width
    assert widths == {"id": default_width("id"), "status": 233, "config.lr": default_width("config.lr")}
    assert added["tbl-view.data"]["w"] == [["status", 233]]

    state["tbl-visible.data"] = added["tbl-visible.data"]
    state["tbl-view.data"] = added["tbl-view.data"]
    hidden = call(dash_app, "tbl-picker-message.children", {"tbl-picker-list.value": ["id", "config.lr"]},
                  state, triggered="tbl-picker-list.value")
    assert hidden["tbl-view.data"]["w"] == []  # a hidden column's width leaves the URL with it


def test_saved_views_keep_column_widths(dash_app, demo_store):
    view = View(q="status == COMPLETED", cols=["id", "config.lr"], w={"config.lr": 260}).to_dict()
    out = call(dash_app, "tbl-view-list.children", {"tbl-view-save.n_clicks": 1},
               {"tbl-view-name.value": "wide lr", "tbl-view.data": view}, triggered="tbl-view-save.n_clicks")
    saved = {v["name"]: v["state"] for v in demo_store.list_views()}
    assert saved["wide lr"]["w"] == [["config.lr", 260]]
    assert "w=config.lr%3A260" in json.dumps(out["tbl-view-list.children"])
    page = build(dash_app)
    links = json.dumps([c.to_plotly_json() for c in find(page, "tbl-view-list").children], default=str)
    assert "w=config.lr%3A260" in links
    demo_store.delete_view("wide lr")


@pytest.fixture
def sized_app(demo_store):
    """A source whose settings ask for 75 rows per block (Omniboard's initial_fetch_size)."""
    from omnidash.server import create_app

    return create_app(demo_store, Settings(page_size=75, refresh_interval=0))


def test_page_size_defaults_to_the_source_setting(sized_app):
    page = build(sized_app)
    assert find(page, "tbl-view").data["ps"] == 75
    assert find(page, "tbl-grid").dashGridOptions["cacheBlockSize"] == 75
    menu = find(page, "tbl-page-size")
    assert menu.value == 75 and 75 in menu.options and {50, 100, 200, 500} <= set(menu.options)
    assert find(page, "tbl-defaults").data == {"ps": 75}  # what assets/table.js leaves out of the URL
    assert find(build(sized_app, ps="200"), "tbl-grid").dashGridOptions["cacheBlockSize"] == 200
    assert find(build(sized_app, ps="33"), "tbl-view").data["ps"] == 75

    state = {"tbl-view.data": View(ps=75).to_dict()}
    assert call(sized_app, "url.search@", {"tbl-page-size.value": 100}, state)["url.search"] == "?ps=100"
    state = {"tbl-view.data": View(q="status == FAILED", ps=100).to_dict()}
    assert call(sized_app, "url.search@", {"tbl-page-size.value": 75}, state)["url.search"] == (
        "?q=status+%3D%3D+FAILED")
    request = {"startRow": 0, "endRow": 75, "sortModel": [], "filterModel": {}}
    rows = call(sized_app, ROWS, {"tbl-rows-request.data": request},
                {"tbl-view.data": View(ps=75).to_dict(), "tbl-visible.data": ["id"]})
    assert "tbl-view.data" not in rows  # a configured size is no reason to rewrite the view


def test_refresh_interval_and_timezone_settings_reach_the_table(dash_app, sized_app, demo_store):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    page = build(dash_app)  # Settings(timezone="Europe/Berlin", refresh_interval=30)
    interval = find(page, "tbl-interval")
    assert interval.interval == 30_000 and not interval.disabled
    defs = {d["colId"]: d for d in leaf_defs(find(page, "tbl-grid").columnDefs)}
    assert defs["start_time"]["valueFormatter"]["function"] == "omniFormatTime(params.value, 'Europe/Berlin')"
    assert find(build(sized_app), "tbl-interval").disabled is True  # refresh_interval = 0: no auto-refresh

    state = {"tbl-view.data": View().to_dict(), "tbl-visible.data": ["id"], "tbl-baseline.data": 0}
    assert call(dash_app, "tbl-running-rows.data", {"tbl-running-ids.data": None}, state) == {}  # mount, no tick
    out = call(dash_app, "tbl-running-rows.data", {"tbl-running-ids.data": {"ids": [], "t": 1}},
               {"tbl-view.data": View().to_dict(), "tbl-visible.data": ["id"], "tbl-baseline.data": 0})
    shown = datetime.strptime(out["tbl-last-update.children"].removeprefix("updated "), "%H:%M:%S")
    now = datetime.now(ZoneInfo("Europe/Berlin"))
    drift = abs((now.hour * 3600 + now.minute * 60 + now.second)
                - (shown.hour * 3600 + shown.minute * 60 + shown.second))
    assert min(drift, 86400 - drift) <= 5, (out["tbl-last-update.children"], now)


def test_probably_dead_after_of_the_source_decides_the_table_status(tmp_path, dash_app):
    """Through the deployment path (config -> opened store -> table rows), as `omnidash serve` builds it."""
    from datetime import UTC, datetime, timedelta

    from werkzeug.test import Client

    from omnidash.cli import build_application
    from omnidash.config import AppConfig, SourceConfig

    beat = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=300)
    run = {"status": "RUNNING", "start_time": (beat - timedelta(hours=1)).isoformat(),
           "heartbeat": beat.isoformat(), "experiment": {"name": "stale"}, "host": {"hostname": "h"},
           "command": "main", "meta": {}, "resources": [], "artifacts": []}
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "run.json").write_text(json.dumps(run))
    (tmp_path / "1" / "config.json").write_text(json.dumps({"lr": 0.1}))
    request = {"startRow": 0, "endRow": 10, "sortModel": [], "filterModel": {}}
    for after, status in ((600, "RUNNING"), (120, "PROBABLY_DEAD")):
        config = AppConfig(sources=[SourceConfig("main", str(tmp_path), settings={"probably_dead_after": after})])
        wsgi, stores = build_application(config)
        try:
            out = call(dash_app, ROWS, {"tbl-rows-request.data": request},
                       {"tbl-view.data": View().to_dict(), "tbl-visible.data": ["id", "status"]},
                       client=Client(wsgi))
        finally:
            for store in stores.values():
                store.close()
        assert [r["status"] for r in out["tbl-grid.getRowsResponse"]["rowData"]] == [status], after


def test_default_config_columns_are_the_keys_that_vary_among_the_listed_runs(dash_app, demo_store):
    from omnidash.store import cache

    cache.forget(demo_store)
    everything = [d["colId"] for d in leaf_defs(find(build(dash_app), "tbl-grid").columnDefs)]
    key = next(c for c in everything if c.startswith("config."))
    value = max(demo_store.distinct(key), key=lambda v: demo_store.count(f"{key} == {quote(v)}"))
    query = f"{key} == {quote(value)}"
    assert demo_store.count(query) >= 2
    listed = [d["colId"] for d in leaf_defs(find(build(dash_app, q=query), "tbl-grid").columnDefs)]
    assert key not in listed  # every listed run has the same value
    assert [c for c in listed if c.startswith("config.")], listed  # the keys that still differ are shown
    one = demo_store.run_ids("")[0]
    single = find(build(dash_app, q=f"id == {one}"), "tbl-grid").columnDefs
    assert [d["colId"] for d in leaf_defs(single)] == everything  # one run: the whole database decides

    # typing a query on a view with the default columns changes them the same way, without a reload, in the
    # filter's own reply (one round trip), its first rows carrying those columns
    submit = {"tbl-query-submit.data": {"text": query, "t": 1}}
    state = {"tbl-visible.data": everything, "tbl-refresh.data": 0, "tbl-view.data": View().to_dict()}
    out = call(dash_app, "tbl-query-error.children", submit, state)
    assert out["tbl-visible.data"] == listed and out["tbl-refresh.data"] == 1
    assert [d["colId"] for d in leaf_defs(out["tbl-grid.columnDefs"])] == listed
    assert set(out["tbl-preload.data"]["rows"][0]) >= set(listed)
    # a view with its own columns keeps them
    own = call(dash_app, "tbl-query-error.children", submit,
               {**state, "tbl-view.data": View(cols=["id", "config.lr"]).to_dict()})
    assert "tbl-visible.data" not in own and "tbl-grid.columnDefs" not in own and out["tbl-preload.data"]


def test_plural_counts():
    from omnidash.components.text import plural

    assert [plural(n, "run") for n in (0, 1, 2, 1200)] == ["0 runs", "1 run", "2 runs", "1,200 runs"]
    assert plural(1, "metric series") == "1 metric series" and plural(3, "metric series") == "3 metric series"
