"""Synthetic Sacred runs, as MongoObserver writes them: 20 config keys, 4 metrics x 200 steps per run.

The data of benchmarks/store.py and benchmarks/load.py (same seed, so the same runs in both):

    from benchmarks.synthetic_runs import load
    load(pymongo.MongoClient(uri)["bench"], 20_000)
"""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

import pymongo

METRICS = ["train.loss", "val.loss", "val.acc", "lr"]
STEPS = 200


def config_of(rng: random.Random, i: int) -> dict[str, Any]:
    """20 config leaves, like a real sweep: floats, ints, strings, bools, an ingredient sub-dict."""
    return {
        "lr": rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]),
        "batch_size": rng.choice([16, 32, 64, 128, 256]),
        "optimizer": rng.choice(["adam", "sgd", "adamw"]),
        "epochs": rng.choice([10, 20, 50]),
        "l2": rng.choice([0.0, 1e-5, 1e-4]),
        "momentum": rng.random(),
        "dropout": round(rng.random() * 0.5, 3),
        "warmup_steps": rng.randrange(0, 2000, 100),
        "shuffle": rng.random() < 0.5,
        "model": rng.choice(["resnet18", "resnet50", "vit-s"]),
        "width": rng.choice([64, 128, 256]),
        "depth": rng.randrange(2, 12),
        "label_smoothing": rng.choice([0.0, 0.1]),
        "grad_clip": rng.choice([None, 1.0, 5.0]),
        "seed": rng.randrange(1, 10**9),
        "adam": {"beta1": 0.9, "beta2": rng.choice([0.99, 0.999]), "eps": 1e-8},
        "dataset": {"name": rng.choice(["cifar10", "cifar100"]), "augment": rng.random() < 0.5},
        "run_index": i,
    }


TAGS = [["baseline"], ["best"], ["cnn", "sweep-3"]]


def run_doc(rng: random.Random, i: int, base: dt.datetime) -> dict[str, Any]:
    start = base + dt.timedelta(minutes=i)
    status = rng.choices(["COMPLETED", "FAILED", "INTERRUPTED", "RUNNING"], [90, 6, 3, 1])[0]
    beat = start + dt.timedelta(seconds=rng.randrange(60, 3600))
    doc: dict[str, Any] = {
        "_id": i,
        "experiment": {
            "name": rng.choice(["cifar_sweep", "ablation"]),
            "base_dir": "/home/ana/exp",
            "sources": [],
            "dependencies": ["numpy==2.4.6", "sacred==0.8.7", "torch==2.5.1"],
            "repositories": [
                {"url": "https://github.com/example/exp.git", "commit": "3488b54" * 5, "dirty": False}
            ],
            "mainfile": "train.py",
        },
        "format": "MongoObserver-0.7.0",
        "command": "train",
        "host": {
            "hostname": f"gpu{i % 8}",
            "os": ["Linux", "Linux-6.1-x86_64"],
            "python_version": "3.11.7",
            "cpu": "Intel(R) Xeon(R)",
            "ENV": {},
        },
        "start_time": start,
        "config": config_of(rng, i),
        "meta": {
            "command": "train",
            "options": {"--beat-interval": None, "--comment": None, "--name": None},
            "named_configs": [],
            "config_updates": {},
        },
        "status": status,
        "resources": [],
        "artifacts": [],
        "captured_out": "".join(f"epoch {e:3d} loss={rng.random():.4f}\n" for e in range(20)),
        "info": {"metrics": [{"name": m, "id": f"{i:024x}"} for m in METRICS]},
        "heartbeat": beat,
        "result": round(rng.random(), 4),
    }
    if status != "RUNNING":
        doc["stop_time"] = beat
    if i % 20 == 0:  # one run in 20 tagged in Omniboard (not drawn from rng: the other fields stay as they were)
        doc["omniboard"] = {"tags": TAGS[(i // 20) % len(TAGS)]}
    return doc


def metric_docs(rng: random.Random, i: int, start: dt.datetime) -> list[dict[str, Any]]:
    stamps = [start + dt.timedelta(seconds=s) for s in range(STEPS)]
    out = []
    for name in METRICS:
        scale = rng.random()
        values = [round(scale * (1 + rng.random()) / (1 + s / 20), 5) for s in range(STEPS)]
        out.append(
            {"run_id": i, "name": name, "steps": list(range(STEPS)), "values": values, "timestamps": stamps}
        )
    return out


def _insert(db: pymongo.database.Database, runs: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> None:
    db.runs.insert_many(runs, ordered=False)
    db.metrics.insert_many(metrics, ordered=False)


def load(db: pymongo.database.Database, n: int, workers: int = 1) -> None:
    """Runs 1..n and their metric documents, inserted 1,000 runs at a time (by `workers` threads: the
    server's cost is in the metric documents, and FerretDB 2 stores them about 2x faster from 4 writers),
    with progress on one line."""
    from concurrent.futures import ThreadPoolExecutor, wait

    rng = random.Random(42)
    base = dt.datetime(2026, 1, 1)
    runs, metrics = [], []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max(1, workers)) as pool:
        pending: set[Any] = set()
        for i in range(1, n + 1):
            doc = run_doc(rng, i, base)
            runs.append(doc)
            metrics.extend(metric_docs(rng, i, doc["start_time"]))
            if len(runs) == 1000 or i == n:
                pending.add(pool.submit(_insert, db, runs, metrics))
                runs, metrics = [], []
                if len(pending) >= 2 * max(1, workers):  # bounded memory: a few chunks in flight
                    done, pending = wait(pending, return_when="FIRST_COMPLETED")
                    for f in done:
                        f.result()
                print(f"\r   loaded {i:,} runs ({time.perf_counter() - t0:.0f} s)", end="", flush=True)
        for f in pending:
            f.result()
    print(
        f"\r   loaded {n:,} runs, {n * len(METRICS):,} metric documents in {time.perf_counter() - t0:.0f} s"
    )


def _iso(value: Any) -> Any:
    """Datetimes as FileStorageObserver writes them (ISO 8601, no zone), recursively."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso(v) for v in value]
    return value


def write_folder(path: str, n: int) -> None:
    """The same n runs (same seed as `load`) as a Sacred FileStorageObserver folder: one folder per run
    with run.json, config.json, metrics.json, info.json and cout.txt."""
    import json
    import os

    rng = random.Random(42)
    base = dt.datetime(2026, 1, 1)
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        doc = run_doc(rng, i, base)
        metrics = metric_docs(rng, i, doc["start_time"])
        folder = os.path.join(path, str(i))
        os.makedirs(folder, exist_ok=True)
        config, info, cout = doc.pop("config"), doc.pop("info"), doc.pop("captured_out")
        doc.pop("_id")
        files = {
            "run.json": _iso(doc),
            "config.json": config,
            "info.json": info,
            "metrics.json": {m["name"]: {"steps": m["steps"], "values": m["values"],
                                         "timestamps": _iso(m["timestamps"])} for m in metrics},
        }
        for name, content in files.items():
            with open(os.path.join(folder, name), "w") as f:
                json.dump(content, f)
        with open(os.path.join(folder, "cout.txt"), "w") as f:
            f.write(cout)
        if i % 1000 == 0:
            print(f"\r   wrote {i:,} runs ({time.perf_counter() - t0:.0f} s)", end="", flush=True)
    print(f"\r   wrote {n:,} runs, {n * len(METRICS):,} metric series in {time.perf_counter() - t0:.0f} s")


def load_long_metrics(db: pymongo.database.Database, first_id: int, n_runs: int = 10,
                      points: int = 100_000, name: str = "loss") -> list[int]:
    """n_runs more runs (ids first_id..), each with one metric `name` of `points` steps, as MongoObserver
    writes them (info.metrics lists each metric document's ObjectId, so Omniboard's metric columns join
    them too); a few documents per insert_many. Returns their ids."""
    import bson
    import numpy as np

    rng = random.Random(7)
    np_rng = np.random.default_rng(7)
    base = dt.datetime(2026, 6, 1)
    ids = list(range(first_id, first_id + n_runs))
    t0 = time.perf_counter()
    for chunk in (ids[i : i + 2] for i in range(0, len(ids), 2)):
        runs, metrics = [], []
        for i in chunk:
            doc = run_doc(rng, i, base)
            doc["status"] = "COMPLETED"
            doc["stop_time"] = doc["heartbeat"]
            oid = bson.ObjectId()
            doc["info"] = {"metrics": [{"name": name, "id": str(oid)}]}
            runs.append(doc)
            steps = np.arange(points)
            values = np.exp(-steps / (points / 5)) + np_rng.normal(0, 0.05, points) + (i - first_id) * 0.01
            start = doc["start_time"]
            metrics.append({"_id": oid, "run_id": i, "name": name, "steps": steps.tolist(),
                            "values": values.round(6).tolist(),
                            "timestamps": [start + dt.timedelta(milliseconds=10 * s) for s in range(points)]})
        db.runs.insert_many(runs)
        db.metrics.insert_many(metrics)
    print(f"   loaded {n_runs} runs x {points:,} points of `{name}` in {time.perf_counter() - t0:.0f} s")
    return ids
