"""The same small experiment as tests/sacred_helpers.py (real Sacred), written with sacredlog, run in a
subprocess (so it has its own main file, sources and dependencies) and helpers that compare documents
path by path: the key paths and the value types, never the values of ids, times or hashes."""

from __future__ import annotations

import datetime as dt
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from bson import ObjectId
from sacred_helpers import FIT, experiment_env, run_experiment

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


    FIT_FUNCTION


    if __name__ == "__main__":
        spec = json.load(open(sys.argv[1]))
        for item in spec["runs"]:
            config = {**DEFAULTS, **item["config"]}
            run = Run("interop_toy", config, mongo_url=spec.get("mongo_url"), file_storage=spec.get("file_dir"),
                      command="train", config_updates=item["config"], heartbeat=spec.get("heartbeat", 10.0),
                      journal_dir=spec.get("journal_dir"))
            try:
                with run:
                    run.result = fit(run, **run.config)
            except (RuntimeError, KeyboardInterrupt):
                pass
            print("RUN_ID", run.run_id, file=sys.stderr)
    '''
).replace("FIT_FUNCTION", FIT.strip())


def run_sacredlog(workdir: Path, runs: list[dict[str, Any]], file_dir: Path | None = None,
                  mongo_url: str | None = None, **extra: Any) -> subprocess.CompletedProcess:
    """Run each {"config": {...}} through sacredlog in one subprocess (like run_sacred does with Sacred)."""
    spec = {"file_dir": str(file_dir) if file_dir else None, "mongo_url": mongo_url,
            "journal_dir": str(workdir / "journal"), **extra}
    return run_experiment(workdir, EXPERIMENT, runs, spec, experiment_env(), "sacredlog")


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
