"""Backend-neutral helpers shared by the MongoDB and the FileStorage stores (validation, column types, series)."""

from __future__ import annotations

from typing import Any

import numpy as np

from omnidash.core import summaries as stats
from omnidash.core.downsample import downsample_indices
from omnidash.core.types import ColumnInfo, RunId, Series
from omnidash.core.values import decode_value, parse_time
from omnidash.store import rows
from omnidash.store.base import BadRequest, Conflict

BASE_DTYPES = {
    "id": "mixed",
    "experiment": "string",
    "command": "string",
    "status": "string",
    "start_time": "date",
    "stop_time": "date",
    "heartbeat": "date",
    "duration": "number",
    "hostname": "string",
    "result": "mixed",
    "tags": "list",
    "notes": "string",
}


def catalogue(config: list[ColumnInfo], metric_names: list[str], custom: list[dict[str, Any]],
              metric: list[dict[str, Any]]) -> list[ColumnInfo]:
    """The column catalogue: base columns, config leaves, every stored statistic of every metric (max(val.acc)),
    then Omniboard's custom and metric columns."""
    out = [ColumnInfo(name, "base", BASE_DTYPES.get(name, "mixed")) for name in rows.BASE_COLUMNS]
    out += config
    out += [ColumnInfo(stats.column_name(s.name, m), "metric", "number") for m in metric_names for s in stats.stored()]
    out += [ColumnInfo(c["name"], "custom", "mixed", label=c["name"], path=c["config_path"]) for c in custom]
    out += [ColumnInfo(c["name"], "metric", "number", label=c["name"]) for c in metric]
    return out


def metric_column_refs(columns: list[dict[str, Any]]) -> dict[str, tuple[str, str, int | None]]:
    """{Omniboard metric column name: (statistic, metric, window)} ({extrema: "avg"} is the mean)."""
    refs = {}
    for c in columns:
        metric = c.get("metric_name")
        ref = stats.omniboard_ref(c.get("extrema"), metric, c.get("lastn")) if isinstance(metric, str) else None
        if ref is not None and isinstance(c.get("name"), str):
            refs[c["name"]] = ref
    return refs


def dtype_of(values: list[Any]) -> str:
    """"number" | "string" | "bool" | "list" | "mixed" for a column's non-null values."""
    kinds = {_kind(t) for t in set(map(type, values)) if t is not type(None)}  # by type: 100,000 values in ms
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _kind(t: type) -> str:
    if issubclass(t, bool):
        return "bool"
    if issubclass(t, int | float):
        return "number"
    if issubclass(t, str):
        return "string"
    if issubclass(t, list):
        return "list"
    return "mixed"


def positive_int(value: Any, default: int = 1) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return default


def all_equal(values: list[Any]) -> bool:
    """Every value equal to the first, of the same type (1, 1.0 and True differ)."""
    if not values:
        return True
    first = values[0]
    return all(v == first and type(v) is type(first) for v in values)


MAX_TAG_LENGTH = 200  # characters of one tag
MAX_TAGS = 100  # tags on one run
MAX_NOTES_BYTES = 64 * 1024  # UTF-8 bytes of one run's notes


def check_tags(tags: Any) -> list[str]:
    """The one tag normalisation: a list of strings, each stripped, empty ones dropped, duplicates dropped
    (first kept); BadRequest for anything else, a tag over MAX_TAG_LENGTH or more than MAX_TAGS tags."""
    if isinstance(tags, str) or not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise BadRequest("tags must be a list of strings")
    out = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    for t in out:
        if len(t) > MAX_TAG_LENGTH:
            raise BadRequest(f"a tag can have at most {MAX_TAG_LENGTH} characters (this one has {len(t):,})")
    check_tag_count(out)
    return out


def check_tag_count(tags: list[Any], run_id: Any = None) -> None:
    """BadRequest when a run would carry more than MAX_TAGS tags."""
    if len(tags) > MAX_TAGS:
        where = f"run {run_id!r} " if run_id is not None else "a run "
        raise BadRequest(f"{where}can have at most {MAX_TAGS} tags ({len(tags)} asked)")


def check_notes(notes: Any) -> str:
    """Notes as given: a string of at most MAX_NOTES_BYTES (UTF-8); else BadRequest."""
    if not isinstance(notes, str):
        raise BadRequest("notes must be a string")
    size = len(notes.encode("utf-8", "surrogatepass"))
    if size > MAX_NOTES_BYTES:
        raise BadRequest(f"notes can be at most {MAX_NOTES_BYTES // 1024} KB ({size:,} bytes given)")
    return notes


def check_expected_notes(expected: Any) -> str | None:
    """The `expected` argument of set_notes: None (no check) or a string."""
    if expected is not None and not isinstance(expected, str):
        raise BadRequest("the expected notes must be a string")
    return expected


def notes_conflict(current: str) -> Conflict:
    """The error of a notes save whose starting point changed meanwhile."""
    return Conflict("someone else changed these notes while you were editing", current)


def check_column_name(name: Any) -> None:
    """Omniboard turns column names into field names: no dots, no leading $."""
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("a column needs a name")
    if "." in name or name.startswith("$"):
        raise BadRequest("column names cannot contain '.' or start with '$' (Omniboard uses them as field names)")


def series_points(
    steps: list[Any], values: list[Any], stamps: list[Any]
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """(steps, values, timestamps) sorted by step (stable); non-numeric values become NaN."""
    n = min(len(steps), len(values))
    plain = {int, float}
    if set(map(type, steps[:n])) <= plain and set(map(type, values[:n])) <= plain:  # the usual case
        xs = np.array(steps[:n], dtype=float)
        ys = np.array(values[:n], dtype=float)
    else:
        xs = np.empty(n, dtype=float)
        ys = np.empty(n, dtype=float)
        for i in range(n):
            s, v = decode_value(steps[i]), decode_value(values[i])
            xs[i] = s if isinstance(s, int | float) and not isinstance(s, bool) else i
            ys[i] = v if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
    order = np.argsort(xs, kind="stable")
    ts = [stamps[i] if i < len(stamps) else None for i in order]
    return xs[order], ys[order], ts


def value_list(a: np.ndarray) -> list[float | None]:
    """Floats as Python numbers, NaN/inf as None (one C call when nothing is missing)."""
    finite = np.isfinite(a)
    if finite.all():
        return a.tolist()
    return [v if ok else None for v, ok in zip(a.tolist(), finite.tolist(), strict=True)]


def step_list(a: np.ndarray) -> list[int | float]:
    """Steps as ints where they are whole numbers (one C call when all are)."""
    if np.isfinite(a).all() and (a == np.floor(a)).all():
        return a.astype(np.int64).tolist()
    return [int(x) if x.is_integer() else x for x in a.tolist()]


def make_series(
    run_id: RunId,
    name: str,
    steps: list[Any],
    values: list[Any],
    stamps: list[Any],
    max_points: int | None,
    x_range: tuple[float, float] | None,
    since_step: float | None,
) -> Series:
    """One Series: sorted by step, clipped, only steps after since_step, downsampled, gaps as None."""
    xs, ys, ts = series_points(steps, values, stamps)
    total = len(xs)
    keep = np.ones(total, dtype=bool)
    if x_range is not None:
        lo, hi = float(x_range[0]), float(x_range[1])
        keep &= (xs >= min(lo, hi)) & (xs <= max(lo, hi))
    if since_step is not None:
        keep &= xs > float(since_step)
    idx = np.flatnonzero(keep)
    if max_points is not None and len(idx) > max_points:
        idx = idx[downsample_indices(xs[idx], ys[idx], int(max_points))]
    return Series(
        run_id=run_id,
        name=name,
        steps=step_list(xs[idx]),
        values=value_list(ys[idx]),
        timestamps=[parse_time(ts[i]) for i in idx],
        total_points=total,
    )


def check_custom_column(name: Any, config_path: Any) -> str:
    """Validate an Omniboard custom column; returns the stripped config_path."""
    check_column_name(name)
    if not isinstance(config_path, str) or not config_path.strip():
        raise BadRequest("a custom column needs a config_path")
    return config_path.strip()


def check_metric_column(name: Any, metric_name: Any, extrema: Any, lastn: Any) -> dict[str, Any]:
    """Validate an Omniboard metric column; returns {metric_name, extrema, lastn}."""
    check_column_name(name)
    if not isinstance(metric_name, str) or not metric_name:
        raise BadRequest("a metric column needs a metric_name")
    if stats.by_omniboard(extrema) is None:
        raise BadRequest(f"extrema must be one of {', '.join(stats.omniboard_extrema())}")
    try:
        n = int(lastn)
    except (TypeError, ValueError):
        raise BadRequest("lastn must be a whole number >= 1") from None
    if n < 1:
        raise BadRequest("lastn must be a whole number >= 1")
    return {"metric_name": metric_name, "extrema": extrema, "lastn": n}
