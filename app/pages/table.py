"""The runs table at `/`: a server-side grid over the store, with filter, columns, grouping, annotations.

`layout(**query)` rebuilds the whole view from the URL (reload, pasted links, Back/Forward);
the callbacks live in table_rows (rows, query, URL, refresh), table_columns, table_actions and table_groups;
what they share about a view (links, page size, listed columns) in table_view.
"""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash, Input, Output, State, dcc, html, no_update, set_props
from dash.exceptions import PreventUpdate

from omnidash.components import table as ui
from omnidash.components.columns import Col, as_cols, default_columns
from omnidash.components.metric_plots import pid
from omnidash.context import get_settings, get_store
from omnidash.core.summaries import parse_column
from omnidash.pages import Page, table_actions, table_columns, table_groups, table_rows
from omnidash.pages.importance_panel import importance_section, register_importance_panel
from omnidash.pages.permissions import write_permissions
from omnidash.pages.plot_panel import plot_panel_layout, register_plot_panel
from omnidash.pages.table_actions import MAX_COMPARE, target_ids
from omnidash.pages.table_rows import count_text, first_block
from omnidash.pages.table_state import page_sizes, status_chips, view_from_params
from omnidash.pages.table_view import (
    base_path,
    default_page_size,
    export_href,
    listed_columns,
    value_columns,
    view_links,
)
from omnidash.store import cache
from omnidash.store.base import StoreError, StoreUnavailable

PLOT_PREFIX = "runs-plot"
IMPORTANCE_PREFIX = "runs"
log = logging.getLogger(__name__)


def config_keys(known: list[Col], varying_only: bool = False) -> list[str]:
    return [c.name for c in known if c.kind == "config" and (c.varies or not varying_only)]


def group_options(known: list[Col]) -> list[str]:
    """What the table can group by: the experiment, the config keys, then every other column but the id."""
    config = config_keys(known)
    rest = [c.name for c in known if c.kind != "config" and c.name not in ("id", "experiment")]
    return ["experiment", *config, *rest]


def metric_names(known: list[Col]) -> list[str]:
    names: list[str] = []
    for c in known:
        parsed = parse_column(c.name) if c.kind == "metric" else None
        if parsed and parsed[1] not in names:
            names.append(parsed[1])
    return names


def plots_section(query: str = "") -> html.Div:
    """Under the table: where the selected runs' metric plot panel goes (the first selection adds it: its
    controls, hidden behind "no runs selected", cost every first visit ~60 ms of Chromium's main thread), then
    "Which settings matter" over the runs of the filter (closed until opened)."""
    hint = html.P("Select runs in the table to plot their metrics here.", className="hint plots-placeholder")
    return html.Div([html.Div(hint, id=ui.PLOT_SLOT), importance_section(IMPORTANCE_PREFIX, query, open_=False)])


def selection_plots(run_ids: list[Any]) -> Any:
    """The metric plot panel of these runs, or a note when it cannot be built."""
    try:
        return plot_panel_layout(PLOT_PREFIX, run_ids)
    except Exception:  # noqa: BLE001 - the table must go on working when the plot panel cannot
        log.exception("the metric plot panel failed to build")
        return html.P("The metric plot panel is unavailable.", className="hint plots-placeholder")


def layout(**params: Any) -> Any:
    """The page for the view named by the URL's query parameters."""
    store, settings = get_store(), get_settings()
    default_ps = default_page_size()
    view = view_from_params(params, default_ps)
    try:
        known = as_cols(cache.column_infos(store))
        views = store.list_views()
    except StoreUnavailable as e:
        return offline_layout(str(e))
    visible = view.cols or default_columns(listed_columns(store, known, view.q), view.varying)
    if "id" not in visible:
        visible = ["id", *visible]
    view.w = {name: px for name, px in view.w.items() if name in visible}
    preload = None if view.group else first_block(view, visible)
    groups: list[dict[str, Any]] = []
    message = None
    if view.group:
        try:
            _, groups, message = table_groups.grouped(view.to_dict(), view.group, visible, known, [])
        except StoreUnavailable as e:
            return offline_layout(str(e))
        except StoreError as e:
            message = f"Cannot group: {e}"
    return ui.table_page(
        view=view.to_dict(),
        visible=visible,
        known=known,
        query_statuses=status_chips(view.q),
        config_keys=config_keys(known),
        group_options=group_options(known),
        metric_names=metric_names(known),
        value_columns=value_columns(visible, known),
        views=view_links(views),
        export_href=export_href(view, visible),
        timezone=settings.timezone,
        base_path=base_path(),
        refresh_seconds=float(settings.refresh_interval or 0),
        read_only=bool(settings.read_only or getattr(store, "read_only", False)),
        permissions=write_permissions(store, settings),
        pinned=view.pinned(),
        plots=plots_section(view.q),
        default_page_size=default_ps,
        page_sizes=page_sizes(default_ps),
        preload=preload,
        groups=groups,
        message=message,
        count=count_text(preload["total"], view.q) if preload else "…",
    )


def offline_layout(reason: str) -> html.Div:
    """The page while the database cannot be reached: a banner, and a retry every few seconds."""
    return html.Div(
        [
            html.Div([html.Strong("The database cannot be reached. "), html.Span(reason),
                      html.Span(" Retrying…", className="retrying")], className="tbl-banner", role="alert"),
            dcc.Interval(id="tbl-offline-retry", interval=3000),
            dcc.Store(id="tbl-offline-search"),
        ],
        className="page table-page",
    )


def register(app: Dash) -> None:
    @app.callback(
        Output(ui.PLOT_SLOT, "children"),
        Input(ui.GRID, "selectedRows"),
        State(pid(PLOT_PREFIX, "panel"), "id", allow_optional=True),
        prevent_initial_call=True,
    )
    def plot_selection(selected: list[dict] | None, panel: str | None):
        """The plot panel under the table shows the selected runs (the first MAX_COMPARE): the first selection
        adds the panel, later ones give it their runs."""
        ids = target_ids(selected, None, "")[:MAX_COMPARE]
        if panel is None:
            if not ids:
                raise PreventUpdate
            return selection_plots(ids)
        set_props(pid(PLOT_PREFIX, "runs"), {"data": ids})
        return no_update

    table_rows.register(app, layout)
    table_columns.register(app)
    table_actions.register(app)
    table_groups.register(app)
    register_importance_panel(app, IMPORTANCE_PREFIX, query=Input(ui.VIEW, "data"),
                              query_of=lambda view: (view or {}).get("q", ""), starts_closed=True)
    register_plot_panel(app, PLOT_PREFIX)


PAGE = Page(name="table", path="/", layout=layout, register=register, title="Runs", nav=True)
