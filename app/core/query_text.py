"""Writing values into query-language text (the language `omnidash.store.query` tokenizes and compiles).

One rule for every place that builds a query: the table's filters and suggestions, the compare page's brushed
ranges and run-id lists.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Words the tokenizer reads as operators or as the literals true/false/null; a value spelled so is quoted.
KEYWORDS = frozenset({"and", "or", "not", "in", "has", "exists", "missing", "true", "false", "null"})
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def quote(value: Any, bare_words: bool = True) -> str:
    """A value as the query language reads it: numbers and true/false/null bare, strings in JSON quotes.

    With `bare_words` a plain word (`baseline`, `config.opt`) stays bare, unless it is a keyword or looks
    like a number; without it every string is quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if bare_words and _BARE.match(text) and text.lower() not in KEYWORDS and not _looks_numeric(text):
        return text
    return json.dumps(text)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return bool(re.match(r"^-?\d", text))
    return True
