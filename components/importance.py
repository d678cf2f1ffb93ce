"""Layout builders of the "Which settings matter" panel (pure: no store, no callbacks).

Ids are `f"{prefix}-imp-<name>"`; the callbacks live in app/pages/importance_panel.py. The chart takes
the JSON of `ImportanceResult.to_dict()` (app/core/importance.py), the same body as GET /api/importance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from omnidash.components.figures import PALETTE, base_layout, empty_figure, esc

POSITIVE, NEGATIVE, UNORDERED = PALETTE[0], PALETTE[1], PALETTE[2]
SIGNS = [("pos", POSITIVE, "ρ > 0: higher value, higher metric"),
         ("neg", NEGATIVE, "ρ < 0: higher value, lower metric"),
         ("none", UNORDERED, "category: no order")]
BAR_HEIGHT = 26


def iid(prefix: str, name: str) -> str:
    return f"{prefix}-imp-{name}"


def sign_of(key: dict[str, Any]) -> str:
    rho = key.get("correlation")
    if rho is None:
        return "none"
    return "neg" if rho < 0 else "pos"


def _fmt(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:+.{digits}f}" if digits else f"{v:.0f}"


def hover_text(key: dict[str, Any]) -> str:
    lines = [f"<b>{esc(key['key'])}</b>",
             f"importance: {_fmt(key.get('importance'))} (drop in R² when shuffled)",
             f"Spearman ρ: {_fmt(key.get('correlation'), 2)}" if key.get("correlation") is not None
             else "Spearman ρ: — (unordered category)",
             f"{key.get('runs', 0)} runs with a value · {key.get('values', 0)} distinct"]
    for level in (key.get("levels") or [])[:4]:
        lines.append(f"  {esc(level['value'])}: mean {level['mean']:.4g} ({level['runs']} runs)")
    return "<br>".join(lines)


def bar_label(key: dict[str, Any]) -> str:
    """"0.42 · ρ −0.61" at the end of a bar; "≈ 0" for a key the forest does not use."""
    imp = key["importance"]
    text = f"{imp:.2f}" if imp >= 0.005 else "≈ 0"
    rho = key.get("correlation")
    return text if rho is None else f"{text} · ρ {rho:+.2f}".replace("-", "−")


def importance_figure(result: dict[str, Any], height: int | None = None) -> dict[str, Any]:
    """A horizontal bar per ranked key, most important on top, coloured by the sign of ρ; customdata = key."""
    ranked = [k for k in result.get("keys", []) if k.get("flag") is None and k.get("importance") is not None]
    if not ranked:
        return empty_figure(result.get("message") or "No setting to rank.", height=160)
    order = [k["key"] for k in ranked]
    traces = []
    for sign, color, name in SIGNS:
        keys = [k for k in ranked if sign_of(k) == sign]
        if not keys:
            continue
        traces.append({
            "type": "bar", "orientation": "h", "name": name, "marker": {"color": color},
            "x": [max(0.0, k["importance"]) for k in keys], "y": [k["key"] for k in keys],
            "customdata": [k["key"] for k in keys], "hovertext": [hover_text(k) for k in keys],
            "hovertemplate": "%{hovertext}<extra></extra>", "text": [bar_label(k) for k in keys],
            "textposition": "outside", "cliponaxis": False, "textfont": {"size": 11},
        })
    layout = base_layout(title=f"What drives {result.get('metric', '')}", x_mode="step", log_y=False,
                         theme="light", height=height or 90 + BAR_HEIGHT * len(order),
                         x_title="permutation importance (drop in R² when the key is shuffled)",
                         uirevision="importance")
    layout["yaxis"].update(type="category", categoryorder="array", categoryarray=order, autorange="reversed",
                           title={"text": ""})
    layout["xaxis"].update(rangemode="tozero")
    layout["hovermode"] = "y"  # the whole row hovers and clicks, also for a bar of length zero
    layout["barmode"] = "overlay"
    layout["bargap"] = 0.25
    layout["margin"] = {**layout["margin"], "l": 12}
    return {"data": traces, "layout": layout}


def bars_chart(prefix: str, result: dict[str, Any]) -> Any:
    """The bar chart, or the reason there is none (too few runs, nothing varies) as text."""
    if not any(k.get("flag") is None and k.get("importance") is not None for k in result.get("keys", [])):
        return html.Div(result.get("message") or "No setting to rank.", className="pp-empty")
    # a pattern id: the click callback may run while no chart exists (Dash then passes an empty list)
    return html.Div(dcc.Graph(id={"type": iid(prefix, "bars-graph"), "key": "bars"}, figure=importance_figure(result),
                              config={"displaylogo": False, "displayModeBar": False}), id=iid(prefix, "bars"))


def scatter_chart(prefix: str, figure: dict[str, Any]) -> Any:
    return dcc.Graph(id=iid(prefix, "scatter"), figure=figure, config={"displaylogo": False})


def summary_line(result: dict[str, Any]) -> list[Any]:
    """"N runs", the model's fit and the runs left out; the message (too few runs...) stands out."""
    runs = result.get("runs", 0)
    parts: list[Any] = [html.Strong(f"{runs:,} run{'s' if runs != 1 else ''}", className="imp-runs")]
    if result.get("r2") is not None:
        parts.append(f" · the forest explains {max(0.0, result['r2']):.0%} of the variance (out of bag)")
    if result.get("runs_without_metric"):
        parts.append(f" · {result['runs_without_metric']:,} without a value for {result.get('metric')}")
    if result.get("message"):
        parts.append(html.Div(result["message"], className="imp-message" + (" imp-too-few" if result.get("too_few")
                                                                           else "")))
    return parts


def flagged_list(prefix: str, result: dict[str, Any]) -> Any:
    """Keys that are not ranked, greyed, each with the reason; a click opens its scatter too."""
    flagged = [k for k in result.get("keys", []) if k.get("flag")]
    if not flagged:
        return None
    return html.Div([
        html.Span("Not ranked: ", className="imp-flag-title"),
        *[html.Button([k["key"], html.Span(f" ({k.get('flag_text') or k['flag']})", className="imp-flag-why")],
                      id={"type": iid(prefix, "flagged"), "key": k["key"]}, className="imp-flag", n_clicks=0,
                      title=f"{k['key']}: {k.get('flag_text') or k['flag']}; click to plot it")
          for k in flagged],
    ], className="imp-flagged")


def importance_panel(prefix: str, metrics: Sequence[str], metric: str | None, query: str = "",
                     open_: bool = True) -> html.Details:
    """The collapsible panel: a metric picker, the bars, the unranked keys, and the scatter of a clicked key.
    The charts are made by the callbacks, so a closed panel loads no plotly."""
    return html.Details([
        html.Summary("Which settings matter", id=iid(prefix, "summary"), className="imp-summary", n_clicks=0),
        dcc.Store(id=iid(prefix, "q"), data=query),
        dcc.Store(id=iid(prefix, "result")),
        html.Div([
            html.Div([html.Label("Metric", className="pp-label"),
                      dcc.Dropdown(id=iid(prefix, "metric"), options=[{"label": m, "value": m} for m in metrics],
                                   value=metric, clearable=False, placeholder="a metric column")],
                     className="pp-control"),
            html.Div(id=iid(prefix, "status"), className="imp-status", role="status"),
        ], className="pp-controls"),
        dcc.Loading(html.Div(id=iid(prefix, "chart"), className="imp-chart"), type="dot", delay_show=300),
        html.Div(id=iid(prefix, "flagged")),
        html.P("Click a bar to plot that setting against the metric. Importance: how much worse a random forest "
               "predicts the metric when the setting is shuffled; colour: the sign of Spearman's ρ.",
               className="cmp-note imp-hint"),
        html.Div(id=iid(prefix, "scatter-box")),
    ], id=iid(prefix, "details"), open=open_, className="imp-panel")
