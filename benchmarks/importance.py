"""Which settings matter (issue 16): time and ranking of app/core/importance.py against the textbook way.

For sweeps of N synthetic runs (a metric driven by lr and optimizer, eight noise keys, a seed, a constant),
prints the wall time of `settings_importance` (out-of-bag permutation importance, 100 trees, at most 2,000
rows drawn per tree, keys shuffled as whole groups) and of the baseline: scikit-learn's
`permutation_importance` on a 25 % held-out split of a 100-tree forest over the same one-hot columns
(each column shuffled on its own, importance summed back per key). Both must rank lr and optimizer first.

    python benchmarks/importance.py                  # N = 60, 1,000, 10,000
    python benchmarks/importance.py --sizes 100 5000

Wall-clock on this machine: compare the columns of one run, not numbers across machines.
"""

from __future__ import annotations

import argparse  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import sys
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from omnidash.core import importance as imp  # noqa: E402

DRIVERS = {"config.lr", "config.optimizer"}


def sweep(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        lr = 10 ** rng.uniform(-4, -1)
        opt = rng.choice(["adam", "sgd", "rmsprop"])
        row = {"config.lr": lr, "config.optimizer": opt, "config.seed": i, "config.epochs": 10}
        for k in range(8):
            row[f"config.noise{k}"] = rng.choice([0.1, 0.2, 0.5, 1.0]) if k % 2 else rng.choice(["a", "b", "c"])
        row["metric"] = -abs(math.log10(lr) + 2.5) + {"adam": 1.0, "sgd": -0.5, "rmsprop": 0.2}[opt] \
            + rng.gauss(0, 0.05)
        rows.append(row)
    return rows


def baseline(rows: list[dict], keys: list[str]) -> list[str]:
    """Keys ranked by sklearn's permutation_importance on a held-out quarter (summed over one-hot columns)."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import train_test_split

    y = np.array([r["metric"] for r in rows])
    blocks, owner = [], []
    for key in keys:
        values = [r.get(key) for r in rows]
        cols = imp.encode(values, imp.key_kind(values))
        blocks.append(cols)
        owner += [key] * cols.shape[1]
    X = np.hstack(blocks)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.25, random_state=0)
    forest = RandomForestRegressor(n_estimators=100, random_state=0, n_jobs=1).fit(Xa, ya)
    scores = permutation_importance(forest, Xb, yb, n_repeats=3, random_state=0, n_jobs=1).importances_mean
    per_key: dict[str, float] = {}
    for key, s in zip(owner, scores, strict=True):
        per_key[key] = per_key.get(key, 0.0) + float(s)
    return sorted(per_key, key=lambda k: -per_key[k])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[60, 1000, 10000])
    args = parser.parse_args()
    import sklearn.ensemble  # noqa: F401 - import once, outside the timings

    print(f"{'runs':>7} {'ours s':>8} {'baseline s':>11} {'ratio':>6}  ours top-2 / baseline top-2 == lr, optimizer")
    for n in args.sizes:
        rows = sweep(n)
        keys = sorted(k for k in rows[0] if k.startswith("config."))
        t = time.perf_counter()
        result = imp.settings_importance(rows, keys, "metric")
        ours = time.perf_counter() - t
        ranked = {k.key for k in result.ranked[:2]}
        rankable = [k.key for k in result.keys if k.flag is None]
        t = time.perf_counter()
        base = baseline(rows, rankable)
        took = time.perf_counter() - t
        print(f"{n:>7,} {ours:>8.2f} {took:>11.2f} {took / ours:>5.1f}x  {ranked == DRIVERS} / {set(base[:2]) == DRIVERS}",
              flush=True)


if __name__ == "__main__":
    main()
