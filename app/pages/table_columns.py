"""Runs table callbacks: the column picker (show, hide, pin, add shared columns) and column moves."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, State, ctx, no_update
from dash.exceptions import PreventUpdate

from omnidash.components import table as ui
from omnidash.components.columns import (
    Col,
    as_cols,
    column_defs,
    default_columns,
    grouped_column_defs,
    header_name,
)
from omnidash.context import get_settings, get_store
from omnidash.pages.permissions import can, write_permissions
from omnidash.pages.table_state import View, sort_to_columns
from omnidash.pages.table_view import base_path, listed_columns, table_js
from omnidash.store import cache
from omnidash.store.base import StoreError

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


def grid_column_defs(store: Any, visible: list[str], known: list[Col], sort: list[str], pinned: list[str],
                     widths: dict[str, int]) -> list[dict]:
    """The grid's columnDefs (under their group headers) for a new set of visible columns, with the view's sort;
    tags and notes are editable only for users allowed to change them."""
    settings = get_settings()
    read_only = not can(write_permissions(store, settings), "tags")
    defs = column_defs(visible, known, settings.timezone, base_path(), pinned, widths, read_only)
    order = sort_to_columns(sort)
    for d in defs:
        if d["colId"] in order:
            d["sort"], d["sortIndex"] = order[d["colId"]]
    return grouped_column_defs(defs, known)


def defaults_for(store: Any, query: str, varying_only: bool) -> list[str]:
    """The default columns of a view: the config keys that vary among the runs its query lists."""
    return default_columns(listed_columns(store, as_cols(cache.column_infos(store)), query), varying_only)


def followed_columns(view: View, visible: list[str] | None) -> tuple[list[str], list[dict]] | None:
    """A view on the default columns follows its query: the config keys that vary among the runs listed.
    (the new visible columns, their grid columnDefs), or None when they stay (own columns, no change)."""
    if view.cols is not None:
        return None
    store = get_store()
    try:
        default = defaults_for(store, view.q, view.varying)
        known = as_cols(cache.column_infos(store))
    except StoreError:
        return None
    if default == list(visible or []):
        return None
    return default, grid_column_defs(store, default, known, view.sort, view.pinned(), view.w)


def with_config_columns(visible: list[str], known: list[Col], varying_only: bool) -> list[str]:
    """The visible columns after "only columns that vary" is switched: on, config keys equal in every run go;
    off, they come in after the last config column shown."""
    config = [c for c in known if c.kind == "config" and c.name != "config.tags"]
    if varying_only:
        constant = {c.name for c in config if not c.varies}
        return [n for n in visible if n not in constant]
    added = [c.name for c in config if c.name not in visible]
    where = max((i + 1 for i, n in enumerate(visible) if n.startswith("config.")), default=min(3, len(visible)))
    return [*visible[:where], *added, *visible[where:]]


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
    table_js(app, "togglePicker", Output(ui.PICKER, "hidden"), Input(ui.PICKER_TOGGLE, "n_clicks"),
             State(ui.PICKER, "hidden"), prevent_initial_call=True)

    # The grid reports its columnState on mount and on every sort too: only a change of order, pins or
    # widths goes to the server (a sort or the mount would hold the rows callback behind a no-op).
    table_js(app, "columnMoves", Output(ui.COLUMN_STATE, "data"), Output(ui.COLUMN_STATE_LAST, "data"),
             Input(ui.GRID, "columnState"), State(ui.COLUMN_STATE_LAST, "data"), prevent_initial_call=True)

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
            known = as_cols(cache.column_infos(get_store()))
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
        Input(ui.PICKER_VARYING, "value"),
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
    def columns(checked, pinned_value, _reset, column_state, _add_custom, _add_metric, varying_value, shown, view,
                visible, token, custom_name, custom_path, metric_name, metric, extrema, lastn):
        """Every column change ends as a new visible list, pinned list and colDefs (and the URL)."""
        store = get_store()
        trigger = ctx.triggered_id
        visible = list(visible or [])
        current = View.from_dict(view)
        pin, widths, varying = current.pinned(), dict(current.w), current.varying
        message: Any = no_update
        try:
            if trigger == ui.PICKER_LIST:
                new_visible = merge_checked(visible, checked or [], [o["value"] for o in shown or []])
                if new_visible == visible:  # e.g. the filter set the checklist to the columns it chose
                    raise PreventUpdate
            elif trigger == ui.PICKER_PINNED:
                new_visible, pin = visible, [c for c in pinned_value or [] if c in visible]
            elif trigger == ui.PICKER_RESET:  # the default columns at their default widths and pins
                new_visible, widths = defaults_for(store, current.q, varying), {}
                pin = View().pinned()
            elif trigger == ui.PICKER_VARYING:
                varying = "vary" in (varying_value or [])
                if varying == current.varying:
                    raise PreventUpdate
                known = as_cols(cache.column_infos(store))
                new_visible = (defaults_for(store, current.q, varying) if current.cols is None
                               else with_config_columns(visible, known, varying))
            elif trigger == ui.COLUMN_STATE:  # a header dragged, resized or pinned: the grid shows it already
                order, pin, widths = order_from_state(column_state)
                shown_pins = [c for c in current.pinned() if c in order]
                if not order or (order == visible and pin == shown_pins and View(w=widths).w == current.w):
                    raise PreventUpdate
                new_visible = order
            elif trigger == ui.CUSTOM_ADD:
                if not custom_name or not custom_path:
                    return (no_update,) * 6 + ("Give the column a name and a path.",)
                store.add_custom_column(custom_name.strip(), custom_path.strip())
                new_visible = [*visible, custom_name.strip()]
                message = f"Added column {custom_name.strip()} ({custom_path.strip()})."
            elif trigger == ui.METRIC_ADD:
                if not metric_name or not metric or not extrema:
                    return (no_update,) * 6 + ("Give the column a name, a metric and a reducer.",)
                n = max(1, int(lastn or 1))
                store.add_metric_column(metric_name.strip(), metric, extrema, n)
                new_visible = [*visible, metric_name.strip()]
                message = f"Added metric column {metric_name.strip()}."
            else:
                raise PreventUpdate
            known = as_cols(cache.column_infos(store))
        except StoreError as e:
            return (no_update,) * 6 + (f"Could not change columns: {e}",)
        if "id" not in new_visible:
            new_visible = ["id", *new_visible]
        default = defaults_for(store, current.q, varying)
        widths = {name: px for name, px in widths.items() if name in new_visible}
        new_view = {**view, "cols": None if new_visible == default else new_visible,
                    "pin": None if pin == [c for c in View().pinned() if c in new_visible] else pin,
                    "w": View(w=widths).to_dict()["w"],
                    "varying": varying}
        defs = grid_column_defs(store, new_visible, known, current.sort, pin, widths)
        added = set(new_visible) - set(visible)
        refresh = (token or 0) + 1 if added else no_update
        if trigger == ui.COLUMN_STATE:
            same = new_visible == visible  # only widths or pins changed: nothing downstream needs to re-run
            return (no_update if same else new_visible), new_view, no_update, refresh, \
                (no_update if same else new_visible), pin, message
        return new_visible, new_view, defs, refresh, new_visible, pin, message
