"""Callbacks of the run detail page (its tabs' own are in run_detail_tabs). Each one turns a UI event into one
store call."""

from __future__ import annotations

from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from omnidash.components import run_detail as rd
from omnidash.context import get_store
from omnidash.pages.run_detail_tabs import first_click, register_tabs, render_tab, run_status, store_problem
from omnidash.store.base import Conflict, NotFound, StoreError
from omnidash.store.rows import notes_of, tags_of

TAB_URL_JS = """
function(tab) {
    if (tab) {
        var url = new URL(window.location.href);
        url.searchParams.set('tab', tab);
        window.history.replaceState(window.history.state, '', url.toString());
    }
    return window.dash_clientside.no_update;
}
"""


def parse_new_tags(text: str) -> list[str]:
    """The tags typed in the input, comma separated (the store strips, de-duplicates and limits them)."""
    return (text or "").split(",")


def merged_notes(mine: str, theirs: str) -> str:
    """Both versions in one text, marked as git marks a conflict, for the user to edit into one."""
    return f"<<<<<<< yours\n{mine}\n=======\n{theirs}\n>>>>>>> theirs\n"


def register_callbacks(app: Dash) -> None:
    register_tabs(app)
    app.clientside_callback(TAB_URL_JS, Input("rd-tabs", "value"))
    app.clientside_callback(
        "function(target) { if (target) { window.location.assign(target); } return window.dash_clientside.no_update; }",
        Input("rd-deleted", "data"), prevent_initial_call=True,
    )

    @app.callback(Output("rd-tab-body", "children"), Input("rd-tabs", "value"), State("rd-run-id", "data"),
                  prevent_initial_call=True)
    def switch_tab(tab: str, run_id: Any) -> Any:
        store = get_store()
        try:
            doc = store.get_run(run_id)
        except NotFound:
            return html.P("This run no longer exists.", className="muted")
        except StoreError as e:
            return store_problem(e)
        return render_tab(tab, run_id, doc, run_status(doc), store)

    @app.callback(
        Output("rd-tags", "children"),
        Output("rd-tag-input", "value"),
        Output("rd-edit-msg", "children", allow_duplicate=True),
        Input("rd-tag-input", "value"),
        Input({"type": "rd-tag-remove", "index": ALL}, "n_clicks"),
        State("rd-run-id", "data"),
        prevent_initial_call=True,
    )
    def edit_tags(new_tag: str | None, _clicks: list[int], run_id: Any) -> Any:
        """One atomic add or remove in the store ($addToSet/$pullAll), never a read-modify-write of the list."""
        store = get_store()
        if ctx.triggered_id == "rd-tag-input":
            if not (new_tag or "").strip():
                raise PreventUpdate
            added, removed = parse_new_tags(new_tag or ""), []
        else:
            added, removed = [], [first_click()["index"]]
        try:
            if not store.update_tags([run_id], add=added, remove=removed):
                return no_update, no_update, "Tags not saved: this run's tags cannot be edited."
            tags = tags_of(store.get_run(run_id, fields=["omniboard", "config"]))
        except StoreError as e:
            return no_update, no_update, f"Tags not saved: {e}"
        return rd.tag_chips(tags, True), "", "Tags saved."

    @app.callback(
        Output("rd-notes-editor", "hidden"),
        Output("rd-notes-view", "hidden"),
        Output("rd-notes-view", "children"),
        Output("rd-edit-msg", "children", allow_duplicate=True),
        Output("rd-notes-base", "data"),
        Output("rd-notes-text", "value"),
        Output("rd-notes-conflict", "hidden"),
        Output("rd-notes-theirs", "children"),
        Input("rd-notes-edit", "n_clicks"),
        Input("rd-notes-save", "n_clicks"),
        Input("rd-notes-cancel", "n_clicks"),
        Input("rd-notes-keep", "n_clicks"),
        Input("rd-notes-take", "n_clicks"),
        Input("rd-notes-merge", "n_clicks"),
        State("rd-notes-text", "value"),
        State("rd-notes-base", "data"),
        State("rd-run-id", "data"),
        prevent_initial_call=True,
    )
    def edit_notes(_edit: int, _save: int, _cancel: int, _keep: int, _take: int, _merge: int,
                   text: str | None, base: str | None, run_id: Any) -> Any:
        """Edit from the notes stored now; a save sends them as `expected`, and a Conflict shows both versions."""
        trigger, text, base = ctx.triggered_id, text or "", base or ""
        keep = no_update
        if trigger == "rd-notes-edit":
            try:
                current = notes_of(get_store().get_run(run_id, fields=["omniboard", "meta"]))
            except StoreError as e:
                return keep, keep, keep, f"Cannot edit the notes: {e}", keep, keep, keep, keep
            return False, True, keep, "", current, current, True, keep
        if trigger == "rd-notes-cancel":
            return True, False, keep, "", keep, keep, True, keep
        if trigger == "rd-notes-take":
            return True, False, rd.notes_markdown(base), "Kept their version.", keep, base, True, keep
        if trigger == "rd-notes-merge":
            return (keep, keep, keep, "Both versions are in the editor: edit them into one, then Save.", keep,
                    merged_notes(text, base), True, keep)
        try:  # Save, or Keep mine (a save over the version just shown)
            get_store().set_notes(run_id, text, expected=base)
        except Conflict as e:
            theirs = e.current if isinstance(e.current, str) else ""
            return (keep, keep, rd.notes_markdown(theirs), "Not saved: the notes changed meanwhile.", theirs,
                    keep, False, theirs)
        except StoreError as e:
            return keep, keep, keep, f"Notes not saved: {e}", keep, keep, keep, keep
        return True, False, rd.notes_markdown(text), "Notes saved.", text, keep, True, keep

    @app.callback(
        Output("rd-delete-dialog", "hidden"),
        Output("rd-delete-preview", "children"),
        Input("rd-delete", "n_clicks"),
        Input("rd-delete-cancel", "n_clicks"),
        State("rd-run-id", "data"),
        prevent_initial_call=True,
    )
    def toggle_delete(_open: int, _cancel: int, run_id: Any) -> Any:
        if ctx.triggered_id == "rd-delete-cancel":
            return True, no_update
        try:
            return False, rd.delete_summary(get_store().delete_preview(run_id))
        except NotImplementedError:
            return False, html.P("The run document, its metrics, artifacts and unshared sources will be deleted.")
        except StoreError as e:
            return False, html.P(f"Cannot prepare the deletion: {e}", className="error-detail")

    @app.callback(
        Output("rd-deleted", "data"),
        Output("rd-delete-preview", "children", allow_duplicate=True),
        Input("rd-delete-confirm", "n_clicks"),
        State("rd-run-id", "data"),
        prevent_initial_call=True,
    )
    def confirm_delete(clicks: int, run_id: Any) -> Any:
        if not clicks:
            raise PreventUpdate
        try:
            get_store().delete_run(run_id)
        except StoreError as e:
            return no_update, html.P(f"Not deleted: {e}", className="error-detail")
        return app.get_relative_path("/"), no_update
