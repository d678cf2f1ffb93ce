"""Evaluate MongoDB filter documents in Python, with MongoDB's semantics.

The FileStorage backend runs the filters `omnidash.store.query` compiles through `matches`, so a query
selects the same runs there as MongoDB's `find()` does. Only the operators the compiler emits are
supported: `$and $or $nor $not $eq $ne $gt $gte $lt $lte $in $nin $regex/$options $exists`.
Anything else raises `UnsupportedFilter` (never silently "no match").

Semantics reproduced (MongoDB manual, "Query and Projection Operators", "Comparison/Sort Order"):

* Dotted paths descend into sub-documents; a non-numeric segment applied to an array descends into
  each element that is a document; a numeric segment indexes the array (and is also looked up as a
  key of document elements). A field matches when the value at the path, or any element of an
  array there, matches.
* `{f: null}` / `$in: [null]` match null or missing; `$ne`, `$nin`, `$not` are the exact negation
  of their positive form, so they also match documents where the field is missing.
* Comparisons are type-bracketed: numbers (int/float, not bool) compare with numbers, strings with
  strings (by code point, which is UTF-8 byte order), datetimes with datetimes, bools with bools.
  NaN equals NaN, and `$lt/$gt` never match NaN while `$lte/$gte` match it only against NaN
  (MongoDB's ComparisonMatchExpression special case).
* `$regex` matches strings only (never numbers), or string elements of arrays. Patterns run on RE2
  (linear time); what it cannot run is refused with a BadRequest (omnidash.store.patterns).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache, partial
from typing import Any

from omnidash.store.patterns import compile_regex

LOGICAL_OPERATORS = frozenset({"$and", "$or", "$nor"})
FIELD_OPERATORS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$options", "$exists", "$not"}
)


class UnsupportedFilter(ValueError):
    """The filter uses an operator this matcher does not implement."""


class _Missing:
    """The value at a path that does not exist."""

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "MISSING"


MISSING: Any = _Missing()
_ONLY_MISSING: list[Any] = [MISSING]  # shared, never mutated


# -- paths ------------------------------------------------------------------------
def _walk(value: Any, parts: list[str]) -> Iterator[Any]:
    """Every value reached by `parts` from `value` (MISSING where the path stops), MongoDB-style."""
    if not parts:
        yield value
        return
    key, rest = parts[0], parts[1:]
    if isinstance(value, Mapping):
        if key in value:
            yield from _walk(value[key], rest)
        else:
            yield MISSING
        return
    if isinstance(value, list):
        produced = False
        if key.isdigit() and int(key) < len(value):
            produced = True
            yield from _walk(value[int(key)], rest)
        for element in value:
            if isinstance(element, Mapping):
                produced = True
                yield from _walk(element, parts)
        if not produced:
            yield MISSING
        return
    yield MISSING


def get_path_values(doc: Any, path: str) -> list[Any]:
    """The values at a dotted path (arrays traversed as MongoDB does); [] when the path is absent."""
    return [v for v in _walk(doc, path.split(".")) if v is not MISSING]


# -- type brackets and comparison ---------------------------------------------------
_NUMBER, _STRING, _OBJECT, _ARRAY, _OBJECTID, _BOOL, _DATE, _NULL, _OTHER = range(9)


def _bracket(v: Any) -> int:
    if v is None or v is MISSING:
        return _NULL
    if isinstance(v, bool):
        return _BOOL
    if isinstance(v, int | float):
        return _NUMBER
    if isinstance(v, str):
        return _STRING
    if isinstance(v, datetime):
        return _DATE
    if isinstance(v, Mapping):
        return _OBJECT
    if isinstance(v, list | tuple):
        return _ARRAY
    if type(v).__name__ == "ObjectId":
        return _OBJECTID
    return _OTHER


def _aware(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d


def _equal(a: Any, b: Any) -> bool:
    """BSON equality: type-bracketed, int == float, NaN == NaN, documents and arrays exactly."""
    ta, tb = _bracket(a), _bracket(b)
    if ta != tb:
        return False
    if ta == _NUMBER:
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return a == b
    if ta == _DATE:
        return _aware(a) == _aware(b)
    if ta == _OBJECT:
        return list(a.keys()) == list(b.keys()) and all(_equal(a[k], b[k]) for k in a)
    if ta == _ARRAY:
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if ta == _NULL:
        return True
    return a == b


def _compare(op: str, value: Any, operand: Any) -> bool:
    """`value <op> operand` for $gt/$gte/$lt/$lte under type bracketing (no array expansion here)."""
    tv, to = _bracket(value), _bracket(operand)
    if to == _NULL:
        # $gte/$lte null match null (and missing); $gt/$lt null match nothing
        return tv == _NULL and op in ("$gte", "$lte")
    if tv != to:
        return False
    if tv == _NUMBER and (_isnan(value) or _isnan(operand)):
        return op in ("$gte", "$lte") and _isnan(value) and _isnan(operand)
    if tv in (_NUMBER, _STRING, _BOOL, _DATE):
        a, b = (_aware(value), _aware(operand)) if tv == _DATE else (value, operand)
    else:
        a, b = _sort_payload(value), _sort_payload(operand)
    if op == "$gt":
        return a > b
    if op == "$gte":
        return a >= b
    if op == "$lt":
        return a < b
    return a <= b


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


# -- matching -----------------------------------------------------------------------
# A filter is compiled once into nested closures; `compile_matcher` is the fast entry point for
# matching many documents (the FileStorage backend), `matches` the convenient one.
Predicate = Callable[[Any], bool]
DocTest = Callable[[Any], bool]


def _resolver(path: str) -> Callable[[Any], list[Any]]:
    """A function giving the values reached by `path` (MISSING where it stops), MongoDB-style."""
    parts = path.split(".")

    def resolve(doc: Any) -> list[Any]:
        value = doc
        for key in parts:
            if type(value) is not dict:  # arrays, other mappings, scalars: the general walk
                return list(_walk(doc, parts))
            value = value.get(key, MISSING)
            if value is MISSING:
                return _ONLY_MISSING
        return [value]

    return resolve


def _any_leaf(pred: Predicate) -> Callable[[list[Any]], bool]:
    """True when a reached value, or any element of an array reached, satisfies `pred`."""

    def test(values: list[Any]) -> bool:
        for v in values:
            if pred(v):
                return True
            if isinstance(v, list):
                for e in v:
                    if pred(e):
                        return True
        return False

    return test


def _eq_predicate(operand: Any) -> Predicate:
    if operand is None:
        return lambda v: v is None or v is MISSING
    if isinstance(operand, str):
        return lambda v: v == operand and isinstance(v, str)
    return lambda v: v is not MISSING and _equal(v, operand)


def _positive(op: str, operand: Any, options: str) -> Callable[[list[Any]], bool]:
    """One positive operator ($eq $gt $gte $lt $lte $in $regex $exists) over the reached values."""
    if op == "$eq":
        return _any_leaf(_eq_predicate(operand))
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _any_leaf(_compare_predicate(op, operand))
    if op == "$in":
        if not isinstance(operand, list):
            raise UnsupportedFilter("$in needs an array")
        preds = [_eq_predicate(item) for item in operand]
        return _any_leaf(lambda v: any(p(v) for p in preds))
    if op == "$regex":
        if not isinstance(operand, str):
            raise UnsupportedFilter("$regex needs a string")
        search = compile_regex(operand, options).search  # RE2: linear time, see omnidash.store.patterns
        return _any_leaf(lambda v: isinstance(v, str) and search(v) is not None)
    if op == "$exists":
        if operand:
            return lambda values: any(v is not MISSING for v in values)
        return lambda values: all(v is MISSING for v in values)
    raise UnsupportedFilter(f"unsupported operator {op}")


_OPERATOR_FUNCS = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _compare_predicate(op: str, operand: Any) -> Predicate:
    """`value <op> operand` under type bracketing; fast paths for the operand types the compiler emits."""
    cmp = _OPERATOR_FUNCS[op]
    if isinstance(operand, int | float) and not isinstance(operand, bool) and not _isnan(operand):
        # a NaN value compares false with every operator here, as MongoDB wants for a non-NaN operand
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and cmp(v, operand)
    if isinstance(operand, str):
        return lambda v: isinstance(v, str) and cmp(v, operand)
    if isinstance(operand, datetime):
        aware = _aware(operand)
        return lambda v: isinstance(v, datetime) and cmp(_aware(v), aware)
    return lambda v: _compare(op, v, operand)


def _negated(test: Callable[[list[Any]], bool]) -> Callable[[list[Any]], bool]:
    return lambda values: not test(values)


def _all_pass(tests: Sequence[Callable[[Any], bool]]) -> Callable[[Any], bool]:
    """True when every test passes, stopping at the first that fails: the conjunction of a field's operators, of
    a filter's fields and of `$and` (one or two tests without a generator: a folder's filter runs once a run)."""
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda x: first(x) and second(x)
    return lambda x: all(t(x) for t in tests)


def _value_tests(condition: Any) -> list[Callable[[list[Any]], bool]]:
    """The tests of one field condition (an operator document, or a plain value meaning $eq)."""
    if not (isinstance(condition, Mapping) and condition and all(str(k).startswith("$") for k in condition)):
        return [_positive("$eq", condition, "")]
    options = condition.get("$options", "")
    if not isinstance(options, str):
        raise UnsupportedFilter("$options needs a string")
    tests = []
    for op, operand in condition.items():
        if op == "$options":
            if "$regex" not in condition:
                raise UnsupportedFilter("$options without $regex")
        elif op == "$ne":
            tests.append(_negated(_positive("$eq", operand, "")))
        elif op == "$nin":
            tests.append(_negated(_positive("$in", operand, "")))
        elif op == "$not":
            if not isinstance(operand, Mapping) or not operand:
                raise UnsupportedFilter("$not needs an operator document")
            inner = _value_tests(operand)
            tests.append(_negated(_all_pass(inner)))
        elif op in FIELD_OPERATORS:
            tests.append(_positive(op, operand, options))
        else:
            raise UnsupportedFilter(f"unsupported operator {op}")
    return tests


def _field_test(path: str, condition: Any) -> DocTest:
    resolve = _resolver(path)
    test = _all_pass(_value_tests(condition))
    return lambda doc: test(resolve(doc))


def _logical(op: str, subs: list[DocTest]) -> DocTest:
    """$and, $or or $nor over compiled sub-filters."""
    if op == "$and":
        return _all_pass(subs)
    if op == "$or":
        return lambda doc: any(t(doc) for t in subs)
    return lambda doc: not any(t(doc) for t in subs)


def compile_matcher(filter_: Mapping[str, Any]) -> DocTest:
    """A one-argument predicate selecting the documents `filter_` selects in MongoDB."""
    if not isinstance(filter_, Mapping):
        raise UnsupportedFilter("a filter must be a document")
    tests: list[DocTest] = []
    for key, condition in filter_.items():
        if key in LOGICAL_OPERATORS:
            if not isinstance(condition, list) or not condition:
                raise UnsupportedFilter(f"{key} needs a non-empty array")
            tests.append(_logical(key, [compile_matcher(sub) for sub in condition]))
        elif not isinstance(key, str) or key.startswith("$"):
            raise UnsupportedFilter(f"unsupported operator {key}")
        else:
            tests.append(_field_test(key, condition))
    return _all_pass(tests)


_last_compiled: tuple[Any, DocTest] = (None, lambda doc: True)


def matches(doc: Mapping[str, Any], filter_: Mapping[str, Any]) -> bool:
    """Whether `doc` is selected by the MongoDB filter `filter_` (an empty filter selects all).

    The last filter object compiled is reused, so a loop over many documents compiles it once
    (filters must not be mutated between calls; use `compile_matcher` to be explicit).
    """
    global _last_compiled
    last_filter, test = _last_compiled
    if last_filter is not filter_:
        test = compile_matcher(filter_)
        _last_compiled = (filter_, test)
    return test(doc)


# -- sort order ----------------------------------------------------------------------
# BSON sort order of types: null/missing < numbers < strings < objects < arrays < ObjectId < bool < date
_SORT_RANK = {_NULL: 1, _NUMBER: 2, _STRING: 3, _OBJECT: 4, _ARRAY: 5, _OBJECTID: 7, _BOOL: 8, _DATE: 9, _OTHER: 10}
_RANK_NUMBER, _RANK_STRING = _SORT_RANK[_NUMBER], _SORT_RANK[_STRING]


def _sort_payload(v: Any) -> Any:
    """A Python-comparable stand-in for a value of one type bracket."""
    t = _bracket(v)
    if t == _NUMBER:
        return (0, 0.0) if _isnan(v) else (1, v)
    if t in (_STRING, _BOOL):
        return v
    if t == _DATE:
        return _aware(v)
    if t == _OBJECT:
        return tuple((_SORT_RANK[_bracket(x)], str(k), _value_key(x)) for k, x in v.items())
    if t == _ARRAY:
        return tuple(_value_key(x) for x in v)
    if t == _OBJECTID:
        return bytes(v.binary)
    if t == _NULL:
        return 0
    return repr(v)


def _value_key(v: Any) -> tuple[int, Any]:
    """Sort key of a whole value (arrays compared element by element, as inside documents)."""
    t = type(v)  # the common scalars first, exactly as the general path would key them
    if t is float:
        return (_RANK_NUMBER, (0, 0.0) if v != v else (1, v))
    if t is int:
        return (_RANK_NUMBER, (1, v))
    if t is str:
        return (_RANK_STRING, v)
    return (_SORT_RANK[_bracket(v)], _sort_payload(v))


def sort_key(value: Any, descending: bool = False) -> tuple[int, Any]:
    """MongoDB's sort key for a field value: use with `sorted(..., reverse=descending)`.

    An array sorts by its smallest element ascending, its largest descending; an empty array
    sorts before null. None stands for null and missing alike.
    """
    if isinstance(value, list | tuple):
        if not value:
            return (0, 0)
        keys = [_value_key(x) for x in value]
        return max(keys) if descending else min(keys)
    return _value_key(value)


@lru_cache(maxsize=1024)
def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def doc_sort_key(doc: Mapping[str, Any], path: str, descending: bool = False) -> tuple[int, Any]:
    """The sort key of the value at `path` in `doc` (several values reached behave as an array)."""
    cur: Any = doc
    for part in _parts(path):  # fast path: nested dicts down to a scalar (no array on the way)
        if type(cur) is not dict:
            break
        cur = cur.get(part, MISSING)
    else:
        if cur is MISSING:
            return sort_key(None)
        if not isinstance(cur, list | tuple):
            return _value_key(cur)
    values = get_path_values(doc, path)
    if not values:
        return sort_key(None)
    if len(values) == 1:
        return sort_key(values[0], descending)
    flat: list[Any] = []
    for v in values:
        flat.extend(v if isinstance(v, list) else [v])
    return sort_key(flat, descending)


def select_docs(docs: Iterable[dict[str, Any]], flt: Mapping[str, Any], sort_spec: list[tuple[str, int]]) -> list[dict]:
    """The documents matching a filter, in the order of a MongoDB sort spec [(path, 1 or -1), ...]."""
    test = compile_matcher(dict(flt)) if flt else None
    selected = []
    for d in docs:
        try:
            if test is None or test(d):
                selected.append(d)
        except Exception:  # noqa: BLE001 - a malformed run never breaks a listing
            continue
    for path, direction in reversed(sort_spec):  # stable sorts, last key first
        desc = direction < 0
        selected.sort(key=partial(doc_sort_key, path=path, descending=desc), reverse=desc)
    return selected
