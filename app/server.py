"""The app factory: a Flask server carrying a RunStore, the JSON API, and the Dash UI on top.

`create_app(store, settings)` builds one dashboard; `build_wsgi(config, stores)` mounts one per source
under its URL prefix (several databases, `--url-prefix`), with accounts when a users file is given.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import dash
from dash import Dash, Input, Output, State, dcc, html
from flask import Flask, g, has_request_context, jsonify, redirect, request

from omnidash.api import error_response
from omnidash.auth.store import GuardedStore
from omnidash.context import Settings
from omnidash.pages.registry import all_pages
from omnidash.store.base import RunStore, StoreError, StoreUnavailable

log = logging.getLogger(__name__)


# assets/ files the pages do not load as they are: Python, the build script, and the plotly.js bundle served in
# place of plotly.min.js (omnidash.plotly_bundle)
ASSETS_IGNORED = r"\.(py|sh)$|^plotly-omnidash\.min\.js$"


def assets_folder() -> str:
    """The installed `omnidash.assets` folder (the repository's assets/; works from a wheel and a checkout)."""
    import omnidash.assets

    return str(Path(omnidash.assets.__file__).resolve().parent)


def create_server(store: RunStore, settings: Settings | None = None, auth: Any = None) -> Flask:
    """A Flask app with the store, /healthz and the JSON API (no Dash).

    The store is wrapped in a GuardedStore: writes check read-only mode and, with `auth` (an
    `omnidash.auth.web.AuthConfig`), the signed-in user's role, whatever route or callback calls them.
    """
    settings = settings or Settings()
    current_role: Callable[[], str | None] | None = None
    if auth is not None:
        from omnidash.auth.web import current_role
    guarded = store if isinstance(store, GuardedStore) else GuardedStore(
        store, current_role, settings.read_only, on_forbidden=remember_denial)
    server = Flask("omnidash")
    server.extensions["omnidash"] = {"store": guarded, "settings": settings}
    server.config["JSON_SORT_KEYS"] = False
    server.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    if auth is not None:
        from omnidash.auth.web import install_auth

        install_auth(server, auth)

    @server.get("/healthz")
    def healthz():
        try:
            guarded.ping()
            runs = guarded.count("")
        except StoreError as e:
            return jsonify({"status": "unavailable", "source": guarded.kind, "reason": str(e)}), 503
        except Exception as e:  # noqa: BLE001 - a driver error means the database is not usable
            return jsonify({"status": "unavailable", "source": guarded.kind, "reason": f"{type(e).__name__}: {e}"}), 503
        return jsonify({"status": "ok", "source": guarded.kind, "runs": runs})

    @server.errorhandler(404)
    def not_found(e):
        if request.path.startswith("/api/"):
            return jsonify({"error": f"no route {request.path}"}), 404
        return e

    @server.errorhandler(StoreError)
    def store_error(e: StoreError):
        """A store error no blueprint handled (a refused write in a Dash callback): JSON with its status."""
        return error_response(e)

    @server.errorhandler(405)
    def bad_method(e):
        if request.path.startswith("/api/"):
            return jsonify({"error": f"{request.method} is not allowed on {request.path}"}), 405
        return e

    @server.after_request
    def security_headers(response):
        denied = g.get("omnidash_denied")
        if denied and request.path.startswith("/_dash-update-component"):
            # A callback tried a write the user's role forbids: the callback answers 403, whatever
            # message the page chose to show (nothing was written: the store refused it).
            response = jsonify({"error": denied})
            response.status_code = 403
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response

    from omnidash.api import register_api

    register_api(server)
    from omnidash.downloads import register_downloads

    register_downloads(server)
    from omnidash.plotly_bundle import install_plotly_bundle
    from omnidash.transfer import install_transfer

    install_transfer(server)  # compression and cache headers for every route, Dash's included
    install_plotly_bundle(server)  # after install_transfer: a revalidation is answered 304 before it
    return server


def remember_denial(error: Exception) -> None:
    """Mark the current request as refused by a role check (see `security_headers`)."""
    if has_request_context():
        g.omnidash_denied = str(error)


def create_app(
    store: RunStore, settings: Settings | None = None, server: Flask | None = None, auth: Any = None
) -> Dash:
    """The whole dashboard: `create_app(store).server` is the WSGI app.

    `settings.url_prefix` is the path the browser sees (e.g. "/omnidash/db1/"); routes stay at "/" because
    `build_wsgi` mounts the server there (werkzeug's DispatcherMiddleware sets SCRIPT_NAME).
    """
    settings = settings or Settings()
    server = server or create_server(store, settings, auth)
    store = server.extensions["omnidash"]["store"]
    prefix = settings.url_prefix if settings.url_prefix.endswith("/") else settings.url_prefix + "/"
    app = Dash(
        __name__,
        server=server,
        title=settings.title,
        assets_folder=assets_folder(),
        assets_ignore=ASSETS_IGNORED,
        routes_pathname_prefix="/",
        requests_pathname_prefix=prefix,
        suppress_callback_exceptions=True,
        update_title=None,
    )
    pages = all_pages()
    PageHtml(app, pages)

    def header() -> html.Header:
        return html.Header(
            [
                dcc.Link("omnidash", href=app.get_relative_path("/"), className="brand"),
                source_switcher(settings),
                html.Nav(
                    [dcc.Link(p.title, href=app.get_relative_path(p.path)) for p in pages if p.nav],
                    className="nav-links",
                ),
                html.Span(store.describe(), className="source-name", title="data source"),
                *([html.Span("read-only", className="read-only-badge")] if store.read_only else []),
                account_menu(settings, auth is not None),
                html.Button("◐", id="theme-toggle", className="theme-toggle", title="Light / dark theme"),
            ],
            className="topbar",
        )

    def url_key(pathname: str | None, search: str | None) -> list:
        """The page a URL names: [path inside the app, sorted query pairs] (how the router reads it)."""
        path = "/" + (app.strip_relative_path(pathname or "/") or "").strip("/")
        return [path, sorted(parse_qsl((search or "").lstrip("?")))]

    def first_page() -> tuple[Any, bool, list | None]:
        """The page of the address the browser is at (the Referer of its /_dash-layout request), rendered
        into the layout itself: the page arrives with the layout instead of one router round trip later.
        (content, whether it needs no retry, the address it is for as the browser's location reads it:
        [pathname, search])."""
        referrer = request.referrer if has_request_context() else None
        if not referrer:
            return None, True, None
        url = urlsplit(referrer)
        if url.netloc != request.host:
            return None, True, None
        return *render(*url_key(url.path, url.query)), [url.path, f"?{url.query}" if url.query else ""]

    def layout() -> html.Div:
        content, retry_off, rendered = first_page()
        return html.Div(
            [
                dcc.Location(id="url", refresh="callback-nav"),
                dcc.Store(id="theme", storage_type="local"),
                dcc.Store(id="rendered-url", data=rendered),
                dcc.Store(id="route-to"),
                html.Div(id="db-banner", className="db-banner", hidden=True),
                # runs while the page shows "The database cannot be reached": the page comes back by itself
                dcc.Interval(id="page-retry", interval=PAGE_RETRY_MS, disabled=retry_off),
                header(),
                html.Main(content, id="page-content", className="page-content"),
            ],
            id="shell",
        )

    app.layout = layout

    # The router. dcc.Location reports the address as it mounts; the layout already holds that page, so
    # that report is answered in the browser (below) and the server's router runs for navigations only (its
    # call at load was a request and a round trip that answered "nothing to do"; no speed-up measurable on
    # loopback, benchmarks/ab.py 1.00x). A layout without its page (no Referer) goes to the router at once.
    # route-to only changes (a time): the router reads the address from dcc.Location.
    app.clientside_callback(
        """
        function(pathname, search, rendered) {
            var nu = window.dash_clientside.no_update;
            if (pathname === null || pathname === undefined) { return [nu, nu]; }  /* not mounted yet */
            if (rendered && pathname === rendered[0] && (search || "") === rendered[1]) { return [nu, null]; }
            return [Date.now(), rendered ? null : nu];
        }
        """,
        Output("route-to", "data"), Output("rendered-url", "data"),
        Input("url", "pathname"), Input("url", "search"), State("rendered-url", "data"),
    )

    @app.callback(Output("page-content", "children"), Output("page-retry", "disabled"),
                  Input("route-to", "data"), Input("page-retry", "n_intervals"),
                  State("url", "pathname"), State("url", "search"), prevent_initial_call=True)
    def route(_to: int | None, _retries: int | None, pathname: str | None, search: str | None):
        return render(*url_key(pathname, search))

    def render(path: str, pairs: list) -> tuple[Any, bool]:
        """(the page at `path` (inside the app) for the query `pairs`, or a readable error panel; whether
        the page needs no retry: False while it says the database cannot be reached)."""
        for page in pages:
            params = page.match(path)
            if params is not None:
                try:
                    return page.layout(**page_kwargs(params, pairs)), True
                except StoreUnavailable as e:
                    return error_panel("The database cannot be reached", str(e),
                                       f"This page tries again every {PAGE_RETRY_MS // 1000} s."), False
                except StoreError as e:
                    return error_panel("Cannot show this page", str(e)), True
        return error_panel("Page not found", f"No page at {path}."), True

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


# The scripts a component loads only once it renders (webpack chunks, under _dash-component-suites/).
LAZY_SCRIPTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("dash_ag_grid", "AgGrid"): ("dash_ag_grid/async-community.js",),
    ("dash_core_components", "Dropdown"): ("dash/dcc/async-dropdown.js",),
    ("dash_core_components", "Slider"): ("dash/dcc/async-slider.js",),
    ("dash_core_components", "RangeSlider"): ("dash/dcc/async-slider.js",),
    ("dash_core_components", "Graph"): ("dash/dcc/async-graph.js", "plotly/package_data/plotly.min.js"),
    ("dash_core_components", "Markdown"): ("dash/dcc/async-markdown.js",),
    ("dash_core_components", "DatePickerSingle"): ("dash/dcc/async-datepicker.js",),
    ("dash_core_components", "DatePickerRange"): ("dash/dcc/async-datepicker.js",),
    ("dash_core_components", "Upload"): ("dash/dcc/async-upload.js",),
}
# The lazy scripts each page is sure to use, whatever it shows: the table always renders its grid and the group-by
# and page-size dropdowns (its plot panel, with the smoothing slider, comes with a selection); compare opens on
# its metric charts and their controls. A page
# whose content varies (a run's page: charts on one tab, a traceback on another) preloads none, since Chromium
# warns of a preload left unused. tests/test_round_trips.py checks these against what the layouts render.
_GRID = LAZY_SCRIPTS[("dash_ag_grid", "AgGrid")]
_DROPDOWN = LAZY_SCRIPTS[("dash_core_components", "Dropdown")]
_CONTROLS = _DROPDOWN + LAZY_SCRIPTS[("dash_core_components", "Slider")]
PAGE_SCRIPTS: dict[str, tuple[str, ...]] = {
    "table": _GRID + _DROPDOWN,
    "compare": LAZY_SCRIPTS[("dash_core_components", "Graph")] + _CONTROLS,
}


def lazy_scripts(layout: Any) -> set[str]:
    """The lazily loaded scripts the components of `layout` will ask for as they render."""
    if not hasattr(layout, "_traverse"):
        return set()
    found: set[str] = set()
    for component in [layout, *layout._traverse()]:
        found.update(LAZY_SCRIPTS.get((getattr(component, "_namespace", ""), type(component).__name__), ()))
    return found


# Scripts Dash puts on every page that omnidash does not use: @babel/polyfill (core-js 2, for browsers AG Grid no
# longer supports; evaluating it took 100-200 ms of Chromium's main thread at every page load, before anything
# else could run; the one thing of it Dash's bundles call, regeneratorRuntime, comes from
# assets/vendor/regenerator-runtime.js) and dash_table's loader (no page shows a DataTable).
UNUSED_SCRIPTS = re.compile(r'<script src="[^"]*/_dash-component-suites/dash/'
                            r'(?:deps/polyfill@[^"]*|dash_table/bundle[^"]*)"></script>\n?')


class PageHtml:
    """The HTML Dash sends for a page, changed in two ways.

    It leaves out `UNUSED_SCRIPTS`. And its head asks the browser to fetch at once, in parallel with the
    scripts, what it would otherwise ask for one or more round trips later: the layout and the callback list
    (the renderer asks for them only after every script has run; the preloaded responses are the ones its
    fetch() then uses) and the page's `PAGE_SCRIPTS` (AG Grid's chunk, the dropdown's, plotly.js...).

    The lazy chunks' URLs carry no version, so they are not cached for good: a repeat visit revalidates
    them (304), now while the other scripts load."""

    def __init__(self, app: Dash, pages: list[Any]) -> None:
        self.pages = pages
        self.prefix = app.config.requests_pathname_prefix
        base = app.interpolate_index

        def interpolate_index(**kwargs: Any) -> str:
            if "scripts" in kwargs:
                kwargs["scripts"] = UNUSED_SCRIPTS.sub("", kwargs["scripts"])
            html_text = base(**kwargs)
            if not has_request_context():
                return html_text
            return html_text.replace("</head>", self.links("/" + request.path.strip("/")) + "</head>", 1)

        app.interpolate_index = interpolate_index

    def links(self, path: str) -> str:
        """The preload tags of the page at `path` (inside the app)."""
        # crossorigin: the renderer's fetch() is a same-origin CORS request with credentials, which a preload
        # matches only as `crossorigin` (anonymous = same-origin credentials)
        tags = [f'<link rel="preload" as="fetch" crossorigin href="{self.prefix}{name}">'
                for name in ("_dash-layout", "_dash-dependencies")]
        page = next((p for p in self.pages if p.match(path) is not None), None)
        suites = f"{self.prefix}_dash-component-suites/"
        for url in sorted(PAGE_SCRIPTS.get(page.name, ())) if page else ():
            tags.append(f'<link rel="preload" as="script" href="{suites}{url}">')
        return "".join(t + "\n" for t in tags)


PAGE_RETRY_MS = 5000


def page_kwargs(params: dict[str, str], pairs: list) -> dict[str, str]:
    """A page layout's keyword arguments: the query string's (key, value) pairs, then the path's parameters
    (which win, so `/runs/1?run_id=5` is run 1). Layouts take **kwargs and ignore those they do not know."""
    return {**dict(pairs), **params}


def source_switcher(settings: Settings) -> html.Nav | None:
    """Links to the other sources of this deployment (several databases), the current one marked."""
    sources: list[dict[str, str]] = settings.extra.get("sources") or []
    if len(sources) < 2:
        return None
    current = settings.extra.get("source_key")
    return html.Nav(
        [
            html.A(s["title"], href=s["href"], className="source-link" + (" active" if s["key"] == current else ""),
                   title=s.get("location_hint", ""))
            for s in sources
        ],
        className="source-switcher",
        **{"aria-label": "data sources"},
    )


def account_menu(settings: Settings, accounts: bool) -> html.Span | None:
    """The signed-in user's name and role, and a sign-out button (a POST form with the CSRF token)."""
    if not accounts or not has_request_context():
        return None
    from flask_login import current_user

    from omnidash.auth.web import csrf_token

    if not current_user.is_authenticated or getattr(current_user, "via_token", False):
        return None  # (a token has no session to sign out of; Dash renders the layout on its first request)
    root = settings.extra.get("root_path", settings.url_prefix.rstrip("/"))
    return html.Span(
        [
            html.Span(f"{current_user.name} ({current_user.role})", className="account-name"),
            html.Form(
                [dcc.Input(type="hidden", name="csrf", value=csrf_token()),
                 html.Button("Sign out", type="submit", className="sign-out")],
                action=f"{root}/logout", method="POST", className="sign-out-form",
            ),
        ],
        className="account-menu",
    )


def error_panel(title: str, detail: str, note: str = "") -> html.Div:
    """A readable error state for a whole page."""
    return html.Div([html.H2(title), html.P(detail, className="error-detail"), *([html.P(note)] if note else [])],
                    className="error-panel")


# -- a whole deployment -----------------------------------------------------------------
def build_wsgi(config: Any, stores: dict[str, RunStore], auth: Any = None) -> Callable:
    """One WSGI application for an AppConfig: every source mounted at its path, a root that lists them.

    `stores` maps each source key to its opened RunStore.
    """
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    sources = config.sources
    links = [
        {"key": s.key, "title": s.title or s.key, "href": config.mount_path(s) + "/"} for s in sources
    ]
    mounts: dict[str, Callable] = {}
    for source in sources:
        settings = config.settings_for(source)
        settings.extra.update(sources=links, source_key=source.key, root_path=config.url_prefix)
        if len(sources) == 1:
            settings.extra["root_path"] = config.mount_path(source)
        mounts[config.mount_path(source)] = create_app(stores[source.key], settings, auth=auth).server
    if len(sources) > 1:
        mounts.setdefault(config.url_prefix, root_server(config, stores, auth))
    root = mounts.pop("", None)
    if root is None:
        root = redirect_app(config.url_prefix + "/" if config.url_prefix else links[0]["href"])
    wsgi = DispatcherMiddleware(root, mounts) if mounts else root
    return slash_redirect(wsgi, list(mounts))


def root_server(config: Any, stores: dict[str, RunStore], auth: Any = None) -> Flask:
    """The app at the deployment root when there are several sources: redirect, health, login."""
    server = Flask("omnidash-root")
    if auth is not None:
        from omnidash.auth.web import install_auth

        install_auth(server, auth)
    first = config.mount_path(config.sources[0]) + "/"

    @server.get("/")
    def home():
        return redirect(first)

    @server.get("/healthz")
    def healthz():
        report, ok = {}, True
        for source in config.sources:
            try:
                stores[source.key].ping()
                report[source.key] = {"status": "ok", "source": stores[source.key].kind,
                                      "runs": stores[source.key].count("")}
            except Exception as e:  # noqa: BLE001 - any failure means this source is down
                ok = False
                report[source.key] = {"status": "unavailable", "reason": str(e)}
        body = {"status": "ok" if ok else "unavailable", "sources": report,
                "runs": sum(r.get("runs", 0) for r in report.values())}
        return jsonify(body), 200 if ok else 503

    @server.get("/api/sources")
    def list_sources():
        return jsonify([{"key": s.key, "title": s.title or s.key, "path": config.mount_path(s) + "/"}
                        for s in config.sources])

    return server


def redirect_app(target: str) -> Callable:
    """A WSGI app that redirects everything to `target` (the root outside --url-prefix)."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") in ("", "/"):
            start_response("302 Found", [("Location", target), ("Content-Length", "0")])
            return [b""]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [f"Not found. omnidash is at {target}\n".encode()]

    return app


def slash_redirect(wsgi: Callable, mounts: list[str]) -> Callable:
    """`/omnidash` -> `/omnidash/` for every mount point, so relative Dash URLs resolve."""
    exact = set(mounts)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in exact:
            query = environ.get("QUERY_STRING")
            location = environ.get("SCRIPT_NAME", "") + path + "/" + (f"?{query}" if query else "")
            start_response("308 Permanent Redirect", [("Location", location), ("Content-Length", "0")])
            return [b""]
        return wsgi(environ, start_response)

    return app


__all__ = ["create_app", "create_server", "build_wsgi", "assets_folder", "dash"]
