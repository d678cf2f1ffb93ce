"""matcher.py reproduces MongoDB's find() semantics for the operators the query compiler emits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.store.matcher import UnsupportedFilter, doc_sort_key, get_path_values, matches, sort_key

DOCS = {
    1: {"a": [1, 2]},
    2: {"a": [{"b": 1}, {"c": 2}]},
    3: {"a": 5},
    4: {},
    5: {"a": {"b": None}},
    7: {"a": "x"},
    8: {"a": []},
    10: {"a": {"b": [1, {"c": 3}]}},
    11: {"a": None},
    12: {"a": True},
    13: {"a": [None, 3]},
    14: {"a": 5.0},
    15: {"a": datetime(2026, 1, 1, tzinfo=UTC)},
}


def ids(filter_):
    return sorted(i for i, d in DOCS.items() if matches(d, filter_))


@pytest.mark.parametrize(
    "filter_, expected",
    [
        ({}, sorted(DOCS)),
        ({"a": {"$eq": 5}}, [3, 14]),
        ({"a": 1}, [1]),
        ({"a": [1, 2]}, [1]),
        ({"a": {"$eq": None}}, [4, 11, 13]),
        ({"a": {"$ne": None}}, [1, 2, 3, 5, 7, 8, 10, 12, 14, 15]),
        ({"a": {"$in": [None]}}, [4, 11, 13]),
        ({"a": {"$nin": [1, 5]}}, [2, 4, 5, 7, 8, 10, 11, 12, 13, 15]),
        ({"a": {"$lt": 5}}, [1, 13]),
        ({"a": {"$lte": 5}}, [1, 3, 13, 14]),
        ({"a": {"$gt": 4}}, [3, 14]),
        ({"a": {"$gt": False}}, [12]),
        ({"a": {"$gte": ""}}, [7]),
        ({"a": {"$gt": datetime(2025, 1, 1, tzinfo=UTC)}}, [15]),
        ({"a": {"$gt": None}}, []),
        ({"a": {"$gte": None}}, [4, 11, 13]),
        ({"a": {"$regex": "x|1", "$options": "i"}}, [7]),
        ({"a": {"$regex": "X"}}, []),
        ({"a": {"$regex": "X", "$options": "i"}}, [7]),
        ({"a": {"$exists": True}}, [1, 2, 3, 5, 7, 8, 10, 11, 12, 13, 14, 15]),
        ({"a": {"$exists": False}}, [4]),
        ({"a.b": {"$exists": False}}, [1, 3, 4, 7, 8, 11, 12, 13, 14, 15]),
        ({"a.b": None}, [1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 14, 15]),  # 2: MongoDB yes, FerretDB no
        ({"a.0": {"$exists": True}}, [1, 2, 13]),
        ({"a.0": 1}, [1]),
        ({"a.1.c": 2}, [2]),
        ({"a.c": 2}, [2]),
        ({"a.b.c": 3}, [10]),
        ({"a.b.1.c": 3}, [10]),
        ({"$nor": [{"a": 1}]}, [2, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15]),
        ({"$or": [{"a": 1}, {"a": "x"}]}, [1, 7]),
        ({"$and": [{"a": {"$gt": 1}}, {"a": {"$lt": 2}}]}, [1]),  # different elements may satisfy each
        ({"a": {"$gt": 1, "$lt": 2}}, [1]),
        ({"a": {"$not": {"$lt": 3}}}, [2, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15]),
    ],
)
def test_mongodb_semantics(filter_, expected):
    assert ids(filter_) == expected


def test_nan_follows_mongodb():
    nan = {"x": float("nan")}
    assert matches(nan, {"x": {"$eq": float("nan")}})
    assert matches(nan, {"x": {"$gte": float("nan")}})
    assert not matches(nan, {"x": {"$lt": 5}})
    assert not matches(nan, {"x": {"$gt": -1e300}})
    assert not matches(nan, {"x": {"$eq": 1}})
    assert matches(nan, {"x": {"$ne": 1}})
    assert not matches(nan, {"x": None})


def test_bools_are_not_numbers_and_ints_equal_floats():
    assert not matches({"x": True}, {"x": 1})
    assert not matches({"x": 1}, {"x": {"$gte": True}})
    assert matches({"x": 1}, {"x": 1.0})
    assert matches({"x": 2}, {"x": {"$in": [1.0, 2.0]}})


def test_naive_and_aware_datetimes_compare():
    assert matches({"t": datetime(2026, 1, 2)}, {"t": {"$gt": datetime(2026, 1, 1, tzinfo=UTC)}})


def test_unsupported_operators_raise():
    for f in [{"$where": "true"}, {"a": {"$expr": 1}}, {"a": {"$size": 1}}, {"$or": []}, {"a": {"$in": 1}}]:
        with pytest.raises(UnsupportedFilter):
            matches({"a": 1}, f)


def test_get_path_values():
    doc = {"a": {"b": [{"c": 1}, {"c": 2}, {"d": 3}]}, "x.y": 5}
    assert get_path_values(doc, "a.b.c") == [1, 2]
    assert get_path_values(doc, "a.b.1.c") == [2]
    assert get_path_values(doc, "a.z") == []
    assert get_path_values({"a": [1, 2]}, "a") == [[1, 2]]


def test_sort_key_orders_types_like_bson():
    oid = pytest.importorskip("bson").ObjectId()
    values = [True, datetime(2026, 1, 1, tzinfo=UTC), "b", "a", {"k": 1}, [5], 3, 2.5, None, oid, False]
    ordered = sorted(values, key=sort_key)
    # arrays sort by their smallest element ascending, so [5] sorts among the numbers
    assert ordered == [None, 2.5, 3, [5], "a", "b", {"k": 1}, oid, False, True, datetime(2026, 1, 1, tzinfo=UTC)]


def test_sort_key_arrays_use_min_ascending_and_max_descending():
    docs = [{"v": [1, 10]}, {"v": 5}, {"v": []}, {}]
    asc = sorted(docs, key=lambda d: doc_sort_key(d, "v"))
    assert asc == [{"v": []}, {}, {"v": [1, 10]}, {"v": 5}]
    desc = sorted(docs, key=lambda d: doc_sort_key(d, "v", True), reverse=True)
    assert desc == [{"v": [1, 10]}, {"v": 5}, {}, {"v": []}]


def test_sort_key_nan_is_the_smallest_number():
    assert sort_key(None) < sort_key(float("nan")) < sort_key(float("-inf")) < sort_key(0)
