"""Run the REAL sacred package in a subprocess: an experiment module written into a temp folder (so Sacred
records it as a source), runs through MongoObserver and/or FileStorageObserver.

FerretDB 1.x (our default test server) refuses two things real Sacred writes: nested arrays
(`experiment.sources` = [[name, ObjectId]], `resources` = [[path, md5]]) make the started insert fail,
and a NaN metric value closes the connection. Against such a server the Mongo side goes through a thin
adapter over the real pymongo collections that stores those two fields as [] and NaN/inf as null (a gap,
which is how both stores show NaN anyway); everything else is Sacred's own code and documents.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

EXPERIMENT = textwrap.dedent(
    '''
    """Interop experiment for omnidash tests (run by tests/sacred_helpers.py)."""
    import json
    import math
    import os
    import sys

    import numpy as np
    from sacred import Experiment
    from sacred.observers import FileStorageObserver, MongoObserver

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


    @ex.main
    def train(_run, lr, mode, steps, nan_at, workdir, seed, batch_size):
        data = os.path.join(workdir, "data.csv")
        if not os.path.exists(data):
            with open(data, "w") as f:
                f.write("x,y\\n1,2\\n")
        _run.add_resource(data)
        rng = np.random.default_rng(seed)
        loss = 1.0
        for step in range(steps):
            loss = 1.0 / (1.0 + step * lr * batch_size / 32) + float(rng.normal()) * 0.01
            _run.log_scalar("train.loss", loss, step)
            _run.log_scalar("val.acc", float("nan") if step == nan_at else 1.0 - loss, step)
            print(f"step {step} loss={loss:.4f}")
            if mode == "fail" and step == steps // 2:
                raise RuntimeError("simulated crash")
            if mode == "interrupt" and step == steps // 2:
                raise KeyboardInterrupt()
        weights = os.path.join(workdir, f"weights-{seed}-{lr}.txt")
        with open(weights, "w") as f:
            f.write(f"lr={lr} seed={seed} loss={loss:.6f}\\n")
        _run.add_artifact(weights, name="weights.txt")
        _run.info["best_acc"] = np.float64(1.0 - loss)
        return np.float64(round(1.0 - loss, 6))


    class _CompatCollection:
        """A real pymongo collection; writes drop nested arrays and NaN, which FerretDB 1.x rejects."""

        def __init__(self, collection):
            self._c = collection

        def __getattr__(self, name):
            return getattr(self._c, name)

        def insert_one(self, doc, *args, **kwargs):
            return self._c.insert_one(_compat(doc), *args, **kwargs)

        def update_one(self, filter_, update, *args, **kwargs):
            return self._c.update_one(filter_, _compat(update), *args, **kwargs)


    def _compat(value):
        if isinstance(value, dict):
            return {
                k: [] if isinstance(v, list) and any(isinstance(x, list | tuple) for x in v) else _compat(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [_compat(v) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value


    def observers(spec):
        obs = []
        mongo = spec.get("mongo")
        if mongo:
            if mongo.get("compat"):
                import gridfs
                import pymongo

                db = pymongo.MongoClient(mongo["url"])[mongo["db_name"]]
                obs.append(MongoObserver.create_from(
                    _CompatCollection(db["runs"]), gridfs.GridFS(db),
                    metrics_collection=_CompatCollection(db["metrics"]),
                ))
            else:
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
)


def mongo_accepts_sacred_documents(server_uri: str) -> bool:
    """False for servers (FerretDB 1.x) that reject nested arrays, as in experiment.sources."""
    import pymongo
    import pymongo.errors

    client = pymongo.MongoClient(server_uri, serverSelectionTimeoutMS=5000)
    try:
        coll = client["omnidash_probe"]["nested"]
        try:
            coll.insert_one({"a": [[1, 2]]})
            return True
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.drop_database("omnidash_probe")
    finally:
        client.close()


def run_sacred(
    workdir: Path,
    runs: list[dict[str, Any]],
    file_dir: Path | None = None,
    mongo: dict[str, Any] | None = None,
) -> None:
    """Run each {"config": {...}, "queue": bool} through the real Sacred, in one subprocess."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "interop_exp.py").write_text(EXPERIMENT)
    for item in runs:
        item["config"].setdefault("workdir", str(workdir))
    spec = {"runs": runs, "file_dir": str(file_dir) if file_dir else None, "mongo": mongo}
    (workdir / "spec.json").write_text(json.dumps(spec))
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, "interop_exp.py", "spec.json"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"sacred runs failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
