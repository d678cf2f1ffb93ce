"""Layout builders for the metric plot panel (controls, chart grid). No callbacks, no database.

Every id is `f"{prefix}-<name>"` (see `pid`), or a pattern-matching dict for the per-metric graphs
(`graph_id`), so several panels can live on one page.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from omnidash.components.figures import X_MODES

ALL_METRICS = "__all__"  # the metric key of the single combined chart


def pid(prefix: str, name: str) -> str:
    """The id of one panel component."""
    return f"{prefix}-{name}"


def graph_type(prefix: str) -> str:
    return f"{prefix}-graph"


def graph_id(prefix: str, metric: str) -> dict[str, str]:
    """Pattern-matching id of the chart of one metric (or ALL_METRICS)."""
    return {"type": graph_type(prefix), "metric": metric}


def zoom_type(prefix: str) -> str:
    return f"{prefix}-zoom"


def zoom_id(prefix: str, metric: str) -> dict[str, str]:
    """The store beside a chart that holds its last change of x range (what the server redraws for)."""
    return {"type": zoom_type(prefix), "metric": metric}


def _control(label: str, child: Any, cls: str = "") -> html.Div:
    return html.Div([html.Label(label, className="pp-label"), child], className=f"pp-control {cls}".strip())


def controls(prefix: str, metrics: list[str] | None, x_mode: str, log_y: bool, smoothing: float,
             labels: list[str] | None = None, grouped: bool = False, group_keys: list[str] | None = None,
             layout: str = "multiples", band: str = "std", options: dict[str, list] | None = None) -> html.Div:
    """The control bar: metrics, layout, x, y, smoothing, labels, grouping, live, export (`options`: the
    dropdowns' options by name, "metrics", "labels", "group-keys", when the runs are known already).

    Pressing Enter in the smoothing slider's number box applies the value (assets/slider_enter.js)."""
    options = options or {}
    return html.Div(
        [
            _control("Metrics", dcc.Dropdown(id=pid(prefix, "metrics"), multi=True, value=metrics or [],
                                              options=options.get("metrics", []),
                                              placeholder="Choose metrics…", className="pp-metrics"), "pp-wide"),
            _control("Charts", dcc.RadioItems(
                id=pid(prefix, "layout"), value=layout if layout in ("multiples", "single") else "multiples", inline=True,
                options=[{"label": " one per metric", "value": "multiples"},
                         {"label": " all in one", "value": "single"}])),
            _control("X axis", dcc.RadioItems(
                id=pid(prefix, "x"), value=x_mode, inline=True,
                options=[{"label": f" {v}", "value": k} for k, v in X_MODES.items()])),
            _control("Y axis", dcc.RadioItems(
                id=pid(prefix, "y"), value="log" if log_y else "linear", inline=True,
                options=[{"label": " linear", "value": "linear"}, {"label": " log", "value": "log"}])),
            _control("Smoothing", dcc.Slider(
                id=pid(prefix, "smooth"), min=0, max=0.99, step=0.01, value=smoothing,
                marks={0: "0", 0.6: "0.6", 0.9: "0.9", 0.99: ".99"}, updatemode="mouseup",
                tooltip={"placement": "bottom"}), "pp-slider"),
            _control("Legend label", dcc.Dropdown(id=pid(prefix, "labels"), multi=True, value=list(labels or []),
                                                   options=options.get("labels", []),
                                                   placeholder="config keys…"), "pp-wide"),
            _control("Group runs", html.Div([
                dcc.Checklist(id=pid(prefix, "group"), options=[{"label": " by", "value": "on"}],
                              value=["on"] if grouped else [], inline=True),
                dcc.Dropdown(id=pid(prefix, "group-keys"), multi=True, value=list(group_keys or []),
                             options=options.get("group-keys", []),
                             placeholder="config keys…",
                             className="pp-group-keys"),
                dcc.RadioItems(id=pid(prefix, "band"), value=band if band in ("std", "minmax") else "std", inline=True,
                               options=[{"label": " ±std", "value": "std"}, {"label": " min–max", "value": "minmax"}]),
            ], className="pp-group-row"), "pp-wide"),
            _control("", html.Div([
                html.Span(dcc.Checklist(id=pid(prefix, "live"), options=[{"label": " live", "value": "on"}],
                                        value=["on"], inline=True), title="Fetch new points of running runs"),
                html.Button("CSV", id=pid(prefix, "csv-btn"), className="btn", n_clicks=0,
                            title="Download the plotted series as CSV"),
            ], className="pp-actions")),
        ],
        className="pp-controls",
    )


def panel(prefix: str, run_ids: list | None, metrics: list[str] | None, x_mode: str = "step",
          log_y: bool = False, smoothing: float = 0.0, live_interval_ms: int = 5000,
          info: dict[str, Any] | None = None, **control_values: Any) -> html.Div:
    """The whole panel: state stores, controls, status line and the chart grid (`control_values`: the
    initial labels, grouped, group_keys, layout, band and options of `controls`; `info`: the runs' names,
    configs and metric names when the layout knows them, which spares the panel a callback before its charts)."""
    return html.Div(
        [
            dcc.Store(id=pid(prefix, "runs"), data=list(run_ids or [])),
            dcc.Store(id=pid(prefix, "info"), data=info),
            dcc.Store(id=pid(prefix, "state")),
            dcc.Store(id=pid(prefix, "refresh"), data=0),
            dcc.Interval(id=pid(prefix, "tick"), interval=live_interval_ms, disabled=True),
            dcc.Download(id=pid(prefix, "csv")),
            controls(prefix, metrics, x_mode, log_y, smoothing, **control_values),
            html.Div(id=pid(prefix, "status"), className="pp-status"),
            dcc.Loading(html.Div(id=pid(prefix, "charts"), className="pp-charts"), type="dot",
                        delay_show=300, overlay_style={"visibility": "visible", "opacity": 0.6}),
        ],
        className="plot-panel",
        id=pid(prefix, "panel"),
    )


def chart(prefix: str, metric: str, figure: Any, wide: bool = False) -> html.Div:
    """One chart cell; PNG export comes from the plotly modebar."""
    config = {
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": f"omnidash-{metric}"[:80], "scale": 2},
        "modeBarButtonsToRemove": ["select2d", "lasso2d"],
    }
    return html.Div([dcc.Graph(id=graph_id(prefix, metric), figure=figure, config=config, className="pp-graph"),
                     dcc.Store(id=zoom_id(prefix, metric))],
                    className="pp-chart pp-chart-wide" if wide else "pp-chart")


def empty_state(message: str) -> html.Div:
    return html.Div(message, className="pp-empty")
