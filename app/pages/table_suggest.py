"""Autocomplete for the filter bar: column names where a name is expected, values after an operator.

Pure: the caller passes the known column names and a `distinct(column)` function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from omnidash.core.status import STATUSES
from omnidash.store.query import quote

OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "~", "in", "not in", "has", "exists", "missing"]
_CONNECTIVES = {"and", "or", "not", "("}
_OPS = {"==", "!=", "<", "<=", ">", ">=", "~", "in", "has"}
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|\w+\([^)]*\)?|[\w.\-:]+|==|!=|<=|>=|[<>~()\[\],]')
MAX_SUGGESTIONS = 15
DURATION_HINTS = ["30s", "5m", "1h", "1d"]


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def suggestions(text: str, columns: Sequence[str], distinct: Callable[[str], list[Any]]) -> list[str]:
    """Whole-query completions of what is being typed (for a <datalist>)."""
    text = text or ""
    ends_with_space = text.endswith(" ")
    tokens = _tokens(text)
    partial = "" if ends_with_space or not tokens else tokens[-1]
    done = tokens if ends_with_space or not tokens else tokens[:-1]
    head = text[: len(text) - len(partial)] if partial else text
    prev = done[-1] if done else None
    prev2 = done[-2] if len(done) > 1 else None

    def complete(options: list[str]) -> list[str]:
        low = partial.lower().strip('"')
        picked = [o for o in options if o.lower().startswith(low)]
        picked += [o for o in options if low and low in o.lower() and o not in picked]
        return [head + o + " " for o in picked[:MAX_SUGGESTIONS]]

    if prev is None or prev.lower() in _CONNECTIVES:
        names = list(columns)
        short = [c[len("config."):] for c in columns if c.startswith("config.")]
        return complete(names + [s for s in short if s not in names])
    if prev in _OPS or (prev == "in" and prev2 == "not"):
        column = prev2 if prev != "in" or prev2 != "not" else (done[-3] if len(done) > 2 else "")
        return complete(_values(column or "", distinct))
    if prev == "[" or prev == ",":
        opening = [i for i, t in enumerate(done) if t == "["]
        column = done[opening[-1] - 2] if opening and opening[-1] >= 2 else ""
        if column == "in" and opening[-1] >= 3:
            column = done[opening[-1] - 3]
        return complete(_values(column, distinct))
    if prev2 is None or prev2.lower() in _CONNECTIVES:
        return complete(OPERATORS)
    return complete(["and", "or"])


def _values(column: str, distinct: Callable[[str], list[Any]]) -> list[str]:
    if column == "status":
        return list(STATUSES)
    if column == "duration":
        return list(DURATION_HINTS)
    if column in {"start_time", "stop_time", "heartbeat"}:
        return ["-1d", "-7d", "-30d"]
    if column and "." not in column and "(" not in column and column not in {"tags", "experiment", "hostname",
                                                                            "notes", "result", "id", "command"}:
        column = "config." + column
    try:
        values = distinct(column)
    except Exception:  # noqa: BLE001 - suggestions never break typing
        return []
    return [quote(v) for v in values if not isinstance(v, dict | list)][:200]
