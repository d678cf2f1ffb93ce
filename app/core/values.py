"""Plain-value helpers: decode jsonpickle shapes, clean numbers, parse and print times, read dotted paths.

Pure: no store, no dash, no database driver. The store's rows, the analysis and the components share them.
"""

from __future__ import annotations

import base64
import math
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np


def clean_number(v: Any) -> Any:
    """NaN and infinities become None (JSON has no such numbers), also inside lists and dicts."""
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(v, list):
        return [clean_number(x) for x in v]
    if isinstance(v, dict):
        return {k: clean_number(x) for k, x in v.items()}
    return v


def decode_value(v: Any, depth: int = 0) -> Any:
    """Decode jsonpickle shapes (numpy scalars and arrays, tuples, sets) into plain values; parts nested deeper
    than MAX_DEPTH become the TOO_DEEP note, as in `clip_depth` (a 900-level document must not recurse without
    end)."""
    if isinstance(v, Mapping | list) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(v, Mapping):
        if "py/object" in v:
            kind = v.get("py/object")
            if isinstance(kind, str) and kind.startswith("numpy.") and "value" in v:
                return decode_value(v["value"], depth)
            if kind == "numpy.ndarray":
                return _decode_ndarray(v)
        if "py/tuple" in v and len(v) == 1:
            return [decode_value(x, depth + 1) for x in v["py/tuple"]]
        if "py/set" in v and len(v) == 1:
            return [decode_value(x, depth + 1) for x in v["py/set"]]
        return {k: decode_value(x, depth + 1) for k, x in v.items()}
    if isinstance(v, list):
        return [decode_value(x, depth + 1) for x in v]
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


def iso(d: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, milliseconds kept; a naive datetime is taken as UTC (as BSON stores it)."""
    if d is None:
        return None
    d = d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
    return d.isoformat(timespec="milliseconds").replace("+00:00", "Z")


MAX_DEPTH = 64  # documents are shown to this depth; deeper parts become TOO_DEEP (no RecursionError)
TOO_DEEP = f"… nested deeper than {MAX_DEPTH} levels: not shown"


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
        kind = type(v)
        if kind in _PLAIN:  # most leaves: nothing to decode or clean (the ABC checks below cost 4x more)
            out[path] = v
        elif kind is float:
            out[path] = clean_number(v)
        elif isinstance(v, Mapping) and v and "py/object" not in v:
            out.update(flatten_dict(v, path))
        else:
            out[path] = clean_number(decode_value(v))
    return out


_PLAIN = frozenset({str, int, bool, type(None)})  # exact types: numpy's scalars (float64 is a float) are decoded


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
