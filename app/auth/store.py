"""A RunStore wrapper that checks the current user's role (and read-only mode) before every write.

The check sits in the store call path, so the JSON API, Dash callbacks and anything else that writes
through `get_store()` are covered, whatever buttons the UI shows.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

from omnidash.core.types import ColumnInfo, DeleteReport, FileInfo, RunId, RunPage, Series
from omnidash.store.base import Forbidden, ReadOnly, RunStore, is_write

# The role each write needs; unknown write-like methods (set_/add_/update_/save_/remove_ -> editor,
# delete_ -> admin) are guarded by name, so a write added to RunStore later is never left open.
WRITE_ROLES = {
    "set_tags": "editor",
    "set_notes": "editor",
    "update_tags": "editor",
    "add_custom_column": "editor",
    "add_metric_column": "editor",
    "save_view": "editor",
    "delete_view": "editor",
    "delete_run": "admin",
}
ROLE_ORDER = ("viewer", "editor", "admin")


def required_role(method: str) -> str | None:
    """The role a store method needs, or None for reads."""
    if method in WRITE_ROLES:
        return WRITE_ROLES[method]
    if not is_write(method):
        return None
    return "admin" if method.startswith("delete_") else "editor"


class GuardedStore(RunStore):
    """Delegates to `inner`; writes need `current_role()` high enough and the board not read-only.

    `current_role` is None when accounts are off (everyone may write); otherwise it returns the role of
    the user of the current request, or None for nobody (then every write is Forbidden).
    """

    def __init__(
        self,
        inner: RunStore,
        current_role: Callable[[], str | None] | None = None,
        read_only: bool = False,
        on_forbidden: Callable[[Forbidden], None] | None = None,
    ) -> None:
        self.inner = inner
        self.current_role = current_role
        self._read_only = read_only
        self.on_forbidden = on_forbidden  # e.g. marks the request so a Dash callback answers 403
        self.kind = inner.kind

    # -- guard ---------------------------------------------------------------------
    @property
    def read_only(self) -> bool:  # type: ignore[override]
        return self._read_only or bool(getattr(self.inner, "read_only", False))

    @property
    def probably_dead_after(self) -> float:  # type: ignore[override]
        return self.inner.probably_dead_after

    @probably_dead_after.setter
    def probably_dead_after(self, value: float) -> None:
        self.inner.probably_dead_after = value

    def role(self) -> str | None:
        """The current user's role ("admin" when accounts are off)."""
        return "admin" if self.current_role is None else self.current_role()

    def allowed(self, method: str) -> bool:
        """Whether the current user may call `method` now (for showing or hiding buttons)."""
        return self.refusal(method) is None

    def refusal(self, method: str) -> ReadOnly | Forbidden | None:
        """Why `method` would be refused now, or None; unlike a write, asking marks no request as denied."""
        needed = required_role(method)
        if needed is None:
            return None
        if self.read_only:
            return ReadOnly("this dashboard is read-only")
        role = self.role()
        if role is None:
            return Forbidden("sign in to change runs")
        if ROLE_ORDER.index(role) < ROLE_ORDER.index(needed):
            return Forbidden(f"your role ({role}) cannot do this; it needs {needed}")
        return None

    def _check(self, method: str) -> None:
        denied = self.refusal(method)
        if isinstance(denied, ReadOnly):
            raise denied
        if denied is not None:
            if self.on_forbidden is not None:
                self.on_forbidden(denied)
            raise denied

    def check_writable(self) -> None:
        if self.read_only:
            raise ReadOnly("this dashboard is read-only")

    def __getattr__(self, name: str) -> Any:
        """Methods other engineers add to a backend: guarded by name, then delegated."""
        attr = getattr(self.inner, name)
        if callable(attr) and required_role(name) is not None:
            def guarded(*args: Any, **kwargs: Any) -> Any:
                self._check(name)
                return attr(*args, **kwargs)

            return guarded
        return attr

    # -- reads -------------------------------------------------------------------------
    def changes(self) -> tuple[int, int]:
        return self.inner.changes()

    def ping(self) -> None:
        self.inner.ping()

    def describe(self) -> str:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()

    def list_runs(self, query: str = "", sort: str | Sequence[str] | None = "-id", offset: int = 0,
                  limit: int = 50, columns: Sequence[str] | None = None) -> RunPage:
        return self.inner.list_runs(query, sort, offset, limit, columns)

    def _list_page(self, query: str, sort: str | Sequence[str] | None, offset: int, limit: int,
                   columns: list[str] | None) -> RunPage:
        return self.list_runs(query, sort, offset, limit, columns)

    def count(self, query: str = "") -> int:
        return self.inner.count(query)

    def iter_rows(self, query: str = "", sort: str | Sequence[str] | None = "-id",
                  columns: Sequence[str] | None = None, batch: int = 1000):
        return self.inner.iter_rows(query, sort, columns, batch)

    def run_ids(self, query: str = "") -> list[RunId]:
        return self.inner.run_ids(query)

    def columns(self) -> list[ColumnInfo]:
        return self.inner.columns()

    def distinct(self, column: str, limit: int = 100) -> list[Any]:
        return self.inner.distinct(column, limit)

    def get_run(self, run_id: RunId, fields: Sequence[str] | None = None) -> dict[str, Any]:
        return self.inner.get_run(run_id, fields)

    def list_artifacts(self, run_id: RunId) -> list[FileInfo]:
        return self.inner.list_artifacts(run_id)

    def open_artifact(self, run_id: RunId, name: str) -> tuple[IO[bytes], FileInfo]:
        return self.inner.open_artifact(run_id, name)

    def list_sources(self, run_id: RunId) -> list[FileInfo]:
        return self.inner.list_sources(run_id)

    def open_source(self, run_id: RunId, name: str) -> tuple[IO[bytes], FileInfo]:
        return self.inner.open_source(run_id, name)

    def metric_names(self, run_ids: Iterable[RunId]) -> dict[RunId, list[str]]:
        return self.inner.metric_names(run_ids)

    def metric_series(self, run_ids: Iterable[RunId], names: Iterable[str], max_points: int | None = 1000,
                      x_range: tuple[float, float] | None = None, since_step: float | None = None) -> list[Series]:
        return self.inner.metric_series(run_ids, names, max_points=max_points, x_range=x_range,
                                        since_step=since_step)

    def _metric_series(self, run_ids: list[RunId], names: list[str], max_points: int | None,
                       x_range: tuple[float, float] | None, since_step: float | None) -> list[Series]:
        return self.metric_series(run_ids, names, max_points, x_range, since_step)

    def get_runs(self, run_ids: Iterable[RunId], fields: Sequence[str] | None = None) -> dict[RunId, dict[str, Any]]:
        return self.inner.get_runs(run_ids, fields)

    def iter_metric_series(self, run_ids: Iterable[RunId], names: Iterable[str]) -> Iterator[Series]:
        return self.inner.iter_metric_series(run_ids, names)

    def delete_preview(self, run_id: RunId) -> DeleteReport:
        return self.inner.delete_preview(run_id)

    def custom_columns(self) -> list[dict[str, Any]]:
        return self.inner.custom_columns()

    def metric_columns(self) -> list[dict[str, Any]]:
        return self.inner.metric_columns()

    def list_views(self) -> list[dict[str, Any]]:
        return self.inner.list_views()

    # -- writes ------------------------------------------------------------------------
    def set_tags(self, run_id: RunId, tags: list[str]) -> None:
        self._check("set_tags")
        self.inner.set_tags(run_id, tags)

    def set_notes(self, run_id: RunId, notes: str, expected: str | None = None) -> None:
        self._check("set_notes")
        self.inner.set_notes(run_id, notes, expected)

    def update_tags(self, run_ids: Iterable[RunId], add: Iterable[str] = (), remove: Iterable[str] = ()) -> int:
        self._check("update_tags")
        return self.inner.update_tags(run_ids, add=add, remove=remove)

    def delete_run(self, run_id: RunId) -> DeleteReport:
        self._check("delete_run")
        return self.inner.delete_run(run_id)

    def add_custom_column(self, name: str, config_path: str) -> None:
        self._check("add_custom_column")
        self.inner.add_custom_column(name, config_path)

    def add_metric_column(self, name: str, metric_name: str, extrema: str, lastn: int = 1) -> None:
        self._check("add_metric_column")
        self.inner.add_metric_column(name, metric_name, extrema, lastn)

    def save_view(self, name: str, state: dict[str, Any]) -> None:
        self._check("save_view")
        self.inner.save_view(name, state)

    def delete_view(self, name: str) -> None:
        self._check("delete_view")
        self.inner.delete_view(name)


def _delegate(name: str) -> Callable[..., Any]:
    def method(self: GuardedStore, *args: Any, **kwargs: Any) -> Any:
        self._check(name)
        return getattr(self.inner, name)(*args, **kwargs)

    method.__name__ = name
    return method


# Every other public RunStore method (present now or added to base.py later) delegates to the backend,
# guarded by its name, instead of falling back to the base class's default.
for _name, _value in list(vars(RunStore).items()):
    if callable(_value) and not _name.startswith("_") and _name not in GuardedStore.__dict__:
        setattr(GuardedStore, _name, _delegate(_name))
abc.update_abstractmethods(GuardedStore)
