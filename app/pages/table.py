"""The runs table at `/`: a server-side grid over the store, with filter, columns, grouping, annotations.

`layout(**query)` rebuilds the whole view from the URL (reload, pasted links, Back/Forward);
the callbacks live in table_rows (rows, query, URL, refresh), table_columns, table_actions and table_groups.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from dash import Dash, dcc, html
from omnidash.components import table as ui
from omnidash.components.columns import Col, as_cols, default_columns
from omnidash.context import get_settings, get_store
from omnidash.pages import Page
from omnidash.pages.permissions import write_permissions
from omnidash.pages.table_rows import count_text, first_block
from omnidash.pages.table_state import (
    View,
    page_size_default,
    page_sizes,
    status_chips,
    view_from_params,
    view_to_params,
)
from omnidash.store import cache
from omnidash.store.base import StoreError, StoreUnavailable

PLOT_PREFIX = "runs-plot"
IMPORTANCE_PREFIX = "runs"
log = logging.getLogger(__name__)


def base_path() -> str:
    prefix = get_settings().url_prefix or "/"
    return prefix if prefix.endswith("/") else prefix + "/"


def default_page_size() -> int:
    """Rows per block when the URL names none: the source's `page_size` setting (Omniboard's initial_fetch_size)."""
    return page_size_default(get_settings().page_size)


def export_href(view: View, visible: list[str]) -> str:
    """The API's CSV of the current query, sort and columns."""
    params = {"q": view.q, "sort": ",".join(view.sort), "columns": ",".join(visible)}
    return base_path() + "api/runs.csv?" + urlencode(params)


def value_columns(visible: list[str], known: list[Col]) -> list[str]:
    """The numeric summary columns that grouping aggregates: metric columns and the result."""
    kinds = {c.name: c for c in known}
    out = []
    for name in visible:
        c = kinds.get(name)
        if name == "result" or (c and c.kind in {"metric", "custom"}):
            out.append(name)
    return out


def listed_columns(store: Any, known: list[Col], query: str) -> list[Col]:
    """The columns with `varies` taken among the runs the query lists (the default columns show the config keys
    that differ among them); without a query, or with fewer than two runs listed, the store's own."""
    config = [c.name for c in known if c.kind == "config"]
    if not query or not config:
        return known
    try:
        varies = cache.listed_varies(store, query, config)
    except StoreError:  # a bad query: the filter bar reports it
        return known
    if varies is None:
        return known
    return [replace(c, varies=varies.get(c.name, c.varies)) if c.kind == "config" else c for c in known]


def config_keys(known: list[Col], varying_only: bool = False) -> list[str]:
    return [c.name for c in known if c.kind == "config" and (c.varies or not varying_only)]


def group_options(known: list[Col]) -> list[str]:
    """What the table can group by: the experiment, the config keys, then every other column but the id."""
    config = config_keys(known)
    rest = [c.name for c in known if c.kind != "config" and c.name not in ("id", "experiment")]
    return ["experiment", *config, *rest]


def metric_names(known: list[Col]) -> list[str]:
    from omnidash.store.rows import parse_metric_column

    names: list[str] = []
    for c in known:
        parsed = parse_metric_column(c.name) if c.kind == "metric" else None
        if parsed and parsed[1] not in names:
            names.append(parsed[1])
    return names


def plot_panel(run_ids: list[Any], query: str = "") -> Any:
    """The metric plot panel of the selection (built by the plots page), or a note when it is missing;
    under it, "Which settings matter" over the runs of the filter (closed until opened)."""
    try:
        from omnidash.pages.importance_panel import importance_section
        from omnidash.pages.plot_panel import plot_panel_layout

        return html.Div([plot_panel_layout(PLOT_PREFIX, run_ids), importance_section(IMPORTANCE_PREFIX, query,
                                                                                   open_=False)])
    except Exception:  # noqa: BLE001 - the table must render even when the plot panel cannot
        log.exception("the metric plot panel failed to build")
        return html.Div([dcc.Store(id=f"{PLOT_PREFIX}-runs", data=list(run_ids)),
                         html.P("The metric plot panel is unavailable.", className="hint plots-placeholder")])


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
    links = [{"name": v.get("name"), "href": base_path() + view_search(v.get("state") or {})} for v in views]
    preload = None if view.group else first_block(view, visible)
    return ui.table_page(
        view=view.to_dict(),
        visible=visible,
        known=known,
        query_statuses=status_chips(view.q),
        config_keys=config_keys(known),
        group_options=group_options(known),
        metric_names=metric_names(known),
        value_columns=value_columns(visible, known),
        views=links,
        export_href=export_href(view, visible),
        timezone=settings.timezone,
        base_path=base_path(),
        refresh_seconds=float(settings.refresh_interval or 0),
        read_only=bool(settings.read_only or getattr(store, "read_only", False)),
        permissions=write_permissions(store, settings),
        pinned=view.pinned(),
        plots=plot_panel([], view.q),
        default_page_size=default_ps,
        page_sizes=page_sizes(default_ps),
        preload=preload,
        count=count_text(preload["total"], view.q) if preload else "…",
    )


def view_search(state: dict[str, Any]) -> str:
    """The query string of a saved view's state, defaults (this source's page size too) left out."""
    params = view_to_params(View.from_dict(state), default_page_size())
    return ("?" + urlencode(params)) if params else ""


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
    from omnidash.pages import table_actions, table_columns, table_groups, table_rows

    table_rows.register(app, layout)
    table_columns.register(app)
    table_actions.register(app)
    table_groups.register(app)
    from dash import Input
    from omnidash.pages.importance_panel import register_importance_panel

    register_importance_panel(app, IMPORTANCE_PREFIX, query=Input(ui.VIEW, "data"),
                              query_of=lambda view: (view or {}).get("q", ""), starts_closed=True)
    try:
        from omnidash.pages.plot_panel import register_plot_panel
    except ImportError:
        return
    register_plot_panel(app, PLOT_PREFIX)


PAGE = Page(name="table", path="/", layout=layout, register=register, title="Runs", nav=True)
