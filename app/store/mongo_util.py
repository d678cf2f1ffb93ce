"""Helpers of the MongoDB backend: connection errors, URIs, run ids as stored, GridFS files."""

from __future__ import annotations

import functools
import mimetypes
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import uri_parser
from pymongo.errors import (
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)

from omnidash.core.ids import id_candidates
from omnidash.core.types import RunId
from omnidash.store.base import (
    AuthenticationFailed,
    BadRequest,
    ReadOnly,
    StoreError,
    StoreUnavailable,
)

F = TypeVar("F", bound=Callable[..., Any])
AUTH_FAILED_CODES = {18}  # AuthenticationFailed
UNAUTHORIZED_CODES = {13}  # Unauthorized (a read-only user writing)


def database_of(uri: str) -> str:
    """The database named by the URI path, "sacred" when empty."""
    try:
        parsed = uri_parser.parse_uri(uri, validate=False, warn=True)
    except Exception:  # noqa: BLE001 - reported by the client constructor
        return "sacred"
    return parsed.get("database") or "sacred"


def describe_uri(uri: str) -> str:
    """`mongodb://host:port/db` without user or password."""
    try:
        parsed = uri_parser.parse_uri(uri, validate=False, warn=True)
    except Exception:  # noqa: BLE001
        return "mongodb (unparsable URI)"
    hosts = ",".join(f"{h}:{p}" for h, p in parsed.get("nodelist") or [])
    scheme = "mongodb+srv" if uri.startswith("mongodb+srv://") else "mongodb"
    return f"{scheme}://{hosts}/{parsed.get('database') or 'sacred'}"


def hosts_of(uri: str) -> str:
    try:
        parsed = uri_parser.parse_uri(uri, validate=False, warn=True)
    except Exception:  # noqa: BLE001
        return "the configured host"
    return ",".join(f"{h}:{p}" for h, p in parsed.get("nodelist") or []) or "the configured host"


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    # pymongo appends the topology description after a comma: keep the useful head
    return line.split(", Timeout:")[0][:300]


def translate(e: PyMongoError, where: str) -> StoreError:
    """A pymongo error as the store's error (one line, no traceback)."""
    if isinstance(e, OperationFailure):
        if e.code in AUTH_FAILED_CODES or "auth" in str(e).lower() and "fail" in str(e).lower():
            return AuthenticationFailed(f"MongoDB at {where} refused the credentials: {first_line(e)}")
        if e.code in UNAUTHORIZED_CODES:
            return ReadOnly(f"MongoDB user may not do this: {first_line(e)}")
        if e.code in (2, 51091) and "regular expression" in str(e).lower():
            return BadRequest(f"invalid regular expression: {first_line(e)}")  # Python's re accepted it
        return StoreError(f"MongoDB error: {first_line(e)}")
    if isinstance(e, ConnectionFailure):
        return StoreUnavailable(f"cannot reach MongoDB at {where}: {first_line(e)}")
    return StoreError(f"MongoDB error: {first_line(e)}")


def mongo_errors(method: F) -> F:
    """Turn pymongo errors raised by a store method into StoreError subclasses."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except PyMongoError as e:
            raise translate(e, self.where) from None

    return wrapper  # type: ignore[return-value]


WRITE_CONFLICT_CODES = {112, 16908292}  # MongoDB's WriteConflict; DocumentDB's PostgreSQL deadlock
T = TypeVar("T")


def retry_conflicts(write: Callable[[], T], attempts: int = 8) -> T:
    """Run an idempotent write ($addToSet, $pull, a conditional $set) again when the server aborted it as
    a write conflict: FerretDB 2 / DocumentDB runs an update_many as one PostgreSQL statement, and two such
    statements locking the same runs in another order end in "deadlock detected" for one of them."""
    for attempt in range(attempts):
        try:
            return write()
        except OperationFailure as e:
            conflict = e.code in WRITE_CONFLICT_CODES or "deadlock detected" in str(e)
            if not conflict or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0.005, 0.02) * (attempt + 1))
    raise AssertionError("unreachable")


def id_key(run_id: Any) -> tuple[str, Any]:
    """A dict key that tells the _id 5 from the _id "5" (two different runs to MongoDB)."""
    return (type(run_id).__name__, run_id)


def by_id_key(docs: Iterable[Mapping[str, Any]]) -> dict[tuple[str, Any], Any]:
    """{id_key(_id): document}."""
    return {id_key(d.get("_id")): d for d in docs}


def match_id(found: Mapping[tuple[str, Any], Any], run_id: RunId) -> Any:
    """The entry of `found` (keyed by id_key) for this id or its int/str twin, exact form first; or None."""
    return next((found[k] for c in id_candidates(run_id) if (k := id_key(c)) in found), None)


def as_object_id(value: Any) -> Any:
    """An ObjectId from an ObjectId, its hex string, or an extended-JSON {"$oid"}; else the value."""
    if isinstance(value, Mapping) and "$oid" in value:
        value = value["$oid"]
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    return value


def content_type_of(name: str, stored: Any) -> str | None:
    """contentType from GridFS when set, else guessed from the file name."""
    if isinstance(stored, str) and stored:
        return stored
    return mimetypes.guess_type(name)[0]


def source_pairs(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(name, file id) per experiment.sources entry: [name, id], {"py/tuple": [...]} or {name, file_id}."""
    exp = doc.get("experiment")
    sources = exp.get("sources") if isinstance(exp, Mapping) else None
    out: list[tuple[str, Any]] = []
    for item in sources if isinstance(sources, list) else []:
        if isinstance(item, Mapping) and "py/tuple" in item:
            item = item["py/tuple"]
        if isinstance(item, Mapping):
            item = [item.get("name"), item.get("file_id")]
        if isinstance(item, list | tuple) and len(item) >= 2 and isinstance(item[0], str):
            out.append((item[0], as_object_id(item[1])))
    return out


def artifact_refs(doc: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(name, file id) per runs.artifacts entry."""
    items = doc.get("artifacts")
    out: list[tuple[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            out.append((item["name"], as_object_id(item.get("file_id"))))
    return out


def collapse_paths(paths: set[str]) -> dict[str, int]:
    """A projection from document paths, dropping paths inside another projected path."""
    chosen: list[str] = []
    for p in sorted(paths, key=lambda s: (s.count("."), s)):
        if not any(p == c or p.startswith(c + ".") for c in chosen):
            chosen.append(p)
    return {p: 1 for p in chosen}
