"""Hyper-parameter views of the compared runs, highlighted over the runs of the current filter (a toggle):
parallel coordinates (brushing builds a runs-table query) and a scatter (clicking a point opens the run).
Part of the compare page. Default axes: every varying config key; scatter x: the key with most values."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from omnidash.components.figures import (
    axis_values,
    category_text,
    empty_figure,
    log_axis,
    parallel_figure,
    scatter_figure,
)
from omnidash.components.text import plural
from omnidash.context import get_settings, get_store
from omnidash.core.compare import lower_is_better
from omnidash.core.types import RunId
from omnidash.pages.column_choices import MAX_AXES, default_choices
from omnidash.pages.importance_panel import importance_section, register_importance_panel
from omnidash.store.base import MAX_PAGE, StoreError
from omnidash.store.query import brush_query, run_ids_query


def href(path: str) -> str:
    return get_settings().url_prefix.rstrip("/") + path


def _metric_of(col: str) -> str:
    return col[col.index("(") + 1 : col.rindex(")")].split(",")[0].strip() if "(" in col else col


def distinct_count(rows: list[dict[str, Any]], col: str) -> int:
    return len({repr(r.get(col)) for r in rows if r.get(col) is not None})


def data_defaults(rows: list[dict[str, Any]], candidates: list[str]) -> tuple[list[str], str | None]:
    """(axes: every candidate whose value differs among `rows`, scatter x: the one with most values)."""
    varying = [c for c in candidates if len({repr(r.get(c)) for r in rows}) > 1]
    x = max(varying, key=lambda c: distinct_count(rows, c), default=None)  # first of equals: column order
    return varying[:MAX_AXES], x


def hparams_section(q: str, run_ids: list[RunId] | None = None) -> html.Div:
    """Controls and charts; the data loads when the tab opens (axes and scatter x default from the data)."""
    try:
        cols = get_store().columns()
    except StoreError as e:
        return html.Div(f"Cannot read the columns: {e}", className="cmp-warning")
    config_names, metrics, axes, metric = default_choices(cols)
    opts = lambda names: [{"label": n, "value": n} for n in names]  # noqa: E731
    scatter_x = axes[0] if axes else metric
    scope = f"the runs matching “{q}”" if q else "all runs"
    compared = list(run_ids or [])
    toggle = dcc.Checklist(
        id="cmp-hp-context", options=[{"label": f" show {scope} as grey context", "value": "on"}],
        value=["on"], inline=True) if compared else dcc.Checklist(id="cmp-hp-context", value=["on"], options=[],
                                                                  style={"display": "none"})
    return html.Div([
        dcc.Store(id="cmp-hp-q", data=q or ""),
        dcc.Store(id="cmp-hp-ids", data=compared),
        dcc.Store(id="cmp-hp-auto", data={"config": config_names}),  # cleared once the defaults are applied
        dcc.Store(id="cmp-hp-dims"),
        dcc.Store(id="cmp-hp-brush", data={}),
        dcc.Location(id="cmp-nav", refresh="callback-nav"),
        html.Div([html.Span(id="cmp-hp-count", className="cmp-note"), toggle], className="cmp-hp-scope"),
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


def scoped_rows(q: str, run_ids: list[RunId], context: bool, columns: list[str]) -> list[dict[str, Any]]:
    """The compared runs (last, so they are drawn on top) after, with `context`, the other runs of `q`."""
    if not run_ids:
        return fetch_rows(q, columns)
    compared = fetch_rows(run_ids_query(run_ids), columns)
    if not context:
        return compared
    mine = {str(r.get("id")) for r in compared}
    return [r for r in fetch_rows(q, columns) if str(r.get("id")) not in mine] + compared


def count_text(rows: list[dict[str, Any]], run_ids: list[RunId], context: bool, q: str) -> str:
    n = len(rows)
    if not run_ids:
        return f"Over {'the runs matching “' + q + '”' if q else 'all runs'} ({n:,} run{'s' if n != 1 else ''})."
    mine = {str(r) for r in run_ids}
    k = sum(1 for r in rows if str(r.get("id")) in mine)
    text = f"The {k} compared run{'s' if k != 1 else ''}"
    return text + (f", coloured, over {n - k:,} other run{'s' if n - k != 1 else ''} in grey." if context else ".")


def axis_defs(rows: list[dict[str, Any]], cols: list[str]) -> list[dict[str, Any]]:
    """Per axis: its column and, for categorical axes, the category order used on the chart."""
    out = []
    for col in cols:
        vals, ticks = axis_values([r.get(col) for r in rows])
        cats = sorted({category_text(r.get(col)) for r in rows}, key=lambda t: (t == "None", t)) if ticks else None
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
    return {"true": True, "false": False}.get(text, text)


def register_hparams(app: Dash) -> None:
    register_importance_panel(app, "cmp", active=(Input("cmp-tabs", "value"), "hparams"))

    @app.callback(
        Output("cmp-parcoords", "figure"), Output("cmp-scatter", "figure"), Output("cmp-hp-count", "children"),
        Output("cmp-hp-dims", "data"), Output("cmp-hp-brush", "data"),
        Output("cmp-hp-keys", "value"), Output("cmp-hp-x", "value"), Output("cmp-hp-color", "value"),
        Output("cmp-hp-auto", "data"),
        Input("cmp-tabs", "value"), Input("cmp-hp-keys", "value"), Input("cmp-hp-metric", "value"),
        Input("cmp-hp-x", "value"), Input("cmp-hp-y", "value"), Input("cmp-hp-color", "value"),
        Input("cmp-hp-context", "value"),
        State("cmp-hp-q", "data"), State("cmp-hp-ids", "data"), State("cmp-hp-auto", "data"),
    )
    def render(tab, keys, metric, x, y, color, context, q, run_ids, auto):
        if tab != "hparams":
            raise PreventUpdate
        keys, run_ids, context = list(keys or []), list(run_ids or []), bool(context)
        chosen = (no_update, no_update, no_update, no_update)
        wanted = list(dict.fromkeys(["id", *keys, *(c for c in (metric, x, y, color) if c)]))
        if auto:  # first showing: every config column, to pick the defaults from the data
            wanted = list(dict.fromkeys([*wanted, *auto.get("config", [])]))
        try:
            rows = scoped_rows(q, run_ids, context, wanted)
        except StoreError as e:
            msg = f"Cannot load runs: {e}"
            return empty_figure(msg, height=420), empty_figure(msg, height=420), "", None, {}, *chosen
        count = count_text(rows, run_ids, context, q)
        if not rows:
            blank = empty_figure("No runs match this filter.", height=420)
            return blank, blank, count, None, {}, *chosen
        if auto:
            candidates = [c for c in auto.get("config", []) if c.split(".")[-1] not in ("seed", "tags")]
            axes, best_x = data_defaults(rows, candidates)
            keys, x = axes or keys, best_x or x
            color = next((k for k in keys if k != x), color)
            chosen = (keys, x, color, None)
        highlight = {str(r) for r in run_ids} if run_ids and context else None
        if metric and keys:
            axes = [k for k in keys if k != metric]
            par = parallel_figure(rows, axes, metric, lower_better=lower_is_better(_metric_of(metric)),
                                  highlight=highlight)
            dims = axis_defs(rows, [*axes, metric])
        else:
            par, dims = empty_figure("Choose axes and a metric.", height=420), None
        sc = (scatter_figure(rows, x, y, color, highlight=highlight) if x and y
              else empty_figure("Choose x and y.", height=420))
        return par, sc, count, dims, {}, *chosen

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
            found = f"{plural(n, 'run')} match{'es' if n == 1 else ''}"
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
