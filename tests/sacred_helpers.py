"""Run the REAL sacred package in a subprocess: an experiment module written into a temp folder (so Sacred
records it as a source), runs through Sacred's own, unmodified MongoObserver and/or FileStorageObserver:
nested `experiment.sources` and `resources` and NaN metric values reach the database exactly as Sacred
writes them.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# The toy training loop, shared word for word by this Sacred experiment and sacredlog_helpers' one.
FIT = textwrap.dedent(
    '''
    def fit(run, lr, mode, steps, nan_at, workdir, seed, batch_size, **_):
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
    '''
)

EXPERIMENT = textwrap.dedent(
    '''
    """Interop experiment for omnidash tests (run by tests/sacred_helpers.py)."""
    import json
    import os
    import sys

    import numpy as np
    from sacred import Experiment
    from sacred import SETTINGS
    from sacred.observers import FileStorageObserver

    # Sacred's default "fd" capture tees stdout through a subprocess and gives it one second to finish
    # after the run: on a loaded machine the printed lines were lost. "sys" captures the same lines in-process.
    SETTINGS.CAPTURE_MODE = "sys"
    ex = Experiment("interop_toy")


    @ex.config
    def cfg():
        lr = 0.01
        batch_size = 32
        optimizer = "adam"
        adam = {"beta1": 0.9, "beta2": 0.999}
        tags = ["interop"]
        mode = "complete"  # complete | fail | interrupt
        steps = 30
        nan_at = 4  # step whose val.acc is NaN (-1: none)
        workdir = "."


    FIT_FUNCTION


    @ex.main
    def train(_run, lr, mode, steps, nan_at, workdir, seed, batch_size):
        return fit(_run, lr, mode, steps, nan_at, workdir, seed, batch_size)


    def observers(spec):
        obs = []
        mongo = spec.get("mongo")
        if mongo:
            from sacred.observers import MongoObserver

            obs.append(MongoObserver(url=mongo["url"], db_name=mongo["db_name"]))
        if spec.get("file_dir"):
            obs.append(FileStorageObserver(spec["file_dir"]))
        return obs


    if __name__ == "__main__":
        spec = json.load(open(sys.argv[1]))
        for item in spec["runs"]:
            ex.observers[:] = observers(spec)
            options = {"--queue": True} if item.get("queue") else {}
            try:
                ex.run(config_updates=item["config"], options=options)
            except (RuntimeError, KeyboardInterrupt):
                pass
    '''
).replace("FIT_FUNCTION", FIT.strip())


def sacred_mongo(server_uri: str, db_name: str) -> dict[str, Any]:
    """run_sacred's `mongo` for db_name on the server."""
    return {"url": server_uri, "db_name": db_name}


def database_uri(server_uri: str, db_name: str) -> str:
    """The server's URI naming db_name (query options kept)."""
    base = server_uri.rstrip("/")
    return f"{base}/{db_name}" if "?" not in base else base.replace("/?", f"/{db_name}?")


def experiment_env(**extra: str) -> dict[str, str]:
    """The environment of an experiment subprocess: tests/ and the repo on its path."""
    path = os.pathsep.join(p for p in (str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, **extra)


def run_experiment(
    workdir: Path, source: str, runs: list[dict[str, Any]], spec: dict[str, Any], env: dict[str, str], what: str
) -> subprocess.CompletedProcess:
    """Write `source` as workdir/interop_exp.py and run it on {"runs": runs, **spec} in one subprocess."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "interop_exp.py").write_text(source)
    for item in runs:
        item["config"].setdefault("workdir", str(workdir))
    (workdir / "spec.json").write_text(json.dumps({"runs": runs, **spec}))
    proc = subprocess.run(
        [sys.executable, "interop_exp.py", "spec.json"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} runs failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def run_sacred(
    workdir: Path,
    runs: list[dict[str, Any]],
    file_dir: Path | None = None,
    mongo: dict[str, Any] | None = None,
) -> None:
    """Run each {"config": {...}, "queue": bool} through the real Sacred, in one subprocess."""
    spec = {"file_dir": str(file_dir) if file_dir else None, "mongo": mongo}
    run_experiment(workdir, EXPERIMENT, runs, spec, experiment_env(PYTHONWARNINGS="ignore"), "sacred")


@contextlib.contextmanager
def sacred_in_both(
    server_uri: str, workdir: Path, runs: list[dict[str, Any]], db_prefix: str
) -> Iterator[tuple[str, Path]]:
    """`runs` through the real Sacred into a fresh database (dropped afterwards) and a folder at once:
    (database URI, FileStorage folder)."""
    import pymongo

    db_name = f"{db_prefix}_{uuid.uuid4().hex[:8]}"
    mongo = sacred_mongo(server_uri, db_name)
    run_sacred(workdir / "exp", runs, file_dir=workdir / "runs", mongo=mongo)
    try:
        yield database_uri(server_uri, db_name), workdir / "runs"
    finally:
        client = pymongo.MongoClient(server_uri)
        client.drop_database(db_name)
        client.close()
