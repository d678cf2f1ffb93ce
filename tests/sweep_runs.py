"""A small hyper-parameter sweep for the real Sacred experiment of tests/sacred_helpers.py.

Its loss is 1 / (1 + step * lr * batch_size / 32) plus noise, so `last(train.loss)` depends strongly on
`lr` and `batch_size` and not at all on `optimizer` or `adam.beta1`, which vary at random; `seed` differs
in every run, and `steps`, `mode` and `tags` are the same in every run.
"""

from __future__ import annotations

import random
from typing import Any

LRS = [0.01, 0.03, 0.1, 0.3]
BATCH_SIZES = [8, 32, 128]
STEPS = 10
DRIVERS = ["config.lr", "config.batch_size"]
NOISE = ["config.optimizer", "config.adam.beta1"]
METRIC = "last(train.loss)"


def sweep(repeats: int = 2, seed: int = 7) -> list[dict[str, Any]]:
    """len(LRS) x len(BATCH_SIZES) x repeats run specs for sacred_helpers.run_sacred."""
    rng = random.Random(seed)
    runs = []
    for rep in range(repeats):
        for lr in LRS:
            for bs in BATCH_SIZES:
                runs.append({"config": {
                    "lr": lr, "batch_size": bs, "steps": STEPS, "nan_at": -1,
                    "seed": 100 * rep + len(runs),
                    "optimizer": rng.choice(["adam", "sgd", "rmsprop"]),
                    "adam": {"beta1": rng.choice([0.8, 0.9, 0.95]), "beta2": 0.999},
                }})
    return runs
