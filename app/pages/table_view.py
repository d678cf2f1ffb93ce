"""What the runs table's page and its callbacks share: a view's links, page size and listed columns, and the
way a callback runs in the browser (assets/table.js).

Below table.py and the callback modules (table_rows, table_columns, table_actions, table_groups): they all
import it, it imports none of them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from dash import ClientsideFunction, Dash

from omnidash.components.columns import Col
from omnidash.context import get_settings
from omnidash.pages.table_state import View, page_size_default, view_to_params
from omnidash.store import cache
from omnidash.store.base import StoreError


def base_path() -> str:
    prefix = get_settings().url_prefix or "/"
    return prefix if prefix.endswith("/") else prefix + "/"


def default_page_size() -> int:
    """Rows per block when the URL names none: the source's `page_size` setting (Omniboard's initial_fetch_size)."""
    return page_size_default(get_settings().page_size)


def view_search(state: dict[str, Any]) -> str:
    """The query string of a saved view's state, defaults (this source's page size too) left out."""
    return search_of(View.from_dict(state))


def search_of(view: View) -> str:
    """The URL query string (with its "?", or "") of a view."""
    params = view_to_params(view, default_page_size())
    return ("?" + urlencode(params)) if params else ""


def view_links(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The saved views as {name, href} links."""
    return [{"name": v.get("name"), "href": base_path() + view_search(v.get("state") or {})} for v in views]


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


def table_js(app: Dash, name: str, *dependencies: Any, **options: Any) -> None:
    """A callback run in the browser: `omnidash_table.<name>` of assets/table.js, called with the inputs and
    states in order."""
    app.clientside_callback(ClientsideFunction("omnidash_table", name), *dependencies, **options)
