"""Build a MongoObserver-shaped run document from a FileStorageObserver run folder (sacred-format.md §3.3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from omnidash.core.ids import canonical_int
from omnidash.core.values import parse_time
from omnidash.store import rows

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


