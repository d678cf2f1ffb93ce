"""The same small experiment as tests/sacred_helpers.py (real Sacred), written with sacredlog, run in a
subprocess (so it has its own main file, sources and dependencies) and helpers that compare documents
path by path: the key paths and the value types, never the values of ids, times or hashes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from bson import ObjectId

ROOT = Path(__file__).resolve().parent.parent

EXPERIMENT = textwrap.dedent(
    '''
    """Interop experiment for omnidash tests, written with sacredlog (run by tests/sacredlog_helpers.py)."""
    import json
    import os
    import sys

    import numpy as np

    from sacredlog import Run

    DEFAULTS = {"lr": 0.01, "batch_size": 32, "optimizer": "adam", "adam": {"beta1": 0.9, "beta2": 0.999},
                "tags": ["interop"], "mode": "complete", "steps": 30, "nan_at": 4, "workdir": "."}


    def train(run, lr, mode, steps, nan_at, workdir, seed, batch_size, **_):
        data = os.path.join(workdir, "data.csv")
        if not os.path.exists(data):
            with open(data, "w") as f:
                f.write("x,y\\n1,2\\n")
        run.add_resource(data)
        rng = np.random.default_rng(seed)
        loss = 1.0
        for step in range(steps):
            loss = 1.0 / (1.0 + step * lr * batch_size / 32) + float(rng.normal()) * 0.01
            run.log_scalar("train.loss", loss, step)
            run.log_scalar("val.acc", float("nan") if step == nan_at else 1.0 - loss, step)
            print(f"step {step} loss={loss:.4f}")
            if mode == "fail" and step == steps // 2:
                raise RuntimeError("simulated crash")
            if mode == "interrupt" and step == steps // 2:
                raise KeyboardInterrupt()
        weights = os.path.join(workdir, f"weights-{seed}-{lr}.txt")
        with open(weights, "w") as f:
            f.write(f"lr={lr} seed={seed} loss={loss:.6f}\\n")
        run.add_artifact(weights, name="weights.txt")
        run.info["best_acc"] = np.float64(1.0 - loss)
        return np.float64(round(1.0 - loss, 6))


    if __name__ == "__main__":
        spec = json.load(open(sys.argv[1]))
        for item in spec["runs"]:
            config = {**DEFAULTS, **item["config"]}
            run = Run("interop_toy", config, mongo_url=spec.get("mongo_url"), file_storage=spec.get("file_dir"),
                      command="train", config_updates=item["config"], heartbeat=spec.get("heartbeat", 10.0),
                      journal_dir=spec.get("journal_dir"))
            try:
                with run:
                    run.result = train(run, **run.config)
            except (RuntimeError, KeyboardInterrupt):
                pass
            print("RUN_ID", run.run_id, file=sys.stderr)
    '''
)


def run_sacredlog(workdir: Path, runs: list[dict[str, Any]], file_dir: Path | None = None,
                  mongo_url: str | None = None, **extra: Any) -> subprocess.CompletedProcess:
    """Run each {"config": {...}} through sacredlog in one subprocess (like run_sacred does with Sacred)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "interop_exp.py").write_text(EXPERIMENT)
    for item in runs:
        item["config"].setdefault("workdir", str(workdir))
    spec = {"runs": runs, "file_dir": str(file_dir) if file_dir else None, "mongo_url": mongo_url,
            "journal_dir": str(workdir / "journal"), **extra}
    (workdir / "spec.json").write_text(json.dumps(spec))
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, "interop_exp.py", "spec.json"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=240)
    if proc.returncode != 0:
        raise RuntimeError(f"sacredlog runs failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


# -- path-by-path comparison ---------------------------------------------------------------
def type_name(value: Any) -> str:
    """BSON-ish type names (int32 and int64 are both 'int'; Sacred's choice depends on the value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "date"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def paths(doc: Any, prefix: str = "", out: dict[str, set[str]] | None = None,
          skip: frozenset[str] = frozenset()) -> dict[str, set[str]]:
    """{path: {type names}}; list elements are `path[]`."""
    out = {} if out is None else out
    if prefix in skip:
        return out
    out.setdefault(prefix or "$", set()).add(type_name(doc))
    if isinstance(doc, dict):
        for key, value in doc.items():
            paths(value, f"{prefix}.{key}" if prefix else key, out, skip)
    elif isinstance(doc, list | tuple):
        for value in doc:
            paths(value, f"{prefix}[]", out, skip)
    return out


def diff_paths(a: dict[str, set[str]], b: dict[str, set[str]]) -> list[str]:
    """Human-readable differences between two path maps (empty when they agree)."""
    problems = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            problems.append(f"only in sacredlog: {key} {sorted(b[key])}")
        elif key not in b:
            problems.append(f"only in sacred: {key} {sorted(a[key])}")
        elif a[key] != b[key]:
            problems.append(f"type differs at {key}: sacred {sorted(a[key])} vs sacredlog {sorted(b[key])}")
    return problems
