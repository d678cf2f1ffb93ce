"""Runs table callbacks: the column picker (show, hide, pin, add shared columns) and column moves."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from app.context import get_settings, get_store
from app.pages import table_cache
from app.pages.table_state import View
from app.store.base import StoreError
from components import table as ui
from components.columns import Col, as_cols, column_defs, default_columns, header_name

MAX_PICKER_OPTIONS = 300


def picker_options(known: list[Col], visible: list[str], search: str, varying_only: bool) -> list[dict]:
    """Checklist options: the visible columns first (in order), then the matches of the search."""
    needle = (search or "").strip().lower()
    by_name = {c.name: c for c in known}

    def label(name: str) -> str:
        c = by_name.get(name)
        text = header_name(c) if c else name
        return text if text == name else f"{text}  ·  {name}"

    def matches(name: str) -> bool:
        return not needle or needle in name.lower() or needle in label(name).lower()

    options = [{"label": label(n), "value": n} for n in visible if matches(n)]
    for c in known:
        if c.name in visible or not matches(c.name):
            continue
        if varying_only and not c.varies and c.kind in {"config", "path"}:
            continue
        options.append({"label": label(c.name), "value": c.name})
        if len(options) >= MAX_PICKER_OPTIONS:
            break
    return options


def merge_checked(visible: list[str], checked: list[str], shown: list[str]) -> list[str]:
    """Unchecked shown columns go; newly checked ones are appended; columns not shown stay."""
    shown_set, checked_set = set(shown), set(checked)
    kept = [c for c in visible if c in checked_set or c not in shown_set]
    return kept + [c for c in checked if c not in kept]


def order_from_state(column_state: list[dict] | None) -> tuple[list[str], list[str], dict[str, int]]:
    """Visible column order, left-pinned columns and every visible column's width from the grid's columnState."""
    order, pinned, widths = [], [], {}
    for s in column_state or []:
        col = s.get("colId") or ""
        if not col or col.startswith("ag-Grid"):
            continue
        if s.get("hide"):
            continue
        order.append(col)
        if s.get("pinned") == "left":
            pinned.append(col)
        if s.get("width"):
            widths[col] = int(s["width"])
    return order, pinned, widths


def register(app: Dash) -> None:
    app.clientside_callback(
        "function(n, hidden) { return window.dash_clientside.omnidash_table.togglePicker(n, hidden); }",
        Output(ui.PICKER, "hidden"),
        Input(ui.PICKER_TOGGLE, "n_clicks"),
        State(ui.PICKER, "hidden"),
        prevent_initial_call=True,
    )

    # The grid reports its columnState on mount and on every sort too: only a change of order, pins or
    # widths goes to the server (a sort or the mount would hold the rows callback behind a no-op).
    app.clientside_callback(
        "function(state, last) { return window.dash_clientside.omnidash_table.columnMoves(state, last); }",
        Output(ui.COLUMN_STATE, "data"),
        Output(ui.COLUMN_STATE_LAST, "data"),
        Input(ui.GRID, "columnState"),
        State(ui.COLUMN_STATE_LAST, "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ui.PICKER_LIST, "options"),
        Output(ui.PICKER_PINNED, "options"),
        Input(ui.PICKER_SEARCH, "value"),
        Input(ui.PICKER_VARYING, "value"),
        Input(ui.VISIBLE, "data"),
        Input(ui.PICKER, "hidden"),
        prevent_initial_call=True,  # the picker starts hidden: nothing to list until it opens
    )
    def options(search: str | None, varying: list[str] | None, visible: list[str], hidden: bool):
        if hidden:
            return no_update, no_update
        try:
            known = as_cols(table_cache.column_infos(get_store()))
        except StoreError:
            raise PreventUpdate from None
        return picker_options(known, visible or [], search or "", "vary" in (varying or [])), list(visible or [])

    @app.callback(
        Output(ui.VISIBLE, "data"),
        Output(ui.VIEW, "data", allow_duplicate=True),
        Output(ui.GRID, "columnDefs"),
        Output(ui.REFRESH, "data", allow_duplicate=True),
        Output(ui.PICKER_LIST, "value"),
        Output(ui.PICKER_PINNED, "value"),
        Output(ui.PICKER_MESSAGE, "children"),
        Input(ui.PICKER_LIST, "value"),
        Input(ui.PICKER_PINNED, "value"),
        Input(ui.PICKER_RESET, "n_clicks"),
        Input(ui.COLUMN_STATE, "data"),
        Input(ui.CUSTOM_ADD, "n_clicks"),
        Input(ui.METRIC_ADD, "n_clicks"),
        State(ui.PICKER_LIST, "options"),
        State(ui.VIEW, "data"),
        State(ui.VISIBLE, "data"),
        State(ui.REFRESH, "data"),
        State(ui.CUSTOM_NAME, "value"),
        State(ui.CUSTOM_PATH, "value"),
        State(ui.METRIC_NAME, "value"),
        State(ui.METRIC_METRIC, "value"),
        State(ui.METRIC_EXTREMA, "value"),
        State(ui.METRIC_LASTN, "value"),
        prevent_initial_call=True,
    )
    def columns(checked, pinned_value, _reset, column_state, _add_custom, _add_metric, shown, view, visible,
                token, custom_name, custom_path, metric_name, metric, extrema, lastn):
        """Every column change ends as a new visible list, pinned list and colDefs (and the URL)."""
        store = get_store()
        trigger = ctx.triggered_id
        visible = list(visible or [])
        current = View.from_dict(view)
        pin, widths = list(current.pin), dict(current.w)
        message: Any = no_update
        try:
            if trigger == ui.PICKER_LIST:
                new_visible = merge_checked(visible, checked or [], [o["value"] for o in shown or []])
            elif trigger == ui.PICKER_PINNED:
                new_visible, pin = visible, [c for c in pinned_value or [] if c in visible]
            elif trigger == ui.PICKER_RESET:  # the default columns at their default widths
                new_visible, widths = default_columns(as_cols(table_cache.column_infos(store))), {}
            elif trigger == ui.COLUMN_STATE:  # a header dragged, resized or pinned: the grid shows it already
                order, pin, widths = order_from_state(column_state)
                if not order or (order == visible and pin == current.pin and View(w=widths).w == current.w):
                    raise PreventUpdate
                new_visible = order
            elif trigger == ui.CUSTOM_ADD:
                if not custom_name or not custom_path:
                    return (no_update,) * 6 + ("Give the column a name and a path.",)
                store.add_custom_column(custom_name.strip(), custom_path.strip())
                table_cache.forget(store)
                new_visible = [*visible, custom_name.strip()]
                message = f"Added column {custom_name.strip()} ({custom_path.strip()})."
            elif trigger == ui.METRIC_ADD:
                if not metric_name or not metric or not extrema:
                    return (no_update,) * 6 + ("Give the column a name, a metric and a reducer.",)
                n = max(1, int(lastn or 1))
                store.add_metric_column(metric_name.strip(), metric, extrema, n)
                table_cache.forget(store)
                new_visible = [*visible, metric_name.strip()]
                message = f"Added metric column {metric_name.strip()}."
            else:
                raise PreventUpdate
            known = as_cols(table_cache.column_infos(store))
        except StoreError as e:
            return (no_update,) * 6 + (f"Could not change columns: {e}",)
        if "id" not in new_visible:
            new_visible = ["id", *new_visible]
        default = default_columns(known)
        widths = {name: px for name, px in widths.items() if name in new_visible}
        new_view = {**view, "cols": None if new_visible == default else new_visible, "pin": pin,
                    "w": View(w=widths).to_dict()["w"]}
        settings = get_settings()
        from app.pages.table import base_path

        defs = column_defs(new_visible, known, settings.timezone, base_path(), pin, widths,
                           bool(settings.read_only or store.read_only))
        sort = {k.lstrip("+-"): ("desc" if k.startswith("-") else "asc", i) for i, k in enumerate(view.get("sort") or [])}
        for d in defs:
            if d["colId"] in sort:
                d["sort"], d["sortIndex"] = sort[d["colId"]]
        added = set(new_visible) - set(visible)
        refresh = (token or 0) + 1 if added else no_update
        if trigger == ui.COLUMN_STATE:
            same = new_visible == visible  # only widths or pins changed: nothing downstream needs to re-run
            return (no_update if same else new_visible), new_view, no_update, refresh, \
                (no_update if same else new_visible), pin, message
        return new_visible, new_view, defs, refresh, new_visible, pin, message
