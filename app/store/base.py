"""The run store interface shared by the MongoDB and the FileStorage backends.

Nothing here imports dash. Every screen, the JSON API and the CLI talk to a `RunStore`; the values it
returns (`RunId`, `RunPage`, `ColumnInfo`, `FileInfo`, `Series`, `DeleteReport`) live in `omnidash.core.types`.
Rows are plain dicts whose keys are column names (see `omnidash.store.columns`).
"""

from __future__ import annotations

import abc
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from omnidash.core.types import ColumnInfo, DeleteReport, FileInfo, RunId, RunPage, Series

DEFAULT_PROBABLY_DEAD_AFTER = 120.0
MAX_PAGE = 10_000


class StoreError(Exception):
    """Base class of every error the store raises on purpose; `http_status` is its status in the JSON API."""

    http_status = 400

    def payload(self) -> dict[str, Any]:
        """The JSON body that tells a client about this error."""
        return {"error": str(self) or type(self).__name__}


class StoreUnavailable(StoreError):
    """The database (or folder) cannot be reached right now."""

    http_status = 503


class AuthenticationFailed(StoreUnavailable):
    """The database refused our credentials."""


class NotFound(StoreError):
    """No such run, artifact or source file."""

    http_status = 404


class ReadOnly(StoreError):
    """A write was attempted on a read-only store."""

    http_status = 409


class Forbidden(StoreError):
    """The current user's role does not allow this write."""

    http_status = 403


class Conflict(StoreError):
    """A write based on a value that changed meanwhile; `current` is the value stored now."""

    http_status = 409

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current

    def payload(self) -> dict[str, Any]:
        """The error with the notes stored now, so the client can show both versions."""
        return {**super().payload(), "notes": self.current}


class BadRequest(StoreError):
    """A parameter is malformed (bad column name, bad sort, ...)."""

    http_status = 400


def check_page(offset: Any, limit: Any) -> tuple[int, int]:
    """Validated (offset, limit): whole numbers, offset >= 0, 0 <= limit <= MAX_PAGE."""
    try:
        offset, limit = int(offset), int(limit)
    except (TypeError, ValueError):
        raise BadRequest("offset and limit must be whole numbers") from None
    if offset < 0:
        raise BadRequest("offset must be >= 0")
    if limit < 0 or limit > MAX_PAGE:
        raise BadRequest(f"limit must be between 0 and {MAX_PAGE}")
    return offset, limit


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool = False

    @classmethod
    def parse_list(cls, text: str | Sequence[str] | None, default: str = "-id") -> list[SortKey]:
        """Parse `"-id,config.lr"` (or a list of such items) into sort keys."""
        if text is None or text == "" or text == []:
            text = default
        items = split_top_level(text) if isinstance(text, str) else list(text)
        keys = []
        for item in items:
            item = item.strip()
            if not item:
                continue
            desc = item.startswith("-")
            name = item[1:] if item[:1] in "+-" else item
            if not name:
                raise BadRequest(f"empty sort column in {text!r}")
            keys.append(cls(name, desc))
        return keys

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.column


def split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses: "-last_avg(loss, 5),id" -> ["-last_avg(loss, 5)", "id"]."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


# A store method whose name starts so writes (a method added later is a write by its name, too).
WRITE_PREFIXES = ("set_", "add_", "update_", "save_", "remove_", "delete_")
READS_NAMED_AS_WRITES = frozenset({"delete_preview"})


def is_write(method: str) -> bool:
    """Whether the store method of this name changes what is stored."""
    return method.startswith(WRITE_PREFIXES) and method not in READS_NAMED_AS_WRITES


def _counted(method: Callable[..., Any], name: str) -> Callable[..., Any]:
    """`method` counting itself in `changes()` once it has returned or failed (a failure may have written part)."""

    @functools.wraps(method)
    def write(self: RunStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            writes, deletions = self.__dict__.get("_changes", (0, 0))
            self.__dict__["_changes"] = (writes + 1, deletions + name.startswith("delete_"))

    write.counts_writes = True  # type: ignore[attr-defined]
    return write


class RunStore(abc.ABC):
    """Reads Sacred runs and writes Omniboard-compatible annotations.

    Every write method of a backend (see `is_write`) is counted in `changes()`, so the caches in front of a
    store (`omnidash.store.cache`) drop what they read before any write made through it."""

    kind: str = "abstract"  # "mongodb" | "files"
    read_only: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in dir(cls):
            attr = getattr(cls, name, None)
            if (is_write(name) and inspect.isfunction(attr) and not getattr(attr, "counts_writes", False)
                    and not getattr(attr, "__isabstractmethod__", False)):
                setattr(cls, name, _counted(attr, name))

    def changes(self) -> tuple[int, int]:
        """(writes, deletes) made through this store object so far; a cache keeps a value only while they hold."""
        return self.__dict__.get("_changes", (0, 0))

    def __init__(self, probably_dead_after: float = DEFAULT_PROBABLY_DEAD_AFTER) -> None:
        self.probably_dead_after = float(probably_dead_after)

    # -- health ---------------------------------------------------------
    @abc.abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable when the source cannot be reached."""

    def describe(self) -> str:
        """A short human description of the source (no password)."""
        return self.kind

    def close(self) -> None:  # noqa: B027 - optional hook; most stores hold nothing to release
        """Release connections or threads; the default store holds none."""

    # -- listing --------------------------------------------------------
    def list_runs(
        self,
        query: str = "",
        sort: str | Sequence[str] | None = "-id",
        offset: int = 0,
        limit: int = 50,
        columns: Sequence[str] | None = None,
    ) -> RunPage:
        """One page of rows matching `query` (query language), sorted, with the total count."""
        offset, limit = check_page(offset, limit)
        return self._list_page(query, sort, offset, limit, None if columns is None else list(columns))

    @abc.abstractmethod
    def _list_page(self, query: str, sort: str | Sequence[str] | None, offset: int, limit: int,
                   columns: list[str] | None) -> RunPage:
        """`list_runs` once the page is checked: what each backend implements."""

    @abc.abstractmethod
    def count(self, query: str = "") -> int: ...

    def iter_rows(
        self, query: str = "", sort: str | Sequence[str] | None = "-id", columns: Sequence[str] | None = None,
        batch: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """Every matching row, in pages (for CSV export)."""
        offset = 0
        while True:
            page = self.list_runs(query, sort, offset, batch, columns)
            yield from page.rows
            offset += len(page.rows)
            if not page.rows or offset >= page.total:
                return

    @abc.abstractmethod
    def run_ids(self, query: str = "") -> list[RunId]:
        """Ids of every run matching `query`."""

    @abc.abstractmethod
    def columns(self) -> list[ColumnInfo]:
        """Every column known for the current runs (base, config leaves, metric summaries, custom)."""

    @abc.abstractmethod
    def distinct(self, column: str, limit: int = 100) -> list[Any]:
        """Distinct values of a column (autocomplete)."""

    # -- one run ---------------------------------------------------------
    @abc.abstractmethod
    def get_run(self, run_id: RunId, fields: Sequence[str] | None = None) -> dict[str, Any]:
        """The run document, JSON-safe (ISO dates, ObjectIds as str). Raises NotFound.

        `fields` limits it to these top-level fields (and `_id`), so a caller that needs the config
        does not fetch megabytes of captured output."""

    def get_runs(self, run_ids: Iterable[RunId], fields: Sequence[str] | None = None) -> dict[RunId, dict[str, Any]]:
        """{requested id: get_run(id, fields)} for the ids that name a run (unknown ids are left out).

        Backends override it to read all the runs at once (the compare page asks for dozens)."""
        out: dict[RunId, dict[str, Any]] = {}
        for rid in run_ids:
            try:
                out[rid] = self.get_run(rid, fields)
            except NotFound:
                continue
        return out

    @abc.abstractmethod
    def list_artifacts(self, run_id: RunId) -> list[FileInfo]: ...

    @abc.abstractmethod
    def open_artifact(self, run_id: RunId, name: str) -> tuple[IO[bytes], FileInfo]:
        """A binary stream of one artifact. Raises NotFound (also for names escaping the run)."""

    @abc.abstractmethod
    def list_sources(self, run_id: RunId) -> list[FileInfo]: ...

    @abc.abstractmethod
    def open_source(self, run_id: RunId, name: str) -> tuple[IO[bytes], FileInfo]: ...

    # -- metrics ---------------------------------------------------------
    @abc.abstractmethod
    def metric_names(self, run_ids: Iterable[RunId]) -> dict[RunId, list[str]]: ...

    def metric_series(
        self,
        run_ids: Iterable[RunId],
        names: Iterable[str],
        max_points: int | None = 1000,
        x_range: tuple[float, float] | None = None,
        since_step: float | None = None,
    ) -> list[Series]:
        """Series per (run, name), steps sorted, downsampled to max_points keeping extremes."""
        ids, wanted = list(run_ids), [n for n in names if isinstance(n, str)]
        if not ids or not wanted:
            return []
        return self._metric_series(ids, wanted, max_points, x_range, since_step)

    @abc.abstractmethod
    def _metric_series(self, run_ids: list[RunId], names: list[str], max_points: int | None,
                       x_range: tuple[float, float] | None, since_step: float | None) -> list[Series]:
        """`metric_series` for some runs and metric names: what each backend implements."""

    def iter_metric_series(self, run_ids: Iterable[RunId], names: Iterable[str]) -> Iterator[Series]:
        """Every full-resolution series of these runs and metrics, one at a time (for caches).

        Backends override it to read everything in one pass; this default reads a few runs at a time.
        """
        ids, wanted = list(run_ids), list(names)
        for start in range(0, len(ids), 4):
            yield from self.metric_series(ids[start : start + 4], wanted, max_points=None)

    # -- writes (Omniboard-compatible) ------------------------------------
    @abc.abstractmethod
    def set_tags(self, run_id: RunId, tags: list[str]) -> None:
        """$set omniboard.tags."""

    @abc.abstractmethod
    def set_notes(self, run_id: RunId, notes: str, expected: str | None = None) -> None:
        """$set omniboard.notes. With `expected` (the notes as they were when editing began), only if the
        notes shown now (omniboard.notes, else meta.comment) are still those, atomically; else Conflict
        carrying the current notes."""

    @abc.abstractmethod
    def update_tags(
        self, run_ids: Iterable[RunId], add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> int:
        """Atomically add/remove tags on many runs ($addToSet/$pull). Returns runs matched."""

    @abc.abstractmethod
    def delete_run(self, run_id: RunId) -> DeleteReport:
        """Delete a run with its metrics, artifacts and unshared sources."""

    def delete_preview(self, run_id: RunId) -> DeleteReport:
        """What delete_run would remove, without removing it."""
        raise NotImplementedError

    # -- Omniboard shared columns ------------------------------------------
    def custom_columns(self) -> list[dict[str, Any]]:
        """omniboard.custom.columns documents: {name, config_path}."""
        return []

    def metric_columns(self) -> list[dict[str, Any]]:
        """omniboard.metric.columns documents: {name, metric_name, extrema, lastn}."""
        return []

    def add_custom_column(self, name: str, config_path: str) -> None:
        raise ReadOnly("this source cannot store shared columns")

    def add_metric_column(self, name: str, metric_name: str, extrema: str, lastn: int = 1) -> None:
        raise ReadOnly("this source cannot store shared columns")

    # -- saved views (dashboard-owned) ---------------------------------------
    def list_views(self) -> list[dict[str, Any]]:
        return []

    def save_view(self, name: str, state: dict[str, Any]) -> None:
        raise ReadOnly("this source cannot store views")

    def delete_view(self, name: str) -> None:
        raise ReadOnly("this source cannot store views")

    # -- helpers ------------------------------------------------------------
    def check_writable(self) -> None:
        if self.read_only:
            raise ReadOnly("this dashboard is read-only")
