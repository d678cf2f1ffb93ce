"""The plotly.js the charts load: a partial bundle of the trace types omnidash draws, not all of plotly.js.

dcc.Graph loads plotly.js on first use from `_dash-component-suites/plotly/package_data/plotly.min.js` (4.8 MB,
every trace type plotly.js has). That URL answers with assets/vendor/plotly-omnidash.min.js instead: the same
plotly.js version with only `TRACES` (1.6 MB; Chromium spent about half the time in it, on every page
with a chart). assets/vendor/build_plotly.sh builds it from the npm package of the installed plotly's plotly.js.

The bundle is served only when its version is the one the installed plotly (Python) ships; after an upgrade of
plotly without a rebuild, the pages get plotly's own file and the log says why once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from functools import cache
from pathlib import Path

from flask import Flask, Response, request

log = logging.getLogger(__name__)

URL = "/_dash-component-suites/plotly/package_data/plotly.min.js"
# every trace type a figure of omnidash uses (components/figures.py, components/importance.py); scatter is part of
# plotly.js's core. tests/test_plotly_bundle.py checks the figures against this list and the bundle's header.
TRACES = ("scatter", "scattergl", "bar", "parcoords")
BUNDLE = "plotly-omnidash.min.js"
# "plotly.js (omnidash: scatter, bar, scattergl, parcoords - minified) v4.1.1"
HEADER = re.compile(r"plotly\.js \(omnidash: ([a-z0-9, ]+) - minified\) v(\S+)")


def bundle_path() -> Path:
    import omnidash.assets

    return Path(omnidash.assets.__file__).resolve().parent / "vendor" / BUNDLE


def bundle_header(body: bytes) -> tuple[set[str], str] | None:
    """(the trace types, the plotly.js version) the bundle's first lines name, or None."""
    found = HEADER.search(body[:400].decode("utf-8", "replace"))
    return ({t.strip() for t in found.group(1).split(",")}, found.group(2)) if found else None


@cache
def bundle() -> tuple[bytes, str] | None:
    """The partial bundle's bytes and ETag when it can stand in for the installed plotly.min.js; else None
    (logged)."""
    from plotly.offline import get_plotlyjs_version

    path = bundle_path()
    try:
        body = path.read_bytes()
    except OSError as e:
        log.warning("serving plotly.js's full bundle: %s is missing (%s)", path, e)
        return None
    header = bundle_header(body)
    wanted = get_plotlyjs_version()
    if header is None or header[1] != wanted or not set(TRACES) <= header[0]:
        log.warning("serving plotly.js's full bundle: %s is %s, the installed plotly ships plotly.js %s with "
                    "traces %s (rebuild it: bash assets/vendor/build_plotly.sh)", path, header, wanted, TRACES)
        return None
    return body, "omnidash-" + hashlib.sha256(body).hexdigest()[:20]


def install_plotly_bundle(server: Flask) -> None:
    """Answer dcc.Graph's request for plotly.js with the partial bundle (see the module's docstring)."""

    @server.before_request
    def partial_plotly() -> Response | None:
        if request.path != URL or request.method not in ("GET", "HEAD"):
            return None
        found = bundle()
        if found is None:
            return None  # Dash serves the installed plotly.min.js
        response = Response(found[0], mimetype="application/javascript")
        response.set_etag(found[1])
        return response.make_conditional(request)


__all__ = ["install_plotly_bundle", "TRACES", "URL"]
