"""A reusable metric plot panel: overlaid/small-multiple charts of the metrics of some runs.

API (used by the compare page, the runs table and the run detail page)::

    from omnidash.pages.plot_panel import plot_panel_layout, register_plot_panel

    plot_panel_layout(prefix, run_ids=None, metrics=None, x_mode="step", log_y=False, smoothing=0.0)
        -> html.Div   # put it in your layout
    register_plot_panel(app, prefix)   # once, from your page's register(app); idempotent per app

Feeding runs: the panel plots the run ids in the `dcc.Store` whose id is `f"{prefix}-runs"` (property
`data`: a JSON list of run ids, ints or strings, in display order). Pass `run_ids=` for a fixed set,
or write the store from your own callback. The table page adds the panel (`run_ids=` the selection) on the
first selection of its grid's `selectedRows` and sets the store with `set_props` after that. Prefixes in use:
"cmp" (compare page),
"runs-plot" (table page), "run-metrics" (run detail). Other ids: `f"{prefix}-<name>"` (see
components/metric_plots.py); charts are `{"type": f"{prefix}-graph", "metric": name}`.

Data flow: runs -> run info + metric names (one get_run per run) -> charts (one metric_series call,
downsampled to what a chart can show) -> zoom: relayoutData -> finer series for the visible range ->
live: only points after the last step of running runs (since_step) -> extendData.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from dash import ALL, MATCH, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from omnidash.components.figures import (
    MAX_LEGEND_ENTRIES,
    RunInfo,
    array_of,
    metric_figure,
    relative_scale,
    run_colors,
    trace_key,
    x_values,
    y_values,
)
from omnidash.components.metric_plots import (
    ALL_METRICS,
    chart,
    empty_state,
    graph_type,
    panel,
    pid,
    zoom_type,
)
from omnidash.components.text import plural
from omnidash.context import get_store
from omnidash.core.compare import (
    ema_continue,
    ema_smooth,
    group_runs,
    informative_keys,
    legend_label,
    varying_config_keys,
)
from omnidash.core.status import LIVE_STATUSES
from omnidash.core.types import RunId, Series
from omnidash.core.values import flatten_dict, parse_time
from omnidash.csv_safe import csv_cell, csv_text
from omnidash.store.base import StoreError
from omnidash.store.cache import CACHE

POINTS_ONE_CHART = 2000  # per series, a chart ~1000 px wide: two points per pixel column
POINTS_SMALL_MULTIPLE = 1000
CHART_POINT_BUDGET = 60_000  # points one chart draws at most (series x points per series)
MIN_POINTS_PER_SERIES = 400
MAX_DEFAULT_METRICS = 4
ZOOM_PAD = 0.02  # fetch 2 % beyond each edge so lines reach the borders
CONTROL_NAMES = ("metrics", "layout", "x", "y", "smooth", "labels", "group", "group-keys", "band")


def plot_panel_layout(prefix: str, run_ids: list | None = None, metrics: list[str] | None = None,
                      x_mode: str = "step", log_y: bool = False, smoothing: float = 0.0,
                      **control_values: Any) -> html.Div:
    """The panel for `run_ids` (or for whatever is later written into `f"{prefix}-runs"`).

    `control_values` (labels, grouped, group_keys, layout, band) restore a view, e.g. from the URL: labels
    and group keys that none of the runs has are replaced by the defaults when the runs load. Runs given
    here are loaded into the layout (their info and the controls' choices): the charts' callback goes out
    at once, not after a callback that loads them."""
    info = None
    if run_ids:
        try:
            info = load_run_info(list(run_ids))
        except StoreError as e:
            info = {"runs": [], "missing": [], "metrics": {}, "error": str(e)}
    if info is not None and not info.get("error"):
        info, opts, metrics, label_opts, labels, key_opts, group_keys = panel_choices(
            info, metrics, control_values.get("labels"), control_values.get("grouped"), control_values.get("group_keys"))
        control_values = {**control_values, "labels": labels, "group_keys": group_keys,
                          "options": {"metrics": opts, "labels": label_opts, "group-keys": key_opts}}
    return panel(prefix, run_ids, metrics, x_mode=x_mode, log_y=log_y, smoothing=smoothing, info=info,
                 **control_values)


# -- pure helpers (tested through the browser tests) --------------------------------------------------
def load_run_info(run_ids: Sequence[RunId]) -> dict[str, Any]:
    """Config, start time and status of each run, plus metric names; unknown ids listed apart."""
    store = get_store()
    found = store.get_runs(run_ids, fields=["config", "start_time", "status", "experiment", "host"])  # one read
    missing = [rid for rid in run_ids if rid not in found]
    runs = [{"id": doc.get("_id", rid), "config": doc.get("config") or {}, "start": doc.get("start_time"),
             "status": doc.get("status"), "experiment": _name(doc.get("experiment"), "name"),
             "host": _name(doc.get("host"), "hostname")} for rid, doc in found.items()]
    names = store.metric_names([r["id"] for r in runs]) if runs else {}
    counts: dict[str, int] = {}
    for rid in names:
        for name in names[rid]:
            counts[name] = counts.get(name, 0) + 1
    return {"runs": runs, "missing": missing, "metrics": dict(sorted(counts.items()))}


RUN_KEYS = ("experiment.name", "host.hostname")  # besides config keys, what labels and grouping can use


def _name(value: Any, field: str) -> str | None:
    """`experiment.name` / `host.hostname` of a run document (None when absent or odd)."""
    name = value.get(field) if isinstance(value, dict) else None
    return name if isinstance(name, str) else None


def label_doc(r: dict[str, Any]) -> dict[str, Any]:
    """The document legend labels and groups read keys from (`lr`, `experiment.name`, `host.hostname`)."""
    return {"config": r.get("config") or {}, "experiment": {"name": r.get("experiment")},
            "host": {"hostname": r.get("host")}}


def run_infos(info: dict[str, Any], label_keys: Sequence[str]) -> dict[RunId, RunInfo]:
    out = {}
    for r in info.get("runs", []):
        start = parse_time(r.get("start"))
        out[r["id"]] = RunInfo(r["id"], legend_label(label_doc(r), label_keys), start)
    return out


def groups_of(info: dict[str, Any], group_on: bool, keys: Sequence[str]) -> dict[str, list[RunId]] | None:
    if not group_on:
        return None
    return group_runs({r["id"]: label_doc(r) for r in info.get("runs", [])}, keys)


def chosen_metrics(info: dict[str, Any], metrics: Sequence[str] | None) -> list[str]:
    known = info.get("metrics", {})
    return [m for m in metrics or [] if m in known]


def pending_metrics(info: dict[str, Any], metrics: Sequence[str] | None) -> list[str]:
    """The metrics asked for (e.g. by the URL) that no run has logged yet while a run is live: kept, as the
    live runs may log them in a moment (a page opened as its runs start)."""
    known = info.get("metrics", {})
    return [m for m in metrics or [] if m not in known] if running_ids(info) else []


def default_metrics(names: list[str]) -> list[str]:
    """Up to MAX_DEFAULT_METRICS names, losses and accuracies first, else in name order."""
    key = lambda n: (not any(w in n.lower() for w in ("loss", "acc", "err", "score", "reward")), n)  # noqa: E731
    return sorted(names, key=key)[:MAX_DEFAULT_METRICS]


def fetch(run_ids: Sequence[RunId], names: Sequence[str], max_points: int,
          x_range: tuple[float, float] | None = None, info: dict[str, Any] | None = None) -> list[Series]:
    """Series for a chart: finished runs from the full-resolution cache, running runs from the store."""
    live = running_ids(info) if info is not None else list(run_ids)
    return CACHE.series(get_store(), list(run_ids), list(names), max_points, x_range, live=live)


def running_ids(info: dict[str, Any]) -> list[RunId]:
    return [r["id"] for r in info.get("runs", []) if r.get("status") in LIVE_STATUSES]


def smoothing_state(series: list[Series], running: Sequence[RunId], weight: float) -> dict[str, list[float]]:
    """{"run|metric": [biased EMA, points]} after the drawn points of running runs, for live smoothing."""
    live = {str(r) for r in running}
    out = {}
    for s in series:
        if str(s.run_id) in live and weight > 0:
            _, last, n = ema_continue(y_values(s).astype(float), weight)
            out[f"{s.run_id}|{s.name}"] = [last, n]
    return out


def live_extension(new: list[Series], keys: list[str], runs: dict[RunId, RunInfo], x_mode: str, weight: float,
                   ema: dict[str, list[float]]) -> tuple[list[list[Any]], list[list[Any]], list[int]]:
    """extendData for one chart: new points of each (run, metric) onto its line, and, when smoothing,
    the raw points onto the faint trace and their smoothed values (carried on from `ema`, updated in place)
    onto the smoothed one, which follows it among the traces of the same key."""
    xs, ys, idx = [], [], []
    for s in new:
        key = trace_key(s.run_id, s.name)
        if key not in keys:
            continue
        start = runs[s.run_id].start_time if s.run_id in runs else None
        xv = x_values(s, x_mode, start)
        if xv is None:
            continue
        first = keys.index(key)
        xs.append(xv.tolist())
        ys.append([None if v is None else v for v in s.values])
        idx.append(first)
        if weight > 0 and key in keys[first + 1 :]:
            last, n = ema.get(f"{s.run_id}|{s.name}", [0.0, 0])
            smooth, last, n = ema_continue(y_values(s).astype(float), weight, last, int(n))
            ema[f"{s.run_id}|{s.name}"] = [last, n]
            xs.append(xv.tolist())
            ys.append([v if math.isfinite(v) else None for v in smooth.tolist()])
            idx.append(keys.index(key, first + 1))
    return xs, ys, idx


def shared_legend(figures: list[dict[str, Any]]) -> html.Div:
    """The legend of small multiples, once above the charts: a colour swatch and the name of every run (or
    group) any chart shows, in trace order (the charts themselves draw no legend)."""
    entries: dict[str, str] = {}
    for fig in figures:
        for trace in fig.get("data", []):
            name, line = trace.get("name"), trace.get("line") or {}
            if trace.get("showlegend") is False or not name or not line.get("color"):
                continue
            entries.setdefault(html_lib.unescape(str(name)), line["color"])  # plotly text is escaped; Dash's is not
    if len(entries) > MAX_LEGEND_ENTRIES:
        return html.Div(f"{len(entries)} lines: hover one for its run.", className="pp-legend")
    items = [html.Span([html.Span(className="cmp-dot", style={"background": color}), name], className="pp-legend-item")
             for name, color in entries.items()]
    return html.Div(items, className="pp-legend")


def build_figure(series: list[Series], info: dict[str, Any], title: str, opts: dict[str, Any],
                 height: int, x_range: Sequence[Any] | None = None, y_range: Sequence[Any] | None = None,
                 shared_legend: bool = False):
    runs = run_infos(info, opts["labels"])
    colors = run_colors([r["id"] for r in info.get("runs", [])])
    fig = metric_figure(
        series, runs, title=title, x_mode=opts["x"], log_y=opts["y"] == "log", smoothing=opts["smooth"],
        colors=colors, groups=groups_of(info, opts["group"], opts["group_keys"]), band=opts["band"],
        height=height, x_range=x_range,
        uirevision=f"{opts['x']}|{opts['y']}|{opts['group']}|{','.join(opts['group_keys'])}",
    )
    if y_range is not None:
        fig["layout"]["yaxis"].update(range=list(y_range), autorange=False)
    if shared_legend:
        fig["layout"]["showlegend"] = False
    live_lists(fig, running_ids(info))
    return fig


def live_lists(fig: dict[str, Any], running: Sequence[RunId]) -> None:
    """Plain lists instead of typed arrays in the traces of running runs: plotly's extendTraces (the live
    updates' extendData) cannot append to a typed-array spec, so those traces never grew."""
    live = {trace_key(r, "") for r in running}  # "run|": the prefix of every key of that run
    for trace in fig.get("data", []):
        group = str(trace.get("legendgroup") or "")
        if not any(group.startswith(prefix) for prefix in live):
            continue
        for axis in ("x", "y", "customdata"):
            value = trace.get(axis)
            if isinstance(value, dict) and "bdata" in value:
                trace[axis] = [None if isinstance(v, float) and not math.isfinite(v) else v
                               for v in array_of(value).tolist()]


def options_from(values: Sequence[Any]) -> dict[str, Any]:
    """Panel options from the State values of CONTROL_NAMES."""
    metrics, layout, x, y, smooth, labels, group, group_keys, band = values
    return {"metrics": metrics or [], "layout": layout or "multiples", "x": x or "step", "y": y or "linear",
            "smooth": float(smooth or 0), "labels": labels or [], "group": bool(group),
            "group_keys": group_keys or [], "band": band or "std"}


def chart_plan(opts: dict[str, Any], metrics: list[str],
               n_runs: int = 1) -> tuple[list[tuple[str, list[str]]], int, int]:
    """[(chart key, metric names)], points per series, chart height.

    Points per series shrink when a chart holds many series, so that no chart draws more than about
    CHART_POINT_BUDGET points (50 overlapping runs at 1,200 points each look the same as at 2,000, and
    draw and zoom twice as fast); never below MIN_POINTS_PER_SERIES.
    """
    if opts["layout"] == "single" or len(metrics) == 1:
        key = ALL_METRICS if opts["layout"] == "single" and len(metrics) > 1 else metrics[0]
        plan, points, height = [(key, metrics)], POINTS_ONE_CHART, 460
        per_chart = max(1, n_runs) * len(metrics)
    else:
        plan, points, height = [(m, [m]) for m in metrics], POINTS_SMALL_MULTIPLE, 320
        per_chart = max(1, n_runs)
    return plan, min(points, max(MIN_POINTS_PER_SERIES, CHART_POINT_BUDGET // per_chart)), height


def parse_x(value: Any, x_mode: str) -> float:
    """A relayout x value as a number: date strings (wall mode) to epoch ms."""
    if isinstance(value, str) and x_mode == "wall":
        t = parse_time(value.replace(" ", "T"))
        if t is None:
            raise ValueError(value)
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() * 1000
    return float(value)


# A chart's relayoutData, passed on to the zoom callback only when the x range changed (a zoom, a pan, a reset):
# plotly also reports its first autosize, drag-mode changes and y-only zooms, which the server has nothing to
# redraw for (each was a round trip carrying the panel's run info, answered 204). Keep in step with relayout_range.
X_RANGE_CHANGES_JS = """
function(relayout) {
    var keys = Object.keys(relayout || {});
    for (var i = 0; i < keys.length; i++) {
        if (keys[i].indexOf('xaxis.range') === 0 || keys[i] === 'xaxis.autorange') { return relayout; }
    }
    return window.dash_clientside.no_update;
}
"""


def relayout_range(relayout: dict[str, Any] | None, axis: str) -> tuple[Any, Any] | str | None:
    """("lo", "hi") from relayoutData for `axis`, "auto" on reset, None when the axis did not change."""
    if not relayout:
        return None
    if relayout.get(f"{axis}.autorange"):
        return "auto"
    if f"{axis}.range[0]" in relayout and f"{axis}.range[1]" in relayout:
        return relayout[f"{axis}.range[0]"], relayout[f"{axis}.range[1]"]
    if isinstance(relayout.get(f"{axis}.range"), list):
        lo, hi = relayout[f"{axis}.range"]
        return lo, hi
    return None


def step_ranges(coarse: list[Series], info: dict[str, Any], opts: dict[str, Any], x_lo: float,
                x_hi: float, scale: float) -> dict[RunId, tuple[float, float]]:
    """For time axes: the step range of each run that falls inside the visible [x_lo, x_hi]."""
    runs = run_infos(info, [])
    out: dict[RunId, tuple[float, float]] = {}
    for s in coarse:
        xv = x_values(s, opts["x"], runs[s.run_id].start_time if s.run_id in runs else None, scale)
        if xv is None or not len(xv):
            continue
        steps = np.asarray(s.steps, dtype=float)
        inside = np.flatnonzero((xv >= x_lo) & (xv <= x_hi))
        if inside.size:
            lo_i, hi_i = max(0, inside[0] - 1), min(len(steps) - 1, inside[-1] + 1)
        else:  # the window falls between two coarse points
            j = int(np.searchsorted(xv, x_lo))
            lo_i, hi_i = max(0, j - 1), min(len(steps) - 1, j)
        lo, hi = steps[lo_i], steps[hi_i]
        prev = out.get(s.run_id)
        out[s.run_id] = (min(lo, prev[0]), max(hi, prev[1])) if prev else (lo, hi)
    return out


def series_csv(series: list[Series], info: dict[str, Any], labels: Sequence[str], smoothing: float) -> str:
    """The plotted series as CSV: run, label, metric, step, timestamp, value (and smoothed)."""
    runs = run_infos(info, labels)
    buf = io.StringIO()
    w = csv.writer(buf)
    header = ["run_id", "label", "metric", "step", "timestamp", "value"]
    w.writerow([*header, "smoothed"] if smoothing > 0 else header)
    for s in series:
        label = runs[s.run_id].label if s.run_id in runs else ""
        smooth = ema_smooth(s.values, smoothing) if smoothing > 0 else None
        for i, (step, value) in enumerate(zip(s.steps, s.values, strict=False)):
            ts = s.timestamps[i] if i < len(s.timestamps) else None
            row = [csv_cell(s.run_id), csv_text(label), csv_text(s.name), step,
                   ts.isoformat() if isinstance(ts, datetime) else "", "" if value is None else value]
            if smooth is not None:
                row.append("" if math.isnan(smooth[i]) else float(smooth[i]))
            w.writerow(row)
    return buf.getvalue()


def status_text(info: dict[str, Any], series: list[Series], metrics: list[str]) -> list[Any]:
    shown = sum(len(s.steps) for s in series)
    total = sum(s.total_points or len(s.steps) for s in series)
    parts: list[Any] = [f"{plural(len(info.get('runs', [])), 'run')} · {plural(len(metrics), 'metric')} · "
                        f"{shown:,} of {plural(total, 'point')} shown"]
    have = {(s.run_id) for s in series}
    without = [r["id"] for r in info.get("runs", []) if r["id"] not in have]
    if without and metrics:
        parts.append(html.Span(f" · no data for run {', '.join(map(str, without))}", className="pp-warn"))
    if info.get("missing"):
        parts.append(html.Span(f" · unknown run id {', '.join(map(str, info['missing']))}", className="pp-warn"))
    return parts


# -- callbacks -----------------------------------------------------------------------------------------
def panel_choices(info: dict[str, Any], metrics: Sequence[str] | None, labels: Sequence[str] | None,
                  grouped: Any, group_keys: Sequence[str] | None) -> tuple:
    """What the controls offer and choose for the runs of `info`: (info, metric options, metrics, label
    options, labels, group-key options, group keys). Asked-for values the runs lack give way to defaults."""
    n_runs = len(info["runs"])
    metric_opts = [{"label": m if c == n_runs else f"{m} ({c}/{n_runs} runs)", "value": m}
                   for m, c in info["metrics"].items()]
    pending = pending_metrics(info, metrics)
    metric_opts += [{"label": f"{m} (not logged yet)", "value": m} for m in pending]
    chosen = [m for m in metrics or [] if m in info["metrics"] or m in pending] \
        or default_metrics(list(info["metrics"]))
    flat = [flatten_dict(r["config"], "config") for r in info["runs"]]
    flat_keys = sorted({k[len("config."):] for f in flat for k in f})
    listy = {k[len("config."):] for f in flat for k, v in f.items() if isinstance(v, list | dict)}
    configs = [r["config"] for r in info["runs"]]
    varying = [k for k in varying_config_keys(configs) if k not in listy]
    flat_keys = [*RUN_KEYS, *flat_keys]
    key_opts = [{"label": k, "value": k} for k in flat_keys]
    label_value = [k for k in labels or [] if k in flat_keys] or informative_keys(configs, varying)[:3]
    # chosen grouping (e.g. from the URL) is kept while it is on and every key exists
    keep = grouped and group_keys and all(k in flat_keys for k in group_keys)
    return info, metric_opts, chosen, key_opts, label_value, key_opts, list(group_keys) if keep else varying


def register_plot_panel(app: Dash, prefix: str) -> None:
    """Register the panel's callbacks for `prefix` on `app` (safe to call twice)."""
    done: set[str] = app.__dict__.setdefault("_omnidash_plot_panels", set())
    if prefix in done:
        return
    done.add(prefix)
    p = lambda name: pid(prefix, name)  # noqa: E731
    control_states = [State(p(n), "value") for n in CONTROL_NAMES]

    @app.callback(
        Output(p("info"), "data"),
        Output(p("metrics"), "options"), Output(p("metrics"), "value"),
        Output(p("labels"), "options"), Output(p("labels"), "value"),
        Output(p("group-keys"), "options"), Output(p("group-keys"), "value"),
        Input(p("runs"), "data"),
        State(p("metrics"), "value"), State(p("labels"), "value"),
        State(p("group"), "value"), State(p("group-keys"), "value"),
        prevent_initial_call=True,  # the layout holds the info of the runs it names (plot_panel_layout)
    )
    def load(run_ids, metrics, labels, grouped, group_keys):
        try:
            info = load_run_info(list(run_ids or []))
        except StoreError as e:
            info = {"runs": [], "missing": [], "metrics": {}, "error": str(e)}
        return panel_choices(info, metrics, labels, grouped, group_keys)

    @app.callback(
        Output(p("charts"), "children"), Output(p("status"), "children"), Output(p("state"), "data"),
        Input(p("info"), "data"), *[Input(p(n), "value") for n in CONTROL_NAMES], Input(p("refresh"), "data"),
    )
    def render(info, *values):
        opts = options_from(values[: len(CONTROL_NAMES)])
        info = info or {}
        if info.get("error"):
            return empty_state(f"Cannot load runs: {info['error']}"), "", None
        if not info.get("runs"):
            missing = info.get("missing")
            msg = f"Unknown run id {', '.join(map(str, missing))}." if missing else "No runs selected."
            return empty_state(msg), "", None
        metrics = chosen_metrics(info, opts["metrics"])
        if not metrics:
            pending = pending_metrics(info, opts["metrics"])
            msg = "These runs logged no metrics." if not info.get("metrics") else "Choose metrics to plot."
            if pending:  # the live tick looks for them (see `live`)
                msg = f"Waiting for the runs to log {', '.join(pending)}…"
            return empty_state(msg), status_text(info, [], []), None
        ids = [r["id"] for r in info["runs"]]
        plan, points, height = chart_plan(opts, metrics, len(ids))
        try:
            series = fetch(ids, metrics, points, info=info)
        except StoreError as e:
            return empty_state(f"Cannot load metrics: {e}"), "", None
        charts, keys, figures = [], {}, []
        for key, names in plan:
            subset = [s for s in series if s.name in names]
            title = ", ".join(names) if key == ALL_METRICS else key
            fig = build_figure(subset, info, title, opts, height, shared_legend=len(plan) > 1)
            keys[key] = fig["layout"]["meta"]["keys"]
            figures.append(fig)
            charts.append(chart(prefix, key, fig, wide=len(plan) == 1))
        if len(plan) > 1:  # small multiples: one legend for the whole figure, not one per chart
            charts.insert(0, shared_legend(figures))
        last = {f"{s.run_id}|{s.name}": s.steps[-1] for s in series if s.steps}
        state = {"last": last, "keys": keys, "points": points,
                 "ema": smoothing_state(series, running_ids(info), opts["smooth"])}
        return charts, status_text(info, series, metrics), state

    app.clientside_callback(
        X_RANGE_CHANGES_JS,
        Output({"type": zoom_type(prefix), "metric": MATCH}, "data"),
        Input({"type": graph_type(prefix), "metric": MATCH}, "relayoutData"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output({"type": graph_type(prefix), "metric": MATCH}, "figure"),
        Input({"type": zoom_type(prefix), "metric": MATCH}, "data"),
        State(p("info"), "data"), State(p("state"), "data"), *control_states,
        prevent_initial_call=True,
    )
    def zoom(relayout, info, state, *values):
        xr = relayout_range(relayout, "xaxis")
        if xr is None or not info or not state:
            raise PreventUpdate
        opts = options_from(values)
        metric_key = ctx.outputs_list["id"]["metric"]
        metrics = chosen_metrics(info, opts["metrics"])
        names = metrics if metric_key == ALL_METRICS else [metric_key]
        points = state.get("points", POINTS_SMALL_MULTIPLE)
        _, _, height = chart_plan(opts, metrics)
        ids = [r["id"] for r in info["runs"]]
        title = ", ".join(names) if metric_key == ALL_METRICS else metric_key
        yr = relayout_range(relayout, "yaxis")
        y_range = yr if isinstance(yr, tuple) else None
        shared = len(chart_plan(opts, metrics)[0]) > 1
        if xr == "auto":
            return build_figure(fetch(ids, names, points, info=info), info, title, opts, height, shared_legend=shared)
        lo, hi = sorted(parse_x(v, opts["x"]) for v in xr)
        pad = (hi - lo) * ZOOM_PAD
        if opts["x"] == "step":
            series = fetch(ids, names, points, (lo - pad, hi + pad), info=info)
        else:
            coarse = fetch(ids, names, points, info=info)
            scale = relative_scale(coarse, run_infos(info, []))[1] if opts["x"] == "relative" else 1.0
            series = []
            for rid, step_range in step_ranges(coarse, info, opts, lo - pad, hi + pad, scale).items():
                series += fetch([rid], names, points, step_range, info=info)
        return build_figure(series, info, title, opts, height, x_range=list(xr), y_range=y_range,
                            shared_legend=shared)

    @app.callback(
        Output(p("tick"), "disabled"),
        Input(p("live"), "value"), Input(p("info"), "data"),
    )
    def live_switch(live, info):
        return not (live and info and running_ids(info))

    @app.callback(
        Output({"type": graph_type(prefix), "metric": ALL}, "extendData"),
        Output(p("refresh"), "data"),
        Output(p("state"), "data", allow_duplicate=True),
        Output(p("info"), "data", allow_duplicate=True),
        Input(p("tick"), "n_intervals"),
        State(p("info"), "data"), State(p("state"), "data"), State(p("refresh"), "data"), *control_states,
        prevent_initial_call=True,
    )
    def live(_n, info, state, refresh, *values):
        n_graphs = len(ctx.outputs_list[0])
        nothing = ([no_update] * n_graphs, no_update, no_update, no_update)
        opts = options_from(values)
        running = running_ids(info or {})
        if not running:
            return nothing
        if pending_metrics(info, opts["metrics"]):  # asked for, not logged yet: have they come?
            try:
                fresh = load_run_info([r["id"] for r in info.get("runs", [])])
            except StoreError:
                return nothing
            if fresh["metrics"].keys() != info.get("metrics", {}).keys():
                return [no_update] * n_graphs, no_update, no_update, fresh  # the charts are drawn again
        if not state:
            return nothing
        metrics = chosen_metrics(info, opts["metrics"])
        last = dict(state.get("last", {}))
        new: list[Series] = []
        store = get_store()
        for rid in running:
            for m in metrics:
                since = last.get(f"{rid}|{m}")
                new += store.metric_series([rid], [m], max_points=None, since_step=since)  # only the new points
        new = [s for s in new if s.steps]
        if not new:
            return nothing
        for s in new:
            last[f"{s.run_id}|{s.name}"] = s.steps[-1]
        state = {**state, "last": last}
        # (total_points counts the whole series: it said "downsampled" at every tick, so every tick redrew)
        too_many = any(len(s.steps) > int(state.get("points") or POINTS_SMALL_MULTIPLE) for s in new)
        needs_redraw = (opts["group"] or opts["x"] == "relative" or (opts["smooth"] > 0 and "ema" not in state)
                        or too_many)
        if needs_redraw:
            return [no_update] * n_graphs, (refresh or 0) + 1, state, no_update
        runs = run_infos(info, [])
        ema = {k: list(v) for k, v in (state.get("ema") or {}).items()}
        extends = []
        for out in ctx.outputs_list[0]:
            keys = state.get("keys", {}).get(out["id"]["metric"], [])
            xs, ys, idx = live_extension(new, keys, runs, opts["x"], opts["smooth"], ema)
            extends.append([{"x": xs, "y": ys}, idx] if idx else no_update)
        return extends, no_update, {**state, "ema": ema}, no_update

    @app.callback(
        Output(p("csv"), "data"),
        Input(p("csv-btn"), "n_clicks"),
        State(p("info"), "data"), State(p("state"), "data"), *control_states,
        prevent_initial_call=True,
    )
    def export_csv(n, info, state, *values):
        if not n or not info or not info.get("runs"):
            raise PreventUpdate
        opts = options_from(values)
        metrics = chosen_metrics(info, opts["metrics"])
        series = fetch([r["id"] for r in info["runs"]], metrics, (state or {}).get("points", POINTS_ONE_CHART),
                       info=info)
        return dcc.send_string(series_csv(series, info, opts["labels"], opts["smooth"]), "omnidash-metrics.csv")


__all__ = ["plot_panel_layout", "register_plot_panel"]
