"""Build a MongoObserver-shaped run document from a FileStorageObserver run folder (sacred-format.md §3.3)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from omnidash.core.values import MAX_DEPTH, TOO_DEEP, iso, parse_time
from omnidash.store import rows
from omnidash.store.base import canonical_int

DATE_FIELDS = ("start_time", "stop_time", "heartbeat")


def run_id_of(dirname: str) -> int | str:
    """The id Sacred's FileStorageObserver gave: int for canonical whole numbers ("12", not "00012"), else the name."""
    number = canonical_int(dirname)
    return number if number is not None and number >= 0 else dirname


def build_doc(
    run_id: int | str,
    run_json: Any,
    config_json: Any,
    info_json: Any,
    sidecar: Any,
    summaries: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """The Mongo-shaped document (times as aware UTC datetimes) plus the dashboard field `omnidash`."""
    doc: dict[str, Any] = dict(run_json) if isinstance(run_json, Mapping) else {}
    doc.pop("omnidash", None)
    doc["_id"] = run_id
    for name in DATE_FIELDS:
        if name in doc:
            doc[name] = parse_time(doc[name])
    doc["config"] = dict(config_json) if isinstance(config_json, Mapping) else {}
    doc["info"] = dict(info_json) if isinstance(info_json, Mapping) else {}
    annotations = sidecar.get("omniboard") if isinstance(sidecar, Mapping) else None
    if isinstance(annotations, Mapping):
        doc["omniboard"] = dict(annotations)
    doc["omnidash"] = {
        "metrics": {rows.escape_key(name): summary for name, summary in summaries.items()},
        "duration": rows.duration_of(doc),
    }
    return doc


def parse_metrics(metrics_json: Any) -> dict[str, tuple[list[Any], list[Any], list[Any]]]:
    """metrics.json -> {name: (steps, values, timestamps)}, tolerating any malformed entry."""
    out: dict[str, tuple[list[Any], list[Any], list[Any]]] = {}
    if not isinstance(metrics_json, Mapping):
        return out
    for name, entry in metrics_json.items():
        if not isinstance(name, str) or not isinstance(entry, Mapping):
            continue
        steps = entry.get("steps")
        values = entry.get("values")
        stamps = entry.get("timestamps")
        values = values if isinstance(values, list) else []
        steps = steps if isinstance(steps, list) else list(range(len(values)))
        stamps = stamps if isinstance(stamps, list) else []
        out[name] = (steps, values, stamps)
    return out


def summaries_of(metrics_json: Any) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Per metric: the rows.summarize dict (without its tail) and the tail kept compactly as float array."""
    summaries: dict[str, dict[str, Any]] = {}
    tails: dict[str, np.ndarray] = {}
    for name, (steps, values, _stamps) in parse_metrics(metrics_json).items():
        summary = rows.summarize(steps, values)
        tail = summary.pop("tail", None) or []
        tails[name] = np.array([np.nan if v is None else v for v in tail], dtype=float)
        summaries[name] = summary
    return summaries, tails


def json_safe(value: Any, depth: int = 0) -> Any:
    """Dates as ISO 8601 with Z, NaN/inf as None, tuples as lists, other objects as text; clipped at MAX_DEPTH."""
    if isinstance(value, Mapping | list | tuple) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, datetime):
        return iso(parse_time(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return str(value)
