"""User regular expressions (`~` queries, `$regex` filters) compiled for RE2, a linear-time engine.

Python's `re` backtracks: `^([a-z/-]|[a-z/-])+X` takes exponential time on a 40-character string and
holds the GIL while it does, which stalls every request of the process. RE2 (google-re2) runs in time
linear in the text, so a query never costs more than a scan of the data.

What is accepted is MongoDB's `$regex` language (PCRE) minus the constructs that need backtracking:
backreferences, lookahead/lookbehind, atomic groups, possessive quantifiers, recursion and conditionals
are refused with a `RegexError` (a BadRequest, so a 400 in the API and a message in the query bar) that
says why. The MongoDB backend validates with the same function before sending the pattern to the
server's `$regex`, so both backends accept the same patterns. Options: i, m, s, x as in MongoDB.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2

from omnidash.store.base import BadRequest

SUPPORTED_OPTIONS = "imsx"
MAX_PATTERN_LENGTH = 4096
_MAX_MEM = 8 << 20  # bytes of compiled program: refuses patterns like a{1000}{1000}

# PCRE constructs RE2 does not run, with the reason shown to the user
_UNSUPPORTED = (
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
    ("(?>", "atomic groups (?>...)"),
    ("(?R", "recursion (?R)"),
    ("(?(", "conditionals (?(...)...)"),
)


# a plain literal (what re.escape makes of free text): Python's re finds it in linear time, and several
# times faster per call than the RE2 binding, so it runs there
_LITERAL = re.compile(r"(?:[^\\.^$|?*+()\[\]{}]|\\[^A-Za-z0-9])*")


class RegexError(BadRequest):
    """A pattern the linear-time engine refuses (invalid, needs backtracking, or too large)."""


def _strip_extended(pattern: str) -> str:
    """The pattern with x-mode whitespace and # comments removed (outside classes, unless escaped)."""
    out: list[str] = []
    i, in_class, n = 0, False, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch in " \t\n\r\f\v":
            i += 1
            continue
        elif ch == "#":
            while i < n and pattern[i] != "\n":
                i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _why(pattern: str, engine_message: str) -> str:
    """A user-facing reason for RE2's refusal."""
    for token, name in _UNSUPPORTED:
        if token in pattern:
            return f"{name} is not supported (queries use a linear-time regex engine)"
    if "++" in pattern or "*+" in pattern or "?+" in pattern or "}+" in pattern:
        return "possessive quantifiers are not supported (queries use a linear-time regex engine)"
    if any(f"\\{d}" in pattern for d in "123456789") or "\\k<" in pattern or "(?P=" in pattern:
        return "backreferences are not supported (queries use a linear-time regex engine)"
    if "too large" in engine_message or "too big" in engine_message or "repetition size" in engine_message:
        return f"the pattern is too large ({engine_message})"
    return engine_message


def backtracks(pattern: str) -> bool:
    """Whether a backtracking engine (the PCRE behind a server's $regex) may take more than about linear
    time on this pattern: a repeated group holding a repetition or an alternation (`(a+)+`, `(a|aa)+`,
    exponential), or three or more unbounded repetitions (`a*a*a*b`, polynomial)."""
    stack: list[bool] = []  # per open group: whether it holds a repetition or an alternation
    unbounded, i, n = 0, 0, len(pattern)
    last_group_busy: bool | None = None  # set right after a ')' until the next token
    while i < n:
        ch = pattern[i]
        quantifier = ch in "*+?" or (ch == "{" and i + 1 < n and pattern[i + 1].isdigit())
        if quantifier:
            if last_group_busy:
                return True
            if ch in "*+" or (ch == "{" and ",}" in pattern[i : pattern.find("}", i) + 1]):
                unbounded += 1
            if stack:
                stack[-1] = True
            i = pattern.find("}", i) + 1 if ch == "{" else i + 1
            if i < n and pattern[i] in "?+":  # lazy or possessive mark
                i += 1
            last_group_busy = None
            continue
        last_group_busy = None
        if ch == "\\":
            i += 2
            continue
        if ch == "[":  # a class is one atom
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if ch == "(":
            stack.append(False)
            i += 1
            if i < n and pattern[i] == "?":  # (?:, (?i), (?P<name> ...: not a quantifier
                i += 1
            continue
        if ch == ")" and stack:
            busy = stack.pop()
            if stack and busy:
                stack[-1] = True
            last_group_busy = busy
        elif ch == "|" and stack:
            stack[-1] = True
        elif ch == "|":
            pass
        i += 1
    return unbounded >= 3


def filter_backtracks(flt: Any) -> bool:
    """Whether a compiled filter holds a `$regex` that `backtracks` (run it in Python, on RE2, instead)."""
    if isinstance(flt, dict):
        regex = flt.get("$regex")
        if isinstance(regex, str) and backtracks(regex):
            return True
        return any(filter_backtracks(v) for v in flt.values())
    if isinstance(flt, list):
        return any(filter_backtracks(v) for v in flt)
    return False


@lru_cache(maxsize=512)
def compile_regex(pattern: str, options: str = "") -> Any:
    """The compiled RE2 pattern for a MongoDB `$regex`/`$options` pair; RegexError when it cannot run."""
    if not isinstance(pattern, str):
        raise RegexError("a regular expression must be a string")
    if not isinstance(options, str) or any(ch not in SUPPORTED_OPTIONS for ch in options):
        raise RegexError(f"regular expression options must be among '{SUPPORTED_OPTIONS}', not {options!r}")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise RegexError(f"the regular expression is longer than {MAX_PATTERN_LENGTH} characters")
    body = _strip_extended(pattern) if "x" in options else pattern
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = _MAX_MEM
    opts.case_sensitive = "i" not in options
    opts.dot_nl = "s" in options
    prefix = "(?m)" if "m" in options else ""  # no Options field for multi-line anchors in Perl mode
    try:
        compiled = re2.compile(prefix + body, opts)
    except re2.error as e:
        message = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        message = message.replace(prefix, "", 1) if prefix else message
        raise RegexError(f"invalid regular expression '{pattern}': {_why(body, message)}") from None
    if _LITERAL.fullmatch(body):
        return re.compile(body, re.IGNORECASE if "i" in options else 0)
    return compiled
