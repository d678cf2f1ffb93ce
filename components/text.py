"""Small text helpers shared by every page (no dash, no database)."""

from __future__ import annotations

IRREGULAR = {"series": "series", "match": "matches", "entry": "entries", "query": "queries", "differs": "differ"}


def plural(n: int | float, noun: str, many: str | None = None) -> str:
    """`1 run`, `2 runs`, `1,200 runs`, `0 runs`: a count with its noun in the right number."""
    count = f"{n:,}" if isinstance(n, int) else f"{n:g}"
    if n == 1:
        return f"{count} {noun}"
    head, _, last = noun.rpartition(" ")
    last = IRREGULAR.get(last) or last + "s"
    return f"{count} {many or (head + ' ' + last if head else last)}"
