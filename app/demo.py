"""Realistic demo runs written with sacredlog: a week of a small team. A hyper-parameter sweep over two
experiments with 3 seeds per setting, learning curves that depend on the hyper-parameters (losses positive
and falling, one diverging to NaN), failures whose tracebacks point into the experiment's own train.py,
interrupts, a stale RUNNING run, console output with progress bars and colours, artifacts dated inside their
run, and a few Omniboard tags and notes. Deterministic for a seed (times are relative to `now`).

`LiveRuns(folder).start()` keeps two runs really RUNNING (metric points and output appended through
sacredlog) while the demo serves.

`write_demo_runs(folder)` writes a Sacred FileStorage folder; `write_demo_runs_mongo(uri)` bulk-inserts
the same kind of runs into MongoDB (fast enough for tens of thousands of runs).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import shutil
import struct
import tempfile
import threading
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

EXPERIMENTS = ("mnist_cnn", "cifar_resnet")
DEPENDENCIES = ["numpy==2.1.3", "sacredlog==0.1.0", "torch==2.5.1", "torchvision==0.20.1"]
SEEDS_PER_SETTING = 3
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
# The experiment's own script: stored as its source file, and the file every failure's traceback points into.
TRAIN_SOURCE = '''"""Train {name} on {dataset} (sacredlog)."""
import math

import torch

from sacredlog import Run

from data import loaders
from models import build_model


def check_finite(loss, step):
    if not math.isfinite(loss):
        raise FloatingPointError(f"loss is NaN at step {{step}}; try a smaller learning rate")


def train(config, run, model, train_loader, val_loader):
    opt = torch.optim.Adam if config["optimizer"] == "adam" else torch.optim.SGD
    optimizer = opt(model.parameters(), lr=config["lr"])
    step = 0
    for epoch in range(config["epochs"]):
        for images, labels in train_loader:
            loss = model.loss(model(images.cuda()), labels.cuda())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            check_finite(loss.item(), step)
            run.log_scalar("train.loss", loss.item(), step)
            step += 1
        acc, val_loss = model.evaluate(val_loader)
        run.log_scalar("val.acc", acc, step)
        run.log_scalar("val.loss", val_loss, step)
        print(f"  epoch {{epoch + 1:2d}} val_acc={{acc:.4f}} val_loss={{val_loss:.4f}}")
    return acc


def main(config):
    with Run("{name}", config) as run:
        torch.manual_seed(config["seed"])
        model = build_model(**config["model"]).cuda()
        train_loader, val_loader = loaders(config["dataset"], config["batch_size"])
        return train(config, run, model, train_loader, val_loader)


if __name__ == "__main__":
    main(dict(optimizer="adam", lr=1e-3, batch_size=32, epochs=10, seed=0))
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
    failure: str = ""  # "nan" (diverged) or "oom" for FAILED runs
    metrics: dict[str, MetricBatch] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)  # written as Omniboard does: omniboard.tags / omniboard.notes
    notes: str = ""


# -- the sweep ---------------------------------------------------------------------------
def _cells() -> list[tuple[str, dict[str, Any]]]:
    """Every (experiment, setting) of the sweep, the experiments interleaved as a team runs them over a week.

    mnist_cnn: optimizer x lr x batch_size (12 settings); cifar_resnet: optimizer x lr x model depth (8).
    """
    mnist = [("mnist_cnn", {"optimizer": o, "lr": lr, "batch_size": bs, "depth": 4})
             for o in ("adam", "sgd") for lr in (1e-3, 3e-3, 1e-2) for bs in (32, 128)]
    cifar = [("cifar_resnet", {"optimizer": o, "lr": lr, "batch_size": 128, "depth": d})
             for o in ("sgd", "adam") for lr in (1e-2, 1e-3) for d in (18, 34)]
    cells: list[tuple[str, dict[str, Any]]] = []
    while mnist or cifar:
        cells.extend(mnist[:3])
        del mnist[:3]
        cells.extend(cifar[:2])
        del cifar[:2]
    return cells


CELLS = _cells()


def make_config(experiment: str, setting: dict[str, Any], seed: int) -> dict[str, Any]:
    """The full config of one run: the same for every seed of a setting (so grouping over seeds works)."""
    mnist = experiment == "mnist_cnn"
    return {
        "optimizer": setting["optimizer"], "lr": setting["lr"], "batch_size": setting["batch_size"],
        "dropout": 0.2 if mnist else 0.1, "epochs": 10,
        "model": {"depth": setting["depth"], "width": 64 if mnist else 128, "activation": "relu"},
        "dataset": {"name": "mnist" if mnist else "cifar10", "augment": not mnist, "val_fraction": 0.1},
        "seed": seed,
    }


def _quality(cfg: dict[str, Any], experiment: str) -> tuple[float, float]:
    """(final accuracy, speed) for a setting: adam likes small lr, sgd large; small batches generalise."""
    best_lr = 2e-3 if cfg["optimizer"] == "adam" else 1e-2
    lr_penalty = 0.05 * abs(math.log10(cfg["lr"] / best_lr)) ** 1.5
    if experiment == "mnist_cnn":
        acc = 0.985 - lr_penalty - (0.008 if cfg["batch_size"] == 128 else 0.0)
    else:
        acc = 0.90 - 1.5 * lr_penalty + (0.012 if cfg["model"]["depth"] == 34 else 0.0)
    speed = 0.025 * (cfg["lr"] / 1e-3) ** 0.5 * (1.6 if cfg["optimizer"] == "adam" else 1.0)
    return acc, speed


def _fate(cell: int, seed_index: int, round_: int, rng: random.Random) -> str:
    """How a run ends: fixed in the first round of the sweep (every demo shows each kind), random after."""
    experiment, setting = CELLS[cell]
    unstable = setting["optimizer"] == "adam" and setting["lr"] == 1e-2
    if round_ == 0:
        if unstable and experiment == "mnist_cnn" and setting["batch_size"] == 32 and seed_index == 1:
            return "nan"
        if experiment == "cifar_resnet" and setting["depth"] == 34 and setting["optimizer"] == "adam" \
                and setting["lr"] == 1e-3 and seed_index == 0:
            return "oom"
        if (cell, seed_index) in ((4, 2), (11, 0)):
            return "INTERRUPTED"
        return "COMPLETED"
    if unstable and rng.random() < 0.3:
        return "nan"
    return "INTERRUPTED" if rng.random() < 0.04 else "COMPLETED"


def plan_runs(n_runs: int, seed: int, now: float, steps: int = 300) -> list[DemoRun]:
    """Decide every run: config, status, timing (oldest first, ending at `now`), tags and notes.

    Runs come SEEDS_PER_SETTING seeds of one setting at a time; the last run is RUNNING with a stale
    heartbeat (a process that died without a trace).
    """
    rng = random.Random(seed)
    plans: list[DemoRun] = []
    t = now - 6 * 86400.0
    span = 6 * 86400.0 - 4 * 3600.0
    gap = span / max(n_runs, 1)
    for i in range(n_runs):
        group, seed_index = divmod(i, SEEDS_PER_SETTING)
        round_, cell = divmod(group, len(CELLS))
        experiment, setting = CELLS[cell]
        cfg = make_config(experiment, setting, 1000 * (seed + 1) + i)
        acc, _ = _quality(cfg, experiment)
        acc += rng.gauss(0, 0.004)
        scale = steps / 300
        fate = _fate(cell, seed_index, round_, rng)
        status, end_step, failure = "COMPLETED", steps, ""
        if fate == "nan":
            status, end_step, failure = "FAILED", max(3, int(rng.randint(90, 160) * scale)), "nan"
        elif fate == "oom":
            status, end_step, failure = "FAILED", 0, "oom"  # fails on the first batch: no metric point
        elif fate == "INTERRUPTED":
            status, end_step = "INTERRUPTED", max(2, int(rng.randint(50, 250) * scale))
        elif i == n_runs - 1:
            status, end_step = "RUNNING", max(2, int(rng.randint(100, 200) * scale))
        step_seconds = (1.2 if experiment == "mnist_cnn" else 4.0) * (0.7 if setting["batch_size"] == 128 else 1.0)
        start = t + rng.uniform(0, gap * 0.3)
        if status == "RUNNING":
            start = now - 3 * 3600.0 - end_step * step_seconds
        plans.append(DemoRun(experiment, cfg, start, step_seconds, status, end_step, HOSTS[i % len(HOSTS)],
                             max(0.1, min(acc, 0.995)), steps, failure))
        t += gap
    _annotate(plans)
    return plans


def _annotate(plans: list[DemoRun]) -> None:
    """A few tags and notes, as a team leaves them in Omniboard (`omniboard.tags`, `omniboard.notes`)."""
    for p in plans:
        c = p.config
        if p.experiment == "mnist_cnn" and c["optimizer"] == "adam" and c["lr"] == 1e-3 and c["batch_size"] == 32:
            p.tags = ["baseline"]
        if p.experiment == "cifar_resnet" and c["optimizer"] == "sgd" and c["lr"] == 1e-2 and c["model"]["depth"] == 18:
            p.tags = ["baseline", "resnet18"]
        if p.failure == "nan":
            p.tags = ["diverged"]
            p.notes = (f"Diverged: {c['optimizer']} at lr={c['lr']:g} blows up after ~{max(1, p.end_step - 25)} "
                       "steps (see train.loss). Needs warm-up or a smaller lr.")
        if p.failure == "oom":
            p.tags = ["oom"]
            p.notes = "CUDA out of memory: depth 34 needs batch_size 64 on the 40 GB cards."
    baseline = next((p for p in plans if "resnet18" in p.tags and p.status == "COMPLETED"), None)
    if baseline is not None:
        baseline.notes = ("ResNet baseline for the CIFAR-10 sweep: sgd, lr 1e-2, depth 18, no warm-up.\n\n"
                          "Compare every new setting against this run.")
    done = [p for p in plans if p.status == "COMPLETED" and p.experiment == "mnist_cnn"]
    if done:
        best = max(done, key=lambda p: p.final_acc)
        best.tags = [*best.tags, "best"]
        best.notes = (f"**Best MNIST run so far** ({best.final_acc:.2%}): {best.config['optimizer']}, "
                      f"lr {best.config['lr']:g}, batch {best.config['batch_size']}. Candidate for the report.")
    stopped = next((p for p in plans if p.status == "INTERRUPTED"), None)
    if stopped is not None:
        stopped.notes = "Stopped by hand: the node was needed for a deadline run. Re-run later."


def _curves(plan: DemoRun, rng: random.Random) -> None:
    """Fill metrics, console output and info for one planned run (vectorised: fast for bulk demos).

    Losses are positive and fall towards a floor set by the final accuracy (multiplicative noise); a
    diverging run's loss grows until it is NaN. Accuracies stay in [0, 1].
    """
    cfg = plan.config
    _, speed = _quality(cfg, plan.experiment)
    total, n_classes = plan.total_steps, 10
    per_epoch = max(1, total // cfg["epochs"])
    evaluate_every = max(1, per_epoch // 3)
    floor_loss = -math.log(plan.final_acc) * 1.3 + 0.02
    noise = 0.12 if cfg["batch_size"] == 32 else 0.07
    nrng = np.random.default_rng(rng.getrandbits(64))
    n = plan.end_step
    steps = np.arange(n)
    times = plan.start + 2.0 + np.cumsum(plan.step_seconds * nrng.uniform(0.9, 1.1, n))
    progress = 1 - np.exp(-speed * steps)
    lr = cfg["lr"] * 0.5 ** (steps // 100)
    loss = (floor_loss + (2.3 - floor_loss) * (1 - progress)) * np.exp(nrng.normal(0, noise, n))
    if cfg["optimizer"] == "adam" and cfg["lr"] >= 1e-2:  # unstable: occasional spikes
        spikes = nrng.random(n) < 0.03
        loss[spikes] *= nrng.uniform(1.5, 3.0, int(spikes.sum()))
    quality = np.ones(n)
    grad_norm = np.abs(nrng.normal(1.5, 0.4, n)) * (1 - 0.6 * progress) + 0.1
    if plan.failure == "nan":
        ramp = steps > n - 25
        growth = np.exp(0.25 * (steps[ramp] - (n - 25)))
        loss[ramp] *= growth
        grad_norm[ramp] *= growth
        quality[ramp] = 1 / growth
        loss[-1] = np.nan
    ev = steps[steps % evaluate_every == evaluate_every - 1]
    reached = progress[ev] * quality[ev]
    val_acc = np.clip(plan.final_acc * reached + (1 - reached) / n_classes + nrng.normal(0, 0.004, len(ev)), 0.0, 1.0)
    val_loss = (floor_loss * 1.1 + (2.3 - floor_loss) * (1 - reached)) * np.exp(nrng.normal(0, noise / 3, len(ev)))

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
    duration = _hms(plan.end_step * plan.step_seconds)
    if plan.status == "FAILED":
        if plan.failure == "nan":
            out.append("\n\x1b[33mWARNING\x1b[0m - train.loss is not finite\n")
        out.append(f"\x1b[31mERROR\x1b[0m - {plan.experiment} - Failed after {duration}!\n")
        out.append("".join(fail_trace(plan)))
    plan.output = out
    plan.info = {"n_params": 1_200_000 * cfg["model"]["depth"] // 4 + cfg["model"]["width"] * 1000,
                 "device": "cuda:0" if "gpus" in plan.host else "cpu"}
    if plan.status == "COMPLETED":
        out.append(f"\x1b[32mINFO\x1b[0m - {plan.experiment} - Result: {plan.final_acc:.4f}\n")
        out.append(f"\x1b[32mINFO\x1b[0m - {plan.experiment} - Completed after {duration}\n")
        plan.info["best_epoch"] = cfg["epochs"] - rng.randint(0, 2)


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def source_path(experiment: str) -> str:
    """Where the experiment's train.py lived on the team's machines (its tracebacks name this file)."""
    return f"/home/demo/{experiment}/train.py"


def train_source(experiment: str) -> str:
    return TRAIN_SOURCE.format(name=experiment, dataset="MNIST" if experiment == "mnist_cnn" else "CIFAR-10")


def fail_trace(plan: DemoRun) -> list[str]:
    """The traceback of a failed run as Python formats it: through the experiment's own train.py."""
    lines = train_source(plan.experiment).splitlines()
    path = source_path(plan.experiment)

    def frame(func: str, code: str) -> str:
        number = next(i for i, line in enumerate(lines, 1) if line.strip() == code)
        return f'  File "{path}", line {number}, in {func}\n    {code}\n'

    trace = ["Traceback (most recent call last):\n",
             frame("main", "return train(config, run, model, train_loader, val_loader)")]
    if plan.failure == "oom":
        trace += [frame("train", "loss = model.loss(model(images.cuda()), labels.cuda())"),
                  "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                  "capacity of 39.39 GiB of which 1.12 GiB is free.\n"]
    else:
        trace += [frame("train", "check_finite(loss.item(), step)"),
                  frame("check_finite",
                        'raise FloatingPointError(f"loss is NaN at step {step}; try a smaller learning rate")'),
                  f"FloatingPointError: loss is NaN at step {plan.end_step - 1}; try a smaller learning rate\n"]
    return trace


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


def _points(plan: DemoRun) -> list[tuple[float, str, int, float]]:
    """Every metric point of a plan as (time, name, step, value), in time order."""
    return sorted(
        ((t, name, s, v) for name, b in plan.metrics.items() for s, v, t in zip(b.steps, b.values, b.times,
                                                                                 strict=True)),
        key=lambda p: p[0],
    )


def _drive(plan: DemoRun, run: Run, clock: _Clock, rng: random.Random, workdir: Path, runs_dir: Path) -> None:
    """Replay a planned run through the public Run API (log_scalar, write_output, artifacts), then end it."""
    for line in plan.output[:2]:
        run.write_output(line)
    run.info.update(plan.info)
    out_iter = iter(plan.output[2:])
    for t, name, step, value in _points(plan):
        clock.now = t
        run.log_scalar(name, value, step)
        if name == "val.acc":
            run.write_output(next(out_iter, ""))
    for rest in out_iter:
        run.write_output(rest)
    clock.now += rng.uniform(0.5, 2.0)
    _finish(plan, run, clock, rng, workdir, runs_dir)


def _finish(plan: DemoRun, run: Run, clock: _Clock, rng: random.Random, workdir: Path, runs_dir: Path) -> None:
    """End a run as planned: artifacts (dated inside the run) and result, or the failure's traceback."""
    if plan.status == "RUNNING":
        run.abandon()
    elif plan.status == "COMPLETED":
        run.result = round(plan.final_acc, 4)
        for path, content_type, metadata in _artifact_files(plan, rng, workdir):
            run.add_artifact(path, metadata=metadata, content_type=content_type)
            _date_file(runs_dir / str(run.run_id) / path.name, clock.now)
            clock.now += 0.2
        run.close("COMPLETED")
    elif plan.status == "FAILED":
        run.close("FAILED", fail_trace(plan))
    else:
        run.close(plan.status)


def _date_file(path: Path, when: float) -> None:
    """Give a stored artifact the time it was written in the run (FileStorage dates artifacts by mtime)."""
    if path.is_file():
        os.utime(path, (when, when))


def _annotations(plan: DemoRun) -> dict[str, Any]:
    """The run's Omniboard annotations (`omniboard` subdocument): tags and notes when there are any."""
    out: dict[str, Any] = {}
    if plan.tags:
        out["tags"] = list(plan.tags)
    if plan.notes:
        out["notes"] = plan.notes
    return out


def _experiment_infos(workdir: Path) -> dict[str, ExperimentInfo]:
    """Each experiment's info, with a plausible base_dir and its train.py (written to `workdir` to be copied)."""
    infos = {}
    for name in EXPERIMENTS:
        (workdir / name).mkdir(parents=True, exist_ok=True)
        path = workdir / name / "train.py"
        path.write_text(train_source(name))
        source = SourceFile("train.py", str(path), file_md5(path))
        infos[name] = ExperimentInfo(name, f"/home/demo/{name}", "train.py", [source], list(DEPENDENCIES), [])
    return infos


def write_demo_runs(directory: str | Path, n_runs: int = 60, seed: int = 0, now: float | None = None,
                    steps: int = 300) -> int:
    """Write `n_runs` realistic runs into a Sacred FileStorage folder (created); returns how many."""
    from omnidash.store.files_shared import update_annotations

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
            run.start()
            _drive(plan, run, clock, rng, workdir, directory)
            if annotations := _annotations(plan):
                update_annotations(str(directory / str(run.run_id)), lambda a, new=annotations: a.update(new))
            written += 1
    return written


# -- live runs while the demo serves ------------------------------------------------------------
LIVE_CELLS = [("cifar_resnet", {"optimizer": "sgd", "lr": 3e-3, "batch_size": 128, "depth": d}) for d in (18, 34)]


class LiveRuns:
    """Two runs that really are RUNNING while the demo serves: a thread feeds their metric points and
    output through sacredlog (heartbeat every `beat` s). A run that reaches its last step completes and
    the next seed of the follow-up sweep starts, so the table's "new runs" notice shows up too.
    `stop()` (when the server stops) ends the open runs as INTERRUPTED, as Ctrl-C would.
    """

    def __init__(self, directory: str | Path, slots: int = 2, steps: int = 400, steps_per_second: float = 2.0,
                 beat: float = 2.0, seed: int = 0) -> None:
        self.directory = Path(directory)
        self.slots, self.steps, self.rate, self.beat = slots, steps, steps_per_second, beat
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0
        self._workdir = Path(tempfile.mkdtemp(prefix="omnidash-live-"))
        self._experiments = _experiment_infos(self._workdir)
        self.started: list[Any] = []  # run ids, in start order

    def start(self) -> LiveRuns:
        self._thread = threading.Thread(target=self._loop, name="omnidash-demo-live", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _new_run(self, head_start: float) -> dict[str, Any]:
        """Start the next live run, `head_start` (0..1) of its steps already done."""
        k = self._next
        self._next += 1
        experiment, setting = LIVE_CELLS[(k // SEEDS_PER_SETTING) % len(LIVE_CELLS)]
        now = time.time()
        done = int(head_start * self.steps)
        cfg = make_config(experiment, setting, 7000 + k)
        acc = _quality(cfg, experiment)[0] + self._rng.gauss(0, 0.004)
        plan = DemoRun(experiment, cfg, now - done / self.rate - 2.0, 1 / self.rate, "COMPLETED", self.steps,
                       HOSTS[k % 2], max(0.1, min(acc, 0.995)), self.steps)
        rng = random.Random(self._rng.getrandbits(32))
        _curves(plan, rng)
        clock = _Clock(plan.start)
        run = Run(self._experiments[experiment], cfg, file_storage=self.directory, heartbeat=self.beat,
                  capture_output=False, command="train", host=plan.host, clock=clock, handle_sigterm=False)
        run.start()
        for line in plan.output[:2]:
            run.write_output(line)
        run.info.update(plan.info)
        self.started.append(run.run_id)
        return {"plan": plan, "run": run, "clock": clock, "rng": rng, "points": _points(plan), "at": 0,
                "out": iter(plan.output[2:])}

    def _advance(self, live: dict[str, Any], now: float) -> bool:
        """Log the points whose time has come; True when the run has finished."""
        points, clock, run = live["points"], live["clock"], live["run"]
        while live["at"] < len(points) and points[live["at"]][0] <= now:
            t, name, step, value = points[live["at"]]
            clock.now = t
            run.log_scalar(name, value, step)
            if name == "val.acc":
                run.write_output(next(live["out"], ""))
            live["at"] += 1
        clock.now = now
        if live["at"] < len(points):
            return False
        for rest in live["out"]:
            run.write_output(rest)
        _finish(live["plan"], run, clock, live["rng"], self._workdir, self.directory)
        return True

    def _loop(self) -> None:
        lives = [self._new_run(0.6 * i / max(1, self.slots - 1) + 0.2) for i in range(self.slots)]
        try:
            while not self._stop.wait(0.5):
                for i, live in enumerate(lives):
                    if self._advance(live, time.time()):
                        lives[i] = self._new_run(0.0)
        finally:
            for live in lives:
                live["clock"].now = time.time()
                live["run"].close("INTERRUPTED")


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
                snap.fail_trace = fail_trace(plan)
        doc = run_document(snap, sources=source_refs[plan.experiment])
        if annotations := _annotations(plan):
            doc["omniboard"] = annotations
        yield doc, plan.metrics


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
            name: [["train.py", fs.put(train_source(name).encode(), filename=source_path(name))]]
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
