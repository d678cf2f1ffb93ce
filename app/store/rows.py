"""Turn a Sacred run document into a table row. Shared by both backends, so their rows agree.

A *run document* here is the MongoObserver shape (sacred-format.md §2.2). The FileStorage backend
builds the same shape from run.json + config.json + info.json before calling `row_from_doc`.
"""

from __future__ import annotations

import base64
import math
import re
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
from omnidash.core.jsonsafe import MAX_DEPTH, TOO_DEEP, iso

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
REDUCERS = ("min", "max", "last", "mean")
TAIL_KEEP = 100  # values kept per metric summary for last_avg(metric, N <= TAIL_KEEP)

_METRIC_COL = re.compile(r"^(min|max|last|mean|last_avg)\((.+?)(?:,\s*(\d+))?\)$")


# -- metric columns ------------------------------------------------------------
def metric_column(reducer: str, metric: str, n: int | None = None) -> str:
    """`metric_column("max", "val.acc")` -> "max(val.acc)"; last_avg takes n."""
    if reducer == "last_avg":
        return f"last_avg({metric}, {int(n or 1)})"
    return f"{reducer}({metric})"


def parse_metric_column(name: str) -> tuple[str, str, int | None] | None:
    """ "last_avg(loss, 5)" -> ("last_avg", "loss", 5); non-metric names -> None."""
    m = _METRIC_COL.match(name.strip())
    if not m:
        return None
    reducer, metric, n = m.group(1), m.group(2).strip(), m.group(3)
    if reducer == "last_avg":
        return reducer, metric, int(n) if n else 1
    if n is not None:
        return None
    return reducer, metric, None


def summary_key(reducer: str, n: int | None = None) -> str:
    """Key of a reducer inside a stored summary dict."""
    return f"last_avg_{n}" if reducer == "last_avg" else reducer


def escape_key(name: str) -> str:
    """Make a metric name usable as one MongoDB field name (no dots, no leading $)."""
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def unescape_key(key: str) -> str:
    return key.replace("%2E", ".").replace("%24", "$").replace("%25", "%")


# -- values ----------------------------------------------------------------------
def clean_number(v: Any) -> Any:
    """NaN and infinities become None (JSON has no such numbers), also inside lists and dicts."""
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(v, list):
        return [clean_number(x) for x in v]
    if isinstance(v, dict):
        return {k: clean_number(x) for k, x in v.items()}
    return v


def decode_value(v: Any) -> Any:
    """Decode jsonpickle shapes (numpy scalars and arrays, tuples, sets) into plain values."""
    if isinstance(v, Mapping):
        if "py/object" in v:
            kind = v.get("py/object")
            if isinstance(kind, str) and kind.startswith("numpy.") and "value" in v:
                return decode_value(v["value"])
            if kind == "numpy.ndarray":
                return _decode_ndarray(v)
        if "py/tuple" in v and len(v) == 1:
            return [decode_value(x) for x in v["py/tuple"]]
        if "py/set" in v and len(v) == 1:
            return [decode_value(x) for x in v["py/set"]]
        return {k: decode_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _decode_ndarray(v: Mapping[str, Any]) -> Any:
    values = v.get("values")
    if isinstance(values, list):
        return values
    if isinstance(values, str):
        try:
            raw = zlib.decompress(base64.b64decode(values))
            dtype = np.dtype(v.get("dtype", "float64")).newbyteorder(v.get("byteorder", "="))
            arr = np.frombuffer(raw, dtype=dtype).reshape(v.get("shape", [-1]))
            return arr.tolist()
        except Exception:  # noqa: BLE001 - a malformed blob shows as text
            return values
    return values


def parse_time(v: Any) -> datetime | None:
    """BSON datetime (naive UTC) or ISO string -> aware UTC datetime."""
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    if isinstance(v, str):
        try:
            d = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
        return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
    if isinstance(v, Mapping) and "$date" in v:
        return parse_time(v["$date"])
    return None


def clip_depth(value: Any, depth: int = 0) -> Any:
    """`value` with every dict/list nested more than MAX_DEPTH levels down replaced by the TOO_DEEP note."""
    if isinstance(value, Mapping | list | tuple) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, Mapping):
        return {k: clip_depth(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clip_depth(v, depth + 1) for v in value]
    return value


def flatten_dict(d: Any, prefix: str) -> dict[str, Any]:
    """{"a": {"b": 1}} with prefix "config" -> {"config.a.b": 1}. Lists are leaves; __doc__ skipped."""
    out: dict[str, Any] = {}
    if not isinstance(d, Mapping):
        return out
    for k, v in d.items():
        if k == "__doc__":
            continue
        path = f"{prefix}.{k}"
        if isinstance(v, Mapping) and v and "py/object" not in v:
            out.update(flatten_dict(v, path))
        else:
            out[path] = clean_number(decode_value(v))
    return out


def get_path(doc: Any, path: str) -> Any:
    """Read a dotted path; tolerates keys that contain dots themselves (info/result)."""
    if not path:
        return doc
    if isinstance(doc, Mapping):
        if path in doc:
            return doc[path]
        head, _, rest = path.partition(".")
        if head in doc:
            return get_path(doc[head], rest) if rest else doc[head]
        # a key containing dots: try the longest prefix present
        parts = path.split(".")
        for i in range(len(parts) - 1, 1, -1):
            key = ".".join(parts[:i])
            if key in doc:
                return get_path(doc[key], ".".join(parts[i:]))
    if isinstance(doc, list):
        head, _, rest = path.partition(".")
        if head.isdigit() and int(head) < len(doc):
            return get_path(doc[int(head)], rest)
    return None


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
    """min, max, mean ignoring NaN/inf; last = value at the largest step; tail = last values by step."""
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
    nums = [float(v) for _, _, v in pairs if isinstance(v, int | float) and not isinstance(v, bool)]
    finite = [v for v in nums if math.isfinite(v)]
    tail = [clean_number(float(v)) if isinstance(v, int | float) else None for _, _, v in pairs[-TAIL_KEEP:]]
    last_v = pairs[-1][2] if pairs else None
    last_v = float(last_v) if isinstance(last_v, int | float) and not isinstance(last_v, bool) else None
    return {
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
        "mean": (sum(finite) / len(finite)) if finite else None,
        "last": clean_number(last_v),
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
    finite = ordered[np.isfinite(ordered)].tolist()
    tail = [v if math.isfinite(v) else None for v in ordered[-TAIL_KEEP:].tolist()]
    return {
        "min": min(finite) if finite else None,
        "max": max(finite) if finite else None,
        "mean": (sum(finite) / len(finite)) if finite else None,
        "last": tail[-1],
        "count": n,
        "last_step": steps[int(order[-1])],
        "tail": tail,
    }


def reduce_summary(summary: Mapping[str, Any] | None, reducer: str, n: int | None = None) -> Any:
    """Value of one metric column from a stored summary."""
    if not summary:
        return None
    if reducer == "last_avg":
        key = summary_key(reducer, n)
        if key in summary:
            return summary[key]
        tail = [v for v in (summary.get("tail") or [])[-(n or 1):] if v is not None]
        return (sum(tail) / len(tail)) if tail else None
    return summary.get(reducer)


def last_avg(summary: Mapping[str, Any], n: int) -> float | None:
    tail = [v for v in (summary.get("tail") or [])[-n:] if v is not None]
    return (sum(tail) / len(tail)) if tail else None


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
        parsed = parse_metric_column(col)
        if parsed:
            reducer, metric, n = parsed
            row[col] = clean_number(reduce_summary(summaries.get(metric), reducer, n))
    for cc in custom_columns:
        name, path = cc.get("name"), cc.get("config_path")
        if isinstance(name, str) and isinstance(path, str):
            row[name] = clean_number(decode_value(get_path(doc, path)))
    for mc in omniboard_metric_columns:
        name, metric = mc.get("name"), mc.get("metric_name")
        extrema = {"avg": "mean"}.get(mc.get("extrema"), mc.get("extrema"))
        if isinstance(name, str) and isinstance(metric, str) and extrema in (*REDUCERS, "last_avg"):
            n = _int(mc.get("lastn"), 1) if extrema == "last_avg" else None
            row[name] = clean_number(reduce_summary(summaries.get(metric), extrema, n))
    return row


def _int(v: Any, default: int) -> int:
    try:
        return max(1, int(v))
    except (TypeError, ValueError):
        return default
