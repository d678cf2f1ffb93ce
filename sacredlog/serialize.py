"""Values the way Sacred 0.8.7 stores them: `flatten` mirrors `sacred.serializer.flatten` (jsonpickle with
its numpy handlers), `normalize_config` mirrors Sacred's config normalisation, `dumps_json` its file style."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import zlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

_np: ModuleType | None
try:  # numpy is optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised only without numpy
    _np = None

_PLAIN = (str, int, float, bool, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)
NUMPY_TEXT_THRESHOLD = 16  # jsonpickle stores arrays with more elements as base64(zlib(bytes))


def flatten(obj: Any) -> Any:
    """A JSON-compatible copy of `obj`, shaped like `json.loads(jsonpickle.encode(obj, keys=True))`."""
    if obj.__class__ in _PLAIN_TYPES:
        return obj
    if _np is not None:
        if isinstance(obj, _np.ndarray):
            return _flatten_ndarray(obj)
        if isinstance(obj, _np.generic):
            return _flatten_numpy_scalar(obj)
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, Mapping):
        return {_flatten_key(k): flatten(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [flatten(v) for v in obj]
    if isinstance(obj, tuple):
        return {"py/tuple": [flatten(v) for v in obj]}
    if isinstance(obj, set | frozenset):
        return {"py/set": [flatten(v) for v in obj]}
    if isinstance(obj, bytes):
        return {"py/b64": base64.b64encode(obj).decode("ascii")}
    if isinstance(obj, _dt.datetime | _dt.date | _dt.time | _dt.timedelta):
        return _flatten_reduce(obj)
    if isinstance(obj, complex):
        return {"py/object": "builtins.complex", "py/newargs": {"py/tuple": [obj.real, obj.imag]}}
    return str(obj)


def _flatten_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    return "json://" + json.dumps(flatten(key), separators=(",", ":"))


def _flatten_reduce(obj: Any) -> dict[str, Any]:
    """datetime/date/time/timedelta as jsonpickle's `__reduce__` form."""
    cls, args = obj.__reduce__()[:2]
    name = f"{cls.__module__}.{cls.__qualname__}"
    flat_args = [
        base64.b64encode(a).decode("ascii") if isinstance(a, bytes) else flatten(a) for a in args
    ]
    return {"py/object": name, "__reduce__": [{"py/type": name}, flat_args]}


def _dtype_name(dtype: Any) -> str:
    dtype = dtype.newbyteorder("N")
    return dtype.name if dtype.kind in "biufcmM" and dtype.isnative else dtype.str


def _flatten_numpy_scalar(value: Any) -> dict[str, Any]:
    cls = type(value)
    return {
        "py/object": f"{cls.__module__}.{cls.__name__}",
        "dtype": _dtype_name(value.dtype),
        "value": flatten(value.tolist()),
    }


def _byteorder(arr: Any) -> str:
    order = arr.dtype.byteorder
    if order == "=":
        return "<" if _little_endian() else ">"
    return order


def _flatten_ndarray_values(arr: Any, data: dict[str, Any]) -> None:
    """jsonpickle's by-value encoding: nested lists up to 16 elements, else base64(zlib(bytes))."""
    if arr.size <= NUMPY_TEXT_THRESHOLD:
        data["dtype"] = _dtype_name(arr.dtype)
        if not arr.flags.writeable:
            data["writeable"] = False
        data["values"] = flatten(arr.tolist())
        if 0 in arr.shape:
            data["shape"] = list(arr.shape)
        return
    buf = json.dumps(arr.tolist()).encode() if arr.dtype == object else arr.tobytes(order="A")
    data["values"] = base64.b64encode(zlib.compress(buf)).decode("ascii")
    data["shape"] = list(arr.shape)
    data["dtype"] = _dtype_name(arr.dtype)
    if arr.dtype.byteorder != "|":
        data["byteorder"] = _byteorder(arr)
    if not arr.flags.writeable:
        data["writeable"] = False
    if not arr.flags.c_contiguous:
        data["order"] = "F"


def _flatten_ndarray(arr: Any) -> dict[str, Any]:
    """jsonpickle's NumpyNDArrayHandlerView: by value, or a view as its base plus offset/strides/shape."""
    data: dict[str, Any] = {"py/object": "numpy.ndarray"}
    base = arr.base
    if base is None and arr.flags.forc:
        _flatten_ndarray_values(arr, data)
        if not arr.flags.c_contiguous:
            data["order"] = "F"
    elif _np is not None and isinstance(base, _np.ndarray) and base.flags.forc:
        data["base"] = _flatten_ndarray(base)
        offset = arr.ctypes.data - base.ctypes.data
        if offset:
            data["offset"] = offset
        if not arr.flags.c_contiguous:
            data["strides"] = list(arr.strides)
        data["shape"] = list(arr.shape)
        data["dtype"] = _dtype_name(arr.dtype)
        if not arr.flags.writeable:
            data["writeable"] = False
        if _byteorder(arr) != "|" and _byteorder(arr) != _byteorder(base):
            data["byteorder"] = "S"
        if arr.size <= NUMPY_TEXT_THRESHOLD:
            data["values"] = flatten(arr.tolist())
            if 0 in arr.shape:
                data["shape"] = list(arr.shape)
    else:
        _flatten_ndarray_values(arr.copy(), data)
    return data


def _little_endian() -> bool:
    import sys

    return sys.byteorder == "little"


# -- config -----------------------------------------------------------------------
class ConfigError(ValueError):
    """A config key Sacred would refuse (dots, leading $, jsonpickle tags, '=')."""


_FORBIDDEN_KEYS = {"py/object", "py/type", "py/tuple", "py/set", "py/b64", "py/repr", "py/ref", "py/id",
                   "py/reduce", "py/state", "py/newargs", "py/seq", "py/iterator", "py/function",
                   "py/newargsex", "py/initargs", "py/module", "py/bytes"}


def normalize_config(config: Any, path: str = "") -> Any:
    """Sacred's `normalize_or_die` plus key checks: tuples -> lists, numpy scalars -> Python values."""
    if isinstance(config, Mapping):
        out = {}
        for key, value in config.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                raise ConfigError(f"config key {where!r} is not a string")
            if "." in key or key.startswith("$") or "=" in key or key in _FORBIDDEN_KEYS:
                raise ConfigError(f"invalid config key {where!r}: no '.', '=', leading '$' or jsonpickle tags")
            out[key] = normalize_config(value, where)
        return out
    if isinstance(config, list | tuple):
        return [normalize_config(v, path) for v in config]
    if _np is not None and isinstance(config, _np.generic):
        return config.item()
    if _np is not None and isinstance(config, _np.ndarray):
        return normalize_config(config.tolist(), path)
    return config


# -- FileStorage style ----------------------------------------------------------------
def dumps_json(obj: Any) -> str:
    """Sacred's FileStorage JSON: flattened, sort_keys, indent=2, bare NaN, ASCII, no trailing newline."""
    return json.dumps(flatten(obj), sort_keys=True, indent=2)


_C_ENCODER = json.JSONEncoder(allow_nan=True)


def _fast_list(items: list[Any], indent: str) -> str | None:
    """A list of plain numbers / comma-free strings as json.dumps(indent=2) would lay it out, via the C encoder."""
    if not items:
        return "[]"
    kinds = set(map(type, items))
    if not kinds <= {int, float, str}:
        return None
    if str in kinds and any(("," in x or "\\" in x or '"' in x) for x in items if type(x) is str):
        return None
    body = _C_ENCODER.encode(items)[1:-1]
    if str in kinds and not body.isascii():
        return None
    inner = indent + "  "
    return "[\n" + inner + body.replace(", ", ",\n" + inner) + "\n" + indent + "]"


def dumps_metrics_json(metrics: dict[str, dict[str, list[Any]]]) -> str:
    """`dumps_json(metrics)` for FileStorage's metrics.json, much faster for long series (same bytes)."""
    parts = []
    for name in sorted(metrics):
        series = metrics[name]
        fields = []
        for key in sorted(series):
            text = _fast_list(series[key], "    ")
            if text is None:
                return dumps_json(metrics)
            fields.append(f"    {json.dumps(key)}: {text}")
        parts.append(f"  {json.dumps(name)}: {{\n" + ",\n".join(fields) + "\n  }")
    if not parts:
        return "{}"
    return "{\n" + ",\n".join(parts) + "\n}"


def is_plain_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_python_scalar(value: Any) -> Any:
    """numpy scalars (and 0-d arrays) become Python numbers, as Sacred's log_scalar does with `.item()`."""
    if _np is not None and isinstance(value, _np.generic | _np.ndarray):
        try:
            return value.item()
        except ValueError:
            return value
    return value


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
