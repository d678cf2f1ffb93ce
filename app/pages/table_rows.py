"""Runs table callbacks: rows from the store, the filter query, URL state, refresh and outages."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from omnidash.components import filter_bar as fb
from omnidash.components import table as ui
from omnidash.components.columns import as_cols, default_columns
from omnidash.components.text import plural
from omnidash.context import get_settings, get_store
from omnidash.core.status import STATUSES
from omnidash.pages.table_columns import followed_columns
from omnidash.pages.table_state import (
    View,
    filter_model_to_query,
    merge_query,
    sort_from_model,
    status_chips,
    toggle_status,
)
from omnidash.pages.table_suggest import suggestions
from omnidash.pages.table_view import export_href, search_of, table_js
from omnidash.store import cache
from omnidash.store.base import StoreError, StoreUnavailable
from omnidash.store.query import quote

EMPTY = {"rowData": [], "rowCount": 0}
ALWAYS_FETCHED = ("id", "status")


def fetch_columns(visible: list[str] | None) -> list[str]:
    """The visible columns plus what the page itself needs (ids for links, status for refresh)."""
    cols = list(visible or [])
    return [*[c for c in ALWAYS_FETCHED if c not in cols], *cols]


def first_block(view: View, visible: list[str]) -> dict[str, Any] | None:
    """The grid's first block of rows for `view`, shipped with the layout (or with a new filter): the grid's
    next first-block request is answered in the browser (assets/table.js `firstRows`) when its sort is this
    one, so the rows need no callback of their own. None when the store fails (the rows callback then
    shows why)."""
    try:
        return list_first_block(view, visible)
    except StoreError:
        return None


def block_sort(view: View) -> list[str]:
    """The view's sort as the store and assets/table.js `firstRows` name it (the newest first by default)."""
    return [("-" if k.startswith("-") else "") + k.lstrip("+-") for k in view.sort] or ["-id"]


def list_first_block(view: View, visible: list[str]) -> dict[str, Any]:
    """`first_block`, raising the store's errors (a bad query, the database down)."""
    sort = block_sort(view)
    page = get_store().list_runs(view.q, sort, 0, view.ps, fetch_columns(visible))
    return {"rows": page.rows, "total": page.total, "sort": sort, "end": view.ps}


def filtered_first_block(view: View, visible: list[str] | None) -> tuple[tuple[list[str], list[dict]] | None,
                                                                        dict[str, Any]]:
    """A new filter's columns (`followed_columns`: None when they stay) and first block of rows, raising the
    store's errors. On the default columns the block's columns depend on which config keys vary among the runs
    listed (a read of its own); both reads go at once, the block with every column it could need."""
    if view.cols is not None:
        return None, list_first_block(view, visible or [])
    store = get_store()
    known = as_cols(cache.column_infos(store))
    config = [c.name for c in known if c.kind == "config"]
    wanted = list(dict.fromkeys([*fetch_columns(visible), *config, *default_columns(known, False)]))
    sort = block_sort(view)
    with ThreadPoolExecutor(1) as pool:  # the store's reads are thread-safe; no Flask context is needed
        varies = pool.submit(cache.listed_varies, store, view.q, config)
        page = store.list_runs(view.q, sort, 0, view.ps, wanted)
        with suppress(StoreError):  # a bad query has failed the listing already
            varies.result()
    followed = followed_columns(view, visible)
    shown = fetch_columns(followed[0] if followed else visible)
    if not set(shown) <= set(wanted):  # not expected: the defaults are among `wanted`
        return followed, list_first_block(view, followed[0] if followed else visible or [])
    rows = [{k: r[k] for k in shown if k in r} for r in page.rows]
    return followed, {"rows": rows, "total": page.total, "sort": sort, "end": view.ps}


def count_text(total: int, query: str) -> str:
    runs = plural(total, "run")
    if query:
        return f"{runs} match" if total != 1 else f"{runs} matches"
    return runs


def banner(error: Exception) -> list:
    return [html.Strong("The database cannot be reached. "), html.Span(str(error)),
            html.Span(" Retrying every few seconds…", className="retrying")]


def query_error(e: Exception, query: str) -> list:
    return fb.error_view(str(e), query, getattr(e, "position", None))


def answers_or_wait() -> None:
    """Go on when the database answers a ping; else no update (the retry timer asks again)."""
    try:
        get_store().ping()
    except StoreError:
        raise PreventUpdate from None


def register(app: Dash, layout: Callable[..., Any]) -> None:
    def layout_of(search: str) -> Any:
        """The page for a URL's query string (Back/Forward, the database back)."""
        return layout(**dict(parse_qsl(search.lstrip("?"))))

    @app.callback(
        Output(ui.GRID, "getRowsResponse"),
        Output(ui.COUNT, "children"),
        Output(ui.VIEW, "data", allow_duplicate=True),
        Output(ui.BASELINE, "data"),
        Output(ui.BANNER, "children"),
        Output(ui.BANNER, "hidden"),
        Output(ui.RETRY, "disabled"),
        Input(ui.ROWS_REQUEST, "data"),
        State(ui.VIEW, "data"),
        State(ui.VISIBLE, "data"),
        prevent_initial_call=True,
    )
    def rows(request: dict | None, view: dict, visible: list[str]):
        """One block of rows for the infinite grid: store.list_runs(query, sort, offset, limit, columns)."""
        if not request:
            raise PreventUpdate
        v = View.from_dict(view)
        sort = sort_from_model(request.get("sortModel"))
        start = max(0, int(request.get("startRow") or 0))
        end = max(start + 1, int(request.get("endRow") or start + v.ps))
        try:
            page = get_store().list_runs(v.q, sort, start, end - start, fetch_columns(visible))
        except StoreUnavailable as e:
            return EMPTY, "—", no_update, no_update, banner(e), False, False
        except StoreError as e:
            return EMPTY, f"Cannot list runs: {e}", no_update, no_update, no_update, no_update, no_update
        new_view = no_update if sort == v.sort else {**view, "sort": sort}
        baseline = page.total if start == 0 else no_update
        return ({"rowData": page.rows, "rowCount": page.total}, count_text(page.total, v.q), new_view, baseline,
                [], True, True)

    @app.callback(
        Output(ui.VIEW, "data", allow_duplicate=True),
        Output(fb.QUERY_INPUT, "value"),
        Output(fb.QUERY_ERROR, "children"),
        Output(ui.REFRESH, "data", allow_duplicate=True),
        Output({"type": fb.CHIP, "status": ALL}, "className"),
        Output(ui.GRID, "filterModel"),
        Output(ui.COUNT, "children", allow_duplicate=True),
        Output(ui.PRELOAD, "data", allow_duplicate=True),
        Output(ui.BASELINE, "data", allow_duplicate=True),
        Output(ui.VISIBLE, "data", allow_duplicate=True),
        Output(ui.GRID, "columnDefs", allow_duplicate=True),
        Output(ui.PICKER_LIST, "value", allow_duplicate=True),
        Input(fb.QUERY_SUBMIT, "data"),
        Input(fb.QUERY_CLEAR, "n_clicks"),
        Input({"type": fb.CHIP, "status": ALL}, "n_clicks"),
        Input(ui.GRID, "filterModel"),
        State(fb.QUERY_INPUT, "value"),
        State(ui.VIEW, "data"),
        State(ui.REFRESH, "data"),
        State(ui.VISIBLE, "data"),
        prevent_initial_call=True,
    )
    def apply_query(submitted, _clear, _chips, filter_model, text, view, token, visible):
        """Filter bar, chips and the grid's column filters all end up as one query string. The reply
        carries the new first block of rows (the grid's reload is answered from it, in the browser) and, for
        a view on the default columns, the columns that vary among the runs listed: one round trip."""
        trigger = ctx.triggered_id
        text = (text or "").strip()
        reset_model: Any = no_update
        if trigger == fb.QUERY_SUBMIT:
            text = str((submitted or {}).get("text") or "").strip()
        elif trigger == fb.QUERY_CLEAR:
            text = ""
        elif isinstance(trigger, dict) and trigger.get("type") == fb.CHIP:
            if not ctx.triggered or not ctx.triggered[0].get("value"):
                raise PreventUpdate
            text = toggle_status(text, trigger["status"])
        elif trigger == ui.GRID:
            extra = filter_model_to_query(filter_model)
            if not extra:
                raise PreventUpdate
            text = merge_query(text, extra)
            reset_model = {}
        chip_classes = [("chip chip-active" if s in status_chips(text) else "chip") for s in STATUSES]
        new_view = {**view, "q": text}
        unchanged = (no_update,) * 3
        try:
            followed, block = filtered_first_block(View.from_dict(new_view), visible)
        except StoreUnavailable as e:
            return no_update, text, fb.error_view(f"The database cannot be reached: {e}"), no_update, \
                chip_classes, reset_model, no_update, no_update, no_update, *unchanged
        except StoreError as e:
            return no_update, text, query_error(e, text), no_update, chip_classes, reset_model, no_update, \
                no_update, no_update, *unchanged
        columns = (followed[0], followed[1], followed[0]) if followed else unchanged
        return new_view, text, [], (token or 0) + 1, chip_classes, reset_model, count_text(block["total"], text), \
            block, block["total"], *columns

    # The grid's requests: the first one is answered from the block the layout carries, the others here.
    table_js(app, "firstRows", Output(ui.GRID, "getRowsResponse", allow_duplicate=True),
             Output(ui.ROWS_REQUEST, "data"), Output(ui.PRELOAD, "data"), Input(ui.GRID, "getRowsRequest"),
             State(ui.PRELOAD, "data"), prevent_initial_call=True)

    # Enter and Apply read the input's text in the browser: its `value` prop lags behind (debounced).
    app.clientside_callback(
        """function(a, b) {
            var el = document.getElementById('tbl-query');
            return {text: el ? el.value : '', t: Date.now()};
        }""",
        Output(fb.QUERY_SUBMIT, "data"),
        Input(fb.QUERY_APPLY, "n_clicks"),
        Input(fb.QUERY_INPUT, "n_submit"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(fb.SUGGESTIONS, "children"),
        Input(fb.QUERY_INPUT, "value"),
        prevent_initial_call=True,
    )
    def suggest(text: str | None):
        store = get_store()
        try:
            names = cache.column_names(store)
            options = suggestions(text or "", names, lambda c: cache.distinct(store, c))
        except StoreError:
            return []
        return [html.Option(value=o) for o in options]

    # URL state: committed views go to the address bar; Back/Forward re-render the page from it.
    table_js(app, "pushUrl", Input(ui.VIEW, "data"),
             State(ui.DEFAULTS, "data"))
    table_js(app, "purge", Input(ui.REFRESH, "data"),
             prevent_initial_call=True)
    table_js(app, "softRefresh", Input(ui.SOFT_REFRESH, "data"),
             prevent_initial_call=True)

    @app.callback(
        Output("page-content", "children", allow_duplicate=True),
        Input(ui.POPSTATE, "data"),
        prevent_initial_call=True,
    )
    def restore_from_history(data: dict | None):
        if not data:
            raise PreventUpdate
        return layout_of(str(data.get("search") or ""))

    @app.callback(
        Output("page-content", "children", allow_duplicate=True),
        Input("tbl-offline-retry", "n_intervals"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def retry_offline_page(_n, search: str | None):
        answers_or_wait()
        return layout_of(search or "")

    @app.callback(
        Output(ui.BANNER, "hidden", allow_duplicate=True),
        Output(ui.RETRY, "disabled", allow_duplicate=True),
        Output(ui.REFRESH, "data", allow_duplicate=True),
        Input(ui.RETRY, "n_intervals"),
        State(ui.REFRESH, "data"),
        prevent_initial_call=True,
    )
    def retry(_n, token):
        """While the banner shows, ping; once the database answers, hide it and reload the rows."""
        answers_or_wait()
        return True, True, (token or 0) + 1

    # auto-refresh: running rows update in place; new runs are announced, loaded on click
    table_js(app, "runningIds", Output(ui.RUNNING_IDS, "data"), Input(ui.INTERVAL, "n_intervals"),
             prevent_initial_call=True)

    @app.callback(
        Output(ui.RUNNING_ROWS, "data"),
        Output(ui.NEW_RUNS, "children"),
        Output(ui.NEW_RUNS, "hidden"),
        Output(ui.LAST_UPDATE, "children"),
        Output(ui.BANNER, "children", allow_duplicate=True),
        Output(ui.BANNER, "hidden", allow_duplicate=True),
        Output(ui.RETRY, "disabled", allow_duplicate=True),
        Input(ui.RUNNING_IDS, "data"),
        State(ui.VIEW, "data"),
        State(ui.VISIBLE, "data"),
        State(ui.BASELINE, "data"),
        prevent_initial_call=True,
    )
    def tick(running: dict | None, view: dict, visible: list[str], baseline: int | None):
        if not running:
            raise PreventUpdate
        store = get_store()
        v = View.from_dict(view)
        ids = (running or {}).get("ids") or []
        try:
            total = store.count(v.q)
            fresh = []
            if ids:
                q = "id in [" + ", ".join(quote(i) for i in ids) + "]"
                fresh = store.list_runs(q, ["-id"], 0, len(ids), fetch_columns(visible)).rows
        except StoreUnavailable as e:
            return no_update, no_update, no_update, no_update, banner(e), False, False
        except StoreError:
            raise PreventUpdate from None
        new = total - baseline if isinstance(baseline, int) else 0
        label = f"{plural(new, 'new run')} — show" if new > 0 else ""
        stamp = "updated " + datetime.now(UTC).astimezone(_tz()).strftime("%H:%M:%S")
        return fresh, label, new <= 0, stamp, no_update, no_update, no_update

    table_js(app, "applyRows", Input(ui.RUNNING_ROWS, "data"),
             prevent_initial_call=True)

    @app.callback(
        Output(ui.REFRESH, "data", allow_duplicate=True),
        Output(ui.NEW_RUNS, "hidden", allow_duplicate=True),
        Input(ui.NEW_RUNS, "n_clicks"),
        State(ui.REFRESH, "data"),
        prevent_initial_call=True,
    )
    def load_new_runs(n, token):
        if not n:
            raise PreventUpdate
        return (token or 0) + 1, True

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input(ui.PAGE_SIZE, "value"),
        State(ui.VIEW, "data"),
        prevent_initial_call=True,
    )
    def page_size(size, view: dict):
        """The grid's block size is fixed when it is built: a new size re-renders the page from the URL."""
        v = View.from_dict(view)
        if not size or int(size) == v.ps:
            raise PreventUpdate
        v.ps = int(size)
        return search_of(v)

    # double-clicking a row (outside the editable tags and notes) opens the run
    table_js(app, "openRun", Input(ui.GRID, "cellDoubleClicked"),
             prevent_initial_call=True)

    @app.callback(
        Output(ui.EXPORT, "href"),
        Input(ui.VIEW, "data"),
        Input(ui.VISIBLE, "data"),
        prevent_initial_call=True,  # the layout carries the link of the view it was built for
    )
    def export_link(view: dict, visible: list[str]):
        return export_href(View.from_dict(view), visible or [])


def _tz():
    try:
        return ZoneInfo(get_settings().timezone or "UTC")
    except Exception:  # noqa: BLE001 - a bad timezone setting falls back to UTC
        return UTC
