"""Pure figure builders: metric series -> plotly `go.Figure` (no callbacks, no database).

Payload rules (dash-stack.md §3.2): numpy arrays so plotly ships base64 typed arrays, y as float32,
integral steps as int32, SVG `Scatter` unless the chart really holds many points. Every string that
comes from a run (ids, labels, metric names) is HTML-escaped, because plotly renders legend and hover
text as pseudo-HTML.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import plotly.graph_objects as go

from app.store.base import RunId, Series
from app.store.compare import aggregate, ema_smooth

# Seaborn "colorblind" (what Omniboard uses), then a few more distinct hues.
PALETTE = [
    "#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494",
    "#ece133", "#56b4e9", "#7f3c8d", "#11a579", "#3969ac", "#f2b701", "#e73f74", "#80ba5a",
]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
X_MODES = {"step": "step", "wall": "wall time", "relative": "time since start"}
GL_THRESHOLD = 200_000  # total points in one chart above which Scattergl pays off
RAW_OPACITY = 0.25


@dataclass
class RunInfo:
    """What a chart needs to know about a run besides its series."""

    run_id: RunId
    label: str = ""  # legend label from the chosen config keys
    start_time: datetime | None = None


def esc(text: Any) -> str:
    """Text safe for plotly's pseudo-HTML (legend, hover, titles)."""
    return html.escape(str(text), quote=False)


def run_colors(run_ids: Sequence[RunId]) -> dict[RunId, str]:
    """A colour per run, by position in the selection, so a run keeps its colour in every chart."""
    return {rid: PALETTE[i % len(PALETTE)] for i, rid in enumerate(run_ids)}


def rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def run_name(info: RunInfo | None, run_id: RunId) -> str:
    """`#12 opt=adam lr=0.01`."""
    label = info.label if info else ""
    return f"#{run_id} {label}".strip()


# -- x values -------------------------------------------------------------------------------------
def _epoch_seconds(ts: Sequence[datetime | None]) -> np.ndarray:
    out = np.full(len(ts), np.nan)
    for i, t in enumerate(ts):
        if t is not None:
            if t.tzinfo is None:
                t = t.replace(tzinfo=UTC)
            out[i] = t.timestamp()
    return out


def relative_unit(max_seconds: float) -> tuple[str, float]:
    """("min", 60.0) etc.: the unit that keeps relative-time ticks readable."""
    if max_seconds > 2 * 86400:
        return "days", 86400.0
    if max_seconds > 2 * 3600:
        return "hours", 3600.0
    if max_seconds > 120:
        return "minutes", 60.0
    return "seconds", 1.0


def relative_scale(series: Sequence[Series], runs: Mapping[RunId, RunInfo]) -> tuple[str, float]:
    """The time unit of a relative-time chart, from its longest series."""
    longest = 0.0
    for s in series:
        xv = x_values(s, "relative", runs[s.run_id].start_time if s.run_id in runs else None)
        if xv is not None and np.isfinite(xv).any():
            longest = max(longest, float(np.nanmax(xv)))
    return relative_unit(longest)


def x_values(s: Series, mode: str, start: datetime | None = None, scale: float = 1.0) -> np.ndarray | None:
    """x of one series: steps, wall time (epoch ms, for a date axis) or time since start / scale.
    None when the mode needs timestamps the series lacks."""
    if mode == "step":
        return compact_steps(s.steps)
    if len(s.timestamps) != len(s.steps) or not s.steps:
        return None
    secs = _epoch_seconds(s.timestamps)
    if not np.isfinite(secs).any():
        return None
    if mode == "wall":
        return secs * 1000.0
    if start is not None:
        origin = (start if start.tzinfo else start.replace(tzinfo=UTC)).timestamp()
    else:
        origin = float(np.nanmin(secs))
    return (secs - origin) / scale


def compact_steps(steps: Sequence[float]) -> np.ndarray:
    """Steps as int32 when they are whole numbers that fit, else float64 (smaller payload)."""
    a = np.asarray(steps, dtype=float)
    if len(a) and np.isfinite(a).all() and (a == np.round(a)).all() and np.abs(a).max() < 2**31:
        return a.astype(np.int32)
    return a


def y_values(s: Series) -> np.ndarray:
    """Values as float32 with NaN gaps (None, NaN, inf all become gaps)."""
    y = np.array([np.nan if v is None else v for v in s.values], dtype=float)
    y[~np.isfinite(y)] = np.nan
    return y.astype(np.float32)


# -- figures ----------------------------------------------------------------------------------------
def _hovertemplate(x_mode: str, value_name: str) -> str:
    step = "step %{x}" if x_mode == "step" else "step %{customdata}<br>x %{x}"
    return f"run %{{meta[0]}}<br>%{{meta[1]}}<br>{step}<br>{value_name} %{{y:.6g}}<extra></extra>"


def _scatter_cls(total_points: int):
    return go.Scattergl if total_points > GL_THRESHOLD else go.Scatter


def base_layout(
    fig: go.Figure, *, title: str, x_mode: str, log_y: bool, theme: str, height: int, x_title: str,
    uirevision: str, x_range: Sequence[float] | None = None,
) -> go.Figure:
    """Axes, theme colours and legend shared by every metric chart."""
    dark = theme == "dark"
    grid = "#343b47" if dark else "#e3e6eb"
    text = "#e3e7ee" if dark else "#1d2330"
    fig.update_layout(
        template="plotly_dark" if dark else "plotly_white",
        title={"text": esc(title), "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        height=height,
        margin={"l": 56, "r": 16, "t": 40, "b": 44},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": text, "size": 12},
        hovermode="closest",
        uirevision=uirevision,
        legend={"orientation": "v", "font": {"size": 11}, "itemclick": "toggle"},
        showlegend=True,
    )
    fig.update_xaxes(title_text=x_title, gridcolor=grid, zeroline=False, type="date" if x_mode == "wall" else "linear")
    fig.update_yaxes(type="log" if log_y else "linear", gridcolor=grid, zeroline=False, exponentformat="power")
    if x_range is not None:
        fig.update_xaxes(range=list(x_range), autorange=False)
    return fig


def empty_figure(message: str, theme: str = "light", height: int = 320) -> go.Figure:
    """A blank chart that says why it is blank."""
    fig = go.Figure()
    base_layout(fig, title="", x_mode="step", log_y=False, theme=theme, height=height, x_title="",
                uirevision="empty")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=esc(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14})
    return fig


def metric_figure(
    series: Sequence[Series],
    runs: Mapping[RunId, RunInfo],
    *,
    title: str,
    x_mode: str = "step",
    log_y: bool = False,
    smoothing: float = 0.0,
    colors: Mapping[RunId, str] | None = None,
    groups: Mapping[str, Sequence[RunId]] | None = None,
    band: str = "std",
    theme: str = "light",
    height: int = 320,
    x_range: Sequence[float] | None = None,
    uirevision: str = "metrics",
) -> go.Figure:
    """One chart: a line per (run, metric), or per (group, metric) with a ± std / min-max band.

    Several metric names in `series` share the chart: colour stays per run, dash style per metric.
    """
    run_order = list(runs) or list(dict.fromkeys(s.run_id for s in series))
    colors = dict(colors or run_colors(run_order))
    metrics = list(dict.fromkeys(s.name for s in series))
    many_metrics = len(metrics) > 1
    dash_of = {m: DASHES[i % len(DASHES)] for i, m in enumerate(metrics)}
    unit, scale = relative_scale(series, runs) if x_mode == "relative" else ("", 1.0)
    x_title = {"step": "step", "wall": "wall time", "relative": f"time since start ({unit})"}[x_mode]
    fig = go.Figure()
    base_layout(fig, title=title, x_mode=x_mode, log_y=log_y, theme=theme, height=height, x_title=x_title,
                uirevision=uirevision, x_range=x_range)
    fig.update_layout(meta={"x_mode": x_mode, "x_scale": scale})
    if not series:
        return fig_with_note(fig, "No data for this selection")
    prepared = []  # (series, x, y)
    missing_time = 0
    for s in series:
        start = runs[s.run_id].start_time if s.run_id in runs else None
        xv = x_values(s, x_mode, start, scale)
        if xv is None:
            missing_time += 1
            continue
        prepared.append((s, xv, y_values(s)))
    total = sum(len(x) for _, x, _ in prepared) * (2 if smoothing > 0 else 1)
    scatter = _scatter_cls(total)
    if groups:
        _add_group_traces(fig, prepared, groups, smoothing, band, dash_of, many_metrics, x_mode, scatter)
    else:
        _add_run_traces(fig, prepared, runs, colors, smoothing, dash_of, many_metrics, x_mode, scatter)
    if missing_time:
        fig_with_note(fig, f"{missing_time} series without timestamps not shown", corner=True)
    if not prepared:
        fig_with_note(fig, "No data for this selection")
    return fig


def fig_with_note(fig: go.Figure, message: str, corner: bool = False) -> go.Figure:
    """Add a centred (or top-right) note to a chart."""
    if corner:
        fig.add_annotation(text=esc(message), showarrow=False, x=1, y=1.08, xref="paper", yref="paper",
                           xanchor="right", font={"size": 11})
    else:
        fig.add_annotation(text=esc(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                           font={"size": 14})
    return fig


def _add_run_traces(fig, prepared, runs, colors, smoothing, dash_of, many_metrics, x_mode, scatter) -> None:
    for s, xv, yv in prepared:
        info = runs.get(s.run_id)
        color = colors.get(s.run_id, PALETTE[0])
        name = run_name(info, s.run_id) + (f" · {s.name}" if many_metrics else "")
        meta = [esc(s.run_id), esc(info.label if info and info.label else "—"), esc(s.name)]
        group_id = f"{s.run_id}|{s.name}"
        common: dict[str, Any] = {"x": xv, "mode": "lines", "legendgroup": group_id, "meta": meta}
        if x_mode != "step":
            common["customdata"] = compact_steps(s.steps)
        line = {"color": color, "width": 1.6, "dash": dash_of[s.name]}
        if smoothing > 0:
            fig.add_trace(scatter(y=yv, name=esc(name), showlegend=False, opacity=RAW_OPACITY,
                                  line={**line, "width": 1.0}, hoverinfo="skip", **common))
            smooth = ema_smooth(yv.astype(float), smoothing).astype(np.float32)
            fig.add_trace(scatter(y=smooth, name=esc(name), line=line,
                                  hovertemplate=_hovertemplate(x_mode, esc(s.name) + " (smoothed)"), **common))
        else:
            fig.add_trace(scatter(y=yv, name=esc(name), line=line,
                                  hovertemplate=_hovertemplate(x_mode, esc(s.name)), **common))


def _add_group_traces(fig, prepared, groups, smoothing, band, dash_of, many_metrics, x_mode, scatter) -> None:
    group_of = {rid: label for label, rids in groups.items() for rid in rids}
    group_index = {label: i for i, label in enumerate(groups)}
    buckets: dict[tuple[str, str], list[tuple[Series, np.ndarray, np.ndarray]]] = {}
    for s, xv, yv in prepared:
        if s.run_id in group_of:
            buckets.setdefault((group_of[s.run_id], s.name), []).append((s, xv, yv))
    for (label, metric), items in buckets.items():
        color = PALETTE[group_index[label] % len(PALETTE)]
        ys = [ema_smooth(y.astype(float), smoothing) if smoothing > 0 else y.astype(float) for _, _, y in items]
        max_len = max(len(x) for _, x, _ in items)
        curve = aggregate(label, [s.run_id for s, _, _ in items], [x.astype(float) for _, x, _ in items], ys,
                          max_points=max(2 * max_len, 2))
        ok = np.isfinite(curve.mean)
        x, mean = curve.x[ok], curve.mean[ok]
        if band == "minmax":
            lower, upper = curve.lo[ok], curve.hi[ok]
        else:
            lower, upper = mean - curve.std[ok], mean + curve.std[ok]
        name = f"{label} (n={curve.n})" + (f" · {metric}" if many_metrics else "")
        legend = f"g|{label}|{metric}"
        x_plot = x if x_mode != "step" else compact_steps(x) if (x == np.round(x)).all() else x
        fig.add_trace(scatter(x=x_plot, y=upper.astype(np.float32), mode="lines", line={"width": 0, "color": color},
                              legendgroup=legend, showlegend=False, hoverinfo="skip", name=esc(name)))
        fig.add_trace(scatter(x=x_plot, y=lower.astype(np.float32), mode="lines", line={"width": 0, "color": color},
                              fill="tonexty", fillcolor=rgba(color, 0.2), legendgroup=legend, showlegend=False,
                              hoverinfo="skip", name=esc(name)))
        band_name = "min–max" if band == "minmax" else "±std"
        fig.add_trace(scatter(
            x=x_plot, y=mean.astype(np.float32), mode="lines", name=esc(name), legendgroup=legend,
            line={"color": color, "width": 2, "dash": dash_of[metric]},
            meta=[esc(label), curve.n, esc(metric), band_name],
            customdata=np.stack([curve.count[ok], (upper - lower) / (1 if band == "minmax" else 2)], axis=-1),
            hovertemplate=("%{meta[0]}<br>n=%{customdata[0]} of %{meta[1]} runs<br>x %{x}<br>"
                           "%{meta[2]} mean %{y:.6g}<br>%{meta[3]} %{customdata[1]:.3g}<extra></extra>"),
        ))


# -- hyper-parameter figures ------------------------------------------------------------------------
def _axis_values(values: Sequence[Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Numbers as they are; anything else mapped to 0..k-1 with tick text (strings, bools, None)."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values if v is not None)
    if numeric and any(v is not None for v in values):
        return np.array([np.nan if v is None else float(v) for v in values]), {}
    cats = sorted({str(v) for v in values}, key=lambda t: (t == "None", t))
    index = {c: i for i, c in enumerate(cats)}
    return (np.array([index[str(v)] for v in values], dtype=float),
            {"tickvals": list(range(len(cats))), "ticktext": [esc(c)[:24] for c in cats]})


def parallel_figure(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], metric_col: str,
                    theme: str = "light", lower_better: bool = False) -> go.Figure:
    """Parallel coordinates: one axis per key plus the metric, lines coloured by the metric."""
    dims = []
    for key in [*keys, metric_col]:
        vals, ticks = _axis_values([r.get(key) for r in rows])
        label = key[len("config."):] if key.startswith("config.") else key
        dims.append({"label": esc(label), "values": vals, **ticks})
    color, _ = _axis_values([r.get(metric_col) for r in rows])
    fig = go.Figure(go.Parcoords(
        dimensions=dims,
        line={"color": color, "colorscale": "Viridis", "reversescale": lower_better, "showscale": True,
              "colorbar": {"title": {"text": esc(metric_col)}}},
        unselected={"line": {"opacity": 0.08}},
    ))
    dark = theme == "dark"
    fig.update_layout(height=420, margin={"l": 70, "r": 70, "t": 60, "b": 30}, paper_bgcolor="rgba(0,0,0,0)",
                      plot_bgcolor="rgba(0,0,0,0)", font={"color": "#e3e7ee" if dark else "#1d2330"},
                      uirevision="parcoords")
    return fig


def scatter_figure(rows: Sequence[Mapping[str, Any]], x_key: str, y_key: str, color_key: str | None,
                   theme: str = "light") -> go.Figure:
    """Scatter of runs: x a config key or summary, y a summary, colour another key; customdata = run id."""
    xs, xticks = _axis_values([r.get(x_key) for r in rows])
    ys, yticks = _axis_values([r.get(y_key) for r in rows])
    marker: dict[str, Any] = {"size": 9, "line": {"width": 0.5, "color": "#555"}}
    if color_key:
        cvals, cticks = _axis_values([r.get(color_key) for r in rows])
        marker.update(color=cvals, colorscale="Viridis", showscale=True,
                      colorbar={"title": {"text": esc(color_key)}, **cticks})
    ids = [str(r.get("id")) for r in rows]
    fig = go.Figure(go.Scatter(
        x=xs, y=ys, mode="markers", marker=marker, customdata=ids,
        text=[esc(f"#{i}") for i in ids],
        hovertemplate=f"run %{{text}}<br>{esc(x_key)} %{{x}}<br>{esc(y_key)} %{{y}}<extra></extra>",
    ))
    base_layout(fig, title=f"{y_key} vs {x_key}", x_mode="step", log_y=False, theme=theme, height=420,
                x_title=esc(x_key), uirevision="scatter")
    fig.update_layout(showlegend=False)
    fig.update_yaxes(title_text=esc(y_key))
    if xticks:
        fig.update_xaxes(tickmode="array", **xticks)
    if yticks:
        fig.update_yaxes(tickmode="array", **yticks)
    return fig
