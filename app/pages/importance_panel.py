"""Callbacks of the "Which settings matter" panel (layout: components/importance.py; numbers:
app/store/importance.py, the same as GET /api/importance).

    importance_section(prefix, query="", open_=True) -> html.Details     # put it in a layout
    register_importance_panel(app, prefix, query=Input(...), query_of=f, active=(Input(...), value))

The panel ranks the config keys of the runs matching its query (`f"{prefix}-imp-q"`, written by the host
page from `query` through `query_of`) for the chosen metric, when it is open (and, with `active`, when the
host's tab shows it). Clicking a bar, or an unranked key, draws that key against the metric.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from omnidash.components.figures import scatter_figure
from omnidash.components.importance import (
    bars_chart,
    flagged_list,
    iid,
    importance_panel,
    scatter_chart,
    summary_line,
)
from omnidash.context import get_store
from omnidash.pages.column_choices import default_choices  # the hyper-parameter tab's default metric
from omnidash.store import cache
from omnidash.store.base import MAX_PAGE, StoreError
from omnidash.store.importance import metric_choices, store_importance


def importance_section(prefix: str, query: str = "", open_: bool = True) -> Any:
    """The panel for the runs matching `query`; a note when the columns cannot be read."""
    try:
        cols = cache.column_infos(get_store())  # the table page has just read them: no second read
        metrics, default = metric_choices(cols), default_choices(cols)[3]
    except StoreError as e:
        return html.Div(f"Which settings matter: cannot read the columns: {e}", className="cmp-warning")
    return importance_panel(prefix, metrics, default, query, open_)


def key_from_click(click: Any) -> str | None:
    try:
        return str(click["points"][0]["customdata"])
    except (TypeError, KeyError, IndexError):
        return None


def register_importance_panel(app: Dash, prefix: str, query: Input | None = None,
                              query_of: Callable[[Any], str] | None = None,
                              active: tuple[Input, Any] | None = None, starts_closed: bool = False) -> None:
    """Register the panel's callbacks for `prefix` (idempotent per app). `starts_closed`: the layout builds the
    panel closed, so nothing runs at page load (the first click on its title ranks)."""
    done: set[str] = app.__dict__.setdefault("_omnidash_importance_panels", set())
    if prefix in done:
        return
    done.add(prefix)
    p = lambda name: iid(prefix, name)  # noqa: E731
    gate = [active[0]] if active else []

    if query is not None:
        @app.callback(Output(p("q"), "data"), query, State(p("q"), "data"), prevent_initial_call=True)
        def follow_query(value, current):
            q = (query_of(value) if query_of else value) or ""
            return no_update if q == (current or "") else q

    @app.callback(
        Output(p("result"), "data"), Output(p("chart"), "children"), Output(p("status"), "children"),
        Output(p("flagged"), "children"), Output(p("scatter-box"), "children"),
        Input(p("metric"), "value"), Input(p("q"), "data"), Input(p("summary"), "n_clicks"), *gate,
        State(p("details"), "open"), State(p("result"), "data"),
        prevent_initial_call=starts_closed,
    )
    def rank(metric, q, toggles, *rest):
        opened_at_first, current = rest[-2], rest[-1]
        is_open = bool(opened_at_first) != bool((toggles or 0) % 2)  # Dash does not follow the user's toggle
        if not is_open or (active and rest[0] != active[1]):
            raise PreventUpdate
        if current and current.get("metric") == metric and current.get("q") == (q or "") \
                and ctx.triggered_id != p("metric") and ctx.triggered_id != p("q"):
            raise PreventUpdate  # re-opened or tab revisited: the bars are still right
        if not metric:
            return None, html.Div("Choose a metric column.", className="pp-empty"), "", None, None
        try:
            result = store_importance(get_store(), metric, q or "").to_dict()
        except StoreError as e:
            return None, html.Div(f"Cannot rank the settings: {e}", className="cmp-warning"), "", None, None
        result["q"] = q or ""
        return result, bars_chart(prefix, result), summary_line(result), flagged_list(prefix, result), None

    @app.callback(
        Output(p("scatter-box"), "children", allow_duplicate=True),
        Input({"type": p("bars-graph"), "key": ALL}, "clickData"), Input({"type": p("flagged"), "key": ALL}, "n_clicks"),
        State(p("metric"), "value"), State(p("q"), "data"),
        prevent_initial_call=True,
    )
    def scatter(_clicks, _flag_clicks, metric, q):
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not ctx.triggered or not ctx.triggered[0].get("value"):
            raise PreventUpdate
        key = trigger.get("key") if trigger.get("type") == p("flagged") else key_from_click(ctx.triggered[0]["value"])
        if not key or not metric:
            raise PreventUpdate
        try:
            rows = get_store().list_runs(q or "", sort="id", offset=0, limit=MAX_PAGE,
                                         columns=["id", key, metric]).rows
        except StoreError as e:
            return html.Div(f"Cannot load runs: {e}", className="cmp-warning")
        return scatter_chart(prefix, scatter_figure(rows, key, metric, None))
