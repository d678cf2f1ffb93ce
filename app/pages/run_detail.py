"""`/runs/<run_id>`: everything Sacred recorded about one run (issue 6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from dash import Dash, dcc, html

from omnidash.components import run_detail as rd
from omnidash.context import get_settings, get_store
from omnidash.core.run_view import duration_seconds, format_duration, format_time
from omnidash.core.types import RunId
from omnidash.core.values import decode_value
from omnidash.pages import Page
from omnidash.pages.permissions import can, write_permissions
from omnidash.pages.run_detail_callbacks import register_callbacks
from omnidash.pages.run_detail_data import resolve_run
from omnidash.pages.run_detail_tabs import render_tab, visible_tabs
from omnidash.store.base import NotFound, RunStore
from omnidash.store.rows import experiment_of, hostname_of, notes_of, status_of, tags_of


def default_tab(doc: dict[str, Any], status: str, store: RunStore, run_id: RunId) -> str:
    if doc.get("fail_trace"):
        return "failure"
    if status == "RUNNING" and not (doc.get("info") or {}).get("metrics"):
        return "output"
    try:
        has_metrics = bool(store.metric_names([run_id]).get(run_id))
    except Exception:  # noqa: BLE001 - the tab itself reports store errors
        has_metrics = False
    return "metrics" if has_metrics else "config"


def header_facts(doc: dict[str, Any], tz: str) -> list[tuple[str, Any]]:
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    result = decode_value(doc.get("result"))
    items: list[tuple[str, Any]] = [
        ("Command", html.Span(doc.get("command"), className="mono") if doc.get("command") else None),
        ("Started", format_time(doc.get("start_time"), tz)),
        ("Stopped", format_time(doc.get("stop_time"), tz)),
        ("Duration", format_duration(duration_seconds(doc))),
        ("Heartbeat", format_time(doc.get("heartbeat"), tz) or "none"),
        ("Host", hostname_of(doc)),
        ("Result", None if result is None else html.Span(str(result), className="mono")),
    ]
    if meta.get("queue_time") is not None:
        items.insert(1, ("Queued", format_time(meta.get("queue_time"), tz) or "(unreadable time)"))
    return items


def not_found(raw: str) -> html.Div:
    return html.Div(
        [html.H2("No such run"),
         html.P(f"There is no run with id “{unquote(str(raw))}” in {get_store().describe()}.", className="error-detail"),
         dcc.Link("Back to all runs", href=get_settings().url_prefix.rstrip("/") + "/")],
        className="error-panel",
    )


def layout(run_id: str = "", tab: str = "", **_: Any) -> Any:
    store, settings = get_store(), get_settings()
    try:
        rid, doc = resolve_run(store, run_id)
    except NotFound:
        return not_found(run_id)
    status = status_of(doc, datetime.now(UTC), store.probably_dead_after)
    tabs = visible_tabs(doc)
    values = [v for v, _ in tabs]
    current = tab if tab in values else default_tab(doc, status, store, rid)
    permissions = write_permissions(store, settings)
    editable = can(permissions, "tags") and can(permissions, "notes")
    return html.Div(
        [
            dcc.Store(id="rd-run-id", data=rid),
            rd.header(rid, experiment_of(doc), status, header_facts(doc, settings.timezone), tags_of(doc),
                      notes_of(doc), editable, permissions),
            rd.delete_dialog() if can(permissions, "delete") else html.Div(),
            dcc.Tabs(id="rd-tabs", value=current, children=[dcc.Tab(label=lbl, value=v) for v, lbl in tabs],
                     className="rd-tabs", parent_className="rd-tabs-parent"),
            html.Div(render_tab(current, rid, doc, status, store), id="rd-tab-body", className="tab-body"),
        ],
        className="page run-detail",
    )


def register(app: Dash) -> None:
    register_callbacks(app)


PAGE = Page(name="run_detail", path="/runs/<run_id>", layout=layout, register=register, title="Run")
