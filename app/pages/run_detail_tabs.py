"""The content of each tab of the run detail page, built from the run document and the store."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from dash import dcc, html
from omnidash.components import run_detail as rd
from omnidash.components.terminal import terminal, terminal_payload
from omnidash.components.tree import dotted_paths, json_tree
from omnidash.context import get_settings
from omnidash.core.output import DEFAULT_WINDOW, MAX_WINDOW, count_lines, render_terminal, tail_window
from omnidash.core.run_view import format_size, format_time, reproduce_command
from omnidash.core.types import RunId
from omnidash.core.values import decode_value
from omnidash.store.base import NotFound, RunStore, StoreError

PREVIEW_LIMIT = 5 * 1024 * 1024  # bytes read for a preview
SOURCE_LIMIT = 1024 * 1024
CSV_ROWS = 200
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml", ".bmp": "image/bmp"}
TEXT_EXTS = (".txt", ".log", ".md", ".py", ".yaml", ".yml", ".cfg", ".ini", ".toml", ".sh", ".out", ".err")
PLOT_PREFIX = "run-metrics"


# -- links ------------------------------------------------------------------------------------------
def url_prefix() -> str:
    return get_settings().url_prefix.rstrip("/")


def quoted(run_id: RunId) -> str:
    return quote(str(run_id), safe="")


def output_href(run_id: RunId) -> str:
    return f"{url_prefix()}/download/runs/{quoted(run_id)}/output.txt"


def source_href(run_id: RunId) -> Callable[[str], str]:
    return lambda name: f"{url_prefix()}/download/runs/{quoted(run_id)}/sources/{quote(name, safe='')}"


def artifact_href(run_id: RunId) -> Callable[[str], str]:
    return lambda name: f"{url_prefix()}/api/runs/{quoted(run_id)}/artifacts/{quote(name, safe='')}?download=1"


def zip_href(run_id: RunId) -> str:
    return f"{url_prefix()}/download/runs/{quoted(run_id)}/artifacts.zip"


def time_format() -> Callable[[Any], str | None]:
    tz = get_settings().timezone
    return lambda value: format_time(value, tz)


# -- tabs ----------------------------------------------------------------------------------------------
def render_tab(tab: str, run_id: RunId, doc: Mapping[str, Any], status: str, store: RunStore) -> Any:
    """The body of one tab."""
    builders: dict[str, Callable[[], Any]] = {
        "metrics": lambda: metrics_tab(run_id, store),
        "config": lambda: config_tab(doc),
        "output": lambda: output_tab(run_id, doc, status),
        "failure": lambda: rd.failure_view(doc.get("fail_trace")),
        "info": lambda: json_tree(doc.get("info"), empty_text="No info recorded."),
        "meta": lambda: meta_tab(doc),
        "host": lambda: json_tree(doc.get("host"), empty_text="No host information recorded."),
        "experiment": lambda: experiment_tab(run_id, doc, store),
        "artifacts": lambda: artifacts_tab(run_id, store),
    }
    builder = builders.get(tab, builders["config"])
    try:
        return builder()
    except StoreError as e:
        return html.Div([html.P("This part of the run cannot be shown."), html.P(str(e), className="muted")],
                        className="tab-error")


def config_tab(doc: Mapping[str, Any]) -> html.Div:
    config = decode_value(doc.get("config") or {})
    if isinstance(config, dict):
        config = {k: v for k, v in config.items() if k != "__doc__"}
    meta = doc.get("meta") if isinstance(doc.get("meta"), Mapping) else {}
    marked = sorted(dotted_paths(decode_value(meta.get("config_updates") or {})))
    note = [html.Span("CLI", className="tree-badge"), " marks values set on the command line."] if marked else []
    return html.Div(
        [
            html.Div(
                [dcc.Input(id="rd-config-search", type="search", placeholder="Search keys and values…",
                           debounce=0.3, className="search-input", value=""),
                 dcc.Clipboard(content=json.dumps(config, indent=2, default=str), className="copy-btn btn",
                               title="Copy config as JSON", id="rd-config-copy"),
                 html.Span("Copy JSON", className="muted"),
                 html.Span(note, className="muted legend")],
                className="toolbar",
            ),
            dcc.Store(id="rd-config-data", data={"config": config, "marked": marked}),
            html.Div(json_tree(config, marked=marked), id="rd-config-tree"),
        ]
    )


def meta_tab(doc: Mapping[str, Any]) -> html.Div:
    return html.Div([rd.reproduce_block(reproduce_command(doc)),
                     json_tree(doc.get("meta"), empty_text="No meta information recorded.", open_depth=1)])


# -- output -------------------------------------------------------------------------------------------
def output_data(text: str, size: int, scroll: str = "bottom") -> tuple[dict[str, Any], str, bool]:
    """(terminal data for the browser, info line, whether "load more" can show more) for the last `size` chars."""
    window = tail_window(text, size)
    lines = count_lines(text)
    info = f"{lines:,} line{'s' if lines != 1 else ''}, {format_size(len(text))}"
    more = window.truncated and size < MAX_WINDOW
    if window.truncated:
        info += f"; showing the last {format_size(len(window.text))}"
        if not more:
            info += " (download the raw text for the rest)"
    data = {"spans": terminal_payload(render_terminal(window.text)), "scroll": scroll, "at": time.time()}
    return data, info, more


def output_tab(run_id: RunId, doc: Mapping[str, Any], status: str) -> html.Div:
    text = doc.get("captured_out") if isinstance(doc.get("captured_out"), str) else ""
    data, info, truncated = output_data(text, DEFAULT_WINDOW)
    running = status == "RUNNING"
    return html.Div(
        [
            html.Div(
                [dcc.Input(id="rd-out-search", type="search", placeholder="Search the output…", debounce=0.4,
                           className="search-input", value=""),
                 html.Span(info, id="rd-out-info", className="muted"),
                 html.Span("● live", className="live-badge", title="refreshing every 3 s") if running else None,
                 html.A("Download raw text", href=output_href(run_id), className="btn", download="",
                        id="rd-out-download", title="exactly as captured, with colour escape codes"),
                 html.A("Download plain text", href=output_href(run_id) + "?ansi=0", className="btn", download="",
                        id="rd-out-download-plain", title="without colour escape codes")],
                className="toolbar",
            ),
            html.Div(id="rd-out-hits"),
            html.Button("Load earlier output", id="rd-out-more", className="btn", n_clicks=0, hidden=not truncated),
            html.Div(terminal("rd-out-pre"), id="rd-out-body", className="terminal-box"),
            dcc.Store(id="rd-out-data", data=data),
            dcc.Store(id="rd-out-rendered"),
            dcc.Store(id="rd-out-size", data=DEFAULT_WINDOW),
            dcc.Store(id="rd-out-len", data=len(text)),
            dcc.Interval(id="rd-out-tick", interval=3000, disabled=not running),
        ]
    )


# -- metrics ------------------------------------------------------------------------------------------
def plot_panel_module() -> Any:
    try:
        from omnidash.pages import plot_panel
    except ImportError:
        return None
    if hasattr(plot_panel, "plot_panel_layout") and hasattr(plot_panel, "register_plot_panel"):
        return plot_panel
    return None


def metrics_tab(run_id: RunId, store: RunStore) -> Any:
    panel = plot_panel_module()
    if panel is not None:
        return panel.plot_panel_layout(PLOT_PREFIX, [run_id])
    return simple_metric_charts(run_id, store)


def simple_metric_charts(run_id: RunId, store: RunStore) -> html.Div:
    """One small chart per metric (used until the shared plot panel is available)."""
    import plotly.graph_objects as go

    names = store.metric_names([run_id]).get(run_id) or []
    if not names:
        return html.P("This run logged no metrics.", className="muted")
    series = store.metric_series([run_id], names, max_points=2000)
    graphs = []
    for s in sorted(series, key=lambda s: s.name):
        fig = go.Figure(go.Scatter(x=s.steps, y=s.values, mode="lines", name=s.name, connectgaps=False))
        fig.update_layout(title={"text": s.name, "font": {"size": 13}}, margin={"l": 40, "r": 10, "t": 30, "b": 30},
                          height=240, template="plotly_white", paper_bgcolor="rgba(0,0,0,0)",
                          plot_bgcolor="rgba(0,0,0,0)", xaxis_title="step")
        graphs.append(dcc.Graph(figure=fig, config={"displaylogo": False}, className="metric-graph"))
    return html.Div(graphs, className="metric-grid")


# -- experiment and sources ----------------------------------------------------------------------------
def experiment_tab(run_id: RunId, doc: Mapping[str, Any], store: RunStore) -> html.Div:
    experiment = doc.get("experiment") if isinstance(doc.get("experiment"), Mapping) else {}
    sources = store.list_sources(run_id)
    return html.Div([dcc.Store(id="rd-src-names", data=[s.name for s in sources]),
                     rd.experiment_view(dict(experiment), sources, source_href(run_id))])


def source_body(store: RunStore, run_id: RunId, name: str) -> Any:
    try:
        stream, _info = store.open_source(run_id, name)
    except NotFound:
        return html.P(f"The source file {name} is missing.", className="muted")
    with stream:
        raw = stream.read(SOURCE_LIMIT + 1)
    return rd.source_view(name, raw[:SOURCE_LIMIT].decode("utf-8", "replace"), len(raw) > SOURCE_LIMIT)


# -- artifacts --------------------------------------------------------------------------------------------
def artifacts_tab(run_id: RunId, store: RunStore) -> html.Div:
    artifacts = store.list_artifacts(run_id)
    return html.Div([dcc.Store(id="rd-art-names", data=[a.name for a in artifacts]),
                     rd.artifacts_view(artifacts, artifact_href(run_id), zip_href(run_id), time_format())])


def extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return "." + base.rsplit(".", 1)[-1].lower() if "." in base else ""


def artifact_preview(store: RunStore, run_id: RunId, name: str) -> Any:
    """A preview of one artifact by its extension (and content type): image, HTML, JSON, CSV or text."""
    try:
        stream, info = store.open_artifact(run_id, name)
    except NotFound:
        return rd.preview_frame(name, html.P("The file of this artifact is missing.", className="muted"))
    with stream:
        raw = stream.read(PREVIEW_LIMIT + 1)
    truncated = len(raw) > PREVIEW_LIMIT
    if truncated:
        raw = raw[:PREVIEW_LIMIT]
    ext = extension(name)
    ctype = (info.content_type or "").lower()
    if ext in IMAGE_TYPES or ctype.startswith("image/"):
        if truncated:
            return rd.preview_frame(name, html.P("Image larger than 5 MB: download it.", className="muted"))
        mime = IMAGE_TYPES.get(ext) or ctype
        uri = f"data:{mime};base64,{base64.b64encode(raw).decode()}"
        return rd.preview_frame(name, rd.image_preview(uri, name, rd.image_width(raw)))
    note = "Showing the first 5 MB." if truncated else None
    if b"\x00" in raw[:8192]:
        return rd.preview_frame(name, html.P("Binary file: no preview. Download it instead.", className="muted"))
    text = raw.decode("utf-8", "replace")
    if ext in (".html", ".htm") or ctype == "text/html":
        return rd.preview_frame(name, rd.html_preview(text), note)
    if ext == ".json" or ctype == "application/json":
        try:
            return rd.preview_frame(name, json_tree(json.loads(text), open_depth=2), note)
        except ValueError:
            pass
    if ext in (".csv", ".tsv") or ctype in ("text/csv", "text/tab-separated-values"):
        return rd.preview_frame(name, csv_table(text, "\t" if ext == ".tsv" else ","), note)
    return rd.preview_frame(name, rd.text_preview(text), note)


def csv_table(text: str, delimiter: str) -> Any:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = []
    header: list[str] = []
    total = 0
    for i, row in enumerate(reader):
        if i == 0:
            header = row
            continue
        total += 1
        if len(rows) < CSV_ROWS:
            rows.append(row)
    return rd.csv_preview(header, rows, total)
