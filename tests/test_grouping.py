"""Grouping rows by config keys: n, mean and sample std per metric column, checked against pandas."""

from __future__ import annotations

import math
import random

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from omnidash.core.grouping import MEMBER_IDS, group_rows, mean_col, std_col, varying_keys_except_seed


def sample_rows(n: int = 40, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rows.append({
            "id": i + 1,
            "config.lr": rng.choice([0.1, 0.01, 0.001]),
            "config.opt": rng.choice(["adam", "sgd"]),
            "config.seed": i,
            "max(val.acc)": rng.random(),
            "result": rng.choice([rng.random(), None, "n/a"]),
        })
    return rows


def test_groups_match_pandas_mean_and_std():
    rows = sample_rows()
    groups = group_rows(rows, ["config.lr", "config.opt"], ["max(val.acc)"])
    df = pd.DataFrame(rows)
    expected = df.groupby(["config.lr", "config.opt"])["max(val.acc)"].agg(["count", "mean", "std"])
    assert len(groups) == len(expected)
    for g in groups:
        e = expected.loc[(g["config.lr"], g["config.opt"])]
        assert g["n"] == e["count"]
        assert math.isclose(g[mean_col("max(val.acc)")], e["mean"], rel_tol=1e-12)
        if g["n"] > 1:
            assert math.isclose(g[std_col("max(val.acc)")], e["std"], rel_tol=1e-12)
        else:
            assert g[std_col("max(val.acc)")] is None
    assert sum(len(g[MEMBER_IDS]) for g in groups) == len(rows)


def test_non_numeric_values_are_ignored_and_missing_keys_form_a_group():
    rows = [
        {"id": 1, "config.lr": 0.1, "result": 1.0},
        {"id": 2, "config.lr": 0.1, "result": "n/a"},
        {"id": 3, "config.lr": 0.1, "result": 3.0},
        {"id": 4, "result": 5.0},
        {"id": 5, "config.lr": "auto", "result": None},
    ]
    groups = group_rows(rows, ["config.lr"], ["result"])
    by_key = {g["config.lr"]: g for g in groups}
    assert by_key[0.1]["n"] == 3 and by_key[0.1][mean_col("result")] == 2.0
    assert math.isclose(by_key[0.1][std_col("result")], math.sqrt(2.0))
    assert by_key[None]["n"] == 1 and by_key[None][MEMBER_IDS] == [4]
    assert by_key["auto"][mean_col("result")] is None
    # numbers sort before strings, missing values last
    assert [g["config.lr"] for g in groups] == [0.1, "auto", None]


def test_list_values_group_by_their_content():
    rows = [{"id": 1, "config.layers": [1, 2]}, {"id": 2, "config.layers": [1, 2]}, {"id": 3, "config.layers": [3]}]
    groups = group_rows(rows, ["config.layers"], [])
    assert sorted(g["n"] for g in groups) == [1, 2]


def test_no_keys_no_groups():
    assert group_rows(sample_rows(), [], ["result"]) == []
    assert group_rows([], ["config.lr"], ["result"]) == []


def test_group_over_seeds_skips_seed_and_tags():
    keys = ["config.lr", "config.seed", "config.model.seed", "config.tags", "config.opt"]
    assert varying_keys_except_seed(keys) == ["config.lr", "config.opt"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]),
                          st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32))),
                min_size=1, max_size=30))
def test_any_values_never_break_grouping(pairs):
    rows = [{"id": i, "config.k": k, "m": v} for i, (k, v) in enumerate(pairs)]
    groups = group_rows(rows, ["config.k"], ["m"])
    assert sum(g["n"] for g in groups) == len(rows)
    for g in groups:
        for key in (mean_col("m"), std_col("m")):
            v = g[key]
            assert v is None or math.isfinite(v)
