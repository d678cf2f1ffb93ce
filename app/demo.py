"""Realistic demo runs written with sacredlog: a hyper-parameter sweep over two experiments with seeds,
learning curves that depend on the hyper-parameters, failures, interrupts, a stale RUNNING run, console
output with progress bars and colours, and artifacts. Deterministic for a seed (times are relative to `now`).

`write_demo_runs(folder)` writes a Sacred FileStorage folder; `write_demo_runs_mongo(uri)` bulk-inserts
the same kind of runs into MongoDB (fast enough for tens of thousands of runs).
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import struct
import tempfile
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sacredlog import Run
from sacredlog.environment import ExperimentInfo, SourceFile, file_md5
from sacredlog.state import MetricBatch, RunSnapshot, utc_datetime

OPTIMIZERS = ("adam", "sgd")
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
BATCH_SIZES = (32, 128)
DROPOUTS = (0.1, 0.3)
EXPERIMENTS = ("mnist_cnn", "cifar_resnet")
DEPENDENCIES = ["numpy==2.1.3", "sacredlog==0.1.0", "torch==2.5.1", "torchvision==0.20.1"]
HOSTS = [
    {"hostname": "gpu-node-01", "os": ["Linux", "Linux-6.8.0-49-generic-x86_64-with-glibc2.39"],
     "python_version": "3.11.10", "cpu": "AMD EPYC 7763 64-Core Processor",
     "gpus": {"gpus": [{"model": "NVIDIA A100-SXM4-40GB", "total_memory": 40960, "persistence_mode": True}],
              "driver_version": "550.127.05"}, "ENV": {}},
    {"hostname": "gpu-node-02", "os": ["Linux", "Linux-6.8.0-49-generic-x86_64-with-glibc2.39"],
     "python_version": "3.11.10", "cpu": "AMD EPYC 7763 64-Core Processor",
     "gpus": {"gpus": [{"model": "NVIDIA A100-SXM4-40GB", "total_memory": 40960, "persistence_mode": True}],
              "driver_version": "550.127.05"}, "ENV": {}},
    {"hostname": "workstation-ana", "os": ["Linux", "Linux-6.11.0-9-generic-x86_64-with-glibc2.40"],
     "python_version": "3.11.7", "cpu": "Intel(R) Core(TM) i9-13900K", "ENV": {}},
]
TRAIN_SOURCE = '''"""Train {name} (demo source)."""
import torch
import numpy as np

from sacredlog import Run


def train(config, run):
    model = build_model(config["model"])
    for epoch in range(config["epochs"]):
        for step, batch in enumerate(loader(config["batch_size"])):
            loss = model.step(batch, lr=config["lr"])
            run.log_scalar("train.loss", loss)
        run.log_scalar("val.acc", evaluate(model))
    return evaluate(model)
'''


@dataclass
class DemoRun:
    """Everything about one demo run, decided up front from the seed."""

    experiment: str
    config: dict[str, Any]
    start: float
    step_seconds: float
    status: str  # COMPLETED | FAILED | INTERRUPTED | RUNNING
    end_step: int  # steps actually run
    host: dict[str, Any]
    final_acc: float
    total_steps: int = 300
    metrics: dict[str, MetricBatch] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


# -- the sweep ---------------------------------------------------------------------------
def _settings() -> list[dict[str, Any]]:
    return [
        {"optimizer": opt, "lr": lr, "batch_size": bs, "dropout": do}
        for opt in OPTIMIZERS for lr in LEARNING_RATES for bs in BATCH_SIZES for do in DROPOUTS
    ]


def _quality(cfg: dict[str, Any], experiment: str) -> tuple[float, float]:
    """(final accuracy, speed) for a setting: adam likes small lr, sgd large; small batches generalise."""
    best_lr = 2e-3 if cfg["optimizer"] == "adam" else 1e-2
    lr_penalty = 0.05 * abs(math.log10(cfg["lr"] / best_lr)) ** 1.5
    base = 0.985 if experiment == "mnist_cnn" else 0.91
    acc = base - lr_penalty - (0.008 if cfg["batch_size"] == 128 else 0.0) - 0.03 * abs(cfg["dropout"] - 0.2)
    acc -= 0.004 * abs(cfg["model"]["depth"] - 4)
    speed = 0.025 * (cfg["lr"] / 1e-3) ** 0.5 * (1.6 if cfg["optimizer"] == "adam" else 1.0)
    return acc, speed


def plan_runs(n_runs: int, seed: int, now: float, steps: int = 300) -> list[DemoRun]:
    """Decide every run: config, status, timing (oldest first, ending at `now`)."""
    rng = random.Random(seed)
    settings = _settings()
    plans: list[DemoRun] = []
    t = now - 6 * 86400.0
    span = 6 * 86400.0 - 4 * 3600.0
    gap = span / max(n_runs, 1)
    for i in range(n_runs):
        setting = dict(settings[(i // 3) % len(settings)])
        experiment = EXPERIMENTS[0] if (i // (3 * len(settings))) % 4 != 3 and i % 7 != 6 else EXPERIMENTS[1]
        run_seed = 1000 * (seed + 1) + i
        cfg: dict[str, Any] = {
            "optimizer": setting["optimizer"], "lr": setting["lr"], "batch_size": setting["batch_size"],
            "dropout": setting["dropout"], "epochs": 10,
            "model": {"depth": 4 if experiment == "mnist_cnn" else 18, "width": 64 if i % 2 else 128,
                      "activation": "relu"},
            "dataset": {"name": "mnist" if experiment == "mnist_cnn" else "cifar10",
                        "augment": experiment != "mnist_cnn", "val_fraction": 0.1},
            "seed": run_seed,
        }
        if experiment == "cifar_resnet":
            cfg["model"]["depth"] = 18 if i % 2 else 34
        if i % 5 == 0:
            cfg["tags"] = ["baseline"] if setting["lr"] == 1e-3 else ["sweep", setting["optimizer"]]
        acc, _ = _quality({**cfg, "model": {**cfg["model"], "depth": 4}}, experiment)
        acc += rng.gauss(0, 0.004)
        scale = steps / 300
        status, end_step = "COMPLETED", steps
        diverges = setting["optimizer"] == "adam" and setting["lr"] == 1e-2 and rng.random() < 0.5
        if diverges:
            status, end_step = "FAILED", max(2, int(rng.randint(40, 160) * scale))
        elif rng.random() < 0.06:
            status, end_step = "INTERRUPTED", max(2, int(rng.randint(50, 250) * scale))
        elif i == n_runs - 1:
            status, end_step = "RUNNING", max(2, int(rng.randint(100, 200) * scale))
        step_seconds = (1.2 if experiment == "mnist_cnn" else 4.0) * (0.7 if setting["batch_size"] == 128 else 1.0)
        start = t + rng.uniform(0, gap * 0.3)
        if status == "RUNNING":
            start = now - 3 * 3600.0 - end_step * step_seconds
        plans.append(DemoRun(experiment, cfg, start, step_seconds, status, end_step, HOSTS[i % len(HOSTS)],
                             max(0.1, min(acc, 0.995)), steps))
        t += gap
    return plans


def _curves(plan: DemoRun, rng: random.Random) -> None:
    """Fill metrics, console output and info for one planned run (vectorised: fast for bulk demos)."""
    cfg = plan.config
    _, speed = _quality(cfg, plan.experiment)
    total, n_classes = plan.total_steps, 10
    per_epoch = max(1, total // cfg["epochs"])
    evaluate_every = max(1, per_epoch // 3)
    floor_loss = -math.log(plan.final_acc) * 1.3 + 0.02
    noise = 0.06 if cfg["batch_size"] == 32 else 0.03
    nrng = np.random.default_rng(rng.getrandbits(64))
    n = plan.end_step
    steps = np.arange(n)
    times = plan.start + 2.0 + np.cumsum(plan.step_seconds * nrng.uniform(0.9, 1.1, n))
    progress = 1 - np.exp(-speed * steps)
    lr = cfg["lr"] * 0.5 ** (steps // 100)
    loss = floor_loss + (2.3 - floor_loss) * (1 - progress) + nrng.normal(0, noise, n) * (1 - 0.5 * progress)
    if plan.status == "FAILED":
        ramp = steps > n - 25
        loss[ramp] *= 1.0 + 0.35 * (steps[ramp] - (n - 25))
        loss[-1] = np.nan
    grad_norm = np.abs(nrng.normal(1.5, 0.4, n)) * (1 - 0.6 * progress) + 0.1
    ev = steps[steps % evaluate_every == evaluate_every - 1]
    val_acc = np.minimum(plan.final_acc * progress[ev] + (1 - progress[ev]) / n_classes
                         + nrng.normal(0, 0.004, len(ev)), 0.999)
    val_loss = floor_loss * 1.1 + (2.3 - floor_loss) * (1 - progress[ev]) + nrng.normal(0, noise / 3, len(ev))

    step_list, time_list = steps.tolist(), times.tolist()
    ev_list, ev_times = ev.tolist(), times[ev].tolist()
    plan.metrics = {
        "train.loss": MetricBatch(step_list, loss.tolist(), time_list),
        "lr": MetricBatch(list(step_list), lr.tolist(), list(time_list)),
        "grad_norm": MetricBatch(list(step_list), grad_norm.tolist(), list(time_list)),
    }
    if len(ev):
        plan.metrics["val.loss"] = MetricBatch(ev_list, val_loss.tolist(), ev_times)
        plan.metrics["val.acc"] = MetricBatch(list(ev_list), val_acc.tolist(), list(ev_times))

    out = [
        f"\x1b[32mINFO\x1b[0m - {plan.experiment} - Running command 'train'\n",
        f"\x1b[32mINFO\x1b[0m - {plan.experiment} - Started run with {cfg['optimizer']} lr={cfg['lr']:g} "
        f"batch_size={cfg['batch_size']}\n",
    ]
    for k, step in enumerate(ev_list):  # one chunk per evaluation, in step with val.acc (see _drive)
        epoch = step // per_epoch + 1
        done = int(20 * (step % per_epoch + 1) / per_epoch)
        chunk = f"\r  epoch {epoch:2d} [{'=' * done}{' ' * (20 - done)}] loss={loss[step]:.4f}"
        if step % per_epoch == per_epoch - 1:
            chunk += f"\n  epoch {epoch:2d} val_acc=\x1b[1m{val_acc[k]:.4f}\x1b[0m val_loss={val_loss[k]:.4f}\n"
        out.append(chunk)
    if plan.status == "FAILED":
        out.append("\n\x1b[33mWARNING\x1b[0m - loss is not finite, stopping\n")
    plan.output = out
    plan.info = {"n_params": 1_200_000 * cfg["model"]["depth"] // 4 + cfg["model"]["width"] * 1000,
                 "device": "cuda:0" if "gpus" in plan.host else "cpu"}
    if plan.status == "COMPLETED":
        out.append(f"\x1b[32mINFO\x1b[0m - {plan.experiment} - Result: {plan.final_acc:.4f}\n")
        plan.info["best_epoch"] = cfg["epochs"] - rng.randint(0, 2)


# -- artifacts ----------------------------------------------------------------------------
def png_bytes(rows: list[bytes], width: int) -> bytes:
    """A minimal RGB PNG from raw rows of r,g,b bytes (no imaging library needed)."""
    height = len(rows)
    raw = b"".join(b"\x00" + row for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def confusion_png(acc: float, rng: random.Random, n: int = 10, cell: int = 12) -> bytes:
    """A confusion-matrix heat map: strong diagonal, some off-diagonal confusion."""
    weights = [[(acc if i == j else (1 - acc) / (n - 1)) * rng.uniform(0.7, 1.3) for j in range(n)]
               for i in range(n)]
    rows = []
    for i in range(n):
        row = b"".join(
            bytes((int(255 * (1 - v)), int(255 * (1 - 0.6 * v)), 255)) * cell
            for v in (min(1.0, w ** 0.5) for w in weights[i])
        )
        rows.extend([row] * cell)
    return png_bytes(rows, n * cell)


def _artifact_files(plan: DemoRun, rng: random.Random, folder: Path) -> list[tuple[Path, str, dict | None]]:
    per_class = folder / "per_class_accuracy.csv"
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["class", "accuracy", "support"])
    for c in range(10):
        writer.writerow([c, f"{min(1.0, plan.final_acc + rng.gauss(0, 0.01)):.4f}", rng.randint(950, 1050)])
    per_class.write_text(buf.getvalue())
    summary = folder / "summary.json"
    summary.write_text(json.dumps({"val_acc": round(plan.final_acc, 4), "config": plan.config}, indent=2))
    png = folder / "confusion_matrix.png"
    png.write_bytes(confusion_png(plan.final_acc, rng))
    return [(png, "image/png", {"kind": "confusion_matrix"}), (per_class, "text/csv", None),
            (summary, "application/json", None)]


class _Clock:
    """A settable clock, so runs are written with times in the past."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _train_step_guard(loss: float, step: int) -> None:
    if loss != loss:  # NaN
        raise FloatingPointError(f"loss is NaN at step {step}; try a smaller learning rate")


def _drive(plan: DemoRun, run: Run, clock: _Clock, rng: random.Random, workdir: Path) -> None:
    """Replay a planned run through the public Run API (log_scalar, write_output, artifacts)."""
    points = sorted(
        ((t, name, s, v) for name, b in plan.metrics.items() for s, v, t in zip(b.steps, b.values, b.times,
                                                                                 strict=True)),
        key=lambda p: p[0],
    )
    for line in plan.output[:2]:
        run.write_output(line)
    run.info.update(plan.info)
    out_iter = iter(plan.output[2:])
    for t, name, step, value in points:
        clock.now = t
        run.log_scalar(name, value, step)
        if name == "val.acc":
            run.write_output(next(out_iter, ""))
        if name == "train.loss":
            _train_step_guard(value, step)
    for rest in out_iter:
        run.write_output(rest)
    if plan.status == "INTERRUPTED":
        raise KeyboardInterrupt
    if plan.status == "COMPLETED":
        for path, content_type, metadata in _artifact_files(plan, rng, workdir):
            run.add_artifact(path, metadata=metadata, content_type=content_type)
        run.result = round(plan.final_acc, 4)
    clock.now += rng.uniform(1.0, 5.0)


def _experiment_infos(workdir: Path) -> dict[str, ExperimentInfo]:
    """Each experiment's info, with a plausible base_dir and its train.py (written to `workdir` to be copied)."""
    infos = {}
    for name in EXPERIMENTS:
        (workdir / name).mkdir(parents=True, exist_ok=True)
        path = workdir / name / "train.py"
        path.write_text(TRAIN_SOURCE.format(name=name))
        source = SourceFile("train.py", str(path), file_md5(path))
        infos[name] = ExperimentInfo(name, f"/home/demo/{name}", "train.py", [source], list(DEPENDENCIES), [])
    return infos


def write_demo_runs(directory: str | Path, n_runs: int = 60, seed: int = 0, now: float | None = None,
                    steps: int = 300) -> int:
    """Write `n_runs` realistic runs into a Sacred FileStorage folder (created); returns how many."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = time.time() if now is None else now
    written = 0
    with tempfile.TemporaryDirectory(prefix="omnidash-demo-") as tmp:
        workdir = Path(tmp)
        experiments = _experiment_infos(workdir)
        for i, plan in enumerate(plan_runs(n_runs, seed, now, steps)):
            rng = random.Random(seed * 1_000_003 + i)
            _curves(plan, rng)
            clock = _Clock(plan.start)
            run = Run(experiments[plan.experiment], plan.config, file_storage=directory, heartbeat=None,
                      capture_output=False, command="train", host=plan.host, clock=clock, handle_sigterm=False)
            try:
                run.start()
                _drive(plan, run, clock, rng, workdir)
            except (FloatingPointError, KeyboardInterrupt) as exc:
                clock.now += 0.5
                run.close_with_exception(type(exc), exc, exc.__traceback__)
            if plan.status == "RUNNING":
                run.abandon()
            else:
                run.close("COMPLETED")
            written += 1
    return written


# -- MongoDB bulk ----------------------------------------------------------------------------
def _iter_documents(n_runs: int, seed: int, now: float, source_refs: dict[str, list[list[Any]]], steps: int = 300
                    ) -> Iterator[tuple[dict[str, Any], dict[str, MetricBatch]]]:
    from sacredlog.mongo_ops import run_document

    ex_infos = {
        name: ExperimentInfo(name, f"/home/demo/{name}", "train.py", [], DEPENDENCIES, [])
        for name in EXPERIMENTS
    }
    for i, plan in enumerate(plan_runs(n_runs, seed, now, steps)):
        rng = random.Random(seed * 1_000_003 + i)
        _curves(plan, rng)
        last_t = max((b.times[-1] for b in plan.metrics.values() if len(b)), default=plan.start + 2)
        snap = RunSnapshot(
            experiment=ex_infos[plan.experiment], command="train", host=plan.host,
            start_time=utc_datetime(plan.start), config=plan.config,
            meta={"command": "train", "options": {}, "named_configs": []}, status=plan.status,
            info=dict(plan.info), captured_out="".join(plan.output), heartbeat=utc_datetime(last_t + 1),
        )
        if plan.status == "COMPLETED":
            snap.result = round(plan.final_acc, 4)
            snap.stop_time = utc_datetime(last_t + 0.5)
        elif plan.status in ("FAILED", "INTERRUPTED"):
            snap.stop_time = utc_datetime(last_t + 1.5)
            if plan.status == "FAILED":
                snap.fail_trace = [
                    "Traceback (most recent call last):\n",
                    '  File "/home/demo/mnist_cnn/train.py", line 11, in train\n    loss = model.step(batch)\n',
                    f"FloatingPointError: loss is NaN at step {plan.end_step - 1}; try a smaller learning rate\n",
                ]
        yield run_document(snap, sources=source_refs[plan.experiment]), plan.metrics


def write_demo_runs_mongo(uri: str, n_runs: int = 60, seed: int = 0, now: float | None = None,
                          batch: int = 200, steps: int = 300) -> int:
    """Bulk-insert `n_runs` demo runs (runs + metrics, Sacred's Mongo format) into the database of `uri`.

    Documents are generated while the previous batch is being inserted (a writer thread), so the time is
    that of the server's inserts. Fewer `steps` per run make very large demos (tens of thousands) quicker.
    """
    import queue
    import threading

    import gridfs
    import pymongo
    from bson import ObjectId

    from sacredlog.mongo_ops import ensure_metrics_index, metric_document, next_run_id

    client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        db = client.get_default_database(default="sacred")
        runs, metrics = db["runs"], db["metrics"]
        ensure_metrics_index(metrics)
        first_id = next_run_id(runs)
        now = time.time() if now is None else now
        fs = gridfs.GridFS(db)
        source_refs = {
            name: [["train.py", fs.put(TRAIN_SOURCE.format(name=name).encode(), filename=f"/home/demo/{name}/train.py")]]
            for name in EXPERIMENTS
        }
        batches_out: queue.Queue = queue.Queue(maxsize=2)
        errors: list[BaseException] = []
        written = [0]

        def insert_batches() -> None:
            while (item := batches_out.get()) is not None:
                if errors:
                    continue
                try:
                    runs.insert_many(item[0], ordered=False)
                    metrics.insert_many(item[1], ordered=False)
                    written[0] += len(item[0])
                except Exception as e:  # noqa: BLE001 - re-raised in the caller's thread
                    errors.append(e)

        writer = threading.Thread(target=insert_batches, name="demo-insert", daemon=True)
        writer.start()
        run_docs: list[dict[str, Any]] = []
        metric_docs: list[dict[str, Any]] = []
        try:
            for i, (doc, series) in enumerate(_iter_documents(n_runs, seed, now, source_refs, steps)):
                if errors:
                    break
                doc["_id"] = first_id + i
                refs = []
                for name, b in series.items():
                    mdoc = {"_id": ObjectId(), **metric_document(doc["_id"], name, b)}
                    refs.append({"name": name, "id": str(mdoc["_id"])})
                    metric_docs.append(mdoc)
                doc["info"]["metrics"] = refs
                run_docs.append(doc)
                if len(run_docs) >= batch:
                    batches_out.put((run_docs, metric_docs))
                    run_docs, metric_docs = [], []
            if run_docs:
                batches_out.put((run_docs, metric_docs))
        finally:
            batches_out.put(None)
            writer.join()
        if errors:
            raise errors[0]
        return written[0]
    finally:
        client.close()
