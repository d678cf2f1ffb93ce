"""CSV cells a spreadsheet will not execute (OWASP "CSV Injection"), shared by every CSV export."""

from __future__ import annotations

import json
import math
import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_text(text: str) -> str:
    """Text a spreadsheet will not run as a formula (OWASP "CSV Injection"): a cell starting with
    = + - @ tab or CR gets a leading ', unless it is a plain number such as "-3" (kept, it is data)."""
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> Any:
    """Lists joined with ", ", numbers as numbers, booleans lower case, objects as JSON, text formula-safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return ""
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        value = ", ".join("" if v is None else str(v) if not isinstance(v, dict | list) else json.dumps(v)
                          for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v))
    return csv_text(str(value))
