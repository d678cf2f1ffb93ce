"""The JSON API (issue 2): runs, CSV export, one run, artifacts, metrics, tag/notes writes, delete.

Every route talks to the RunStore interface only. Errors are JSON `{"error": "..."}` with
400 (bad query or parameter, over a limit), 403 (role), 404 (no such run), 409 (read-only; or notes changed
since editing began, with the current `notes`), 503 (database down).
"""

from __future__ import annotations

import csv
import io
import json
import math
import mimetypes
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, stream_with_context
from pymongo.errors import ConnectionFailure
from werkzeug.exceptions import HTTPException

from omnidash.context import get_store
from omnidash.core.ids import parse_run_id
from omnidash.core.jsonsafe import json_leaf, json_safe
from omnidash.csv_safe import csv_cell, csv_text
from omnidash.store.base import MAX_PAGE, BadRequest, StoreError, split_top_level
from omnidash.store.common import check_notes, check_tags

api = Blueprint("omnidash_api", __name__, url_prefix="/api")

DEFAULT_LIMIT = 50
DEFAULT_MAX_POINTS = 1000
MAX_POINTS_LIMIT = 100_000
# Types a browser would run as active content: always served as attachments.
ACTIVE_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/javascript",
    "application/javascript",
}


def register_api(server: Flask) -> None:
    """Mount the API blueprint on a Flask server."""
    server.register_blueprint(api)


# -- helpers ------------------------------------------------------------------------
def json_response(payload: Any, status: int = 200) -> Response:
    """Strict JSON (no NaN: null), dates as ISO 8601 (the rule of `omnidash.core.jsonsafe`)."""
    try:
        body = json.dumps(payload, default=json_leaf, allow_nan=False, separators=(",", ":"))
    except ValueError:  # a NaN or an infinity somewhere: the slower walk over every value
        body = json.dumps(json_safe(payload), allow_nan=False, separators=(",", ":"))
    return Response(body, status=status, mimetype="application/json")


def error_response(error: StoreError) -> Response:
    """A store error as JSON: its payload (`{"error": ...}`) with the status it carries."""
    return json_response(error.payload(), error.http_status)


def _number_arg(name: str, kind: type[int] | type[float]) -> int | float | None:
    """The query parameter `name` as an int or a float (not NaN), or None when absent or blank."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        value = math.nan
    if value != value:  # unparsable, or NaN
        raise BadRequest(f"{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}")
    return value


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = _number_arg(name, int)
    if value is None:
        return default
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {value}")
    return int(value)


def _float_arg(name: str) -> float | None:
    value = _number_arg(name, float)
    return None if value is None else float(value)


def _list_arg(*names: str) -> list[str]:
    """Values of repeatable and/or comma-separated parameters, in order, without blanks."""
    out: list[str] = []
    for name in names:
        for raw in request.args.getlist(name):
            out.extend(part.strip() for part in split_top_level(raw))  # "last_avg(loss, 5)" stays whole
    return [item for item in out if item]


def _columns_arg() -> list[str] | None:
    columns = _list_arg("columns")
    return columns or None


def _listing_args() -> tuple[str, str, list[str] | None]:
    return request.args.get("q", ""), request.args.get("sort", "") or "-id", _columns_arg()


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not request.is_json:
        raise BadRequest("the request body must be JSON (Content-Type: application/json)")
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _tag_list(body: dict[str, Any], key: str) -> list[str]:
    """A list of tags from the body, normalised (and limited) by the store's one rule."""
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key!r} must be a list of strings")
    return check_tags(value)


# -- errors ------------------------------------------------------------------------------
def _error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


@api.errorhandler(StoreError)
def _store_error(e: StoreError) -> Response:
    """Every error the store raises on purpose, with the status it carries (409 with `notes` on a conflict)."""
    return error_response(e)


@api.errorhandler(Exception)
def _unexpected(e: Exception) -> Response:
    """HTTP errors, database outages raised as driver errors, and real bugs."""
    if isinstance(e, HTTPException):
        return _error(e.description or e.name, e.code or 500)
    if isinstance(e, ConnectionFailure):  # AutoReconnect and ServerSelectionTimeoutError among them
        return _error(f"the database cannot be reached: {e}", 503)
    current_app.logger.exception("API error on %s", request.path)
    return _error(f"internal error: {e.__class__.__name__}", 500)


@api.route("/<path:rest>", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
def unknown_route(rest: str) -> Response:
    """Unknown /api paths are JSON 404s (not the dashboard's HTML catch-all page)."""
    return _error(f"no API route /api/{rest}", 404)


# -- runs ---------------------------------------------------------------------------------
@api.get("/runs")
def list_runs() -> Response:
    query, sort, columns = _listing_args()
    offset = _int_arg("offset", 0, 0, 10**12)
    limit = _int_arg("limit", DEFAULT_LIMIT, 0, MAX_PAGE)
    store = get_store()
    if columns is None:  # every row column, metric summaries included (as the CSV export)
        columns = [c.name for c in store.columns()]
    page = store.list_runs(query, sort, offset, limit, columns)
    return json_response({"total": page.total, "offset": page.offset, "runs": page.rows})


@api.get("/runs.csv")
def runs_csv() -> Response:
    query, sort, columns = _listing_args()
    store = get_store()
    if columns is None:
        columns = [c.name for c in store.columns()]
    rows = store.iter_rows(query, sort, columns)
    first = next(rows, None)  # runs the query now, so a bad query is a 400, not a broken stream

    def generate() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([csv_text(c) for c in columns])
        batch = [first] if first is not None else []
        for row in _chain(batch, rows):
            writer.writerow([csv_cell(row.get(c)) for c in columns])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="runs.csv"'
    return response


def _chain(head: list[dict[str, Any]], tail: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from head
    yield from tail


@api.get("/runs/<run_id>")
def get_run(run_id: str) -> Response:
    return json_response(get_store().get_run(parse_run_id(run_id)))


@api.get("/runs/<run_id>/artifacts/<path:name>")
def get_artifact(run_id: str, name: str) -> Response:
    stream, info = get_store().open_artifact(parse_run_id(run_id), name)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    mimetype = content_type.split(";")[0].strip().lower()
    download = request.args.get("download") in ("1", "true") or mimetype in ACTIVE_TYPES
    if mimetype.startswith("text/") and mimetype not in ACTIVE_TYPES:
        content_type = f"{mimetype}; charset=utf-8"
    if mimetype in ACTIVE_TYPES:
        content_type = "application/octet-stream" if mimetype != "text/html" else "text/plain; charset=utf-8"

    def chunks() -> Iterator[bytes]:
        try:
            while True:
                chunk = stream.read(64 * 1024)
                if not chunk:
                    return
                yield chunk
        finally:
            stream.close()

    response = Response(chunks(), content_type=content_type, direct_passthrough=True)
    if info.size is not None:
        response.content_length = info.size
    filename = name.rsplit("/", 1)[-1]
    response.headers.set("Content-Disposition", "attachment" if download else "inline", filename=filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"
    if info.date is not None:
        response.last_modified = info.date
    return response


# -- metrics -----------------------------------------------------------------------------
@api.get("/metrics")
def metrics() -> Response:
    run_ids = [parse_run_id(r) for r in _list_arg("runs", "run")]
    if not run_ids:
        raise BadRequest("runs is required: /api/metrics?runs=1,2&name=loss")
    names = _list_arg("name", "names")
    max_points = _int_arg("max_points", DEFAULT_MAX_POINTS, 2, MAX_POINTS_LIMIT)
    x_min, x_max = _float_arg("x_min"), _float_arg("x_max")
    x_range = None
    if x_min is not None or x_max is not None:
        x_range = (x_min if x_min is not None else -math.inf, x_max if x_max is not None else math.inf)
    since_step = _float_arg("since_step")
    store = get_store()
    if not names:
        per_run = store.metric_names(run_ids)
        names = sorted({n for run_names in per_run.values() for n in run_names})
    series = store.metric_series(run_ids, names, max_points=max_points, x_range=x_range, since_step=since_step)
    return json_response({"series": [asdict(s) for s in series]})


# -- which settings matter ------------------------------------------------------------------
@api.get("/importance")
def importance() -> Response:
    """Config keys of the runs matching q ranked by how much they drive `metric` (app/core/importance.py)."""
    from omnidash.store.importance import store_importance

    result = store_importance(get_store(), request.args.get("metric", ""), request.args.get("q", ""))
    return json_response(result.to_dict())


# -- writes ------------------------------------------------------------------------------
@api.patch("/runs/<run_id>")
def patch_run(run_id: str) -> Response:
    body = _json_body()
    if "tags" not in body and "notes" not in body:
        raise BadRequest('give "tags" (a list of strings) and/or "notes" (a string)')
    unknown = set(body) - {"tags", "notes", "expected_notes"}
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    rid = parse_run_id(run_id)
    store = get_store()
    result: dict[str, Any] = {"id": rid}
    tags = _tag_list(body, "tags") if "tags" in body else None  # everything checked before any write
    if "notes" in body:
        if not isinstance(body["notes"], str):
            raise BadRequest('"notes" must be a string')
        check_notes(body["notes"])
        store.set_notes(rid, body["notes"], body.get("expected_notes"))  # a Conflict leaves the tags alone
        result["notes"] = body["notes"]
    if tags is not None:
        store.set_tags(rid, tags)
        result["tags"] = tags
    return json_response(result)


@api.put("/runs/<run_id>/notes")
def put_notes(run_id: str) -> Response:
    """{"notes": text, "expected": the notes as they were when editing began (optional)}; 409 with the
    current notes when they changed meanwhile."""
    body = _json_body()
    unknown = set(body) - {"notes", "expected"}
    if unknown or "notes" not in body:
        raise BadRequest('give "notes" (a string) and optionally "expected" (the notes you started from)')
    rid = parse_run_id(run_id)
    get_store().set_notes(rid, body["notes"], body.get("expected"))
    return json_response({"id": rid, "notes": body["notes"]})


@api.post("/tags")
def bulk_tags() -> Response:
    body = _json_body()
    add, remove = _tag_list(body, "add"), _tag_list(body, "remove")
    if not add and not remove:
        raise BadRequest('give "add" and/or "remove" (lists of tags)')
    store = get_store()
    if "runs" in body:
        runs = body["runs"]
        if not isinstance(runs, list) or not all(isinstance(r, int | str) and not isinstance(r, bool) for r in runs):
            raise BadRequest('"runs" must be a list of run ids')
        run_ids = [parse_run_id(r) if isinstance(r, str) else r for r in runs]
    elif "q" in body:
        if not isinstance(body["q"], str):
            raise BadRequest('"q" must be a query string')
        run_ids = store.run_ids(body["q"])
    else:
        raise BadRequest('give "runs" (a list of ids) or "q" (a query)')
    matched = store.update_tags(run_ids, add=add, remove=remove) if run_ids else 0
    return json_response({"matched": matched, "add": add, "remove": remove})


@api.delete("/runs/<run_id>")
def delete_run(run_id: str) -> Response:
    report = get_store().delete_run(parse_run_id(run_id))
    return json_response({"deleted": report.run_id, **{k: v for k, v in asdict(report).items() if k != "run_id"}})
