"""Hyper-parameter views over the runs of the current filter: parallel coordinates (brushing builds a
runs-table query) and a scatter (clicking a point opens the run). Part of the compare page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from app.context import get_settings, get_store
from app.pages.importance_panel import importance_section, register_importance_panel
from app.store.base import MAX_PAGE, ColumnInfo, StoreError
from app.store.compare import brush_query, lower_is_better
from components.figures import axis_values, empty_figure, log_axis, parallel_figure, scatter_figure

MAX_AXES = 6


def href(path: str) -> str:
    return get_settings().url_prefix.rstrip("/") + path


def _metric_of(col: str) -> str:
    return col[col.index("(") + 1 : col.rindex(")")].split(",")[0].strip() if "(" in col else col


def default_choices(cols: list[ColumnInfo]) -> tuple[list[str], list[str], list[str], str | None]:
    """(config columns, metric columns, default axes, default metric)."""
    config = [c for c in cols if c.kind == "config"]
    config_names = [c.name for c in config]
    metrics = [c.name for c in cols if c.kind == "metric"]
    varying = [c.name for c in config if c.varies and c.name.split(".")[-1] != "seed"]
    axes = varying[:MAX_AXES] or config_names[:MAX_AXES]
    lasts = [m for m in metrics if m.startswith("last(")]
    preferred = [m for m in lasts if any(k in m.lower() for k in ("val", "acc", "test"))]
    metric = (preferred or lasts or metrics or [None])[0]
    return config_names, metrics, axes, metric


def hparams_section(q: str) -> html.Div:
    """Controls and charts; the data loads when the tab opens."""
    try:
        cols = get_store().columns()
    except StoreError as e:
        return html.Div(f"Cannot read the columns: {e}", className="cmp-warning")
    config_names, metrics, axes, metric = default_choices(cols)
    opts = lambda names: [{"label": n, "value": n} for n in names]  # noqa: E731
    scatter_x = axes[0] if axes else metric
    scope = f"runs matching “{q}”" if q else "all runs"
    return html.Div([
        dcc.Store(id="cmp-hp-q", data=q or ""),
        dcc.Store(id="cmp-hp-dims"),
        dcc.Store(id="cmp-hp-brush", data={}),
        dcc.Location(id="cmp-nav", refresh="callback-nav"),
        html.P([f"Over {scope} ", html.Span(id="cmp-hp-count")], className="cmp-note"),
        html.Div([
            html.Div([html.Label("Axes", className="pp-label"),
                      dcc.Dropdown(id="cmp-hp-keys", options=opts(config_names + metrics), value=axes, multi=True)],
                     className="pp-control pp-wide"),
            html.Div([html.Label("Metric (colour)", className="pp-label"),
                      dcc.Dropdown(id="cmp-hp-metric", options=opts(metrics), value=metric, clearable=False)],
                     className="pp-control"),
        ], className="pp-controls"),
        dcc.Graph(id="cmp-parcoords", config={"displaylogo": False}, figure=empty_figure("Loading…", height=420)),
        html.Div(id="cmp-brush-link", className="cmp-brush-link",
                 children="Drag along an axis to select a range; the matching runs can then be opened in the table."),
        html.Div([
            html.Div([html.Label("Scatter x", className="pp-label"),
                      dcc.Dropdown(id="cmp-hp-x", options=opts(config_names + metrics), value=scatter_x)],
                     className="pp-control"),
            html.Div([html.Label("y", className="pp-label"),
                      dcc.Dropdown(id="cmp-hp-y", options=opts(metrics), value=metric)], className="pp-control"),
            html.Div([html.Label("colour", className="pp-label"),
                      dcc.Dropdown(id="cmp-hp-color", options=opts(config_names + metrics),
                                   value=axes[1] if len(axes) > 1 else None)], className="pp-control"),
        ], className="pp-controls"),
        dcc.Graph(id="cmp-scatter", config={"displaylogo": False}, figure=empty_figure("Loading…", height=420),
                  className="cmp-scatter"),
        html.P("Click a point to open its run.", className="cmp-note"),
        importance_section("cmp", q),
    ], className="cmp-hparams")


def fetch_rows(q: str, columns: list[str]) -> list[dict[str, Any]]:
    return get_store().list_runs(q or "", sort="id", offset=0, limit=MAX_PAGE, columns=columns).rows


def axis_defs(rows: list[dict[str, Any]], cols: list[str]) -> list[dict[str, Any]]:
    """Per axis: its column and, for categorical axes, the category order used on the chart."""
    out = []
    for col in cols:
        vals, ticks = axis_values([r.get(col) for r in rows])
        cats = sorted({str(r.get(col)) for r in rows}, key=lambda t: (t == "None", t)) if ticks else None
        out.append({"col": col, "cats": cats, "log": log_axis(vals, ticks)})
    return out


def constraints(restyle: Any, current: dict[str, Any]) -> dict[str, Any]:
    """Fold one parcoords restyleData event into {axis index: [lo, hi] | None}."""
    if not restyle or not isinstance(restyle, list) or not isinstance(restyle[0], dict):
        return current
    out = dict(current)
    for key, value in restyle[0].items():
        if not key.startswith("dimensions[") or not key.endswith("].constraintrange"):
            continue
        idx = key[len("dimensions["): key.index("]")]
        rng = value[0] if isinstance(value, list) and value and isinstance(value[0], list) else value
        if rng and isinstance(rng[0], list):  # several brushes on one axis: take their span
            rng = [min(r[0] for r in rng), max(r[1] for r in rng)]
        out[idx] = rng if rng else None
    return {k: v for k, v in out.items() if v}


def query_from(q: str, dims: list[dict[str, Any]], brush: dict[str, Any]) -> str:
    ranges, choices = {}, {}
    for idx, rng in brush.items():
        i = int(idx)
        if i >= len(dims):
            continue
        col, cats = dims[i]["col"], dims[i]["cats"]
        lo, hi = sorted(rng[:2])
        if dims[i].get("log"):  # the brush is in log10 units on a log axis
            lo, hi = 10.0 ** lo, 10.0 ** hi
        if cats:
            picked = [c for k, c in enumerate(cats) if lo <= k <= hi]
            choices[col] = [None if c == "None" else _typed(c) for c in picked]
        else:
            ranges[col] = (lo, hi)
    return brush_query(q, ranges, choices)


def _typed(text: str) -> Any:
    return {"True": True, "False": False}.get(text, text)


def register_hparams(app: Dash) -> None:
    register_importance_panel(app, "cmp", active=(Input("cmp-tabs", "value"), "hparams"))

    @app.callback(
        Output("cmp-parcoords", "figure"), Output("cmp-scatter", "figure"), Output("cmp-hp-count", "children"),
        Output("cmp-hp-dims", "data"), Output("cmp-hp-brush", "data"),
        Input("cmp-tabs", "value"), Input("cmp-hp-keys", "value"), Input("cmp-hp-metric", "value"),
        Input("cmp-hp-x", "value"), Input("cmp-hp-y", "value"), Input("cmp-hp-color", "value"),
        State("cmp-hp-q", "data"),
    )
    def render(tab, keys, metric, x, y, color, q):
        if tab != "hparams":
            raise PreventUpdate
        keys = list(keys or [])
        wanted = list(dict.fromkeys(["id", *keys, *(c for c in (metric, x, y, color) if c)]))
        try:
            rows = fetch_rows(q, wanted)
        except StoreError as e:
            msg = f"Cannot load runs: {e}"
            return empty_figure(msg, height=420), empty_figure(msg, height=420), "", None, {}
        count = f"({len(rows):,} runs)"
        if not rows:
            blank = empty_figure("No runs match this filter.", height=420)
            return blank, blank, count, None, {}
        if metric and keys:
            axes = [k for k in keys if k != metric]
            par = parallel_figure(rows, axes, metric, lower_better=lower_is_better(_metric_of(metric)))
            dims = axis_defs(rows, [*axes, metric])
        else:
            par, dims = empty_figure("Choose axes and a metric.", height=420), None
        sc = scatter_figure(rows, x, y, color) if x and y else empty_figure("Choose x and y.", height=420)
        return par, sc, count, dims, {}

    @app.callback(
        Output("cmp-hp-brush", "data", allow_duplicate=True), Output("cmp-brush-link", "children"),
        Input("cmp-parcoords", "restyleData"),
        State("cmp-hp-dims", "data"), State("cmp-hp-brush", "data"), State("cmp-hp-q", "data"),
        prevent_initial_call=True,
    )
    def brush(restyle, dims, current, q):
        if not dims:
            raise PreventUpdate
        state = constraints(restyle, current or {})
        if not state:
            return state, "No axis brushed."
        query = query_from(q, dims, state)
        try:
            n = get_store().count(query)
            found = f"{n:,} run{'s' if n != 1 else ''} match"
        except StoreError as e:
            found = f"(the table may reject this query: {e})"
        return state, html.Span([
            html.Code(query, className="cmp-query"), f" — {found}. ",
            dcc.Link("Show them in the runs table →", href=href("/?q=" + quote(query)), id="cmp-brush-open"),
        ])

    @app.callback(Output("cmp-nav", "href"), Input("cmp-scatter", "clickData"), prevent_initial_call=True)
    def open_run(click):
        try:
            run_id = click["points"][0]["customdata"]
        except (TypeError, KeyError, IndexError):
            raise PreventUpdate from None
        return href(f"/runs/{quote(str(run_id))}") if run_id is not None else no_update
