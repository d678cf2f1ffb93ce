"""Which settings matter, over a store: the runs of a query, their config keys and one metric column.

Reads through the listing API (`iter_rows` with columns), so it works the same on both backends and
takes the same query language and column names as the table and /api/runs.
"""

from __future__ import annotations

from typing import Any

from omnidash.core.importance import MIN_RUNS, ImportanceResult, settings_importance
from omnidash.core.summaries import parse_column
from omnidash.core.types import ColumnInfo
from omnidash.store.base import BadRequest, RunStore


def metric_choices(cols: list[ColumnInfo]) -> list[str]:
    """Columns a ranking can explain: metric summaries, the result, custom and numeric base columns."""
    out = []
    for c in cols:
        if c.kind == "metric" or c.name == "result" or (c.kind in ("custom", "path") and c.dtype != "string") or (
                c.kind == "base" and c.dtype == "number"):
            out.append(c.name)
    return out


def check_metric(store: RunStore, metric: str) -> tuple[str, list[str]]:
    """The metric column (stripped) and the config keys; BadRequest for anything else."""
    metric = (metric or "").strip()
    if not metric:
        raise BadRequest("metric is required, e.g. metric=max(val.acc) (a metric summary or result)")
    cols = store.columns()
    keys = [c.name for c in cols if c.kind == "config"]
    known = {c.name for c in cols if c.kind != "config"}
    parsed = parse_column(metric)
    metric_names = {p[1] for p in (parse_column(c.name) for c in cols if c.kind == "metric") if p}
    if metric in keys:
        raise BadRequest(f"{metric} is a config key: choose a metric column to explain, e.g. max(val.acc)")
    if metric not in known and not (parsed and parsed[1] in metric_names):
        hint = ", ".join(metric_choices(cols)[:6])
        raise BadRequest(f"unknown metric column {metric!r}" + (f"; known: {hint}, …" if hint else ""))
    return metric, keys


def importance_rows(store: RunStore, metric: str, query: str = "") -> tuple[list[dict[str, Any]], list[str], str]:
    """(rows with id, the config keys and the metric column; the config keys; the metric column)."""
    metric, keys = check_metric(store, metric)
    rows = list(store.iter_rows(query or "", sort="id", columns=["id", *keys, metric]))
    return rows, keys, metric


def store_importance(store: RunStore, metric: str, query: str = "", min_runs: int = MIN_RUNS) -> ImportanceResult:
    """Rank the config keys of the runs matching `query` by how much they drive `metric`."""
    rows, keys, metric = importance_rows(store, metric, query)
    return settings_importance(rows, keys, metric, min_runs=min_runs)
