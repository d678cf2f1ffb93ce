"""The comparison page: `/compare?runs=1,2,5&q=<filter>`.

Tabs: metric plots (the plot panel), config diff (N runs), metric summary (min/max/last, best marked),
captured-output diff and source-file diff (two chosen runs), hyper-parameters over the runs of the
current filter `q` (parallel coordinates with brushing -> runs-table query; scatter, click opens a run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote

from dash import Dash, Input, Output, State, clientside_callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from omnidash.components.compare import (
    config_diff_table,
    diff_view,
    pair_defaults,
    pair_picker,
    summary_table,
)
from omnidash.components.figures import X_MODES, run_colors
from omnidash.context import get_settings, get_store
from omnidash.core.compare import config_diff, lower_is_better, metric_summary, text_diff
from omnidash.core.ids import parse_run_id
from omnidash.core.output import plain_text
from omnidash.core.types import RunId
from omnidash.pages import Page
from omnidash.pages.compare_hparams import hparams_section, register_hparams
from omnidash.pages.plot_panel import plot_panel_layout, register_plot_panel
from omnidash.store.base import NotFound, StoreError

PREFIX = "cmp"
SUMMARY_POINTS = 200  # downsampling keeps min, max and last exactly, so few points suffice
MAX_SOURCE_BYTES = 2_000_000
MAX_OUTPUT_CHARS = 300_000  # difflib is quadratic in the worst case; very long outputs compare their tails


def href(path: str) -> str:
    """An app-relative link (honours the URL prefix)."""
    prefix = get_settings().url_prefix.rstrip("/")
    return f"{prefix}{path}"


def parse_run_ids(text: str | None) -> list[RunId]:
    """"1, 2,abc" -> [1, 2, "abc"] (digits become ints, as Sacred ids are), duplicates dropped."""
    out: list[RunId] = []
    for part in (text or "").replace(" ", ",").split(","):
        part = part.strip()
        if not part:
            continue
        rid = parse_run_id(part)
        if rid not in out:
            out.append(rid)
    return out


def load_docs(run_ids: list[RunId]) -> tuple[dict[RunId, dict[str, Any]], list[RunId]]:
    """Run documents by id, and the ids no run has."""
    # what the config diff compares, never the captured output; one read for all the runs
    found = get_store().get_runs(run_ids, fields=["config", "experiment", "command", "status", "meta", "host"])
    docs = {doc.get("_id", rid): doc for rid, doc in found.items()}
    return docs, [rid for rid in run_ids if rid not in found]


def id_lookup(run_ids: list[RunId]) -> dict[str, RunId]:
    return {str(r): r for r in run_ids}


def section(name: str, children: Any, tab: str) -> html.Div:
    """One tab's body; hidden (not unmounted) when another tab is active, so charts keep their state."""
    return html.Div(children, id=f"cmp-sec-{name}", className="cmp-section-body",
                    style=None if name == tab else {"display": "none"})


def split_list(text: str | None) -> list[str]:
    """"a,b" -> ["a", "b"] (empty parts dropped)."""
    return [part for part in (text or "").split(",") if part]


def panel_state(params: dict[str, Any]) -> dict[str, Any]:
    """The metric panel's view from the URL (`metrics smooth x y labels group gk charts band`); bad values
    fall back to the defaults. The inverse is URL_STATE_JS."""
    try:
        smooth = min(0.99, max(0.0, float(params.get("smooth") or 0)))
    except ValueError:
        smooth = 0.0
    smooth = smooth if smooth == smooth else 0.0  # NaN
    group_keys = split_list(params.get("group"))
    return {
        "metrics": split_list(params.get("metrics")) or None, "smoothing": smooth,
        "x_mode": params.get("x") if params.get("x") in X_MODES else "step", "log_y": params.get("y") == "log",
        "labels": split_list(params.get("labels")), "grouped": bool(group_keys), "group_keys": group_keys,
        "layout": "single" if params.get("charts") == "single" else "multiples",
        "band": "minmax" if params.get("band") == "minmax" else "std",
    }


def layout(runs: str = "", q: str = "", tab: str = "metrics", **params: Any) -> html.Div:
    run_ids = parse_run_ids(runs)
    docs, missing = load_docs(run_ids) if run_ids else ({}, [])
    found = list(docs)
    if not found:
        return empty_layout(q, missing)
    warn = html.Div(
        f"Unknown run id{'s' if len(missing) > 1 else ''}: {', '.join(map(str, missing))}. Showing the others.",
        className="cmp-warning", id="cmp-missing") if missing else None
    tab = tab if tab in BY_NAME else "metrics"
    lazy = {t.name: True for t in TABS if t.lazy and t.name != tab}  # hidden tabs built when first opened
    compared = Compared(found, q or "", params, docs)
    return html.Div([
        header(found, q), warn,
        dcc.Store(id="cmp-ids", data=found),
        dcc.Store(id="cmp-lazy", data={"tabs": lazy, "q": q or ""}),
        dcc.Store(id="cmp-url-sink"),
        dcc.Tabs(id="cmp-tabs", value=tab, children=[dcc.Tab(label=t.label, value=t.name) for t in TABS],
                 className="cmp-tabs"),
        *[section(t.name, None if t.name in lazy else t.render(compared), tab) for t in TABS],
    ], className="page cmp-page")


def config_section(compared: Compared) -> Any:
    """The config diff tab: from the documents the layout read, else read now (a tab opened later)."""
    if compared.docs is not None:
        return config_body(compared.docs)
    try:
        docs, _ = load_docs(compared.run_ids)
    except StoreError as e:
        return html.Div(f"Cannot load the runs: {e}", className="cmp-warning")
    return config_body(docs) if docs else no_update


def config_body(docs: dict[RunId, dict[str, Any]]) -> html.Div:
    """The config diff tab: every leaf that differs (or all of them), a column per run."""
    only_diff = len(docs) > 1
    return html.Div([
        dcc.Checklist(id="cmp-only-diff", options=[{"label": " only differences", "value": "on"}],
                      value=["on"] if only_diff else [], inline=True),
        html.Div(config_diff_table(config_diff(docs), href), id="cmp-config",
                 className="cmp-config-wrap only-diff" if only_diff else "cmp-config-wrap"),
    ])


def header(found: list[RunId], q: str) -> html.Div:
    """Title, a chip per run in its chart colour (see `run_colors`), and the way back to the table."""
    colors = run_colors(found)
    return html.Div([
        html.H2(f"Compare {len(found)} run{'s' if len(found) != 1 else ''}"),
        html.Div([dcc.Link([html.Span(className="cmp-dot", style={"background": colors[r]}), f"#{r}"],
                           href=href(f"/runs/{r}"), className="cmp-chip", title=f"run {r}: its colour in every chart")
                  for r in found], className="cmp-chips"),
        dcc.Link("← runs table", href=href("/" + (f"?q={quote(q)}" if q else "")), className="cmp-back"),
    ], className="cmp-header")


def empty_layout(q: str, missing: list[RunId]) -> html.Div:
    """No (known) runs chosen: explain, and still offer the hyper-parameter views of the filter."""
    intro = [
        html.H2("Compare runs"),
        html.P(["Select runs in the ", dcc.Link("runs table", href=href("/")),
                " and press Compare, or list their ids in the address: /compare?runs=1,2,3."]),
    ]
    if missing:
        intro.insert(1, html.Div(f"Unknown run id{'s' if len(missing) > 1 else ''}: "
                                 f"{', '.join(map(str, missing))}. No such run in this database.",
                                 className="cmp-warning", id="cmp-missing"))
    return html.Div([
        *intro,
        dcc.Store(id="cmp-ids", data=[]),
        dcc.Store(id="cmp-lazy", data=None),
        dcc.Tabs(id="cmp-tabs", value="hparams", children=[dcc.Tab(label="Hyper-parameters", value="hparams")]),
        *[section(t.name, html.Div(), "hparams") for t in TABS if t.name != "hparams"],
        section("hparams", hparams_section(q), "hparams"),
    ], className="page cmp-page")


def read_text(run_id: RunId, name: str) -> str | None:
    """A source file as text (None when missing or too big)."""
    stream, info = get_store().open_source(run_id, name)
    with stream:
        data = stream.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        return None
    return data.decode("utf-8", errors="replace")


def source_diffs(a: RunId, b: RunId) -> list[Any]:
    """A diff per source file name of either run, sorted by name."""
    store = get_store()
    files_a = {f.name: f for f in store.list_sources(a)}
    files_b = {f.name: f for f in store.list_sources(b)}
    out: list[Any] = []
    for name in sorted(set(files_a) | set(files_b)):
        try:
            text_a = read_text(a, name) if name in files_a else ""
            text_b = read_text(b, name) if name in files_b else ""
        except NotFound:
            text_a = text_b = None
        title = name + ("" if name in files_a and name in files_b else
                        f"  (only in #{a if name in files_a else b})")
        if text_a is None or text_b is None:
            body: Any = html.Div("File missing or larger than 2 MB: not compared.", className="cmp-note")
        else:
            body = diff_view(text_diff(text_a, text_b, f"#{a}/{name}", f"#{b}/{name}"), "Identical.")
        out.append(html.Details([html.Summary(title, className="cmp-file"), body],
                                open=text_a != text_b, className="cmp-file-block"))
    return out or [html.Div("These runs have no source files.", className="pp-empty")]


# The page's state in its URL (replaceState: no history entry per change; reload and Back restore it).
URL_STATE_JS = """
function (tab, metrics, smooth, x, y, labels, group, groupKeys, charts, band) {
    var url = new URL(window.location.href);
    if (!url.pathname.endsWith("/compare")) { return window.dash_clientside.no_update; }
    var p = url.searchParams;
    function put(name, value, fallback) {
        if (value === undefined || value === null || value === "" || value === fallback) { p.delete(name); }
        else { p.set(name, String(value)); }
    }
    put("tab", tab, "metrics");
    put("metrics", (metrics || []).join(","), "");
    put("smooth", smooth ? Number(smooth) : "", "");
    put("x", x, "step");
    put("y", y, "linear");
    put("labels", (labels || []).join(","), "");
    put("group", (group && group.length) ? (groupKeys || []).join(",") : "", "");
    put("charts", charts, "multiples");
    put("band", (group && group.length) ? band : "", "std");
    var search = p.toString().replace(/%2C/g, ",");
    var target = url.pathname + (search ? "?" + search : "") + url.hash;
    if (target !== window.location.pathname + window.location.search + window.location.hash) {
        window.history.replaceState(window.history.state, "", target);
    }
    return window.dash_clientside.no_update;
}
"""


def register_config(app: Dash) -> None:
    @app.callback(Output("cmp-config", "className"), Input("cmp-only-diff", "value"))
    def only_differences(value):
        return "cmp-config-wrap only-diff" if value else "cmp-config-wrap"


def summary_section(compared: Compared) -> html.Div:
    """The metric summary tab: each metric's first, last, best... of every run, the best marked."""
    run_ids = compared.run_ids
    store = get_store()
    try:
        names = sorted({n for ns in store.metric_names(run_ids).values() for n in ns})
        series = store.metric_series(run_ids, names, max_points=SUMMARY_POINTS) if names else []
    except StoreError as e:
        return html.Div(html.Div(f"Cannot load metrics: {e}", className="cmp-warning"), id="cmp-summary")
    rows = metric_summary(series, run_ids)
    return html.Div(summary_table(rows, run_ids, href, {n: lower_is_better(n) for n in names}), id="cmp-summary")


def output_diff(a: RunId, b: RunId) -> Any:
    """The captured outputs of two runs, diffed as plain text (their ends, when long)."""
    doc_a, doc_b = get_store().get_run(a), get_store().get_run(b)
    out_a, out_b = str(doc_a.get("captured_out") or ""), str(doc_b.get("captured_out") or "")
    if not out_a and not out_b:
        return html.Div("Neither run captured any output.", className="pp-empty")
    cut = max(len(out_a), len(out_b)) > MAX_OUTPUT_CHARS
    text_a, text_b = plain_text(out_a[-MAX_OUTPUT_CHARS:]), plain_text(out_b[-MAX_OUTPUT_CHARS:])
    note = html.P(f"Outputs longer than {MAX_OUTPUT_CHARS:,} characters: comparing their ends only.",
                  className="cmp-note") if cut else None
    return html.Div([note, diff_view(text_diff(text_a, text_b, f"#{a}", f"#{b}"), "The outputs are identical.")])


def pair_section(kind: str, what: str, diff: Callable[[RunId, RunId], Any]) -> Callable[[Compared], Any]:
    """A pair tab's body: two run pickers (`cmp-{kind}-a`, `-b`) over the diff (`cmp-{kind}-diff`) of the first two
    runs, which `register_pair_diff` redraws when another pair is picked."""

    def render(compared: Compared) -> html.Div:
        body = pair_diff_body(compared.run_ids, *pair_defaults(compared.run_ids), what, diff)
        return html.Div([pair_picker(f"cmp-{kind}-a", f"cmp-{kind}-b", compared.run_ids),
                         html.Div(body, id=f"cmp-{kind}-diff")])

    return render


def pair_diff_body(run_ids: list[RunId], a: str | None, b: str | None, what: str,
                   diff: Callable[[RunId, RunId], Any]) -> Any:
    """The diff of the runs picked as `a` and `b` (their ids as the pickers hold them), or why there is none."""
    if a is None or b is None:
        return None
    ids = id_lookup(run_ids)
    try:
        return diff(ids[a], ids[b])
    except (StoreError, KeyError) as e:
        return html.Div(f"Cannot load the {what}: {e}", className="cmp-warning")


def register_pair_diff(app: Dash, kind: str, what: str, diff: Callable[[RunId, RunId], Any]) -> None:
    """The two runs picked in `cmp-{kind}-a`/`-b`, diffed by `diff(a, b)` (the tab is built with the first pair)."""
    @app.callback(Output(f"cmp-{kind}-diff", "children"), Input(f"cmp-{kind}-a", "value"),
                  Input(f"cmp-{kind}-b", "value"), State("cmp-ids", "data"), prevent_initial_call=True)
    def pair_diff(a, b, run_ids):
        if a is None or b is None:
            raise PreventUpdate
        return pair_diff_body(list(run_ids or []), a, b, what, diff)


class Compared(NamedTuple):
    """What a tab's body is built from: the runs found, the filter, the URL's parameters, and the run
    documents the layout read (None when a lazy tab is opened later)."""

    run_ids: list[RunId]
    q: str
    params: dict[str, Any]
    docs: dict[RunId, dict[str, Any]] | None = None


@dataclass(frozen=True)
class CompareTab:
    """One tab of the compare page: its name (in the URL), label, body, callbacks, and whether its body is
    built only when first opened (`lazy`)."""

    name: str
    label: str
    render: Callable[[Compared], Any]
    register: Callable[[Dash], None] | None = None
    lazy: bool = False


# Lazy tabs, built when first opened (or in the layout when the address names them): the config diff of many runs
# is large, the hyper-parameter charts would load plotly.js and query every run of the filter, and the summary and
# the two diffs read every run's metrics, outputs or sources, for a tab nobody may open.
TABS = [
    CompareTab("metrics", "Metrics", lambda c: plot_panel_layout(PREFIX, c.run_ids, **panel_state(c.params)),
               register=lambda app: register_plot_panel(app, PREFIX)),
    CompareTab("config", "Config diff", config_section, register=register_config, lazy=True),
    CompareTab("summary", "Metric summary", summary_section, lazy=True),
    CompareTab("output", "Output diff", pair_section("out", "runs", output_diff), lazy=True,
               register=lambda app: register_pair_diff(app, "out", "runs", output_diff)),
    CompareTab("sources", "Source diff", pair_section("src", "sources", source_diffs), lazy=True,
               register=lambda app: register_pair_diff(app, "src", "sources", source_diffs)),
    CompareTab("hparams", "Hyper-parameters", lambda c: hparams_section(c.q, c.run_ids), register=register_hparams,
               lazy=True),
]
BY_NAME = {t.name: t for t in TABS}
LAZY = [t.name for t in TABS if t.lazy]


def register(app: Dash) -> None:
    for tab in TABS:
        if tab.register is not None:
            tab.register(app)
    clientside_callback(
        URL_STATE_JS, Output("cmp-url-sink", "data"), Input("cmp-tabs", "value"),
        *[Input(f"{PREFIX}-{name}", "value") for name in ("metrics", "smooth", "x", "y", "labels", "group",
                                                           "group-keys", "layout", "band")],
    )

    @app.callback(
        *[Output(f"cmp-sec-{t.name}", "style") for t in TABS],
        Input("cmp-tabs", "value"),
        prevent_initial_call=True,  # the layout shows the tab it was built for
    )
    def switch_tab(tab):
        return [None if t.name == tab else {"display": "none"} for t in TABS]

    @app.callback(
        *[Output(f"cmp-sec-{name}", "children") for name in LAZY],
        Output("cmp-lazy", "data"),
        Input("cmp-tabs", "value"),
        State("cmp-lazy", "data"),
        State("cmp-ids", "data"),
        prevent_initial_call=True,
    )
    def open_lazy_tab(tab, lazy, run_ids):
        """Build a hidden tab's body the first time it is opened."""
        if not lazy or not (lazy.get("tabs") or {}).get(tab):
            raise PreventUpdate
        out: list[Any] = [no_update] * len(LAZY)
        out[LAZY.index(tab)] = BY_NAME[tab].render(Compared(list(run_ids or []), lazy.get("q") or "", {}))
        return *out, {**lazy, "tabs": {k: v for k, v in lazy["tabs"].items() if k != tab}}


PAGE = Page(name="compare", path="/compare", layout=layout, register=register, title="Compare", nav=True)

__all__ = ["PAGE", "parse_run_ids"]
