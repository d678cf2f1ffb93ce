"""Which settings matter: rank config keys by how much they drive a metric, over plain rows.

`settings_importance(rows, keys, metric)` fits a random forest that predicts the metric from the keys and
reports, per key, its permutation importance (Breiman's out-of-bag "mean decrease in accuracy": how much
worse the trees predict the runs they did not see when that key's values are shuffled, as a drop in R²),
the Spearman rank correlation with the metric (with its sign; none for unordered categories), and a flag
for keys that cannot be ranked honestly: constant, a different value in every run, seeds and ids.

Categorical keys are one-hot encoded (ordinal past MAX_ONE_HOT categories) and a key's columns are shuffled
together, so the importance belongs to the key. A missing value is its own category, or for numbers a
median fill plus a "missing" column. Deterministic: fixed seeds, rows and keys in a fixed order.

Pure: numpy and pandas only; scikit-learn is imported when a forest is fitted, never at import.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MIN_RUNS = 8  # below this, no ranking: "too few runs"
MAX_ONE_HOT = 20  # categories one-hot encoded; more become one ordinal column
N_TREES = 100
MAX_BOOTSTRAP = 2000  # rows drawn per tree on large sweeps (all runs still take part)
MAX_OOB = 300  # out-of-bag rows scored per tree
REPEATS = 3  # shuffles per key per tree
SEED = 0
MAX_LEVELS = 12  # category means reported per categorical key
MISSING_LABEL = "(missing)"

FLAG_TEXT = {
    "constant": "the same in every run",
    "unique": "a different value in every run",
    "seed": "a random seed",
    "id": "an identifier",
}
ID_NAMES = {"id", "_id", "uuid", "guid", "hash", "idx", "run_id", "trial_id", "run_name", "exp_id"}


@dataclass
class KeyImportance:
    """One config key's figures."""

    key: str
    kind: str  # "number" | "bool" | "category"
    importance: float | None = None  # drop in out-of-bag R² when the key is shuffled (None: not ranked)
    correlation: float | None = None  # Spearman rho with the metric (numbers and bools)
    runs: int = 0  # runs that have a value for the key
    values: int = 0  # distinct values
    flag: str | None = None  # "constant" | "unique" | "seed" | "id"
    flag_text: str | None = None
    levels: list[dict[str, Any]] = field(default_factory=list)  # categories: [{value, mean, runs}]


@dataclass
class ImportanceResult:
    metric: str
    runs: int  # runs with a numeric metric value: what the ranking rests on
    runs_without_metric: int = 0
    min_runs: int = MIN_RUNS
    too_few: bool = False
    message: str | None = None
    r2: float | None = None  # out-of-bag R² of the forest: how much of the metric the keys explain
    keys: list[KeyImportance] = field(default_factory=list)  # ranked keys first, then flagged ones

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def ranked(self) -> list[KeyImportance]:
        return [k for k in self.keys if k.flag is None and k.importance is not None]


# -- values ---------------------------------------------------------------------------------------
def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def metric_value(v: Any) -> float | None:
    """A finite float, or None (strings, bools, NaN, missing)."""
    if _is_number(v) and math.isfinite(float(v)):
        return float(v)
    return None


def label(v: Any) -> str:
    """A category's label: strings as they are, lists and dicts as sorted JSON."""
    if isinstance(v, str):
        return v
    if isinstance(v, list | dict | tuple):
        return json.dumps(v, sort_keys=True, default=str)
    return str(v)


def key_kind(values: Sequence[Any]) -> str:
    present = [v for v in values if not _missing(v)]
    if present and all(isinstance(v, bool | np.bool_) for v in present):
        return "bool"
    if present and all(_is_number(v) for v in present):
        return "number"
    return "category"


def name_flag(key: str) -> str | None:
    """"seed" or "id" from the key's last name (config.seed, config.data.run_id, config.trial_uuid)."""
    last = key.rsplit(".", 1)[-1].lower()
    if "seed" in last:
        return "seed"
    if last in ID_NAMES or last.endswith(("_id", "_uuid")):
        return "id"
    return None


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rho over the pairs where x is finite (ties share their mean rank)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return None
    rx = pd.Series(x[ok]).rank().to_numpy()
    ry = pd.Series(y[ok]).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


# -- encoding ------------------------------------------------------------------------------------
def encode(values: Sequence[Any], kind: str) -> np.ndarray:
    """The model's columns for one key (n x c)."""
    n = len(values)
    if kind in ("number", "bool"):
        x = np.array([np.nan if _missing(v) else float(v) for v in values], dtype=float)
        miss = ~np.isfinite(x)
        if not miss.any():
            return x.reshape(n, 1)
        filled = np.where(miss, np.nanmedian(x) if (~miss).any() else 0.0, x)
        return np.column_stack([filled, miss.astype(float)])
    labels = [MISSING_LABEL if _missing(v) else label(v) for v in values]
    cats = sorted(set(labels))
    index = {c: i for i, c in enumerate(cats)}
    codes = np.array([index[t] for t in labels])
    if len(cats) > MAX_ONE_HOT:
        return codes.astype(float).reshape(n, 1)
    return (codes[:, None] == np.arange(len(cats))[None, :]).astype(float)


def levels(values: Sequence[Any], y: np.ndarray) -> list[dict[str, Any]]:
    """Mean metric per category, best mean first (at most MAX_LEVELS)."""
    frame = pd.DataFrame({"v": [MISSING_LABEL if _missing(v) else label(v) for v in values], "y": y})
    stats = frame.groupby("v", sort=True)["y"].agg(["mean", "size"]).sort_values("mean", ascending=False)
    return [{"value": str(v), "mean": float(m), "runs": int(c)}
            for v, m, c in stats.head(MAX_LEVELS).itertuples(name=None)]


# -- the forest ---------------------------------------------------------------------------------
def oob_permutation_importance(X: np.ndarray, y: np.ndarray, groups: list[list[int]],
                               n_trees: int = N_TREES) -> tuple[list[float], float | None]:
    """Per group of columns: mean over trees of the rise in out-of-bag squared error when the group is
    shuffled, over the metric's variance (a drop in R²); and the forest's out-of-bag R²."""
    from sklearn.ensemble import RandomForestRegressor  # heavy: only when a ranking is asked for

    n = len(y)
    forest = RandomForestRegressor(n_estimators=n_trees, random_state=SEED, n_jobs=1,
                                   max_samples=MAX_BOOTSTRAP if n > MAX_BOOTSTRAP else None)
    forest.fit(X, y)
    var = float(np.var(y))
    rng = np.random.default_rng(SEED)
    rises = np.zeros(len(groups))
    trees = 0
    oob_sum, oob_count = np.zeros(n), np.zeros(n)
    for tree, drawn in zip(forest.estimators_, forest.estimators_samples_, strict=True):
        oob = np.ones(n, dtype=bool)
        oob[drawn] = False
        rows = np.flatnonzero(oob)
        if rows.size < 2:
            continue
        if rows.size > MAX_OOB:
            rows = np.sort(rng.choice(rows, MAX_OOB, replace=False))
        base = X[rows]
        blocks = [base]
        for cols in groups:
            for _ in range(REPEATS):
                shuffled = base.copy()
                shuffled[:, cols] = base[rng.permutation(rows.size)][:, cols]
                blocks.append(shuffled)
        pred = tree.predict(np.vstack(blocks)).reshape(len(blocks), rows.size)
        err = ((pred - y[rows][None, :]) ** 2).mean(axis=1)
        rises += (err[1:].reshape(len(groups), REPEATS).mean(axis=1) - err[0])
        trees += 1
        oob_sum[rows] += pred[0]
        oob_count[rows] += 1
    if trees == 0 or var == 0:
        return [0.0] * len(groups), None
    seen = oob_count > 0
    r2 = None
    if seen.sum() >= 2:
        sst = float(((y[seen] - y[seen].mean()) ** 2).sum())
        sse = float(((y[seen] - oob_sum[seen] / oob_count[seen]) ** 2).sum())
        r2 = 1.0 - sse / sst if sst > 0 else None
    return [float(r / trees / var) for r in rises], r2


# -- the whole analysis --------------------------------------------------------------------------
def settings_importance(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], metric: str,
                        min_runs: int = MIN_RUNS) -> ImportanceResult:
    """Rank `keys` (columns of `rows`) by how much they drive the numeric column `metric`."""
    used = [r for r in rows if metric_value(r.get(metric)) is not None]
    result = ImportanceResult(metric=metric, runs=len(used), runs_without_metric=len(rows) - len(used),
                              min_runs=min_runs)
    y = np.array([metric_value(r.get(metric)) for r in used], dtype=float)
    infos: list[KeyImportance] = []
    columns: dict[str, list[Any]] = {}
    for key in sorted(dict.fromkeys(k for k in keys if k != metric)):
        values = [r.get(key) for r in used]
        present = [v for v in values if not _missing(v)]
        if not present:
            continue  # a key of other runs only
        kind = key_kind(values)
        distinct = {label(v) for v in present}
        n_missing = len(values) - len(present)
        info = KeyImportance(key=key, kind=kind, runs=len(present), values=len(distinct))
        if len(distinct) == 1 and not n_missing:
            info.flag = "constant"
        elif name_flag(key):
            info.flag = name_flag(key)
        elif kind == "category" and len(distinct) == len(present) and len(present) >= 3:
            info.flag = "unique"
        info.flag_text = FLAG_TEXT.get(info.flag or "")
        if kind == "category" and info.flag != "constant":
            info.levels = levels(values, y)
        infos.append(info)
        columns[key] = values
    if len(used) < min_runs:
        result.too_few = True
        result.message = (
            "No runs match this filter." if not rows else
            f"Too few runs: none of the {len(rows)} runs has a numeric value for {metric}." if not used else
            f"Too few runs: {len(used)} run{'s' if len(used) != 1 else ''} with a value for {metric}; "
            f"at least {min_runs} are needed to rank the settings.")
        result.keys = sorted(infos, key=lambda k: (k.flag is not None, k.key))
        return result
    for info in infos:
        if info.kind != "category" and info.flag != "constant":
            x = np.array([np.nan if _missing(v) else float(v) for v in columns[info.key]], dtype=float)
            info.correlation = spearman(x, y)
    rankable = [k for k in infos if k.flag is None]
    if np.ptp(y) == 0:
        result.message = f"{metric} is the same in all {len(used)} runs: there is nothing to explain."
    elif not rankable:
        result.message = "No setting varies across these runs (apart from seeds and ids)."
    else:
        blocks, groups, start = [], [], 0
        for info in rankable:
            cols = encode(columns[info.key], info.kind)
            blocks.append(cols)
            groups.append(list(range(start, start + cols.shape[1])))
            start += cols.shape[1]
        scores, result.r2 = oob_permutation_importance(np.hstack(blocks), y, groups)
        for info, score in zip(rankable, scores, strict=True):
            info.importance = score
    result.keys = sorted(infos, key=lambda k: (
        k.flag is not None, -(k.importance if k.importance is not None else -math.inf),
        -abs(k.correlation or 0.0), k.key))
    return result


__all__ = ["FLAG_TEXT", "MIN_RUNS", "ImportanceResult", "KeyImportance", "settings_importance"]
