"""Downloads of the run detail page: raw captured output (`?ansi=0`: without escape codes), one source file, all artifacts as a zip.

Single artifacts are served by the JSON API (`GET /api/runs/<id>/artifacts/<name>`). Every route goes
through the RunStore, which refuses names escaping the run (NotFound), so `../` never reaches a file.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from typing import IO

from flask import Blueprint, Flask, Response, request

from omnidash.api import error_response
from omnidash.context import get_store
from omnidash.core.output import strip_ansi
from omnidash.core.types import RunId
from omnidash.pages.run_detail_data import resolve_run
from omnidash.store.base import NotFound, StoreError

downloads = Blueprint("downloads", __name__, url_prefix="/download")
CHUNK = 64 * 1024
SPOOL_LIMIT = 32 * 1024 * 1024  # zips larger than this are built on disk


def register_downloads(server: Flask) -> None:
    """Mount the download routes on a Flask server."""
    server.register_blueprint(downloads)


def safe_filename(name: str, fallback: str = "download") -> str:
    """A file name for Content-Disposition: the last path part, no control characters."""
    base = re.sub(r"[\x00-\x1f\x7f]", "", str(name)).replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base if base not in ("", ".", "..") else fallback


def zip_entry_name(name: str) -> str:
    """A relative path inside the zip that cannot climb out when extracted (no `..`, no leading `/`)."""
    parts = [p for p in posixpath.normpath(str(name).replace("\\", "/")).split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "artifact"


def stream_file(stream: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()


def attachment(body: object, filename: str, mimetype: str, length: int | None = None) -> Response:
    response = Response(body, mimetype=mimetype, direct_passthrough=True)
    response.headers.set("Content-Disposition", "attachment", filename=filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if length is not None:
        response.content_length = length
    return response


@downloads.errorhandler(StoreError)
def store_error(e: StoreError) -> Response:
    """JSON with the status the error carries (404: no such run or file, 503: database down)."""
    return error_response(e)


@downloads.get("/runs/<run_id>/output.txt")
def output_text(run_id: str) -> Response:
    rid, doc = resolve_run(get_store(), run_id)
    text = doc.get("captured_out") if isinstance(doc.get("captured_out"), str) else ""
    plain = request.args.get("ansi") == "0"  # ?ansi=0: without escape codes (colours), as a text editor wants it
    if plain:
        text = strip_ansi(text)
    data = text.encode("utf-8", "replace")
    name = f"run-{safe_filename(str(rid), 'run')}-output{'-plain' if plain else ''}.txt"
    return attachment(data, name, "text/plain", len(data))


@downloads.get("/runs/<run_id>/sources/<path:name>")
def source_file(run_id: str, name: str) -> Response:
    rid, _doc = resolve_run(get_store(), run_id)
    stream, info = get_store().open_source(rid, name)
    return attachment(stream_file(stream), safe_filename(name, "source.py"), "application/octet-stream", info.size)


def build_zip(run_id: RunId) -> tuple[IO[bytes], int]:
    """All artifact files of a run in one zip (missing files listed in MISSING.txt)."""
    store = get_store()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)  # noqa: SIM115 - returned open
    missing: list[str] = []
    used: set[str] = set()
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=5) as zf:
        for info in store.list_artifacts(run_id):
            try:
                stream, _ = store.open_artifact(run_id, info.name)
            except NotFound:
                missing.append(info.name)
                continue
            entry = zip_entry_name(info.name)
            n = 1
            while entry in used:  # Sacred allows repeated artifact names
                n += 1
                stem, dot, ext = zip_entry_name(info.name).rpartition(".")
                entry = f"{stem} ({n}).{ext}" if dot and stem else f"{entry} ({n})"
            used.add(entry)
            with stream, zf.open(entry, "w", force_zip64=True) as out:
                shutil.copyfileobj(stream, out, CHUNK)
        if missing:
            zf.writestr("MISSING.txt", "These artifacts are recorded but their files are missing:\n"
                        + "\n".join(missing) + "\n")
    size = spool.tell()
    spool.seek(0)
    return spool, size


@downloads.get("/runs/<run_id>/artifacts.zip")
def artifacts_zip(run_id: str) -> Response:
    rid, _doc = resolve_run(get_store(), run_id)
    spool, size = build_zip(rid)
    return attachment(stream_file(spool), f"run-{safe_filename(str(rid), 'run')}-artifacts.zip",
                      "application/zip", size)
