"""The app factory: a Flask server carrying a RunStore, the JSON API, and the Dash UI on top."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qsl

import dash
from dash import Dash, Input, Output, State, dcc, html
from flask import Flask, jsonify

from app.context import Settings
from app.pages import all_pages
from app.store.base import RunStore, StoreError, StoreUnavailable

log = logging.getLogger(__name__)


def assets_folder() -> str:
    """The installed `assets` package folder (works from a wheel and from a checkout)."""
    import assets

    return str(Path(assets.__file__).resolve().parent)


def create_server(store: RunStore, settings: Settings | None = None) -> Flask:
    """A Flask app with the store, /healthz and the JSON API (no Dash)."""
    settings = settings or Settings()
    server = Flask("omnidash")
    server.extensions["omnidash"] = {"store": store, "settings": settings}
    server.config["JSON_SORT_KEYS"] = False

    @server.get("/healthz")
    def healthz():
        try:
            store.ping()
            runs = store.count("")
        except StoreError as e:
            return jsonify({"status": "unavailable", "source": store.kind, "reason": str(e)}), 503
        return jsonify({"status": "ok", "source": store.kind, "runs": runs})

    try:
        from app.api import register_api
    except ImportError:  # the API module is being built
        register_api = None
    if register_api is not None:
        register_api(server)
    return server


def create_app(store: RunStore, settings: Settings | None = None, server: Flask | None = None) -> Dash:
    """The whole dashboard: `create_app(store).server` is the WSGI app."""
    settings = settings or Settings()
    server = server or create_server(store, settings)
    app = Dash(
        __name__,
        server=server,
        title=settings.title,
        assets_folder=assets_folder(),
        assets_ignore=r".*\.py$",
        url_base_pathname=settings.url_prefix if settings.url_prefix != "/" else None,
        suppress_callback_exceptions=True,
        update_title=None,
    )
    pages = all_pages()
    app.layout = html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dcc.Store(id="theme", storage_type="local"),
            html.Div(id="db-banner", className="db-banner", hidden=True),
            html.Header(
                [
                    dcc.Link("omnidash", href=app.get_relative_path("/"), className="brand"),
                    html.Nav(
                        [dcc.Link(p.title, href=app.get_relative_path(p.path)) for p in pages if p.nav],
                        className="nav-links",
                    ),
                    html.Span(store.describe(), className="source-name", title="data source"),
                    html.Button("◐", id="theme-toggle", className="theme-toggle", title="Light / dark theme"),
                ],
                className="topbar",
            ),
            html.Main(id="page-content", className="page-content"),
        ],
        id="shell",
    )

    @app.callback(Output("page-content", "children"), Input("url", "pathname"), Input("url", "search"))
    def route(pathname: str | None, search: str | None):
        path = app.strip_relative_path(pathname or "/") or ""
        path = "/" + path.strip("/")
        query = dict(parse_qsl((search or "").lstrip("?")))
        for page in pages:
            params = page.match(path)
            if params is not None:
                try:
                    return page.layout(**params, **query)
                except StoreUnavailable as e:
                    return error_panel("The database cannot be reached", str(e))
                except StoreError as e:
                    return error_panel("Cannot show this page", str(e))
        return error_panel("Page not found", f"No page at {path}.")

    app.clientside_callback(
        """
        function(n, theme) {
            var t = theme;
            if (n) { t = (document.documentElement.dataset.theme === 'dark') ? 'light' : 'dark'; }
            if (!t) { t = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'; }
            document.documentElement.dataset.theme = t;
            return n ? t : window.dash_clientside.no_update;
        }
        """,
        Output("theme", "data"),
        Input("theme-toggle", "n_clicks"),
        State("theme", "data"),
    )

    for page in pages:
        page.register(app)
    return app


def error_panel(title: str, detail: str) -> html.Div:
    """A readable error state for a whole page."""
    return html.Div([html.H2(title), html.P(detail, className="error-detail")], className="error-panel")


__all__ = ["create_app", "create_server", "assets_folder", "dash"]
