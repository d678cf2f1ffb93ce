"""Small text helpers shared by every page (no dash, no database)."""

from __future__ import annotations

IRREGULAR = {"series": "series", "match": "matches", "entry": "entries", "query": "queries", "differs": "differ"}


def plural(n: int | float, noun: str, many: str | None = None) -> str:
    """`1 run`, `2 runs`, `1,200 runs`, `0 runs`: a count with its noun in the right number."""
    count = f"{n:,}" if isinstance(n, int) else f"{n:g}"
    return f"{count} {noun if n == 1 else (many or IRREGULAR.get(noun) or noun + 's')}"
