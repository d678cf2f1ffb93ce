"""Server-side downsampling of metric series: keep every bucket's extremes (MinMax), NaN stays a gap.

`downsample_indices(x, y, max_points)` splits the points into `max_points // 2` equal-count buckets
(`bucket_edges`) and keeps, for each bucket, the index of its minimum and of its maximum. The first and
the last point are always kept (so a curve spans its full range and `last` stays exact), and a bucket
holding a NaN/inf keeps its first non-finite point, so gaps survive. Global min, max and last value of
a downsampled series are therefore exact. `method="minmaxlttb"` uses tsdownsample's MinMaxLTTB (nicer
shapes, same extremes) when every value is finite.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def bucket_edges(n: int, n_buckets: int) -> np.ndarray:
    """Start offsets of `n_buckets` equal-count buckets over n points, plus n at the end."""
    n_buckets = max(1, min(n_buckets, n))
    return np.linspace(0, n, n_buckets + 1).round().astype(np.int64)


def _first_index_per_bucket(mask: np.ndarray, bucket_of: np.ndarray) -> np.ndarray:
    """For each bucket with a True in `mask`, the first such index."""
    hits = np.flatnonzero(mask)
    if hits.size == 0:
        return hits
    _, first = np.unique(bucket_of[hits], return_index=True)
    return hits[first]


def _minmax_indices(y: np.ndarray, n_buckets: int) -> np.ndarray:
    n = len(y)
    edges = bucket_edges(n, n_buckets)
    starts = edges[:-1]
    counts = np.diff(edges)
    bucket_of = np.repeat(np.arange(len(starts)), counts)
    finite = np.isfinite(y)
    lo = np.where(finite, y, np.inf)
    hi = np.where(finite, y, -np.inf)
    mins = np.minimum.reduceat(lo, starts)
    maxs = np.maximum.reduceat(hi, starts)
    keep = [
        _first_index_per_bucket(finite & (lo == mins[bucket_of]), bucket_of),
        _first_index_per_bucket(finite & (hi == maxs[bucket_of]), bucket_of),
        _first_index_per_bucket(~finite, bucket_of),
        np.array([0, n - 1], dtype=np.int64),
    ]
    return np.unique(np.concatenate(keep))


def _minmaxlttb_indices(x: np.ndarray, y: np.ndarray, max_points: int) -> np.ndarray | None:
    from tsdownsample import MinMaxLTTBDownsampler  # a dependency; imported when a long series is first drawn

    try:
        xs = np.ascontiguousarray(x, dtype=np.float64)
        idx = MinMaxLTTBDownsampler().downsample(xs, np.ascontiguousarray(y), n_out=max_points)
    except Exception:  # noqa: BLE001 - unusual x (non-monotonic): numpy MinMax is always correct
        return None
    return np.unique(np.concatenate([np.asarray(idx, dtype=np.int64), [0, len(y) - 1]]))


def downsample_indices(x: Any, y: Any, max_points: int | None, method: str = "minmax") -> np.ndarray:
    """Sorted indices of about `max_points` points of (x, y) (x ascending), keeping extremes and gaps."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    if max_points is None or n <= max_points or n == 0:
        return np.arange(n)
    max_points = max(2, int(max_points))
    if method == "minmaxlttb" and max_points >= 8 and np.isfinite(y).all():
        idx = _minmaxlttb_indices(np.asarray(x), y, max_points)
        if idx is not None:
            return idx
    # two points per bucket, minus the two endpoints we always add
    return _minmax_indices(y, max(1, (max_points - 2) // 2))


def downsample(x: Any, y: Any, max_points: int | None, method: str = "minmax") -> tuple[np.ndarray, np.ndarray]:
    """(x, y) arrays reduced with `downsample_indices`; y as float with NaN for gaps."""
    x = np.asarray(x)
    y = np.asarray([np.nan if v is None else v for v in y] if isinstance(y, list) else y, dtype=float)
    if max_points is None or len(y) <= max_points:
        return x, y
    idx = downsample_indices(x, y, max_points, method)
    return x[idx], y[idx]


def in_range(x: Any, x_range: tuple[float, float] | None, pad: int = 1) -> slice:
    """Slice of sorted x inside x_range, padded by `pad` points each side so lines reach the edges."""
    x = np.asarray(x)
    if x_range is None or len(x) == 0:
        return slice(0, len(x))
    lo, hi = sorted(x_range)
    start = int(np.searchsorted(x, lo, side="left"))
    stop = int(np.searchsorted(x, hi, side="right"))
    return slice(max(0, start - pad), min(len(x), stop + pad))
