"""The one conversion of stored values to strict JSON: dates as ISO 8601 with Z, NaN/inf as null.

The stores make run documents JSON-safe with `json_safe`; the JSON API encodes anything else with
`json_leaf` as `json.dumps(default=...)`. Both follow the same rule per value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from omnidash.core.values import MAX_DEPTH, TOO_DEEP, iso


def json_leaf(value: Any) -> Any:
    """A value JSON can hold for one value that is not a dict or list (sets become lists, others text)."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bytes | bytearray):  # bson.Binary too
        return f"<{len(value)} bytes>"
    if isinstance(value, set | frozenset):
        return list(value)
    if hasattr(value, "to_decimal"):  # bson.Decimal128
        return json_leaf(float(value.to_decimal()))
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return json_leaf(value.item())
        except (TypeError, ValueError):  # an array of more than one value
            return str(value)
    return str(value)


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` with every part made JSON-safe (see `json_leaf`), keys as text; clipped at MAX_DEPTH."""
    if isinstance(value, Mapping | list | tuple | set | frozenset) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, depth + 1) for v in value]
    return json_leaf(value)
