"""Runs table callbacks: inline tags and notes, selection, bulk tagging, delete, compare, saved views."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from omnidash.components import table as ui
from omnidash.components.text import plural
from omnidash.context import get_store
from omnidash.core.types import DeleteReport, RunId
from omnidash.pages.table_state import View
from omnidash.pages.table_view import base_path, table_js, view_links
from omnidash.store import cache
from omnidash.store.base import StoreError
from omnidash.store.common import check_tags
from omnidash.store.rows import tags_of

MAX_PREVIEWS = 50
MAX_COMPARE = 20
# what names the runs a bulk action applies to (see target_ids): the selected rows, "all runs matching", the view
TARGET = (State(ui.GRID, "selectedRows"), State(ui.SELECT_ALL, "value"), State(ui.VIEW, "data"))


def error_message(text: str) -> html.Div:
    return html.Div(["⚠ ", text], className="msg msg-error")


def ok_message(text: str) -> html.Div:
    return html.Div(text, className="msg msg-ok")


def parse_tags(value: Any) -> list[str]:
    """A tags cell value (list or comma text) as a list (the store strips, de-duplicates and limits it)."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(t) for t in items if t is not None]


def target_ids(selected: list[dict] | None, select_all: list[str] | None, query: str) -> list[RunId]:
    """The runs a bulk action applies to: every run matching the query, or the selected rows."""
    if select_all and "all" in select_all:
        return list(get_store().run_ids(query))
    return [r["id"] for r in selected or [] if isinstance(r, dict) and r.get("id") is not None]


def describe_report(r: DeleteReport) -> str:
    parts = [plural(r.metrics, "metric series"), plural(r.artifacts, "artifact"),
             plural(r.sources, "unshared source file")]
    return f"Run {r.run_id}: the run, " + ", ".join(parts)


def delete_listing(ids: list[RunId]) -> list:
    """Exactly what will go: one line per run (the first MAX_PREVIEWS), then the total."""
    store = get_store()
    lines = []
    for run_id in ids[:MAX_PREVIEWS]:
        try:
            report = store.delete_preview(run_id)
            lines.append(html.Li(describe_report(report)))
            if report.files:
                lines.append(html.Li(["files: ", html.Code(", ".join(report.files[:10])),
                                      " …" if len(report.files) > 10 else ""], className="delete-files"))
        except NotImplementedError:
            lines.append(html.Li(f"Run {run_id}: the run with its metrics, artifacts and unshared sources"))
        except StoreError as e:
            lines.append(html.Li(f"Run {run_id}: {e}", className="msg-error"))
    more = len(ids) - MAX_PREVIEWS
    return [
        html.P(html.Strong(f"{plural(len(ids), 'run')} will be deleted for good:")),
        html.Ul(lines),
        html.P(f"… and {more:,} more like these." if more > 0 else "", className="hint"),
        html.P("This cannot be undone.", className="warn-text"),
    ]


def register(app: Dash) -> None:
    @app.callback(
        Output(ui.TAG_OPTIONS, "data"),
        Output("tbl-tag-datalist", "children"),
        Input(ui.TAGS_WANTED, "data"),  # when a tag input is first used: the list is a scan of the tag index
        Input(ui.SOFT_REFRESH, "data"),  # (0.5 s at 100,000 tagged runs on DocumentDB); then after writes
        prevent_initial_call=True,
    )
    def tag_options(wanted, _token):
        """The tags the tag inputs suggest (the first 500, cached with the catalogue), once a tag input asks."""
        if not wanted:
            raise PreventUpdate
        try:
            tags = [str(t) for t in cache.distinct(get_store(), "tags", limit=500) if t is not None]
        except StoreError:
            raise PreventUpdate from None
        return tags, [html.Option(value=t) for t in tags]

    table_js(app, "setTagOptions", Input(ui.TAG_OPTIONS, "data"))

    @app.callback(
        Output(ui.MESSAGE, "children"),
        Output(ui.SOFT_REFRESH, "data"),
        Input(ui.GRID, "cellValueChanged"),
        State(ui.SOFT_REFRESH, "data"),
        prevent_initial_call=True,
    )
    def save_cell(changes: list[dict] | dict | None, token):
        """Inline edits: tags as an atomic add/remove of what changed, notes as a $set checked against the old value."""
        if not changes:
            raise PreventUpdate
        changes = changes if isinstance(changes, list) else [changes]
        store = get_store()
        saved = []
        for change in changes:
            col = change.get("colId")
            run_id = (change.get("data") or {}).get("id")
            if run_id is None or col not in {"tags", "notes"}:
                continue
            try:
                if col == "tags":  # the edit as an atomic add/remove: a concurrent edit of another tag stays
                    shown = change["oldValue"] if "oldValue" in change else tags_of(store.get_run(run_id, ["omniboard", "config"]))
                    new, old = check_tags(parse_tags(change.get("value"))), check_tags(parse_tags(shown))
                    if not store.update_tags([run_id], add=[t for t in new if t not in old],
                                             remove=[t for t in old if t not in new]):
                        raise StoreError("the run is gone, or its tags cannot be edited")
                else:
                    old = change.get("oldValue")  # a change made meanwhile by someone else is a Conflict
                    store.set_notes(run_id, str(change.get("value") or ""), old if isinstance(old, str) else None)
            except (StoreError, ValueError) as e:
                # restore the stored value by re-reading the loaded rows
                return error_message(f"Could not save {col} of run {run_id}: {e}"), (token or 0) + 1
            saved.append(f"{col} of run {run_id}")
        if not saved:
            raise PreventUpdate
        return ok_message("Saved " + ", ".join(saved) + "."), (token or 0) + 1

    @app.callback(
        Output(ui.SELECTION_INFO, "children"),
        Output(ui.COMPARE, "disabled"),
        Input(ui.GRID, "selectedRows"),
        Input(ui.SELECT_ALL, "value"),
        Input(ui.VIEW, "data"),
        prevent_initial_call=True,  # the layout says "No runs selected" already
    )
    def selection_info(selected: list[dict] | None, select_all: list[str] | None, view: dict):
        n = len(selected or [])
        if select_all and "all" in select_all:
            try:
                total = get_store().count(View.from_dict(view).q)
            except StoreError:
                total = None
            text = f"All {plural(total, 'run')} matching the filter" if total is not None else "All matching runs"
            return text, not (total and 2 <= total <= MAX_COMPARE)
        if not n:
            return "No runs selected", True
        return f"{plural(n, 'run')} selected", n < 2

    table_js(app, "deselectAll", Input(ui.CLEAR_SELECTION, "n_clicks"),
             prevent_initial_call=True)

    @app.callback(
        Output(ui.SELECT_ALL, "value"),
        Input(ui.CLEAR_SELECTION, "n_clicks"),
        prevent_initial_call=True,
    )
    def clear_select_all(_n):
        return []

    @app.callback(
        Output(ui.MESSAGE, "children", allow_duplicate=True),
        Output(ui.SOFT_REFRESH, "data", allow_duplicate=True),
        Input(ui.BULK_ADD, "n_clicks"),
        Input(ui.BULK_REMOVE, "n_clicks"),
        State(ui.BULK_TAG, "value"),
        *TARGET,
        State(ui.SOFT_REFRESH, "data"),
        prevent_initial_call=True,
    )
    def bulk_tag(_add, _remove, tag, selected, select_all, view, token):
        """Add or remove one tag on the selected runs, or on every run matching the filter ($addToSet/$pull)."""
        tag = (tag or "").strip()
        if not tag:
            return error_message("Type a tag first."), no_update
        adding = ctx.triggered_id == ui.BULK_ADD
        store = get_store()
        try:
            ids = target_ids(selected, select_all, View.from_dict(view).q)
            if not ids:
                return error_message("Select runs first (or tick “all runs matching the filter”)."), no_update
            n = store.update_tags(ids, add=[tag] if adding else [], remove=[] if adding else [tag])
        except StoreError as e:
            return error_message(f"Could not change tags: {e}"), no_update
        verb = f"Added tag “{tag}” to" if adding else f"Removed tag “{tag}” from"
        return ok_message(f"{verb} {plural(n, 'run')}."), (token or 0) + 1

    @app.callback(
        Output(ui.DELETE_DIALOG, "hidden"),
        Output(ui.DELETE_LIST, "children"),
        Output(ui.DELETE_TARGET, "data"),
        Output(ui.MESSAGE, "children", allow_duplicate=True),
        Input(ui.BULK_DELETE, "n_clicks"),
        Input(ui.DELETE_CANCEL, "n_clicks"),
        *TARGET,
        prevent_initial_call=True,
    )
    def ask_delete(_n, _cancel, selected, select_all, view):
        if ctx.triggered_id == ui.DELETE_CANCEL:
            return True, [], None, no_update
        try:
            ids = target_ids(selected, select_all, View.from_dict(view).q)
        except StoreError as e:
            return True, [], None, error_message(f"Cannot list the runs to delete: {e}")
        if not ids:
            return True, [], None, error_message("Select the runs to delete first.")
        return False, delete_listing(ids), ids, no_update

    @app.callback(
        Output(ui.DELETE_DIALOG, "hidden", allow_duplicate=True),
        Output(ui.MESSAGE, "children", allow_duplicate=True),
        Output(ui.REFRESH, "data", allow_duplicate=True),
        Input(ui.DELETE_CONFIRM, "n_clicks"),
        State(ui.DELETE_TARGET, "data"),
        State(ui.REFRESH, "data"),
        prevent_initial_call=True,
    )
    def confirm_delete(n, ids, token):
        if not n or not ids:
            raise PreventUpdate
        store = get_store()
        deleted, failed = 0, []
        for run_id in ids:
            try:
                store.delete_run(run_id)
                deleted += 1
            except StoreError as e:
                failed.append(f"{run_id} ({e})")
        if failed:
            msg = error_message(f"Deleted {plural(deleted, 'run')}; could not delete: " + "; ".join(failed[:5]))
        else:
            msg = ok_message(f"Deleted {plural(deleted, 'run')}.")
        return True, msg, (token or 0) + 1

    @app.callback(
        Output("url", "pathname", allow_duplicate=True),
        Output("url", "search", allow_duplicate=True),
        Input(ui.COMPARE, "n_clicks"),
        *TARGET,
        prevent_initial_call=True,
    )
    def compare(n, selected, select_all, view):
        """Open /compare?runs=1,2,5 for the selected runs."""
        if not n:
            raise PreventUpdate
        try:
            ids = target_ids(selected, select_all, View.from_dict(view).q)[:MAX_COMPARE]
        except StoreError:
            raise PreventUpdate from None
        if len(ids) < 2:
            raise PreventUpdate
        return base_path() + "compare", "?" + urlencode({"runs": ",".join(str(i) for i in ids)}, safe=",")

    @app.callback(
        Output(ui.VIEW_LIST, "children"),
        Output(ui.MESSAGE, "children", allow_duplicate=True),
        Input(ui.VIEW_SAVE, "n_clicks"),
        Input({"type": ui.VIEW_DELETE, "name": ALL}, "n_clicks"),
        State(ui.VIEW_NAME, "value"),
        State(ui.VIEW, "data"),
        prevent_initial_call=True,
    )
    def saved_views(_save, _deletes, name, view):
        """Save the current view under a name, or delete one; everyone using this database sees them."""
        store = get_store()
        trigger = ctx.triggered_id
        try:
            if trigger == ui.VIEW_SAVE:
                name = (name or "").strip()
                if not name:
                    return no_update, error_message("Name the view first.")
                store.save_view(name, View.from_dict(view).to_dict())
                msg = ok_message(f"Saved view “{name}”.")
            elif isinstance(trigger, dict) and ctx.triggered and ctx.triggered[0].get("value"):
                store.delete_view(trigger["name"])
                msg = ok_message(f"Deleted view “{trigger['name']}”.")
            else:
                raise PreventUpdate
            views = store.list_views()
        except StoreError as e:
            return no_update, error_message(f"Could not change saved views: {e}")
        return ui.view_links(view_links(views), base_path()), msg
