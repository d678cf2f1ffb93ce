"""Server-side downsampling of metric series: keep every bucket's extremes (MinMax), NaN stays a gap."""

from __future__ import annotations

import numpy as np


def downsample_indices(x: np.ndarray, y: np.ndarray, max_points: int) -> np.ndarray:
    """Indices (sorted) of at most about `max_points` points of (x, y), x sorted ascending.

    Each of max_points/2 equal-count buckets keeps the index of its minimum and its maximum, so no
    peak is lost. Non-finite values are kept as gaps: a bucket that holds one keeps one of them.
    """
    n = len(y)
    if max_points is None or n <= max_points or max_points < 4:
        return np.arange(n)
    y = np.asarray(y, dtype=float)
    finite = np.isfinite(y)
    n_buckets = max(1, max_points // 2)
    edges = np.linspace(0, n, n_buckets + 1).astype(np.int64)
    keep: list[np.ndarray] = []
    if finite.all():
        try:
            from tsdownsample import MinMaxDownsampler

            idx = MinMaxDownsampler().downsample(np.ascontiguousarray(y), n_out=n_buckets * 2)
            return np.unique(np.asarray(idx, dtype=np.int64))
        except Exception:  # noqa: BLE001 - fall back to numpy below
            pass
    filled_lo = np.where(finite, y, np.inf)
    filled_hi = np.where(finite, y, -np.inf)
    starts = edges[:-1]
    valid = edges[1:] > starts
    starts = starts[valid]
    mins = np.minimum.reduceat(filled_lo, starts)
    maxs = np.maximum.reduceat(filled_hi, starts)
    for b, s in enumerate(starts):
        e = edges[1:][valid][b]
        seg_lo = filled_lo[s:e]
        if np.isfinite(mins[b]):
            keep.append(np.array([s + int(np.argmin(seg_lo)), s + int(np.argmax(filled_hi[s:e]))]))
        bad = np.flatnonzero(~finite[s:e])
        if bad.size:
            keep.append(np.array([s + int(bad[0])]))
    if not keep:
        return np.array([0], dtype=np.int64)
    return np.unique(np.concatenate(keep))


def downsample(x, y, max_points: int | None):
    """(x, y) arrays reduced with `downsample_indices`."""
    x = np.asarray(x)
    y = np.asarray(y, dtype=float)
    if max_points is None or len(y) <= max_points:
        return x, y
    idx = downsample_indices(x, y, max_points)
    return x[idx], y[idx]
