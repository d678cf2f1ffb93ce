"""The tabs of the run detail page: each one a `RunTab` (name, label, when it shows, its body, its callbacks) in
`TABS`, the one list the page, its tab switch and its callbacks read. Adding a tab is one entry."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from omnidash.components import run_detail as rd
from omnidash.components.terminal import search_hits, terminal, terminal_payload
from omnidash.components.tree import dotted_paths, json_tree
from omnidash.context import get_settings, get_store
from omnidash.core.output import (
    DEFAULT_WINDOW,
    MAX_WINDOW,
    count_lines,
    next_window_size,
    render_terminal,
    search_output,
    tail_window,
)
from omnidash.core.run_view import format_size, format_time, reproduce_command
from omnidash.core.types import RunId
from omnidash.core.values import decode_value
from omnidash.pages.plot_panel import plot_panel_layout, register_plot_panel
from omnidash.store.base import NotFound, RunStore, StoreError
from omnidash.store.rows import status_of

PREVIEW_LIMIT = 5 * 1024 * 1024  # bytes read for a preview
SOURCE_LIMIT = 1024 * 1024
CSV_ROWS = 200
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml", ".bmp": "image/bmp"}
TEXT_EXTS = (".txt", ".log", ".md", ".py", ".yaml", ".yml", ".cfg", ".ini", ".toml", ".sh", ".out", ".err")
PLOT_PREFIX = "run-metrics"

DRAW_TERMINAL_JS = """
function(data) {
    var pre = document.getElementById('rd-out-pre');
    if (!pre || !data) { return window.dash_clientside.no_update; }
    var frag = document.createDocumentFragment();
    var spans = data.spans || [];
    for (var i = 0; i < spans.length; i++) {
        var s = spans[i];
        if (s.length === 1) { frag.appendChild(document.createTextNode(s[0])); continue; }
        var el = document.createElement('span');
        el.textContent = s[0];
        if (s[1]) { el.className = s[1]; }
        if (s[2]) { el.style.color = s[2]; }
        if (s[3]) { el.style.backgroundColor = s[3]; }
        frag.appendChild(el);
    }
    if (!spans.length) {
        var empty = document.createElement('span');
        empty.className = 'terminal-empty';
        empty.textContent = pre.dataset.empty || '';
        frag.appendChild(empty);
    }
    pre.replaceChildren(frag);
    var box = document.getElementById('rd-out-body');
    if (box) { box.scrollTop = data.scroll === 'top' ? 0 : box.scrollHeight; }
    return {spans: spans.length, at: data.at};
}
"""


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


# -- what callbacks share ----------------------------------------------------------------------------------
def first_click() -> Any:
    """The pattern id whose button was really clicked (new buttons arrive with n_clicks=0)."""
    for trig in ctx.triggered:
        if trig.get("value"):
            return ctx.triggered_id
    raise PreventUpdate


def run_status(doc: Mapping[str, Any]) -> str:
    return status_of(doc, datetime.now(UTC), get_store().probably_dead_after)


def captured_out(doc: Mapping[str, Any]) -> str:
    out = doc.get("captured_out")
    return out if isinstance(out, str) else ""


def store_problem(e: StoreError) -> html.Div:
    return html.Div([html.P("The data source did not answer.", className="tab-error"),
                     html.P(str(e), className="muted")])


# -- config ----------------------------------------------------------------------------------------------
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


def register_config(app: Dash) -> None:
    @app.callback(Output("rd-config-tree", "children"), Input("rd-config-search", "value"),
                  State("rd-config-data", "data"), prevent_initial_call=True)
    def search_config(query: str | None, data: dict[str, Any]) -> Any:
        return json_tree(data.get("config"), marked=data.get("marked") or [], query=query or "")


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
    text = captured_out(doc)
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


def register_output(app: Dash) -> None:
    app.clientside_callback(DRAW_TERMINAL_JS, Output("rd-out-rendered", "data"), Input("rd-out-data", "data"))

    @app.callback(
        Output("rd-out-data", "data"),
        Output("rd-out-info", "children"),
        Output("rd-out-size", "data"),
        Output("rd-out-more", "hidden"),
        Output("rd-out-tick", "disabled"),
        Output("rd-out-len", "data"),
        Output("rd-status", "children"),
        Input("rd-out-more", "n_clicks"),
        Input("rd-out-tick", "n_intervals"),
        State("rd-out-size", "data"),
        State("rd-out-len", "data"),
        State("rd-run-id", "data"),
        prevent_initial_call=True,
    )
    def update_output(_more: int, _tick: int, size: int | None, shown_len: int | None, run_id: Any) -> Any:
        try:
            doc = get_store().get_run(run_id)
        except StoreError as e:  # keep what is shown, say why it is not refreshed
            return no_update, f"Output not refreshed: {e}", no_update, no_update, no_update, no_update, no_update
        text = captured_out(doc)
        status = run_status(doc)
        running = status == "RUNNING"
        badge = rd.status_badge(status) if not running else no_update  # the run ended while we watched
        size = size or DEFAULT_WINDOW
        scroll = "bottom"
        if ctx.triggered_id == "rd-out-more":
            size, scroll = next_window_size(size), "top"
        elif shown_len == len(text):  # a tick with nothing new: send nothing
            return no_update, no_update, no_update, no_update, not running, no_update, badge
        data, info, truncated = output_data(text, size, scroll)
        return data, info, size, not truncated, not running, len(text), badge

    @app.callback(Output("rd-out-hits", "children"), Input("rd-out-search", "value"), State("rd-run-id", "data"),
                  prevent_initial_call=True)
    def search_out(query: str | None, run_id: Any) -> Any:
        if not query:
            return None
        try:
            result = search_output(captured_out(get_store().get_run(run_id)), query)
        except StoreError as e:
            return store_problem(e)
        return search_hits(result.hits, query, result.truncated)


# -- metrics ------------------------------------------------------------------------------------------
def register_metrics(app: Dash) -> None:
    register_plot_panel(app, PLOT_PREFIX)


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


def register_file_view(app: Dash, kind: str, body: Callable[[RunStore, RunId, str], Any]) -> None:
    """Clicking "view" on row `index` of the `rd-{kind}` file list shows `body(store, run_id, name)`."""
    @app.callback(Output(f"rd-{kind}-body", "children"), Input({"type": f"rd-{kind}-view", "index": ALL}, "n_clicks"),
                  State(f"rd-{kind}-names", "data"), State("rd-run-id", "data"), prevent_initial_call=True)
    def view_file(_clicks: list[int], names: list[str], run_id: Any) -> Any:
        index = first_click()["index"]
        try:
            return body(get_store(), run_id, names[index])
        except StoreError as e:
            return store_problem(e)


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


# -- the tabs --------------------------------------------------------------------------------------------------
class ShownRun(NamedTuple):
    """What a tab's body is built from."""

    run_id: RunId
    doc: Mapping[str, Any]
    status: str
    store: RunStore


@dataclass(frozen=True)
class RunTab:
    """One tab of the run page: `name` (in the URL), `label` (or how to label it for a run), when it shows,
    how its body renders, and the callbacks its body needs (registered once per app)."""

    name: str
    label: str | Callable[[Mapping[str, Any]], str]
    render: Callable[[ShownRun], Any]
    shows: Callable[[Mapping[str, Any]], bool] = lambda doc: True
    register: Callable[[Dash], None] | None = None

    def label_for(self, doc: Mapping[str, Any]) -> str:
        return self.label(doc) if callable(self.label) else self.label


TABS = [
    RunTab("metrics", "Metrics", lambda r: plot_panel_layout(PLOT_PREFIX, [r.run_id]), register=register_metrics),
    RunTab("config", "Config", lambda r: config_tab(r.doc), register=register_config),
    RunTab("output", "Output", lambda r: output_tab(r.run_id, r.doc, r.status), register=register_output),
    RunTab("failure", "Failure", lambda r: rd.failure_view(r.doc.get("fail_trace")),
           shows=lambda doc: bool(doc.get("fail_trace"))),
    RunTab("info", "Info", lambda r: json_tree(r.doc.get("info"), empty_text="No info recorded.")),
    RunTab("meta", "Meta", lambda r: meta_tab(r.doc)),
    RunTab("host", "Host", lambda r: json_tree(r.doc.get("host"), empty_text="No host information recorded.")),
    RunTab("experiment", "Experiment", lambda r: experiment_tab(r.run_id, r.doc, r.store),
           register=lambda app: register_file_view(app, "src", source_body)),
    RunTab("artifacts", lambda doc: f"Artifacts ({len(doc.get('artifacts') or [])})",
           lambda r: artifacts_tab(r.run_id, r.store),
           register=lambda app: register_file_view(app, "art", artifact_preview)),
]
BY_NAME = {t.name: t for t in TABS}


def visible_tabs(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, label) of the tabs this run has something for, labelled with counts."""
    return [(t.name, t.label_for(doc)) for t in TABS if t.shows(doc)]


def render_tab(tab: str, run_id: RunId, doc: Mapping[str, Any], status: str, store: RunStore) -> Any:
    """The body of one tab (an unknown name shows the config)."""
    try:
        return BY_NAME.get(tab, BY_NAME["config"]).render(ShownRun(run_id, doc, status, store))
    except StoreError as e:
        return html.Div([html.P("This part of the run cannot be shown."), html.P(str(e), className="muted")],
                        className="tab-error")


def register_tabs(app: Dash) -> None:
    """Every tab's callbacks."""
    for tab in TABS:
        if tab.register is not None:
            tab.register(app)
