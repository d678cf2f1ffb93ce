"""Turn a Sacred run document into a table row. Shared by both backends, so their rows agree.

A *run document* here is the MongoObserver shape (sacred-format.md §2.2). The FileStorage backend
builds the same shape from run.json + config.json + info.json before calling `row_from_doc`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from omnidash.core import summaries as stats
from omnidash.core.values import (
    clean_number,
    decode_value,
    flatten_dict,
    get_path,
    iso,
    parse_time,
)

BASE_COLUMNS = [
    "id",
    "experiment",
    "command",
    "status",
    "start_time",
    "stop_time",
    "heartbeat",
    "duration",
    "hostname",
    "result",
    "tags",
    "notes",
]
DATE_COLUMNS = {"start_time", "stop_time", "heartbeat"}
TAIL_KEEP = 100  # values kept per metric summary for last_avg(metric, N <= TAIL_KEEP)



def escape_key(name: str) -> str:
    """Make a metric name usable as one MongoDB field name (no dots, no leading $)."""
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def unescape_key(key: str) -> str:
    return key.replace("%2E", ".").replace("%24", "$").replace("%25", "%")


# -- tags, notes, status -----------------------------------------------------------
def tags_of(doc: Mapping[str, Any]) -> list[str]:
    """omniboard.tags, else config.tags as a list or a comma-separated string."""
    ob = doc.get("omniboard")
    if isinstance(ob, Mapping) and isinstance(ob.get("tags"), list):
        return [str(t) for t in ob["tags"] if t is not None]
    config = doc.get("config")
    tags = config.get("tags") if isinstance(config, Mapping) else None
    if isinstance(tags, list):
        return [str(t) for t in tags if t is not None]
    if isinstance(tags, str):
        return [t.strip() for t in tags.split(",") if t.strip()]
    return []


def notes_of(doc: Mapping[str, Any]) -> str:
    """omniboard.notes, else meta.comment."""
    ob = doc.get("omniboard")
    if isinstance(ob, Mapping) and isinstance(ob.get("notes"), str):
        return ob["notes"]
    meta = doc.get("meta")
    comment = meta.get("comment") if isinstance(meta, Mapping) else None
    return comment if isinstance(comment, str) else ""


def status_of(doc: Mapping[str, Any], now: datetime, threshold: float) -> str:
    """Omniboard's rule: RUNNING and now - (heartbeat or start_time) > threshold -> PROBABLY_DEAD."""
    status = doc.get("status")
    status = status if isinstance(status, str) else "UNKNOWN"
    if status == "RUNNING":
        last = parse_time(doc.get("heartbeat")) or parse_time(doc.get("start_time"))
        if last is not None and (now - last).total_seconds() > threshold:
            return "PROBABLY_DEAD"
    return status


def duration_of(doc: Mapping[str, Any]) -> float | None:
    """heartbeat - start_time in seconds, as Omniboard."""
    start, beat = parse_time(doc.get("start_time")), parse_time(doc.get("heartbeat"))
    if start is None or beat is None:
        return None
    return round((beat - start).total_seconds(), 3)


def scalar_result(v: Any) -> Any:
    """Numbers as numbers; numpy scalars decoded; containers shown as text-friendly values."""
    v = clean_number(decode_value(v))
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    return v  # dicts and lists stay structured; the UI renders them compactly


def experiment_of(doc: Mapping[str, Any]) -> str | None:
    exp = doc.get("experiment")
    name = exp.get("name") if isinstance(exp, Mapping) else None
    return name if isinstance(name, str) else None


def hostname_of(doc: Mapping[str, Any]) -> str | None:
    host = doc.get("host")
    name = host.get("hostname") if isinstance(host, Mapping) else None
    return name if isinstance(name, str) else None


# -- metric summaries ----------------------------------------------------------------
def summarize(steps: Iterable[Any], values: Iterable[Any]) -> dict[str, Any]:
    """Every stored statistic (omnidash.core.summaries) over the values by step; count, last_step, and
    tail = the last TAIL_KEEP values by step (for windowed statistics)."""
    fast = _summarize_plain_numbers(steps, values)
    if fast is not None:
        return fast
    pairs = []
    for i, (s, v) in enumerate(zip(steps, values, strict=False)):
        s = decode_value(s)
        v = decode_value(v)
        s = s if isinstance(s, int | float) and not isinstance(s, bool) else i
        pairs.append((s, i, v))
    pairs.sort(key=lambda p: (p[0], p[1]))
    tail = [clean_number(float(v)) if isinstance(v, int | float) else None for _, _, v in pairs[-TAIL_KEEP:]]
    return {
        **stats.summarize([v for _, _, v in pairs]),
        "count": len(pairs),
        "last_step": pairs[-1][0] if pairs else None,
        "tail": tail,
    }


def _summarize_plain_numbers(steps: Any, values: Any) -> dict[str, Any] | None:
    """`summarize` for lists of plain ints/floats (the usual case), with numpy; same results, else None."""
    if not isinstance(steps, list) or not isinstance(values, list):
        return None
    n = min(len(steps), len(values))
    plain = {int, float}
    if n == 0 or not set(map(type, steps[:n])) <= plain or not set(map(type, values[:n])) <= plain:
        return None
    order = np.argsort(np.array(steps[:n], dtype=float), kind="stable")
    ordered = np.array(values[:n], dtype=float)[order]
    tail = [v if math.isfinite(v) else None for v in ordered[-TAIL_KEEP:].tolist()]
    return {
        **stats.summarize(stats.points(ordered)),
        "count": n,
        "last_step": steps[int(order[-1])],
        "tail": tail,
    }



# -- the row ----------------------------------------------------------------------
def row_from_doc(
    doc: Mapping[str, Any],
    now: datetime,
    threshold: float,
    summaries: Mapping[str, Mapping[str, Any]] | None = None,
    metric_columns: Iterable[str] = (),
    custom_columns: Iterable[Mapping[str, Any]] = (),
    omniboard_metric_columns: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The table row for one run document.

    `summaries` maps metric name -> summary dict (see `summarize`). `metric_columns` names the
    summary columns to include ("max(val.acc)"); custom columns are Omniboard's {name, config_path}.
    """
    row: dict[str, Any] = {
        "id": doc.get("_id"),
        "experiment": experiment_of(doc),
        "command": doc.get("command") if isinstance(doc.get("command"), str) else None,
        "status": status_of(doc, now, threshold),
        "start_time": iso(parse_time(doc.get("start_time"))),
        "stop_time": iso(parse_time(doc.get("stop_time"))),
        "heartbeat": iso(parse_time(doc.get("heartbeat"))),
        "duration": duration_of(doc),
        "hostname": hostname_of(doc),
        "result": scalar_result(doc.get("result")),
        "tags": tags_of(doc),
        "notes": notes_of(doc),
    }
    row.update(flatten_dict(doc.get("config"), "config"))
    summaries = summaries or {}
    for col in metric_columns:
        parsed = stats.parse_column(col)
        if parsed:
            reducer, metric, n = parsed
            row[col] = clean_number(stats.value(summaries.get(metric), reducer, n))
    for cc in custom_columns:
        name, path = cc.get("name"), cc.get("config_path")
        if isinstance(name, str) and isinstance(path, str):
            row[name] = clean_number(decode_value(get_path(doc, path)))
    for mc in omniboard_metric_columns:
        name, metric_name = mc.get("name"), mc.get("metric_name")
        if not (isinstance(name, str) and isinstance(metric_name, str)):
            continue
        ref = stats.omniboard_ref(mc.get("extrema"), metric_name, mc.get("lastn"))
        if ref is not None:
            row[name] = clean_number(stats.value(summaries.get(metric_name), ref[0], ref[2]))
    return row
