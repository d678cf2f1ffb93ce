"""Pure figure builders: metric series -> plotly `go.Figure` (no callbacks, no database).

Payload rules (dash-stack.md §3.2): numpy arrays so plotly ships base64 typed arrays, y as float32,
integral steps as int32, SVG `Scatter` unless the chart really holds many points. Every string that
comes from a run (ids, labels, metric names) is HTML-escaped, because plotly renders legend and hover
text as pseudo-HTML.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from _plotly_utils.utils import to_typed_array_spec

from omnidash.components.text import plural
from omnidash.core.compare import aggregate, ema_smooth, format_value
from omnidash.core.types import RunId, Series

# Seaborn "colorblind" (what Omniboard uses), then a few more distinct hues.
PALETTE = [
    "#0173b2", "#de8f05", "#029e73", "#cc78bc", "#56b4e9", "#d55e00", "#ca9161", "#949494",
    "#ece133", "#fbafe4", "#7f3c8d", "#11a579", "#3969ac", "#f2b701", "#e73f74", "#80ba5a",
]
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]
X_MODES = {"step": "step", "wall": "wall time", "relative": "time since start"}
GL_THRESHOLD = 200_000  # total points in one chart above which Scattergl pays off
RAW_OPACITY = 0.25
MAX_LEGEND_ENTRIES = 16
MARKER_SIZE = 6  # dots for points a line cannot show


@dataclass
class RunInfo:
    """What a chart needs to know about a run besides its series."""

    run_id: RunId
    label: str = ""  # legend label from the chosen config keys
    start_time: datetime | None = None


def esc(text: Any) -> str:
    """Text safe for plotly's pseudo-HTML (legend, hover, titles)."""
    return html.escape(str(text), quote=False)


def run_order_key(run_id: RunId) -> tuple[int, int, str]:
    """Sort key of run ids: numeric ids by value (int 7 and "7" alike), then other ids as text."""
    text = str(run_id)
    return (0, int(text), "") if text.isascii() and text.isdigit() else (1, 0, text)


def run_colors(run_ids: Sequence[RunId]) -> dict[RunId, str]:
    """A colour per run of a set, assigned in sorted id order: the same runs get the same colours in every
    chart and on every page (compare, table plot panel, run detail), whatever order they were selected in."""
    ordered = sorted(dict.fromkeys(run_ids), key=run_order_key)
    return {rid: PALETTE[i % len(PALETTE)] for i, rid in enumerate(ordered)}


def group_colors(labels: Sequence[str]) -> dict[str, str]:
    """A colour per group of runs, assigned in sorted label order (deterministic like `run_colors`)."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}


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
    held = getattr(ts, "epoch_seconds", None)  # timestamps already held as seconds (the plot cache's)
    if isinstance(held, np.ndarray):
        return held.astype(float)
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


# -- figures (plain dicts: plotly's validation costs ~10 ms per trace, too slow for 50 runs) ---------
Figure = dict[str, Any]


def typed(a: np.ndarray) -> dict[str, str]:
    """A numpy array as a plotly.js typed-array spec (base64), the compact wire format."""
    return to_typed_array_spec(np.ascontiguousarray(a))


def array_of(value: Any) -> np.ndarray:
    """Back from a typed-array spec (or a list) to numpy; for tests and CSV."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def trace_key(run_id: RunId, metric: str) -> str:
    """The legendgroup of a run's trace (escaped like every other string we send)."""
    return esc(f"{run_id}|{metric}")


def _hovertemplate(x_mode: str, value_name: str) -> str:
    step = "step %{x}" if x_mode == "step" else "step %{customdata}<br>x %{x}"
    return f"run %{{meta[0]}}<br>%{{meta[1]}}<br>{step}<br>{value_name} %{{y:.6g}}<extra></extra>"


def trace_type(total_points: int) -> str:
    """SVG scatter unless the chart really holds many points (WebGL is slow on software GL)."""
    return "scattergl" if total_points > GL_THRESHOLD else "scatter"


def base_layout(*, title: str, x_mode: str, log_y: bool, theme: str, height: int, x_title: str,
                uirevision: str, x_range: Sequence[Any] | None = None) -> dict[str, Any]:
    """Axes, theme colours and legend shared by every metric chart."""
    dark = theme == "dark"
    grid = "#343b47" if dark else "#e3e6eb"
    text = "#e3e7ee" if dark else "#1d2330"
    axis = {"gridcolor": grid, "zeroline": False, "linecolor": grid, "automargin": True}
    xaxis: dict[str, Any] = {**axis, "title": {"text": esc(x_title)}, "type": "date" if x_mode == "wall" else "linear"}
    if x_range is not None:
        xaxis.update(range=list(x_range), autorange=False)
    return {
        "title": {"text": esc(title), "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        "height": height,
        "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": text, "size": 12},
        "hovermode": "closest",
        "hoverlabel": {"namelength": -1},
        "uirevision": uirevision,
        # at the bottom of the figure (container coordinates): plotly grows the bottom margin to fit it, so
        # it stays under the x-axis title however many rows it wraps to (a paper-relative y overlapped it)
        "legend": {"font": {"size": 11}, "itemclick": "toggle", "orientation": "h", "x": 0, "xanchor": "left",
                   "yref": "container", "y": 0, "yanchor": "bottom"},
        "showlegend": True,
        "xaxis": xaxis,
        "yaxis": {**axis, "type": "log" if log_y else "linear", "exponentformat": "power"},
        "colorway": PALETTE,
    }


def note(message: str, corner: bool = False) -> dict[str, Any]:
    """An annotation: centred, or small at the top right."""
    if corner:
        return {"text": esc(message), "showarrow": False, "x": 1, "y": 1.08, "xref": "paper", "yref": "paper",
                "xanchor": "right", "font": {"size": 11}}
    return {"text": esc(message), "showarrow": False, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper",
            "font": {"size": 14}}


def empty_figure(message: str, theme: str = "light", height: int = 320) -> Figure:
    """A blank chart that says why it is blank."""
    layout = base_layout(title="", x_mode="step", log_y=False, theme=theme, height=height, x_title="",
                         uirevision="empty")
    layout["xaxis"]["visible"] = False
    layout["yaxis"]["visible"] = False
    layout["annotations"] = [note(message)]
    return {"data": [], "layout": layout}


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
    x_range: Sequence[Any] | None = None,
    uirevision: str = "metrics",
) -> Figure:
    """One chart: a line per (run, metric), or per (group, metric) with a ± std / min-max band.

    Several metric names in `series` share the chart: colour stays per run, dash style per metric.
    `layout.meta.keys` lists each trace's "run|metric" key (live updates extend traces by key).
    """
    run_order = list(runs) or list(dict.fromkeys(s.run_id for s in series))
    colors = dict(colors or run_colors(run_order))
    metrics = list(dict.fromkeys(s.name for s in series))
    many_metrics = len(metrics) > 1
    dash_of = {m: DASHES[i % len(DASHES)] for i, m in enumerate(metrics)}
    unit, scale = relative_scale(series, runs) if x_mode == "relative" else ("", 1.0)
    x_title = {"step": "step", "wall": "wall time", "relative": f"time since start ({unit})"}[x_mode]
    layout = base_layout(title=title, x_mode=x_mode, log_y=log_y, theme=theme, height=height, x_title=x_title,
                         uirevision=uirevision, x_range=x_range)
    notes: list[dict[str, Any]] = []
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
    kind = trace_type(total)
    if groups:
        traces = _group_traces(prepared, groups, smoothing, band, dash_of, many_metrics, x_mode, kind)
    else:
        traces = _run_traces(prepared, runs, colors, smoothing, dash_of, many_metrics, x_mode, kind)
    if missing_time:
        notes.append(note(f"{missing_time} series without timestamps not shown", corner=True))
    if not prepared:
        notes.append(note("No data for this selection"))
    entries = sum(1 for t in traces if t.get("showlegend") is not False)
    if entries > MAX_LEGEND_ENTRIES:  # a legend of 50 runs hides the chart; hover still names each run
        layout["showlegend"] = False
        notes.append(note(f"{entries} curves: hover a line to see its run", corner=True))
    layout["annotations"] = notes
    layout["meta"] = {"x_mode": x_mode, "x_scale": scale, "keys": [t["legendgroup"] for t in traces]}
    return {"data": traces, "layout": layout}


def isolated_points(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of the points a line cannot show: drawable, with no drawable neighbour (a series of one point,
    or a point between two gaps)."""
    ok = np.isfinite(np.asarray(x, dtype=float)) & np.isfinite(np.asarray(y, dtype=float))
    before = np.concatenate([[False], ok[:-1]])
    after = np.concatenate([ok[1:], [False]])
    return ok & ~before & ~after


def with_markers(trace: dict[str, Any], x: np.ndarray, y: np.ndarray,
                 custom: np.ndarray | None = None) -> list[dict[str, Any]]:
    """`trace` (mode "lines"), made visible where a line draws nothing: "lines+markers" when no two points
    join, else an extra markers-only trace of the isolated points right after it (same legend group, so the
    legend toggles both, and the line stays the first trace of its key for live extendData)."""
    lone = isolated_points(x, y)
    if not lone.any():
        return [trace]
    marker = {"color": trace["line"]["color"], "size": MARKER_SIZE}
    drawable = np.isfinite(np.asarray(x, dtype=float)) & np.isfinite(np.asarray(y, dtype=float))
    if lone.sum() == drawable.sum():
        return [{**trace, "mode": "lines+markers", "marker": marker}]
    idx = np.flatnonzero(lone)
    dots = {**trace, "x": typed(x[idx]), "y": typed(y[idx]), "mode": "markers", "marker": marker,
            "showlegend": False}
    if custom is not None:
        dots["customdata"] = typed(custom[idx]) if custom.ndim == 1 else custom[idx].tolist()
    return [trace, dots]


def _run_traces(prepared, runs, colors, smoothing, dash_of, many_metrics, x_mode, kind) -> list[dict[str, Any]]:
    traces = []
    for s, xv, yv in prepared:
        info = runs.get(s.run_id)
        color = colors.get(s.run_id, PALETTE[0])
        name = esc(run_name(info, s.run_id) + (f" · {s.name}" if many_metrics else ""))
        meta = [esc(s.run_id), esc(info.label if info and info.label else "—"), esc(s.name)]
        common: dict[str, Any] = {"type": kind, "x": typed(xv), "mode": "lines", "name": name,
                                  "legendgroup": trace_key(s.run_id, s.name), "meta": meta}
        steps = None
        if x_mode != "step":
            steps = compact_steps(s.steps)
            common["customdata"] = typed(steps)
        line = {"color": color, "width": 1.6, "dash": dash_of[s.name]}
        if smoothing > 0:
            traces.append({**common, "y": typed(yv), "showlegend": False, "opacity": RAW_OPACITY,
                           "line": {**line, "width": 1.0}, "hoverinfo": "skip"})
            smooth = ema_smooth(yv.astype(float), smoothing).astype(np.float32)
            traces += with_markers({**common, "y": typed(smooth), "line": line,
                                    "hovertemplate": _hovertemplate(x_mode, esc(s.name) + " (smoothed)")},
                                   xv, smooth, steps)
        else:
            traces += with_markers({**common, "y": typed(yv), "line": line,
                                    "hovertemplate": _hovertemplate(x_mode, esc(s.name))}, xv, yv, steps)
    return traces


def _group_traces(prepared, groups, smoothing, band, dash_of, many_metrics, x_mode, kind) -> list[dict[str, Any]]:
    group_of = {rid: label for label, rids in groups.items() for rid in rids}
    color_of = group_colors(list(groups))
    buckets: dict[tuple[str, str], list[tuple[Series, np.ndarray, np.ndarray]]] = {}
    for s, xv, yv in prepared:
        if s.run_id in group_of:
            buckets.setdefault((group_of[s.run_id], s.name), []).append((s, xv, yv))
    metric_index = {m: i for i, m in enumerate(dash_of)}
    traces = []
    # groups in label order (legend and colours do not depend on the order the runs were selected in)
    for (label, metric), items in sorted(buckets.items(), key=lambda kv: (kv[0][0], metric_index[kv[0][1]])):
        color = color_of[label]
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
        name = esc(f"{label} (n={curve.n})" + (f" · {metric}" if many_metrics else ""))
        group = esc(f"g|{label}|{metric}")
        x_plot = typed(compact_steps(x) if x_mode == "step" else x)
        edge = {"type": kind, "x": x_plot, "mode": "lines", "line": {"width": 0, "color": color},
                "legendgroup": group, "showlegend": False, "hoverinfo": "skip", "name": name}
        band_name = "min–max" if band == "minmax" else "±std"
        spread = (upper - lower) / (1 if band == "minmax" else 2)
        traces += [
            {**edge, "y": typed(upper.astype(np.float32))},
            {**edge, "y": typed(lower.astype(np.float32)), "fill": "tonexty", "fillcolor": rgba(color, 0.2)},
        ]
        custom = np.stack([curve.count[ok], spread], axis=-1)
        mean_trace = {
            "type": kind, "x": x_plot, "y": typed(mean.astype(np.float32)), "mode": "lines", "name": name,
            "legendgroup": group, "line": {"color": color, "width": 2, "dash": dash_of[metric]},
            "meta": [esc(label), curve.n, esc(metric), band_name], "customdata": custom.tolist(),
            "hovertemplate": ("%{meta[0]}<br>n=%{customdata[0]} of %{meta[1]} runs<br>x %{x}<br>"
                              "%{meta[2]} mean %{y:.6g}<br>%{meta[3]} %{customdata[1]:.3g}<extra></extra>"),
        }
        traces += with_markers(mean_trace, x, mean, custom)
    return traces


# -- hyper-parameter figures ------------------------------------------------------------------------
def _tick(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def category_text(v: Any) -> str:
    """A category as text: booleans `true`/`false` (as in the table and the query language), else str."""
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def axis_values(values: Sequence[Any], escape: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
    """Numbers as they are; anything else mapped to 0..k-1 with tick text (strings, bools, None).
    `escape=False` for parcoords, whose tick text plotly writes as plain SVG text (no markup)."""
    if _is_numeric(values):
        return np.array([np.nan if v is None else float(v) for v in values]), {}
    cats = sorted({category_text(v) for v in values}, key=lambda t: (t == "None", t))
    index = {c: i for i, c in enumerate(cats)}
    return (np.array([index[category_text(v)] for v in values], dtype=float),
            {"tickvals": list(range(len(cats))), "ticktext": [esc(t) if escape else t for t in map(_tick, cats)]})


def log_axis(values: np.ndarray, ticks: Mapping[str, Any]) -> bool:
    """Whether a parallel-coordinates axis (`axis_values`' result) is drawn in log10: positive numbers
    spanning two decades or more (learning rates, weight decays), squeezed against the bottom in linear."""
    return not ticks and _spans_decades(values)


VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]
CONTEXT_COLOR = "#c9cdd4"  # runs shown only as context (hyper-parameter views of compared runs)


def highlight_line(color: np.ndarray, ids: Sequence[str], highlight: Collection[str], metric_col: str,
                   lower_better: bool) -> dict[str, Any]:
    """A parcoords `line` where the highlighted runs are coloured by the metric (their own range) and the
    others are a light grey: one colour scale whose bottom tenth is grey, ticks labelled in metric units."""
    mine = np.array([i in highlight for i in ids], dtype=bool)
    own = color[mine & np.isfinite(color)]
    lo, hi = (float(own.min()), float(own.max())) if own.size else (0.0, 1.0)
    span = (hi - lo) or 1.0
    base = 0.12
    shade = np.where(mine, base + (1 - base) * (color - lo) / span, 0.0)
    shade = np.where(np.isfinite(shade), shade, 0.0)
    stops = VIRIDIS[::-1] if lower_better else VIRIDIS
    scale = [[0.0, CONTEXT_COLOR], [0.1, CONTEXT_COLOR]]
    scale += [[base + (1 - base) * k / (len(stops) - 1), c] for k, c in enumerate(stops)]
    ticks = [base + (1 - base) * k / 4 for k in range(5)] if hi > lo else [base]
    return {"color": typed(shade), "colorscale": scale, "cmin": 0.0, "cmax": 1.0, "showscale": True,
            "colorbar": {"title": {"text": esc(metric_col)}, "tickvals": ticks,
                         "ticktext": [f"{lo + span * (t - base) / (1 - base):.4g}" for t in ticks]}}


def parallel_figure(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], metric_col: str,
                    theme: str = "light", lower_better: bool = False,
                    highlight: Collection[str] | None = None) -> Figure:
    """Parallel coordinates: one axis per key plus the metric, lines coloured by the metric; an axis whose
    values span two decades or more is drawn in log10 (labelled "(log)"; `axis_defs` maps brushes back).
    `highlight` (run ids as text): only those runs are coloured, the others are grey context (put them
    last in `rows` so they are drawn on top)."""
    dims = []
    for key in [*keys, metric_col]:
        vals, ticks = axis_values([r.get(key) for r in rows], escape=False)
        label = key[len("config."):] if key.startswith("config.") else key
        if log_axis(vals, ticks):
            vals = np.log10(vals)
            ticks, label = _decade_ticks(float(np.nanmin(vals)), float(np.nanmax(vals))), f"{label} (log)"
        dims.append({"label": esc(label), "values": typed(vals), **ticks})
    color, _ = axis_values([r.get(metric_col) for r in rows])
    dark = theme == "dark"
    trace = {
        "type": "parcoords", "dimensions": dims,
        "line": {"color": typed(color), "colorscale": "Viridis", "reversescale": lower_better, "showscale": True,
                 "colorbar": {"title": {"text": esc(metric_col)}}},
        "unselected": {"line": {"opacity": 0.08}},
    }
    ids = [str(r.get("id")) for r in rows]
    if highlight is not None and any(i not in highlight for i in ids):
        trace["line"] = highlight_line(color, ids, highlight, metric_col, lower_better)
    # the first axis writes its tick text to its left, and parcoords has no automargin: make room for it
    first_ticks = dims[0].get("ticktext", []) if dims else []
    left = int(min(220, max(70, 16 + 6.5 * max((len(t) for t in first_ticks), default=0))))
    layout = {"height": 420, "margin": {"l": left, "r": 70, "t": 60, "b": 30}, "paper_bgcolor": "rgba(0,0,0,0)",
              "plot_bgcolor": "rgba(0,0,0,0)", "font": {"color": "#e3e7ee" if dark else "#1d2330"},
              "uirevision": "parcoords"}
    return {"data": [trace], "layout": layout}


def _spans_decades(values: np.ndarray) -> bool:
    v = values[np.isfinite(values)]
    return len(v) > 1 and bool((v > 0).all()) and v.max() / v.min() >= 100


MAX_COLOR_CATEGORIES = 12  # a string colour key with more values: the rarest share one "other" colour
MISSING_COLOR = "#9aa0a6"
SCATTER_MARKER = {"size": 9, "line": {"width": 0.5, "color": "#555"}}


def _is_numeric(values: Sequence[Any]) -> bool:
    """True when every value present is a number (bools are categories) and at least one is present."""
    present = [v for v in values if v is not None]
    return bool(present) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)


def _shown(v: Any, limit: int = 40) -> str:
    """A value as hover/legend text (numbers to 4 significant digits), cut to `limit` characters."""
    text = format_value(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def color_categories(values: Sequence[Any]) -> tuple[list[str], dict[str, str]]:
    """(category of each value, colour of each category) for a categorical colour key.

    Categories are the values as text, coloured in sorted order (deterministic); a missing value is the
    grey category "None"; beyond MAX_COLOR_CATEGORIES the rarest values share the grey "other" category."""
    labels = ["None" if v is None else _shown(v) for v in values]
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    named = sorted(c for c in counts if c != "None")
    grey = []  # listed last, in grey
    if len(named) > MAX_COLOR_CATEGORIES:
        kept = sorted(sorted(named, key=lambda c: (-counts[c], c))[: MAX_COLOR_CATEGORIES - 1])
        other = f"other ({plural(len(named) - len(kept), 'value')})"
        labels = [c if c in kept or c == "None" else other for c in labels]
        named, grey = kept, [other]
    colors = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(named)}
    colors.update({c: MISSING_COLOR for c in [*grey, *(["None"] if "None" in counts else [])]})
    return labels, colors


def _decade_ticks(lo: float, hi: float) -> dict[str, Any]:
    """Ticks of a log10 scale (a colour bar, a parallel-coordinates axis): one per decade, labelled 0.001."""
    decades = list(range(int(np.floor(lo)), int(np.ceil(hi)) + 1))
    return {"tickvals": decades, "ticktext": [f"{10.0**d:g}" for d in decades]}


def scatter_figure(rows: Sequence[Mapping[str, Any]], x_key: str, y_key: str, color_key: str | None,
                   theme: str = "light", highlight: Collection[str] | None = None) -> Figure:
    """Scatter of runs: x a config key or summary, y a summary, colour another key; customdata = run id.

    A numeric colour key is a continuous scale with a colour bar (log10 when it spans two decades), runs
    without a value grey and listed in the legend; any other colour key (strings, bools) gets one trace and
    one discrete colour per value, with a legend. An axis whose positive values span two decades or more
    (learning rates) is drawn on a log scale. With `highlight` (run ids as text) the other runs are small
    grey context points ("other runs") under the highlighted ones."""
    xs, xticks = axis_values([r.get(x_key) for r in rows])
    ys, yticks = axis_values([r.get(y_key) for r in rows])
    ids = [str(r.get("id")) for r in rows]
    keys = [k for k in dict.fromkeys([x_key, y_key, color_key]) if k]
    hover = ["<br>".join([esc(f"run #{rid}")] + [f"{esc(k)}: {esc(_shown(r.get(k)))}" for k in keys])
             for rid, r in zip(ids, rows, strict=True)]

    def points(idx: Sequence[int], name: str, marker: dict[str, Any], legend: bool) -> dict[str, Any]:
        ix = np.asarray(idx, dtype=int)
        return {"type": "scatter", "x": typed(xs[ix]), "y": typed(ys[ix]), "mode": "markers", "name": esc(name),
                "marker": {**SCATTER_MARKER, **marker}, "customdata": [ids[i] for i in ix],
                "text": [hover[i] for i in ix], "hovertemplate": "%{text}<extra></extra>", "showlegend": legend}

    plotted = np.isfinite(xs) & np.isfinite(ys)
    everyone = [int(i) for i in np.flatnonzero(plotted)]  # runs without x or y: only counted in a note
    unplotted = len(rows) - len(everyone)
    traces: list[dict[str, Any]] = []
    if highlight is not None and any(ids[i] not in highlight for i in everyone):
        context = [i for i in everyone if ids[i] not in highlight]
        everyone = [i for i in everyone if ids[i] in highlight]
        traces.append(points(context, "other runs", {"color": CONTEXT_COLOR, "size": 6, "opacity": 0.7,
                                                     "line": {"width": 0}}, True))
    if not color_key:
        traces.append(points(everyone, "runs", {"color": PALETTE[0]}, False))
    elif _is_numeric(raw := [rows[i].get(color_key) for i in everyone]):
        cvals = np.full(len(rows), np.nan)
        cvals[everyone] = [np.nan if v is None else float(v) for v in raw]
        have = [i for i in everyone if np.isfinite(cvals[i])]
        log = _spans_decades(cvals[have])
        shown = np.log10(cvals[have]) if log else cvals[have]
        bar: dict[str, Any] = {"title": {"text": esc(color_key + (" (log)" if log else ""))}}
        if log:
            bar.update(_decade_ticks(float(shown.min()), float(shown.max())))
        traces.append(points(have, color_key, {"color": typed(shown), "colorscale": "Viridis", "showscale": True,
                                               "colorbar": bar}, False))
        lacking = [i for i in everyone if not np.isfinite(cvals[i])]
        if lacking:
            traces.append(points(lacking, f"no {color_key}", {"color": MISSING_COLOR}, True))
    else:
        labels, colors = color_categories(raw)
        for cat, color in colors.items():
            idx = [i for i, label in zip(everyone, labels, strict=True) if label == cat]
            traces.append(points(idx, cat, {"color": color}, True))
    layout = base_layout(title=f"{y_key} vs {x_key}", x_mode="step", log_y=False, theme=theme, height=420,
                         x_title=x_key, uirevision="scatter")
    layout["showlegend"] = any(t["showlegend"] for t in traces)
    if layout["showlegend"] and not any(t["marker"].get("showscale") for t in traces):
        # categories: a titled legend on the right (with a colour bar there, "no <key>" stays at the bottom)
        layout["legend"].update(x=1.02, xanchor="left", yref="paper", y=1, yanchor="top", orientation="v",
                                title={"text": esc(color_key or "")})
    layout["yaxis"]["title"] = {"text": esc(y_key)}
    for axis, ticks, vals in (("xaxis", xticks, xs), ("yaxis", yticks, ys)):
        if ticks:
            layout[axis].update(tickmode="array", **ticks)
        elif _spans_decades(vals):
            layout[axis]["type"] = "log"
    layout["annotations"] = [note(f"{unplotted} run{'s' if unplotted != 1 else ''} without a value for x or y "
                                  "not shown", corner=True)] if unplotted else []
    return {"data": traces, "layout": layout}
