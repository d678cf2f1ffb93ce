"""The filter language of the table, the API and CSV export, compiled to a MongoDB filter.

`compile_query(text, ctx)` returns a filter dict that the MongoDB backend gives to `find()` and the
FileStorage backend evaluates with `omnidash.store.matcher`, so both select the same runs.

Grammar (keywords are case-insensitive; precedence: not > and > or)::

    query      := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" or ")" | comparison | term
    comparison := name ("==" | "=" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "has") value
                | name ["not"] "in" "[" [value ("," value)*] "]"
                | name ("exists" | "missing")
    name       := word | reducer "(" metric ["," n] ")" | quoted string
    term       := word | quoted string          (free text)

A quoted string before an operator is a column name, for names with spaces or keywords
(`'Batch size' == 32`, Omniboard custom columns).

A query without any operator at all ("resnet baseline") is free text: a case-insensitive substring of
the experiment name, tags, notes, string ids or any known config value.

Value rules (what a literal means depends on the column):
* quoted strings are always strings; bare `true false null` are bools/null; bare numbers are numbers
  only (`lr == 0.1` does not match the string "0.1"); other bare words are strings.
* date columns (start_time, stop_time, heartbeat, meta.queue_time) take dates (`2026-11-01`,
  `2026-11-01T10:00`, UTC unless an offset is given), `now`, and relative times `-7d` (now minus 7 days).
  Other columns given a date literal match either that datetime or the same text as a string.
* `duration` takes seconds or durations `30s 5m 2h 1d 1w`; elsewhere `5m` is the string "5m".
* `exists` means present and not null, `missing` means absent or null.

Special columns:
* `status` is the displayed status: PROBABLY_DEAD is a RUNNING run whose heartbeat (or start_time when
  it has none) is older than now - probably_dead_after; RUNNING means running and alive; a missing or
  non-string status is UNKNOWN.
* `tags` is `omniboard.tags` when that field is present and not null (even an empty list), else
  `config.tags` as a list or a comma-separated string. `==`, `has`, `in` and `~` test any tag;
  `exists` means "has at least one tag". `~` on a comma string tests the whole string.
* `notes` is `omniboard.notes` when it is a string, else `meta.comment` when a string, else "".
* `result` and `info.*` also match jsonpickle numpy scalars ({"py/object": "numpy.float64", "value": x}).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from omnidash.core import summaries as stats
from omnidash.core.types import RunId
from omnidash.store import rows
from omnidash.store.base import DEFAULT_PROBABLY_DEAD_AFTER, BadRequest
from omnidash.store.matcher import matches
from omnidash.store.patterns import RegexError, compile_regex

MAX_QUERY_LENGTH = 20_000
MAX_DEPTH = 25  # parser nesting; keeps the filter well under BSON's 100 levels

# Operators the compiler may emit (tests walk every produced filter against this list).
ALLOWED_OPERATORS = frozenset(
    {"$and", "$or", "$nor", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$options",
     "$exists"}
)

BASE_COLUMN_PATHS = {
    "id": "_id",
    "experiment": "experiment.name",
    "command": "command",
    "status": "status",
    "start_time": "start_time",
    "stop_time": "stop_time",
    "heartbeat": "heartbeat",
    "duration": "omnidash.duration",
    "hostname": "host.hostname",
    "result": "result",
    "tags": "omniboard.tags",
    "notes": "omniboard.notes",
}
# Top-level fields of a run document: a dotted name starting with one of these is a document path.
DOCUMENT_FIELDS = frozenset(
    {"_id", "experiment", "command", "status", "start_time", "stop_time", "heartbeat", "host", "meta",
     "config", "info", "result", "captured_out", "fail_trace", "resources", "artifacts", "format",
     "omniboard", "omnidash"}
)
DATE_PATHS = frozenset({"start_time", "stop_time", "heartbeat", "meta.queue_time"})
COMPARISON_OPS = ("==", "!=", "<", "<=", ">", ">=", "~")
_MONGO_OP = {"==": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}


class QueryError(BadRequest):
    """A query that cannot be parsed or compiled; `position` is a 1-based column."""

    def __init__(self, message: str, position: int | None = None, fatal: bool = False) -> None:
        self.message = message
        self.position = position
        self.fatal = fatal  # never reinterpreted as free text
        super().__init__(f"{message} at column {position}" if position else message)


# -- AST -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Name:
    text: str
    pos: int
    quoted: bool = False


@dataclass(frozen=True)
class Value:
    raw: str
    pos: int
    quoted: bool = False


@dataclass(frozen=True)
class Compare:
    name: Name
    op: str  # one of COMPARISON_OPS or "has"
    value: Value


@dataclass(frozen=True)
class InList:
    name: Name
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Exists:
    name: Name
    present: bool = True  # False for `missing`


@dataclass(frozen=True)
class Text:
    text: str
    pos: int = 1


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | InList | Exists | Text | And | Or | Not


# -- tokens ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # "op" "word" "str" "metric" "(" ")" "[" "]" "," "end"
    text: str  # the value (strings unescaped) or the operator
    pos: int
    raw: str = ""

    def describe(self) -> str:
        if self.kind == "end":
            return "end of query"
        return f"'{self.raw or self.text}'"


_STOP_CHARS = set(" \t\r\n()[],'\"=!<>~")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
_KEYWORDS = {"and", "or", "not", "in", "has", "exists", "missing"}
_OPERATOR_KEYWORDS = {"in", "has", "exists", "missing"}


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; raises QueryError for unterminated strings and calls."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        pos = i + 1
        if ch.isspace():
            i += 1
        elif ch in "()[],":
            tokens.append(Token(ch, ch, pos, ch))
            i += 1
        elif ch in "=!<>~":
            two = text[i:i + 2]
            if two in ("==", "!=", "<=", ">="):
                tokens.append(Token("op", two, pos, two))
                i += 2
            elif ch == "!":
                raise QueryError("unexpected '!' (did you mean '!=' or 'not'?)", pos)
            else:
                tokens.append(Token("op", "==" if ch == "=" else ch, pos, ch))
                i += 1
        elif ch in "'\"":
            value, i = _read_string(text, i)
            tokens.append(Token("str", value, pos, text[pos - 1:i]))
        else:
            j = i
            while j < n and text[j] not in _STOP_CHARS:
                j += 1
            word = text[i:j]
            if j < n and text[j] == "(":
                close = text.find(")", j)
                if stats.get(word) is None:
                    raise QueryError(f"unknown reducer '{word}' (use {', '.join(stats.names())})", pos)
                if close < 0:
                    raise QueryError(f"missing ')' after '{word}('", j + 1, fatal=True)
                tokens.append(Token("metric", text[i:close + 1], pos, text[i:close + 1]))
                i = close + 1
            else:
                tokens.append(Token("word", word, pos, word))
                i = j
    tokens.append(Token("end", "", n + 1))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            # unknown escapes keep their backslash, so regexes like "\d+" survive
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise QueryError("unterminated string", start + 1)


_QUOTE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}  # what _read_string undoes
_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
# words quoted even when plain: keywords, literals, `now` (a date), and what Python reads as a float
_BARE_RESERVED = _KEYWORDS | {"true", "false", "null", "now", "nan", "inf", "infinity"}


def quote(value: Any, bare_words: bool = True) -> str:
    """`value` as a literal that the tokenizer reads back as that value: true/false/null, numbers bare,
    strings double-quoted (plain words stay bare unless `bare_words` is off)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    text = str(value)
    if bare_words and _BARE_WORD.match(text) and text.lower() not in _BARE_RESERVED:
        return text
    return '"' + "".join(_QUOTE_ESCAPES.get(ch, ch) for ch in text) + '"'


# -- query text from values (the compare page's brushed axes and run lists) ----------------------------------------------------------------------
def brush_query(base: str, ranges: Mapping[str, Sequence[float]], choices: Mapping[str, Sequence[Any]]) -> str:
    """The runs-table query for brushed axes: numeric `lo <= col <= hi` ranges, categorical `in [..]`."""
    parts = [f"({base})"] if base and base.strip() else []
    for col, (lo, hi) in ranges.items():
        parts.append(f"{col} >= {quote(float(lo))} and {col} <= {quote(float(hi))}")
    for col, values in choices.items():
        parts.append(f"{col} in [{', '.join(quote(v, bare_words=False) for v in values)}]")
    return " and ".join(parts)


def run_ids_query(run_ids: Sequence[RunId]) -> str:
    """`id in [1, 2, "abc"]`."""
    return f"id in [{', '.join(quote(r, bare_words=False) for r in run_ids)}]"


# -- parser ---------------------------------------------------------------------------
class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0
        self.committed = False  # an operator was read: errors after it are real syntax errors

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return t

    def is_kw(self, t: Token, *words: str) -> bool:
        return t.kind == "word" and t.text.lower() in words

    def unexpected(self, t: Token) -> QueryError:
        if t.kind == "end":
            return QueryError("unexpected end of query", t.pos)
        return QueryError(f"unexpected {t.describe()}", t.pos)

    def parse(self) -> Node:
        node = self.parse_or()
        if self.tok.kind != "end":
            raise self.unexpected(self.tok)
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.is_kw(self.tok, "or"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while self.is_kw(self.tok, "and"):
            self.advance()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError("query nested too deeply", self.tok.pos)
        try:
            t = self.tok
            if self.is_kw(t, "not"):
                self.advance()
                return Not(self.parse_unary())
            if t.kind == "(":
                self.advance()
                node = self.parse_or()
                if self.tok.kind != ")":
                    if self.tok.kind == "end":
                        raise QueryError("unclosed '('", t.pos)
                    raise self.unexpected(self.tok)
                self.advance()
                return node
            return self.parse_comparison()
        finally:
            self.depth -= 1

    def parse_comparison(self) -> Node:
        t = self.tok
        if t.kind not in ("word", "str", "metric") or (t.kind == "word" and t.text.lower() in _KEYWORDS):
            raise self.unexpected(t)
        self.advance()
        name = Name(t.text, t.pos, quoted=t.kind == "str")
        nxt = self.tok
        if nxt.kind == "op" or self.is_kw(nxt, "has", "in", "exists", "missing") or (
            self.is_kw(nxt, "not") and self.is_kw(self.peek(), "in")
        ):
            self.committed = True
        if nxt.kind == "op":
            self.advance()
            return Compare(name, nxt.text, self.parse_value(nxt))
        if self.is_kw(nxt, "has"):
            self.advance()
            return Compare(name, "has", self.parse_value(nxt))
        if self.is_kw(nxt, "in"):
            self.advance()
            return InList(name, self.parse_list(nxt))
        if self.is_kw(nxt, "not") and self.is_kw(self.peek(), "in"):
            self.advance()
            op = self.advance()
            return InList(name, self.parse_list(op), negated=True)
        if self.is_kw(nxt, "exists", "missing"):
            self.advance()
            return Exists(name, present=nxt.text.lower() == "exists")
        if t.kind == "metric":
            raise QueryError(f"expected an operator after '{t.text}'", nxt.pos)
        return Text(t.text, t.pos)  # a bare word or string inside a structured query: free text

    def parse_value(self, after: Token) -> Value:
        t = self.tok
        if t.kind == "str":
            self.advance()
            return Value(t.text, t.pos, quoted=True)
        if t.kind == "word" and t.text.lower() not in _KEYWORDS:
            self.advance()
            return Value(t.text, t.pos)
        raise QueryError(f"expected a value after '{after.raw or after.text}'", t.pos)

    def parse_list(self, after: Token) -> tuple[Value, ...]:
        if self.tok.kind != "[":
            raise QueryError(f"expected '[' after '{after.text}'", self.tok.pos)
        self.advance()
        values: list[Value] = []
        if self.tok.kind == "]":
            self.advance()
            return ()
        while True:
            values.append(self.parse_value(self.tokens[self.i - 1]))
            if self.tok.kind == ",":
                self.advance()
                continue
            if self.tok.kind == "]":
                self.advance()
                return tuple(values)
            raise QueryError(f"expected ',' or ']' but found {self.tok.describe()}", self.tok.pos)


def _is_structured(tokens: list[Token]) -> bool:
    for t in tokens:
        if t.kind in ("op", "metric", "(", ")", "[", "]"):
            return True
        if t.kind == "word" and t.text.lower() in _KEYWORDS:
            return True
    return False


_OPERATOR_CHARS = re.compile(r"[=<>~]|!=")


def parse(text: str) -> Node | None:
    """The syntax tree of a query; None for blank text; QueryError with a position on bad syntax."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"query too long ({len(text)} characters, at most {MAX_QUERY_LENGTH})")
    stripped = text.strip()
    start = len(text) - len(text.lstrip()) + 1
    try:
        tokens = tokenize(text)
    except QueryError as e:
        if e.fatal or _OPERATOR_CHARS.search(text):
            raise
        return Text(stripped, start)
    if not _is_structured(tokens):
        if len(tokens) == 2 and tokens[0].kind == "str":
            return Text(tokens[0].text, tokens[0].pos)
        return Text(stripped, start)
    parser = _Parser(tokens)
    try:
        return parser.parse()
    except QueryError:
        # words that merely look like keywords ("things I have in mind") are free text
        if parser.committed or any(t.kind in ("op", "metric", "(", ")", "[", "]") for t in tokens):
            raise
        return Text(stripped, start)


def walk(node: Node | None) -> Iterator[Node]:
    """Every node of a tree, depth first."""
    if node is None:
        return
    yield node
    if isinstance(node, And | Or):
        for item in node.items:
            yield from walk(item)
    elif isinstance(node, Not):
        yield from walk(node.item)


# -- context and column names -----------------------------------------------------------
@dataclass
class QueryContext:
    """What the compiler needs to know beyond the text."""

    now: datetime
    probably_dead_after: float = DEFAULT_PROBABLY_DEAD_AFTER
    config_paths: list[str] = field(default_factory=list)  # known "config.x.y" leaf paths
    custom_columns: dict[str, str] = field(default_factory=dict)  # Omniboard custom column -> doc path
    metric_columns: dict[str, tuple[str, str, int | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            self.now = self.now.replace(tzinfo=UTC)


def check_path(path: str, position: int | None = None) -> str:
    """A document path is dotted non-empty segments without '$' or NUL; else QueryError."""
    if not path or any(seg == "" for seg in path.split(".")):
        raise QueryError(f"invalid column name '{path}' (empty path segment)", position)
    if "$" in path or "\x00" in path:
        raise QueryError(f"invalid column name '{path}' ('$' is not allowed)", position)
    return path


def metric_path(reducer: str, metric: str, n: int | None = None) -> str:
    """Where a metric summary lives in a run document (maintained by the store)."""
    return f"omnidash.metrics.{rows.escape_key(metric)}.{stats.summary_key(reducer, n)}"


def metric_ref(name: str, ctx: QueryContext, position: int | None = None) -> tuple[str, str, int | None] | None:
    """(reducer, metric, n) when `name` is a metric summary column (or an Omniboard metric column)."""
    if name in BASE_COLUMN_PATHS:
        return None
    if name in ctx.metric_columns:
        reducer, metric, n = ctx.metric_columns[name]
        stat = stats.by_omniboard(reducer) or stats.get(reducer)
        if stat is None:
            return None
        return stat.name, metric, (n or 1) if stat.windowed else None
    m = re.match(r"^\s*([A-Za-z_]\w*)\((.*)\)\s*$", name, re.DOTALL)
    if not m:
        return None
    reducer, inside = m.group(1), m.group(2)
    stat = stats.get(reducer)
    if stat is None:
        raise QueryError(f"unknown reducer '{reducer}' (use {', '.join(stats.names())})", position)
    parsed = stats.parse_column(name)
    if stat.windowed and "," in inside and not re.search(r",\s*\d+\s*$", inside):
        parsed = None
    if parsed is None or not parsed[1]:
        if not inside.strip():
            raise QueryError(f"missing metric name in '{name}'", position)
        if stat.windowed:
            raise QueryError(f"expected {reducer}(metric, N) with a whole number N in '{name}'", position)
        raise QueryError(f"{reducer}() takes one metric name: '{name}'", position)
    reducer, metric, n = parsed
    if stat.windowed and not 1 <= (n or 0) <= rows.TAIL_KEEP:
        raise QueryError(f"{reducer} window must be between 1 and {rows.TAIL_KEEP}", position)
    return reducer, metric, n


def column_path(name: str, ctx: QueryContext, position: int | None = None) -> str:
    """The document path used to sort or filter by a column name (see module docstring)."""
    name = name.strip()
    if not name:
        raise QueryError("empty column name", position)
    if name in BASE_COLUMN_PATHS:
        return BASE_COLUMN_PATHS[name]
    if name in ctx.custom_columns:
        return check_path(ctx.custom_columns[name], position)
    ref = metric_ref(name, ctx, position)
    if ref is not None:
        return metric_path(*ref)
    check_path(name, position)
    if name.split(".", 1)[0] in DOCUMENT_FIELDS:
        return name
    return f"config.{name}"


def metric_refs(text: str, ctx: QueryContext) -> set[tuple[str, str, int | None]]:
    """The metric summaries (reducer, metric, n) a query filters on."""
    refs: set[tuple[str, str, int | None]] = set()
    for node in walk(parse(text)):
        if isinstance(node, Compare | InList | Exists):
            ref = metric_ref(node.name.text, ctx, node.name.pos)
            if ref is not None:
                refs.add(ref)
    return refs


# -- literals ---------------------------------------------------------------------------
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DURATION = re.compile(r"^([+-]?)(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _number(raw: str) -> int | float | None:
    if not _NUMBER.match(raw):
        return None
    if re.search(r"[.eE]", raw):
        return float(raw)
    value = int(raw)
    return value if -(2**63) <= value < 2**63 else float(value)


def _duration(raw: str) -> float | None:
    m = _DURATION.match(raw)
    if not m:
        return None
    seconds = float(m.group(2)) * _UNIT_SECONDS[m.group(3)]
    return -seconds if m.group(1) == "-" else seconds


def _date(raw: str) -> datetime | None:
    if not _DATE.match(raw):
        return None
    try:
        d = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def _keyword_value(v: Value) -> tuple[bool, Any]:
    if not v.quoted:
        low = v.raw.lower()
        if low in ("true", "false"):
            return True, low == "true"
        if low == "null":
            return True, None
    return False, None


def typed_values(v: Value, kind: str, ctx: QueryContext) -> list[Any]:
    """The typed values a literal stands for on a column of `kind` (generic/date/duration/text)."""
    is_kw, kw_value = _keyword_value(v)
    if kind == "text":  # status, tags, notes hold strings: every literal is its text
        return [v.raw]
    if is_kw:
        return [kw_value]
    if kind == "date":
        if v.raw.lower() == "now" and not v.quoted:
            return [ctx.now]
        rel = None if v.quoted else _duration(v.raw)
        if rel is not None and v.raw[0] in "+-":
            return [ctx.now + timedelta(seconds=rel)]
        d = _date(v.raw)
        if d is None:
            raise QueryError(f"expected a date like 2026-11-01 or a relative time like -7d, not '{v.raw}'", v.pos)
        return [d]
    if v.quoted:
        return [v.raw]
    number = _number(v.raw)
    if kind == "duration":
        seconds = number if number is not None else _duration(v.raw)
        if seconds is None:
            raise QueryError(f"expected a duration like 30s, 5m, 2h or 1d, not '{v.raw}'", v.pos)
        return [seconds]
    if number is not None:
        return [number]
    d = _date(v.raw)
    if d is not None:
        return [d, v.raw]
    return [v.raw]


# -- compiler ------------------------------------------------------------------------------
Filter = dict[str, Any]


def _or(items: list[Filter]) -> Filter:
    items = [i for i in items if i is not None]
    if not items:
        return {"_id": {"$in": []}}  # matches nothing
    return items[0] if len(items) == 1 else {"$or": items}


def _and(items: list[Filter]) -> Filter:
    return items[0] if len(items) == 1 else {"$and": items}


def _nor(item: Filter) -> Filter:
    return {"$nor": [item]}


@dataclass
class _Condition:
    """A condition on one value: field operator documents OR'ed together (usually just one)."""

    alternatives: list[dict[str, Any]]  # e.g. [{"$eq": 3}], [{"$gt": datetime}, {"$gt": "2026-11-01"}]

    @classmethod
    def of(cls, ops: dict[str, Any]) -> _Condition:
        return cls([ops])

    def on(self, path: str) -> Filter:
        return _or([{path: dict(ops)} for ops in self.alternatives])

    def negated_on(self, path: str) -> Filter:
        """The exact negation on a plain path ($ne/$nin when possible, else $nor)."""
        if len(self.alternatives) == 1:
            ops = self.alternatives[0]
            if set(ops) == {"$eq"}:
                return {path: {"$ne": ops["$eq"]}}
            if set(ops) == {"$in"}:
                return {path: {"$nin": ops["$in"]}}
        return _nor(self.on(path))

    def holds_for(self, constant: Any) -> bool:
        return any(matches({"v": constant}, {"v": ops}) for ops in self.alternatives)

    def wanted_values(self) -> list[Any]:
        """The values an equality or membership condition looks for."""
        out: list[Any] = []
        for ops in self.alternatives:
            out.extend(ops.get("$in", [ops["$eq"]] if "$eq" in ops else []))
        return out


def _positive_condition(node: Compare | InList | Exists, kind: str, ctx: QueryContext) -> tuple[_Condition, bool]:
    """The positive condition of a comparison and whether the comparison negates it."""
    if isinstance(node, Exists):
        return _Condition.of({"$eq": None}), node.present
    if isinstance(node, InList):
        values: list[Any] = []
        for v in node.values:
            values.extend(typed_values(v, kind, ctx))
        return _Condition.of({"$in": values}), node.negated
    op, v = node.op, node.value
    if op == "~":
        try:
            compile_regex(v.raw, "i")  # the language both backends accept (MongoDB gets the same pattern)
        except RegexError as e:
            raise QueryError(str(e), v.pos, fatal=True) from None
        return _Condition.of({"$regex": v.raw, "$options": "i"}), False
    values = typed_values(v, kind, ctx)
    if op in ("==", "has", "!="):
        cond = {"$eq": values[0]} if len(values) == 1 else {"$in": values}
        return _Condition.of(cond), op == "!="
    if any(x is None for x in values):
        raise QueryError(f"cannot compare null with '{op}'", v.pos)
    # several values (a date literal on a generic column: datetime or string): either may match
    return _Condition([{_MONGO_OP[op]: x} for x in values]), False


class _Compiler:
    def __init__(self, ctx: QueryContext) -> None:
        self.ctx = ctx
        self.cutoff = ctx.now - timedelta(seconds=ctx.probably_dead_after)

    def compile(self, node: Node) -> Filter:
        if isinstance(node, And):
            return {"$and": [self.compile(i) for i in node.items]}
        if isinstance(node, Or):
            return {"$or": [self.compile(i) for i in node.items]}
        if isinstance(node, Not):
            return _nor(self.compile(node.item))
        if isinstance(node, Text):
            return self.free_text(node.text)
        return self.comparison(node)

    def free_text(self, text: str) -> Filter:
        """A case-insensitive substring of experiment, tags, notes, string ids or config values."""
        regex = {"$regex": re.escape(text), "$options": "i"}
        paths = ["experiment.name", "omniboard.tags", "config.tags", "omniboard.notes", "meta.comment", "_id"]
        for p in self.ctx.config_paths:
            if p not in paths and _safe_path(p):
                paths.append(p)
        return {"$or": [{p: dict(regex)} for p in paths]}

    def comparison(self, node: Compare | InList | Exists) -> Filter:
        name = node.name.text
        if name in ("status", "tags", "notes"):
            return {"status": self.status, "tags": self.tags, "notes": self.notes}[name](node)
        path = column_path(name, self.ctx, node.name.pos)
        kind = "date" if path in DATE_PATHS else "duration" if path == "omnidash.duration" else "generic"
        cond, negated = _positive_condition(node, kind, self.ctx)
        if path == "result" or path.startswith("info."):
            # also match jsonpickle numpy scalars {"py/object": "numpy.float64", "value": x}
            positive = _or([
                cond.on(path),
                {"$and": [{f"{path}.py/object": {"$regex": "^numpy\\."}}, cond.on(f"{path}.value")]},
            ])
            return _nor(positive) if negated else positive
        return cond.negated_on(path) if negated else cond.on(path)

    def status(self, node: Compare | InList | Exists) -> Filter:
        """Conditions on the displayed status (PROBABLY_DEAD derived from heartbeat, UNKNOWN)."""
        if isinstance(node, Exists):
            return {"status": {"$ne": None}} if node.present else {"status": {"$eq": None}}
        cond, negated = _positive_condition(node, "text", self.ctx)
        dead = {"$and": [
            {"status": {"$eq": "RUNNING"}},
            {"$or": [
                {"heartbeat": {"$lt": self.cutoff}},
                {"$and": [{"heartbeat": {"$eq": None}}, {"start_time": {"$lt": self.cutoff}}]},
            ]},
        ]}
        stored = cond.on("status")
        if cond.holds_for("RUNNING"):
            stored = {"$and": [stored, _nor(dead)]}
        branches = [stored]
        if cond.holds_for("PROBABLY_DEAD"):
            branches.append(dead)
        if cond.holds_for("UNKNOWN"):
            branches.append(_nor({"status": {"$gte": ""}}))  # missing, or not a string
        positive = _or(branches)
        return _nor(positive) if negated else positive

    def tags(self, node: Compare | InList | Exists) -> Filter:
        """Any tag of omniboard.tags when present, else of config.tags (list or comma string)."""
        omniboard_absent = {"omniboard.tags": {"$eq": None}}
        if isinstance(node, Exists):  # at least one tag
            positive = _or([
                {"omniboard.tags.0": {"$exists": True}},
                {"$and": [omniboard_absent, {"$or": [
                    {"config.tags.0": {"$exists": True}},
                    {"config.tags": {"$regex": "[^\\s,]"}},
                ]}]},
            ])
            return positive if node.present else _nor(positive)
        if isinstance(node, Compare) and node.op in ("<", "<=", ">", ">="):
            raise QueryError(f"'{node.op}' does not apply to tags (use has, ==, in or ~)", node.value.pos)
        cond, negated = _positive_condition(node, "text", self.ctx)
        config_branches = [cond.on("config.tags")]
        for tag in cond.wanted_values():
            if isinstance(tag, str):  # one item of a comma-separated string
                config_branches.append({"config.tags": {"$regex": f"(^|,)\\s*{re.escape(tag)}\\s*(,|$)"}})
        positive = _or([cond.on("omniboard.tags"), {"$and": [omniboard_absent, _or(config_branches)]}])
        return _nor(positive) if negated else positive

    def notes(self, node: Compare | InList | Exists) -> Filter:
        """omniboard.notes when a string, else meta.comment when a string, else the empty string."""
        if isinstance(node, Exists):  # exists: non-empty notes; missing: empty notes
            cond, negated = _Condition.of({"$eq": ""}), node.present
        else:
            cond, negated = _positive_condition(node, "text", self.ctx)
        omniboard_str = {"omniboard.notes": {"$gte": ""}}
        comment_str = {"meta.comment": {"$gte": ""}}
        branches = [
            {"$and": [omniboard_str, cond.on("omniboard.notes")]},
            {"$and": [_nor(omniboard_str), comment_str, cond.on("meta.comment")]},
        ]
        if cond.holds_for(""):
            branches.append({"$and": [_nor(omniboard_str), _nor(comment_str)]})
        positive = _or(branches)
        return _nor(positive) if negated else positive


def _safe_path(path: str) -> bool:
    try:
        check_path(path)
    except QueryError:
        return False
    return True


def compile_node(node: Node | None, ctx: QueryContext) -> Filter:
    """The MongoDB filter of a parsed query ({} for None)."""
    if node is None:
        return {}
    return _Compiler(ctx).compile(node)


def compile_query(text: str, ctx: QueryContext) -> Filter:
    """Parse and compile a query into a MongoDB filter ({} for blank text); raises QueryError."""
    return compile_node(parse(text), ctx)


def filter_operators(filter_: Any) -> Iterator[str]:
    """Every `$`-prefixed key in a filter, at any depth (for allow-list checks)."""
    if isinstance(filter_, dict):
        for k, v in filter_.items():
            if isinstance(k, str) and k.startswith("$"):
                yield k
            yield from filter_operators(v)
    elif isinstance(filter_, list):
        for item in filter_:
            yield from filter_operators(item)


def filter_fields(filter_: Any) -> Iterator[str]:
    """Every field name used in a filter, at any depth."""
    if isinstance(filter_, dict):
        for k, v in filter_.items():
            if isinstance(k, str) and not k.startswith("$"):
                yield k
            if isinstance(k, str) and k in ("$and", "$or", "$nor"):
                yield from filter_fields(v)
            elif isinstance(v, dict) and "$not" in v:
                yield from filter_fields(v["$not"])
    elif isinstance(filter_, list):
        for item in filter_:
            yield from filter_fields(item)


def projection_paths(filter_: Any) -> set[str]:
    """Paths to project so that a filter can be evaluated on the projected documents.

    Field names are cut before the first numeric segment ("omniboard.tags.0" -> "omniboard.tags")
    and before jsonpickle keys ("result.py/object" -> "result"), since projecting those would not
    keep the array or the scalar the filter inspects.
    """
    out: set[str] = set()
    for name in filter_fields(filter_):
        kept: list[str] = []
        for segment in name.split("."):
            if segment.isdigit() or segment in ("py/object", "value") and kept:
                break
            kept.append(segment)
        out.add(".".join(kept) or name)
    return out

