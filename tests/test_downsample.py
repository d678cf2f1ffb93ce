"""Downsampling keeps every bucket's min and max, the endpoints, and NaN gaps (property tests vs numpy)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from omnidash.core.downsample import bucket_edges, downsample, downsample_indices, in_range

finite_values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64)
values_with_gaps = st.one_of(finite_values, st.just(float("nan")), st.just(float("inf")))


@settings(max_examples=200, deadline=None)
@given(y=arrays(np.float64, st.integers(1, 3000), elements=values_with_gaps), max_points=st.integers(2, 400))
def test_every_bucket_keeps_its_min_max_and_a_gap(y: np.ndarray, max_points: int) -> None:
    x = np.arange(len(y))
    idx = downsample_indices(x, y, max_points)
    assert np.all(np.diff(idx) > 0), "indices sorted and unique"
    if len(y) <= max_points:
        assert len(idx) == len(y)
        return
    kept = set(idx.tolist())
    assert {0, len(y) - 1} <= kept
    edges = bucket_edges(len(y), max(1, (max_points - 2) // 2))
    for s, e in zip(edges[:-1], edges[1:], strict=True):
        seg = y[s:e]
        fin = np.isfinite(seg)
        kept_seg = [y[i] for i in kept if s <= i < e]
        if fin.any():
            assert seg[fin].min() in kept_seg
            assert seg[fin].max() in kept_seg
        if (~fin).any():
            assert any(not np.isfinite(v) for v in kept_seg), "a gap in the bucket survives"


@settings(max_examples=100, deadline=None)
@given(y=arrays(np.float64, st.integers(10, 5000), elements=finite_values), max_points=st.integers(4, 500))
def test_size_bounded_and_global_extremes_exact(y: np.ndarray, max_points: int) -> None:
    x = np.arange(len(y)) * 10
    xs, ys = downsample(x, y, max_points)
    assert len(ys) <= max_points
    assert ys.min() == y.min() and ys.max() == y.max()
    assert ys[-1] == y[-1] and xs[0] == x[0] and xs[-1] == x[-1]


def test_minmaxlttb_keeps_extremes_and_size() -> None:
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=100_000))
    x = np.arange(len(y))
    idx = downsample_indices(x, y, 2000, method="minmaxlttb")
    assert len(idx) <= 2002
    assert y[idx].min() == y.min() and y[idx].max() == y.max()


def test_none_values_become_gaps_and_short_series_untouched() -> None:
    xs, ys = downsample([0, 1, 2], [1.0, None, 3.0], 1000)
    assert np.isnan(ys[1]) and list(xs) == [0, 1, 2]


def test_in_range_pads_one_point_each_side() -> None:
    x = np.arange(0, 100, 10)
    sl = in_range(x, (25, 55))
    assert list(x[sl]) == [20, 30, 40, 50, 60]
    assert in_range(x, None) == slice(0, 10)
