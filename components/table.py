"""Layout builders for the runs table page: toolbar, grids, column picker, bulk bar, dialogs.

Pure layout: everything a builder needs is passed in; nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_ag_grid as dag
from dash import dcc, html

from omnidash.components.columns import (
    DEFAULT_WIDTH,
    MIN_WIDTH,
    Col,
    column_defs,
    grouped_column_defs,
    header_name,
)
from omnidash.components.filter_bar import filter_bar
from omnidash.core import summaries as stats

GRID = "tbl-grid"
GROUP_GRID = "tbl-groups"
VIEW = "tbl-view"  # the committed view (query, sort, cols, pin, group, ps, w) mirrored in the URL
DEFAULTS = "tbl-defaults"  # what the URL leaves out: {"ps": the source's default page size}
VISIBLE = "tbl-visible"  # the resolved list of visible columns
REFRESH = "tbl-refresh"  # bumping it purges the grid's row cache
SOFT_REFRESH = "tbl-soft-refresh"  # bumping it re-fetches the loaded blocks in place
POPSTATE = "tbl-popstate"
COUNT = "tbl-count"
BASELINE = "tbl-baseline"  # the total when rows were last loaded (for "N new runs")
NEW_RUNS = "tbl-new-runs"
INTERVAL = "tbl-interval"
RETRY = "tbl-retry"
TAGS_WANTED = "tbl-tags-wanted"  # set by assets/table.js when a tag input is first used: the tag list is read then
BANNER = "tbl-banner"
MESSAGE = "tbl-message"
TAG_OPTIONS = "tbl-tag-options"
GRID_BOX = "tbl-grid-box"
GROUP_BOX = "tbl-group-box"
LAST_UPDATE = "tbl-last-update"
RUNNING_IDS = "tbl-running-ids"
RUNNING_ROWS = "tbl-running-rows"
PRELOAD = "tbl-preload"  # the first block of rows, sent with the layout or a filter (used once, by table.js)
ROWS_REQUEST = "tbl-rows-request"  # the grid's block requests that the server answers
COLUMN_STATE = "tbl-column-state"  # the grid's columnState when columns moved, were resized or pinned
COLUMN_STATE_LAST = "tbl-column-state-last"  # order, pins and widths the grid last reported
# columns and grouping
PICKER = "tbl-picker"
PICKER_TOGGLE = "tbl-picker-toggle"
PICKER_SEARCH = "tbl-picker-search"
PICKER_VARYING = "tbl-picker-varying"
PICKER_LIST = "tbl-picker-list"
PICKER_PINNED = "tbl-picker-pinned"
PICKER_RESET = "tbl-picker-reset"
CUSTOM_NAME, CUSTOM_PATH, CUSTOM_ADD = "tbl-custom-name", "tbl-custom-path", "tbl-custom-add"
METRIC_NAME, METRIC_METRIC, METRIC_EXTREMA, METRIC_LASTN, METRIC_ADD = (
    "tbl-metric-name", "tbl-metric-metric", "tbl-metric-extrema", "tbl-metric-lastn", "tbl-metric-add")
PICKER_MESSAGE = "tbl-picker-message"
GROUP_KEYS = "tbl-group-keys"
GROUP_SEEDS = "tbl-group-seeds"
GROUP_EXPANDED = "tbl-group-expanded"
GROUP_TOGGLE = "tbl-group-toggle"  # {"toggle": group key}: a group row's toggle was clicked
PAGE_SIZE = "tbl-page-size"
# views and export
VIEWS_MENU = "tbl-views"
VIEW_NAME = "tbl-view-name"
VIEW_SAVE = "tbl-view-save"
VIEW_DELETE = "tbl-view-delete"
VIEW_LIST = "tbl-view-list"
VIEW_LINK = "tbl-view-link"  # pattern id type
EXPORT = "tbl-export"
# selection and bulk actions
SELECTION_INFO = "tbl-selection-info"
SELECT_ALL = "tbl-select-all"
BULK_TAG = "tbl-bulk-tag"
BULK_ADD = "tbl-bulk-add"
BULK_REMOVE = "tbl-bulk-remove"
BULK_DELETE = "tbl-bulk-delete"
COMPARE = "tbl-compare"
CLEAR_SELECTION = "tbl-clear-selection"
DELETE_DIALOG = "tbl-delete-dialog"
DELETE_LIST = "tbl-delete-list"
DELETE_CONFIRM = "tbl-delete-confirm"
DELETE_CANCEL = "tbl-delete-cancel"
DELETE_TARGET = "tbl-delete-target"
PLOTS = "tbl-plots"
PLOT_SLOT = "tbl-plot-slot"  # the selected runs' metric plot panel, added by the first selection



def extrema_options() -> list[dict[str, str]]:
    """The menu of an Omniboard metric column's statistic: every registry entry Omniboard has a word for."""
    return [{"label": s.words(), "value": s.omniboard} for s in stats.STATISTICS.values() if s.omniboard]


def runs_grid(visible: Sequence[str], known: Sequence[Col], sort: Sequence[str], pinned: Sequence[str],
              page_size: int, timezone: str, base_path: str, read_only: bool,
              widths: dict[str, int] | None = None) -> dag.AgGrid:
    """The infinite-row-model grid: rows come page by page from the store."""
    defs = column_defs(visible, known, timezone, base_path, pinned, widths, read_only)
    order = {}
    for i, key in enumerate(sort):
        order[key.lstrip("+-")] = ("desc" if key.startswith("-") else "asc", i)
    for d in defs:
        if d["colId"] in order:
            d["sort"], d["sortIndex"] = order[d["colId"]]
    return dag.AgGrid(
        id=GRID,
        rowModelType="infinite",
        columnDefs=grouped_column_defs(defs, known),
        defaultColDef={"minWidth": MIN_WIDTH, "width": DEFAULT_WIDTH, "cellDataType": False},
        getRowId="omniRowId(params)",
        filterModel={},
        dashGridOptions={
            "theme": {"function": "omniGridTheme(themeQuartz)"},
            "cacheBlockSize": page_size,
            "maxBlocksInCache": 20,
            "infiniteInitialRowCount": 1,
            "blockLoadDebounceMillis": 30,
            "getRowClass": {"function": "omniRunsRowClass(params)"},  # answers requests from tbl-preload
            "rowSelection": {"mode": "multiRow", "checkboxes": True, "headerCheckbox": False,
                             "enableClickSelection": False},
            "suppressFieldDotNotation": True,
            # AG Grid draws the columns and rows in view (+2 rows): every cell is a React component, and drawing
            # all columns and 10 extra rows cost a first visit ~9% (benchmarks/ab.py, 16 visits a side)
            "rowBuffer": 2,
            "tooltipShowDelay": 400,
            "stopEditingWhenCellsLoseFocus": True,
            "multiSortKey": "ctrl",
            "localeText": {"noRowsToShow": "No runs match this filter."},
            "groupHeaderHeight": 26,
            "selectionColumnDef": {"pinned": "left", "width": 44, "minWidth": 44, "maxWidth": 44,
                                   "resizable": False, "suppressHeaderMenuButton": True},
            "suppressDragLeaveHidesColumns": True,
        },
        className="runs-grid",
        style={"height": "100%", "width": "100%"},
    )


def group_column_defs(keys: Sequence[str], value_columns: Sequence[str], known: Sequence[Col],
                      base_path: str) -> list[dict[str, Any]]:
    """Group grid columns: the run count (with the expand toggle), the key values, mean ± std per metric."""
    by_name = {c.name: c for c in known}
    defs: list[dict[str, Any]] = [
        {"colId": "n", "field": "n", "headerName": "Runs", "width": 120, "pinned": "left",
         "cellRenderer": "GroupToggleCell", "cellRendererParams": {"basePath": base_path}, "sortable": True},
    ]
    for k in keys:
        defs.append({"colId": k, "field": k, "headerName": header_name(by_name.get(k) or Col(k)),
                     "headerTooltip": k, "valueFormatter": {"function": "omniFormatValue(params.value)"},
                     "sortable": True})
    for c in value_columns:
        label = header_name(by_name.get(c) or Col(c, "metric"))
        mean, std = f"mean:{c}", f"std:{c}"
        defs.append({"colId": mean, "field": mean, "headerName": f"{label} (mean ± std)", "headerTooltip": c,
                     "valueFormatter": {"function": f"omniMeanStd(params.value, params.data[{std!r}])"},
                     "type": "rightAligned", "sortable": True, "width": 210})
    return defs


def group_grid(keys: Sequence[str], value_columns: Sequence[str], known: Sequence[Col],
               base_path: str, rows: Sequence[dict[str, Any]] = ()) -> dag.AgGrid:
    """Client-side grid of groups: n and mean ± std per metric column, runs shown under a group on demand.
    The page holds it only once grouped (table_groups adds it): a hidden grid cost every first visit ~70 ms of
    Chromium's main thread."""
    defs = group_column_defs(keys, value_columns, known, base_path)
    return dag.AgGrid(
        id=GROUP_GRID,
        rowData=list(rows),
        columnDefs=defs,
        defaultColDef={"resizable": True, "minWidth": 80, "cellDataType": False},
        getRowId="omniGroupRowId(params)",
        dashGridOptions={
            "theme": {"function": "omniGridTheme(themeQuartz)"},
            "suppressFieldDotNotation": True,
            "postSortRows": {"function": "omniKeepRunsUnderGroups(params)"},
            "getRowClass": {"function": "omniRunRowClass(params)"},
            "localeText": {"noRowsToShow": "No runs match this filter."},
        },
        className="runs-grid group-grid",
        style={"height": "100%", "width": "100%"},
    )


def column_picker(config_keys: Sequence[str], metric_names: Sequence[str], pinned: Sequence[str],
                  visible: Sequence[str], read_only: bool, varying: bool = True, refused: str = "") -> html.Div:
    """The column picker panel (hidden until the Columns button opens it). Without the right to add shared
    columns the add forms stay in the page (the column callback listens to them) but hidden, with a hint."""
    add_forms = [
        html.Details([
            html.Summary("Add a custom column (a document path, shared with Omniboard)"),
            html.Div([
                dcc.Input(id=CUSTOM_NAME, placeholder="header, e.g. val_loss", className="small-input"),
                dcc.Input(id=CUSTOM_PATH, placeholder="path, e.g. info.val_loss", className="small-input"),
                html.Button("Add", id=CUSTOM_ADD, className="btn"),
            ], className="form-row"),
        ]),
        html.Details([
            html.Summary("Add a metric column (shared with Omniboard)"),
            html.Div([
                dcc.Input(id=METRIC_NAME, placeholder="header, e.g. best_acc", className="small-input"),
                dcc.Dropdown(id=METRIC_METRIC, options=list(metric_names), placeholder="metric",
                             className="small-dropdown"),
                dcc.Dropdown(id=METRIC_EXTREMA, options=extrema_options(),
                             value="max", clearable=False, className="small-dropdown"),
                dcc.Input(id=METRIC_LASTN, type="number", min=1, value=5, className="tiny-input",
                          placeholder="N"),
                html.Button("Add", id=METRIC_ADD, className="btn"),
            ], className="form-row"),
        ]),
    ]
    if read_only:
        add_forms = [html.P(f"Adding shared columns: {refused or 'not allowed here.'}", className="hint"),
                     html.Div(add_forms, hidden=True)]
    return html.Div(
        [
            html.Div([
                dcc.Input(id=PICKER_SEARCH, placeholder="Search columns (config keys, metrics, paths)…",
                          className="small-input picker-search", debounce=0.2),
                dcc.Checklist(id=PICKER_VARYING, options=[{"label": " only columns that vary", "value": "vary"}],
                              value=["vary"] if varying else [], className="inline-check",
                              inputStyle={"marginRight": "4px"}),
                html.Button("Default columns", id=PICKER_RESET, className="btn"),
            ], className="form-row"),
            dcc.Checklist(id=PICKER_LIST, options=[], value=list(visible), className="picker-list",
                          labelClassName="picker-item"),
            html.Div([
                html.Label("Pinned on the left", className="field-label"),
                dcc.Dropdown(id=PICKER_PINNED, options=list(visible), value=list(pinned), multi=True,
                             className="pinned-dropdown"),
            ], className="form-row"),
            html.P("Drag headers to reorder, drag their edges to resize; the order and widths are kept in the link.",
                   className="hint"),
            *add_forms,
            html.Div(id=PICKER_MESSAGE, className="picker-message", role="status"),
        ],
        id=PICKER, className="column-picker", hidden=True,
    )


def action_button(label: str, id: str, refused: str, title: str = "", className: str = "btn") -> html.Button:
    """A write button: disabled, with the reason as its tooltip, when the user cannot do it."""
    return html.Button(label, id=id, className=className, disabled=bool(refused), title=refused or title,
                       **({"aria-disabled": "true"} if refused else {}))


def bulk_bar(permissions: dict[str, str] | None = None) -> html.Div:
    """Actions on the selected runs (or on every run matching the filter); what the user's role (or a
    read-only board) cannot do stays visible but disabled, the reason in its tooltip."""
    permissions = permissions or {}
    tag_refused, delete_refused = permissions.get("bulk_tags", ""), permissions.get("delete", "")
    write = [
        html.Span(dcc.Input(id=BULK_TAG, placeholder="tag", className="small-input tag-input",
                            list="tbl-tag-datalist", disabled=bool(tag_refused)), title=tag_refused),
        action_button("Add tag", BULK_ADD, tag_refused, "Add this tag to the selected runs"),
        action_button("Remove tag", BULK_REMOVE, tag_refused, "Remove this tag from the selected runs"),
        action_button("Delete…", BULK_DELETE, delete_refused, "Delete the selected runs", "btn btn-danger"),
    ]
    return html.Div(
        [
            html.Span("No runs selected", id=SELECTION_INFO, className="selection-info"),
            dcc.Checklist(id=SELECT_ALL, options=[{"label": " all runs matching the filter", "value": "all"}],
                          value=[], className="inline-check"),
            *write,
            html.Button("Compare", id=COMPARE, className="btn btn-primary", disabled=True,
                        title="Select two or more runs"),
            html.Button("Clear selection", id=CLEAR_SELECTION, className="btn"),
            html.Datalist(id="tbl-tag-datalist", children=[]),
        ],
        className="bulk-bar",
    )


def delete_dialog() -> html.Div:
    return html.Div(
        html.Div(
            [
                html.H3("Delete runs"),
                html.Div(id=DELETE_LIST, className="delete-list"),
                html.Div([
                    html.Button("Cancel", id=DELETE_CANCEL, className="btn"),
                    html.Button("Delete for good", id=DELETE_CONFIRM, className="btn btn-danger-solid"),
                ], className="dialog-buttons"),
            ],
            className="dialog",
            role="dialog",
            **{"aria-modal": "true", "aria-label": "Confirm delete"},
        ),
        id=DELETE_DIALOG, className="dialog-backdrop", hidden=True,
    )


def views_menu(views: Sequence[dict[str, Any]], base_path: str, read_only: bool | str) -> html.Details:
    """Saved views: links that open them, and a form to save the current one (`read_only`: why not)."""
    form = html.Div([
        dcc.Input(id=VIEW_NAME, placeholder="name this view", className="small-input"),
        html.Button("Save", id=VIEW_SAVE, className="btn"),
    ], className="form-row", hidden=bool(read_only))
    why = read_only if isinstance(read_only, str) and read_only else "Not allowed here."
    return html.Details(
        [
            html.Summary("Views", className="btn"),
            html.Div(
                [
                    html.Div(view_links(views, base_path, not read_only), id=VIEW_LIST, className="view-list"),
                    form,
                    *([html.P(f"Saving views: {why}", className="hint")] if read_only else []),
                ],
                className="menu-panel",
            ),
        ],
        id=VIEWS_MENU, className="menu",
    )


def view_links(views: Sequence[dict[str, Any]], base_path: str, deletable: bool = True) -> list:
    if not views:
        return [html.P("No saved views yet.", className="hint")]
    items = []
    for v in views:
        name = str(v.get("name"))
        items.append(html.Div([
            dcc.Link(name, href=v.get("href") or base_path, className="view-link",
                     id={"type": VIEW_LINK, "name": name}),
            *([html.Button("×", id={"type": VIEW_DELETE, "name": name}, className="icon-btn",
                           title=f"Delete {name}")] if deletable else []),
        ], className="view-item"))
    return items


def toolbar(page_size: int, page_sizes: Sequence[int], group_keys: Sequence[str], group_options: Sequence[str],
            views: Sequence[dict], export_href: str, base_path: str, refresh_seconds: float,
            read_only: bool | str, count: str = "…") -> html.Div:
    return html.Div(
        [
            html.Span(count, id=COUNT, className="run-count", role="status", **{"aria-live": "polite"}),
            html.Button("", id=NEW_RUNS, className="btn new-runs", hidden=True),
            html.Button("Columns", id=PICKER_TOGGLE, className="btn"),
            html.Div([
                html.Label("Group by", className="field-label", htmlFor=GROUP_KEYS),
                dcc.Dropdown(id=GROUP_KEYS, options=list(dict.fromkeys([*group_options, *group_keys])),
                             value=list(group_keys), multi=True, placeholder="experiment, config keys…",
                             className="group-dropdown"),
                html.Button("Group over seeds", id=GROUP_SEEDS, className="btn",
                            title="Group by every config key that varies, except seed"),
            ], className="group-controls"),
            views_menu(views, base_path, read_only),
            html.A("Export CSV", id=EXPORT, href=export_href, className="btn", download="runs.csv"),
            html.Div([
                html.Label("Rows per block", className="field-label", htmlFor=PAGE_SIZE),
                dcc.Dropdown(id=PAGE_SIZE, options=list(page_sizes), value=page_size, clearable=False,
                             className="tiny-dropdown"),
            ], className="page-size"),
            html.Span("", id=LAST_UPDATE, className="last-update",
                      title=f"auto-refresh every {refresh_seconds:g} s" if refresh_seconds else "auto-refresh off"),
        ],
        className="table-toolbar",
    )


def stores(view: dict[str, Any], visible: Sequence[str], refresh_ms: int, default_page_size: int,
           preload: dict[str, Any] | None = None) -> list:
    return [
        dcc.Store(id=PRELOAD, data=preload),
        dcc.Store(id=ROWS_REQUEST),
        dcc.Store(id=COLUMN_STATE),
        dcc.Store(id=COLUMN_STATE_LAST),
        dcc.Store(id=VIEW, data=view),
        dcc.Store(id=DEFAULTS, data={"ps": default_page_size}),
        dcc.Store(id=VISIBLE, data=list(visible)),
        dcc.Store(id=REFRESH, data=0),
        dcc.Store(id=SOFT_REFRESH, data=0),
        dcc.Store(id=POPSTATE),
        dcc.Store(id=BASELINE, data=preload["total"] if preload else None),
        dcc.Store(id=TAG_OPTIONS, data=[]),
        dcc.Store(id=GROUP_EXPANDED, data=[]),
        dcc.Store(id=GROUP_TOGGLE),
        # no `data=None`: a memory Store given null sets its data (to undefined) as it mounts, which fires
        # the callbacks it feeds (the running rows' server callback, at every page load)
        dcc.Store(id=DELETE_TARGET),
        dcc.Store(id=RUNNING_IDS),
        dcc.Store(id=RUNNING_ROWS),
        dcc.Interval(id=INTERVAL, interval=max(refresh_ms, 1000), disabled=refresh_ms <= 0),
        dcc.Interval(id=RETRY, interval=3000, disabled=True),
        dcc.Store(id=TAGS_WANTED),
    ]


def table_page(*, view: dict[str, Any], visible: Sequence[str], known: Sequence[Col], query_statuses: list[str],
               config_keys: Sequence[str], metric_names: Sequence[str], value_columns: Sequence[str],
               views: Sequence[dict], export_href: str, timezone: str, base_path: str, refresh_seconds: float,
               read_only: bool, plots: Any, default_page_size: int, page_sizes: Sequence[int],
               group_options: Sequence[str] | None = None, pinned: Sequence[str] = (),
               permissions: dict[str, str] | None = None, preload: dict[str, Any] | None = None,
               groups: Sequence[dict[str, Any]] = (), message: str | None = None, count: str = "…") -> html.Div:
    """The whole runs page (`group_options`: the columns grouping offers, default the config keys; `read_only`:
    no inline edits; `permissions`: why each write is refused; `preload`: the first block of rows; `groups`: the
    group grid's rows of a grouped view; `message`: a note to show at once)."""
    permissions = permissions or {}
    read_only = read_only or bool(permissions.get("tags"))
    grouping = bool(view.get("group"))
    page_size = view.get("ps") or default_page_size
    widths = {str(name): int(px) for name, px in view.get("w") or []}
    return html.Div(
        [
            *stores(view, visible, int(refresh_seconds * 1000), default_page_size, preload),
            html.Div(id=BANNER, className="tbl-banner", hidden=True, role="alert"),
            filter_bar(view.get("q") or "", query_statuses),
            toolbar(page_size, page_sizes, view.get("group") or [],
                    config_keys if group_options is None else group_options, views, export_href, base_path,
                    refresh_seconds, permissions.get("views") or read_only, count),
            column_picker(config_keys, metric_names, pinned, visible, bool(permissions.get("columns")) or read_only,
                          view.get("varying") is not False, permissions.get("columns", "")),
            bulk_bar(permissions),
            html.Div(message, id=MESSAGE, className="tbl-message", role="status", **{"aria-live": "polite"}),
            html.Div(
                runs_grid(visible, known, view.get("sort") or ["-id"], pinned,
                          page_size, timezone, base_path, read_only, widths),
                id=GRID_BOX, className="grid-box", hidden=grouping,
            ),
            html.Div(
                group_grid(view["group"], value_columns, known, base_path, groups) if grouping else [],
                id=GROUP_BOX, className="grid-box", hidden=not grouping,
            ),
            delete_dialog(),
            html.Div(plots, id=PLOTS, className="table-plots"),
        ],
        className="page table-page",
    )
