"""Runs table callbacks: grouping by config keys (n, mean ± std per metric column, runs under a group)."""

from __future__ import annotations

import json
from typing import Any

from dash import Dash, Input, Output, State, ctx, no_update, set_props
from dash.exceptions import PreventUpdate

from omnidash.components import table as ui
from omnidash.components.columns import as_cols
from omnidash.context import get_store
from omnidash.core.grouping import GROUP_KEY, MEMBER_IDS, group_rows, mean_col, varying_keys_except_seed
from omnidash.pages.table_state import View
from omnidash.pages.table_view import base_path, value_columns
from omnidash.store import cache
from omnidash.store.base import StoreError, StoreUnavailable

MAX_MEMBERS_SHOWN = 200


def group_view_rows(rows: list[dict[str, Any]], keys: list[str], values: list[str],
                    expanded: list[str]) -> list[dict[str, Any]]:
    """Grid rows: every group, then the runs of each expanded group tagged with `_member_of`."""
    by_id = {r.get("id"): r for r in rows}
    out = []
    for g in group_rows(rows, keys, values):
        members = g.pop(MEMBER_IDS)
        g["_expanded"] = g[GROUP_KEY] in expanded
        out.append(g)
        if not g["_expanded"]:
            continue
        for i, run_id in enumerate(members[:MAX_MEMBERS_SHOWN]):
            r = by_id.get(run_id) or {}
            member = {"_member_of": g[GROUP_KEY], "_order": i, "id": run_id, "n": 1,
                      **{k: r.get(k) for k in keys}}
            for c in values:
                member[mean_col(c)] = r.get(c)
            out.append(member)
    return out


def register(app: Dash) -> None:
    @app.callback(
        Output(ui.GROUP_KEYS, "value"),
        Input(ui.GROUP_SEEDS, "n_clicks"),
        prevent_initial_call=True,
    )
    def group_over_seeds(n):
        """One click: group by every varying config key except the seed."""
        if not n:
            raise PreventUpdate
        try:
            known = as_cols(cache.column_infos(get_store()))
        except StoreError:
            raise PreventUpdate from None
        return varying_keys_except_seed([c.name for c in known if c.kind == "config" and c.varies])

    @app.callback(
        Output(ui.VIEW, "data", allow_duplicate=True),
        Output(ui.GRID_BOX, "hidden"),
        Output(ui.GROUP_BOX, "hidden"),
        Output(ui.GROUP_BOX, "children"),
        Output(ui.GROUP_EXPANDED, "data"),
        Output(ui.MESSAGE, "children", allow_duplicate=True),
        Input(ui.GROUP_KEYS, "value"),
        Input(ui.REFRESH, "data"),
        Input(ui.VISIBLE, "data"),
        Input(ui.GROUP_TOGGLE, "data"),
        State(ui.VIEW, "data"),
        State(ui.GROUP_EXPANDED, "data"),
        State(ui.GROUP_GRID, "id", allow_optional=True),
        prevent_initial_call=True,  # a grouped page's layout carries its groups
    )
    def grouping(keys, _token, visible, toggle, view, expanded, grid):
        """Group the runs matching the query; the groups' aggregates come from pandas (omnidash.core.grouping).
        The first grouping adds the group grid to the page; later ones update it (`grid`: its id, None until
        then)."""
        keys = [k for k in keys or [] if k]
        expanded = list(expanded or [])
        trigger = ctx.triggered_id
        new_view = {**view, "group": keys} if keys != list(view.get("group") or []) else no_update
        if not keys:
            clear_rows(grid)
            return new_view, False, True, no_update, [], no_update
        if trigger == ui.GROUP_TOGGLE:
            key = (toggle or {}).get("toggle")
            if not key:
                raise PreventUpdate
            expanded = [k for k in expanded if k != key] if key in expanded else [*expanded, key]
        elif trigger == ui.GROUP_KEYS:
            expanded = []
        try:
            known = as_cols(cache.column_infos(get_store()))
            values, data, note = grouped(view, keys, visible, known, expanded)
        except StoreUnavailable as e:
            return new_view, True, False, no_update, expanded, f"The database cannot be reached: {e}"
        except StoreError as e:
            clear_rows(grid)
            return new_view, True, False, no_update, expanded, f"Cannot group: {e}"
        if grid is None:  # the first grouping: the page gets its group grid
            return new_view, True, False, ui.group_grid(keys, values, known, base_path(), data), expanded, \
                note or no_update
        set_props(ui.GROUP_GRID, {"columnDefs": ui.group_column_defs(keys, values, known, base_path()),
                                  "rowData": data})
        return new_view, True, False, no_update, expanded, note or no_update


def grouped(view: dict[str, Any], keys: list[str], visible: list[str] | None, known: list[Any],
            expanded: list[str]) -> tuple[list[str], list[dict[str, Any]], str | None]:
    """The runs the view's query lists, grouped by `keys`: (the metric columns aggregated, the group grid's rows,
    a note for keys no listed run has, e.g. a mistyped `?group=`). Raises the store's errors."""
    values = value_columns(list(visible or []), known)
    rows = list(get_store().iter_rows(View.from_dict(view).q, ["id"], ["id", *keys, *values]))
    absent = [k for k in keys if rows and all(r.get(k) is None for r in rows)]
    note = f"No listed run has a value for {', '.join(absent)}." if absent else None
    return values, group_view_rows(rows, keys, values, expanded), note


def clear_rows(grid: str | None) -> None:
    """Empty the group grid, when the page has one."""
    if grid is not None:
        set_props(ui.GROUP_GRID, {"rowData": []})


def group_key(values: list[Any]) -> str:
    return json.dumps(values, default=str)
