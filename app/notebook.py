"""The same runs in pandas: a small Python API over the store, for notebooks.

    import omnidash                                   # today's package name: app (from app import connect)
    runs = omnidash.connect("./my_runs")              # or "mongodb://host/db": the SOURCE of `omnidash serve`
    df = runs.frame('config.optimizer == "adam"')     # one row per run, the table's query language and columns
    long = runs.metrics(df.index, ["val.acc"])        # run_id, name, step, value, timestamp
    run = runs[3]                                     # .config .info .output .metrics["loss"] .artifacts .sources
    runs.add_tags([3, 4], ["best"])                   # the board's own store calls (refused when read-only)

Everything goes through the RunStore interface, so both backends give the same frames as /api/runs.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from omnidash.core.ids import plain_run_id
from omnidash.core.summaries import parse_column
from omnidash.core.types import ColumnInfo, FileInfo, RunId
from omnidash.core.values import parse_time
from omnidash.store.base import RunStore, StoreUnavailable
from omnidash.store.rows import notes_of, tags_of

__all__ = ["File", "Run", "Runs", "connect"]
V = TypeVar("V")


def connect(source: str | None = None, *, read_only: bool = False, runs_collection: str = "runs",
            metrics_collection: str = "metrics") -> Runs:
    """Runs of a MongoDB URI or a Sacred FileStorage folder (None: $MONGO_URI), as `omnidash serve` takes them.

    Raises ValueError without a source, StoreUnavailable (with the CLI's one-line message) when it cannot
    be opened."""
    from omnidash.cli import CliError, UsageError, open_source, resolve_source

    try:
        location = resolve_source(source)
        store = open_source(location, runs_collection, metrics_collection, read_only=read_only)
    except UsageError as e:
        raise ValueError(str(e)) from None
    except CliError as e:
        raise StoreUnavailable(str(e)) from None
    return Runs(store)


# -- typed frames --------------------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def typed_column(values: list[Any], dtype: str) -> pd.Series:
    """One column with a pandas dtype: numbers numeric (int64, Int64 with gaps, else float64), dates
    timezone-aware UTC, booleans bool/boolean, strings str; lists and mixed values stay objects."""
    present = [v for v in values if v is not None]
    if dtype == "mixed" and present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        dtype = "number"  # e.g. the result, when every run returned a number
    if dtype == "date":
        return pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    if dtype == "number" and all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in present):
        if present and all(_is_int(v) for v in present):
            return pd.Series(values, dtype="Int64" if len(present) < len(values) else "int64")
        return pd.Series([np.nan if v is None else float(v) for v in values], dtype="float64")
    if dtype == "bool" and all(isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="boolean" if len(present) < len(values) else "bool")
    if dtype == "string" and all(isinstance(v, str) for v in present):
        return pd.Series(values, dtype="str")
    return pd.Series(values, dtype=object)


def column_dtype(name: str, infos: Mapping[str, ColumnInfo]) -> str:
    if name in infos:
        return infos[name].dtype
    return "number" if parse_column(name) else "mixed"


def rows_frame(rows: list[dict[str, Any]], columns: Sequence[str], infos: Mapping[str, ColumnInfo]) -> pd.DataFrame:
    """Rows (dicts keyed by column name, as list_runs gives them) as a frame indexed by run id."""
    names = [c for c in columns if c != "id"]
    ids = [r.get("id") for r in rows]
    index = pd.Index(ids, name="id", dtype="int64" if ids and all(_is_int(i) for i in ids) else object)
    data = {c: typed_column([r.get(c) for r in rows], column_dtype(c, infos)).array for c in names}
    return pd.DataFrame(data, index=index, columns=names)


def series_frame(series: Iterable[Any]) -> pd.DataFrame:
    """Store Series objects as one long frame: run_id, name, step, value, timestamp (UTC)."""
    parts = {"run_id": [], "name": [], "step": [], "value": [], "timestamp": []}
    for s in series:
        n = len(s.steps)
        parts["run_id"] += [s.run_id] * n
        parts["name"] += [s.name] * n
        parts["step"] += list(s.steps)
        parts["value"] += [np.nan if v is None else v for v in s.values]
        stamps = list(s.timestamps) + [None] * (n - len(s.timestamps))
        parts["timestamp"] += stamps[:n]
    steps = np.asarray(parts["step"], dtype=float)
    integral = bool(len(steps)) and bool(np.all(np.isfinite(steps) & (steps == np.round(steps))))
    ids = parts["run_id"]
    return pd.DataFrame({
        "run_id": pd.Series(ids, dtype="int64" if ids and all(_is_int(i) for i in ids) else object),
        "name": pd.Series(parts["name"], dtype="str"),
        "step": pd.Series(steps.astype("int64") if integral else steps),
        "value": pd.Series(parts["value"], dtype="float64"),
        "timestamp": pd.to_datetime(pd.Series(parts["timestamp"], dtype=object), utc=True),
    })


def _ids(run_ids: Any) -> list[RunId]:
    """One id, a list of ids, or a frame / index / series of them."""
    if isinstance(run_ids, pd.DataFrame):
        run_ids = run_ids.index
    if isinstance(run_ids, int | str | np.integer):
        return [plain_run_id(run_ids)]
    return [plain_run_id(r) for r in run_ids]


def _tags(tags: str | Iterable[str]) -> list[str]:
    return [tags] if isinstance(tags, str) else list(tags)


# -- the runs of one source --------------------------------------------------------------------------------
class Runs:
    """The runs of one source; `runs[run_id]` is one Run."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"<omnidash runs: {self.store.describe()}, {len(self)} runs>"

    def __len__(self) -> int:
        return self.store.count("")

    def __getitem__(self, run_id: RunId) -> Run:
        return self.run(run_id)

    def run(self, run_id: RunId) -> Run:
        """One run (raises NotFound)."""
        return Run(self.store, _ids(run_id)[0])

    def ids(self, query: str = "") -> list[RunId]:
        return self.store.run_ids(query)

    def columns(self) -> list[str]:
        """Every column name the table knows (base, config.*, metric summaries such as max(val.acc))."""
        return [c.name for c in self.store.columns()]

    def frame(self, query: str = "", columns: Sequence[str] | None = None, sort: str = "id") -> pd.DataFrame:
        """One row per run matching `query`, indexed by run id; every column by default (as /api/runs)."""
        infos = {c.name: c for c in self.store.columns()}
        cols = list(columns) if columns else list(infos)
        wanted = ["id", *[c for c in cols if c != "id"]]
        rows = list(self.store.iter_rows(query, sort, wanted))
        return rows_frame(rows, wanted, infos)

    def metrics(self, run_ids: Any, names: str | Sequence[str] | None = None,
                max_points: int | None = None) -> pd.DataFrame:
        """A long frame (run_id, name, step, value, timestamp) of these runs' metrics (all names by default);
        `max_points` downsamples each series as the charts do (extremes kept), None keeps every point."""
        ids = _ids(run_ids)
        if isinstance(names, str):
            names = [names]
        if names is None:
            names = sorted({n for ns in self.store.metric_names(ids).values() for n in ns})
        series = self.store.metric_series(ids, list(names), max_points=max_points) if ids and names else []
        return series_frame(series)

    def importance(self, metric: str, query: str = "") -> pd.DataFrame:
        """Which settings matter for `metric` over the runs of `query` (as GET /api/importance), one row per key."""
        from omnidash.store.importance import store_importance

        result = store_importance(self.store, metric, query)
        frame = pd.DataFrame([{k: v for k, v in vars(key).items() if k != "levels"} for key in result.keys])
        frame.attrs.update(runs=result.runs, message=result.message, too_few=result.too_few, r2=result.r2)
        return frame.set_index("key") if len(frame) else frame

    # -- annotations: the board's store calls ------------------------------------------------------------
    def add_tags(self, run_ids: Any, tags: str | Iterable[str]) -> int:
        """Add tags to runs (omniboard.tags); returns the runs matched. ReadOnly on a read-only source."""
        return self.store.update_tags(_ids(run_ids), add=_tags(tags))

    def remove_tags(self, run_ids: Any, tags: str | Iterable[str]) -> int:
        return self.store.update_tags(_ids(run_ids), remove=_tags(tags))

    def set_notes(self, run_id: RunId, notes: str) -> None:
        """Replace a run's notes (omniboard.notes)."""
        self.store.set_notes(_ids(run_id)[0], notes)


class Run:
    """One run: its document, metrics as Series, artifacts and sources."""

    def __init__(self, store: RunStore, run_id: RunId) -> None:
        self.store = store
        self.doc = store.get_run(run_id)
        self.id: RunId = self.doc.get("_id", run_id)

    def __repr__(self) -> str:
        return f"<omnidash run {self.id}: {self.experiment} {self.status}>"

    def reload(self) -> Run:
        self.doc = self.store.get_run(self.id)
        return self

    @property
    def config(self) -> dict[str, Any]:
        return self.doc.get("config") or {}

    @property
    def info(self) -> dict[str, Any]:
        return self.doc.get("info") or {}

    @property
    def output(self) -> str:
        """The captured console output."""
        return self.doc.get("captured_out") or ""

    @property
    def status(self) -> str | None:
        return self.doc.get("status")

    @property
    def experiment(self) -> str | None:
        return (self.doc.get("experiment") or {}).get("name")

    @property
    def result(self) -> Any:
        return self.doc.get("result")

    @property
    def start_time(self) -> pd.Timestamp | None:
        t = parse_time(self.doc.get("start_time"))
        return pd.Timestamp(t) if t else None

    @property
    def stop_time(self) -> pd.Timestamp | None:
        t = parse_time(self.doc.get("stop_time"))
        return pd.Timestamp(t) if t else None

    @property
    def tags(self) -> list[str]:
        return tags_of(self.doc)

    @property
    def notes(self) -> str:
        return notes_of(self.doc)

    @property
    def metrics(self) -> RunMetrics:
        return RunMetrics(self.store, self.id)

    @property
    def artifacts(self) -> Files:
        return Files(self.store, self.id, "artifact")

    @property
    def sources(self) -> Files:
        return Files(self.store, self.id, "source")

    def add_tags(self, tags: str | Iterable[str]) -> None:
        self.store.update_tags([self.id], add=_tags(tags))
        self.reload()

    def remove_tags(self, tags: str | Iterable[str]) -> None:
        self.store.update_tags([self.id], remove=_tags(tags))
        self.reload()

    def set_notes(self, notes: str) -> None:
        self.store.set_notes(self.id, notes)
        self.reload()


class _RunNames(Mapping[str, V]):
    """A mapping over names of one run's things (metrics, files); `_names` holds them, `_what` says what."""

    run_id: RunId
    _names: Sequence[str] | Mapping[str, Any]
    _what = "items"

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<{self._what} of run {self.run_id}: {', '.join(self._names)}>"


class RunMetrics(_RunNames[pd.Series]):
    """`run.metrics["loss"]`: every point of one metric as a Series indexed by step."""

    _what = "metrics"

    def __init__(self, store: RunStore, run_id: RunId) -> None:
        self.store, self.run_id = store, run_id
        self._names = store.metric_names([run_id]).get(run_id, [])

    def __getitem__(self, name: str) -> pd.Series:
        if name not in self._names:
            raise KeyError(name)
        frame = series_frame(self.store.metric_series([self.run_id], [name], max_points=None))
        return pd.Series(frame["value"].to_numpy(), index=pd.Index(frame["step"], name="step"), name=name)

    def frame(self, max_points: int | None = None) -> pd.DataFrame:
        """Every metric of the run as one long frame."""
        return series_frame(self.store.metric_series([self.run_id], self._names, max_points=max_points))


class Files(_RunNames["File"]):
    """A run's artifacts or sources by name."""

    def __init__(self, store: RunStore, run_id: RunId, kind: str) -> None:
        self.store, self.run_id, self.kind = store, run_id, kind
        self._what = f"{kind}s"
        infos = store.list_artifacts(run_id) if kind == "artifact" else store.list_sources(run_id)
        self._names = self._files = {f.name: f for f in infos}

    def __getitem__(self, name: str) -> File:
        return File(self.store, self.run_id, self._files[name], self.kind)


class File:
    """One artifact or source file: `read()` (bytes), `text()`, `save(path)`; PNG/JPEG show inline in Jupyter."""

    def __init__(self, store: RunStore, run_id: RunId, info: FileInfo, kind: str) -> None:
        self.store, self.run_id, self.info, self.kind = store, run_id, info, kind
        self.name = info.name
        self._data: bytes | None = None

    def __repr__(self) -> str:
        size = f", {self.info.size:,} bytes" if self.info.size is not None else ""
        return f"<{self.kind} {self.name!r} of run {self.run_id}{size}>"

    @property
    def content_type(self) -> str | None:
        return self.info.content_type or mimetypes.guess_type(self.name)[0]

    def read(self) -> bytes:
        if self._data is None:
            opener = self.store.open_artifact if self.kind == "artifact" else self.store.open_source
            stream, _ = opener(self.run_id, self.name)
            with stream:
                self._data = stream.read()
        return self._data

    def __bytes__(self) -> bytes:
        return self.read()

    def text(self, encoding: str = "utf-8") -> str:
        return self.read().decode(encoding, errors="replace")

    def save(self, path: str | Path) -> Path:
        """Write the file to `path` (into it, under its own name, when `path` is a folder); returns the path."""
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / Path(self.name).name
        target.write_bytes(self.read())
        return target

    def _repr_png_(self) -> bytes | None:
        return self.read() if self.content_type == "image/png" else None

    def _repr_jpeg_(self) -> bytes | None:
        return self.read() if self.content_type == "image/jpeg" else None
