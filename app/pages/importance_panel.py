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

from app.context import get_store
from app.store.base import MAX_PAGE, StoreError
from app.store.importance import metric_choices, store_importance
from components.figures import empty_figure, scatter_figure
from components.importance import flagged_list, iid, importance_figure, importance_panel, summary_line


def importance_section(prefix: str, query: str = "", open_: bool = True) -> Any:
    """The panel for the runs matching `query`; a note when the columns cannot be read."""
    from app.pages.compare_hparams import default_choices  # the hyper-parameter tab's default metric

    try:
        store = get_store()
        metrics, default = metric_choices(store), default_choices(store.columns())[3]
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
                              active: tuple[Input, Any] | None = None) -> None:
    """Register the panel's callbacks for `prefix` (idempotent per app)."""
    done: set[str] = app.__dict__.setdefault("_omnidash_importance_panels", set())
    if prefix in done:
        return
    done.add(prefix)
    p = lambda name: iid(prefix, name)  # noqa: E731
    gate = [active[0]] if active else []

    if query is not None:
        @app.callback(Output(p("q"), "data"), query, State(p("q"), "data"))
        def follow_query(value, current):
            q = (query_of(value) if query_of else value) or ""
            return no_update if q == (current or "") else q

    @app.callback(
        Output(p("result"), "data"), Output(p("bars"), "figure"), Output(p("status"), "children"),
        Output(p("flagged"), "children"), Output(p("scatter-box"), "hidden"),
        Input(p("metric"), "value"), Input(p("q"), "data"), Input(p("summary"), "n_clicks"), *gate,
        State(p("details"), "open"), State(p("result"), "data"),
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
            return None, empty_figure("Choose a metric column.", height=160), "", None, True
        try:
            result = store_importance(get_store(), metric, q or "").to_dict()
        except StoreError as e:
            return None, empty_figure(f"Cannot rank the settings: {e}", height=160), "", None, True
        result["q"] = q or ""
        return result, importance_figure(result), summary_line(result), flagged_list(prefix, result), True

    @app.callback(
        Output(p("scatter"), "figure"), Output(p("scatter-box"), "hidden", allow_duplicate=True),
        Input(p("bars"), "clickData"), Input({"type": p("flagged"), "key": ALL}, "n_clicks"),
        State(p("metric"), "value"), State(p("q"), "data"),
        prevent_initial_call=True,
    )
    def scatter(click, _flag_clicks, metric, q):
        trigger = ctx.triggered_id
        if isinstance(trigger, dict):
            if not ctx.triggered or not ctx.triggered[0].get("value"):
                raise PreventUpdate
            key = trigger.get("key")
        else:
            key = key_from_click(click)
        if not key or not metric:
            raise PreventUpdate
        try:
            rows = get_store().list_runs(q or "", sort="id", offset=0, limit=MAX_PAGE,
                                         columns=["id", key, metric]).rows
        except StoreError as e:
            return empty_figure(f"Cannot load runs: {e}", height=420), False
        return scatter_figure(rows, key, metric, None), False
