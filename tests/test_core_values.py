"""The pure rules of `omnidash.core`: run ids, JSON-safe values, statuses."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np

from omnidash.core.ids import canonical_int, id_candidates, parse_run_id, plain_run_id
from omnidash.core.jsonsafe import json_leaf, json_safe
from omnidash.core.status import FINAL_STATUSES, LIVE_STATUSES, STATUSES
from omnidash.core.values import MAX_DEPTH, TOO_DEEP, decode_value, flatten_dict
from omnidash.store.common import dtype_of


def test_a_canonical_whole_number_is_an_int_id_anything_else_stays_text() -> None:
    assert parse_run_id("12") == 12 and parse_run_id("-3") == -3
    assert [parse_run_id(t) for t in ("00012", "+1", " 1", "1_0", "x", "-0")] == ["00012", "+1", " 1", "1_0", "x", "-0"]
    assert canonical_int("1" * 19) is None


def test_id_candidates_give_the_twin_form_after_the_exact_one() -> None:
    assert id_candidates(5) == [5, "5"]
    assert id_candidates("5") == ["5", 5]
    assert id_candidates("00012") == ["00012"]
    assert id_candidates(True) == [True]


def test_numpy_ids_become_python_ints() -> None:
    value = plain_run_id(np.int64(7))
    assert value == 7 and type(value) is int
    assert plain_run_id("7") == "7"


def test_json_safe_makes_strict_json() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5, 678000)
    aware = datetime(2026, 1, 2, 4, 4, 5, 678000, tzinfo=timezone(timedelta(hours=1)))
    value = {1: [math.nan, math.inf, 1.5, naive, aware], "np": np.float32(0.5), "b": b"abc", "s": {2}, "o": object}
    out = json_safe(value)
    json.dumps(out, allow_nan=False)
    assert out["1"] == [None, None, 1.5, "2026-01-02T03:04:05.678Z", "2026-01-02T03:04:05.678Z"]
    assert out["np"] == 0.5 and out["b"] == "<3 bytes>" and out["s"] == [2] and isinstance(out["o"], str)
    assert json_leaf(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"


def test_json_safe_clips_deep_documents() -> None:
    deep: list = []
    inner = deep
    for _ in range(MAX_DEPTH + 5):
        inner.append([])
        inner = inner[0]
    out = json_safe(deep)
    for _ in range(MAX_DEPTH):
        out = out[0]
    assert out == TOO_DEEP


def test_decoding_a_900_level_value_stops_at_max_depth() -> None:
    """Within Python's own recursion limit (a library may raise it on import; jedi does)."""
    import sys

    deep: dict = {"leaf": 1}
    for _ in range(900):
        deep = {"k": deep}
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        out = decode_value(deep)
    finally:
        sys.setrecursionlimit(before)
    for _ in range(MAX_DEPTH):
        out = out["k"]
    assert out == TOO_DEEP
    assert decode_value({"py/tuple": [1, {"py/object": "numpy.float64", "value": 2.5}]}) == [1, 2.5]


def test_every_status_is_live_final_or_probably_dead() -> None:
    assert sorted(STATUSES) == sorted([*LIVE_STATUSES, *FINAL_STATUSES, "PROBABLY_DEAD"])


def test_flattening_keeps_every_leaf_as_the_slow_path_would() -> None:
    """flatten_dict's shortcut for plain leaves must give what decoding and cleaning give: numpy scalars (a
    float64 is a float subclass) become Python numbers, NaN and infinities None, jsonpickle shapes decoded."""
    config = {"lr": 0.1, "n": 3, "on": True, "name": "sgd", "none": None, "nan": float("nan"), "inf": -math.inf,
              "np": np.float64(0.5), "npnan": np.float64("nan"), "npint": np.int64(7), "list": [1, float("nan")],
              "tuple": {"py/tuple": [1, 2]}, "nested": {"a": {"b": np.bool_(True)}}, "empty": {}, "__doc__": "x"}
    flat = flatten_dict(config, "config")
    assert flat == {"config.lr": 0.1, "config.n": 3, "config.on": True, "config.name": "sgd", "config.none": None,
                    "config.nan": None, "config.inf": None, "config.np": 0.5, "config.npnan": None,
                    "config.npint": 7, "config.list": [1, None], "config.tuple.py/tuple": [1, 2],
                    "config.nested.a.b": True, "config.empty": {}}
    assert all(type(v) in (int, float, bool, str, list, dict, type(None)) for v in flat.values())
    assert type(flat["config.np"]) is float and type(flat["config.npint"]) is int


def test_a_columns_type_is_read_from_its_values_types() -> None:
    class Flag(int):
        pass

    assert dtype_of([1, 2.5, None, Flag(1)]) == "number"
    assert dtype_of([True, None]) == "bool" and dtype_of(["a"]) == "string" and dtype_of([[1]]) == "list"
    assert dtype_of([1, "a"]) == "mixed" and dtype_of([{"a": 1}]) == "mixed" and dtype_of([None]) == "mixed"
