"""Runs written by the real Sacred for the run detail tests: completed, failed, interrupted, queued,
a string id, a huge output, a missing artifact file, and hostile content everywhere a user can put text.

`write_runs(workdir)` runs one experiment module in subprocesses with a FileStorageObserver;
`write_mongo_runs(workdir, host, db)` does the same with a MongoObserver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from sacred_helpers import experiment_env

# Payloads that set window.__pwned if they ever execute. Config keys may not contain "." (Sacred).
PWN_IMG = "<img src=x onerror=__pwned=1>"
PWN_SCRIPT = "<script>__pwned=1</script>"
PWN_NOTES = (
    "# Notes\n\n**bold** and a [safe link](https://example.org).\n\n"
    "[click me](javascript:__pwned=1) [entity](jav&#x61;script:__pwned=1) <javascript:__pwned=1>\n\n"
    f"{PWN_IMG} {PWN_SCRIPT}\n\n[ref]: javascript:__pwned=1\n"
)
PWN_TAG = f"{PWN_IMG}tag"
HOSTILE_ARTIFACT = f"{PWN_IMG}.txt"
PWN_KEY = "<script>self['__pwned']++</script>"  # a config key: Sacred forbids "." and "=" in keys

EXPERIMENT = textwrap.dedent(
    '''
    """A toy experiment for the run detail tests."""
    import json
    import os
    import sys
    import time
    import zlib
    import struct

    import numpy as np
    from sacred import Experiment

    import helper_module

    ex = Experiment("toy_detail")
    ex.add_config({HOSTILE_KEY: HOSTILE_VALUE})


    if os.environ.get("DETAIL_MONGO"):
        from sacred.observers import MongoObserver

        url, db_name = json.loads(os.environ["DETAIL_MONGO"])
        ex.observers.append(MongoObserver(url=url, db_name=db_name))


    @ex.config
    def cfg():
        lr = 0.1
        epochs = 3
        optimizer = "sgd"
        dataset = {"noise": 0.5, "n_samples": 100}
        mode = "ok"  # ok | fail | interrupt | slow
        tags = ["toy", "detail"]
        ticks = 240  # lines printed by mode=slow, one every 0.25 s


    def png_bytes(w=8, h=8):
        raw = b"".join(b"\\x00" + bytes([255, 32 * (y % 8), 64, 255] * w) for y in range(h))
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


    @ex.automain
    def train(lr, epochs, mode, ticks, _run):
        _run.info["n_params"] = 11
        _run.info["class_balance"] = np.array([308, 332])  # stored in jsonpickle's ndarray shape
        print("\\x1b[1;32mstarting\\x1b[0m training with lr=%s" % lr)
        print(HOSTILE_VALUE)
        for epoch in range(epochs):
            for step in range(5):
                sys.stdout.write("\\r  epoch %d [%s%s] %d/4" % (epoch, "=" * step, " " * (4 - step), step))
                sys.stdout.flush()
            print()
            _run.log_scalar("train.loss", 1.0 / (epoch + 1))
            _run.log_scalar("val.accuracy", 0.5 + 0.1 * epoch)
        print("\\x1b[33mwarning:\\x1b[0m loss is \\x1b[4mfine\\x1b[0m")
        if mode == "slow":
            for i in range(ticks):
                print("tick %d" % i, flush=True)
                time.sleep(0.25)
        if mode == "fail":
            helper_module.crash("Simulated worker crash " + HOSTILE_SCRIPT)
        if mode == "interrupt":
            raise KeyboardInterrupt()
        out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
        os.makedirs(out, exist_ok=True)
        files = {
            "plot.png": png_bytes(),
            "table.csv": b"epoch,loss,note\\n0,1.0,<b>x</b>\\n1,0.5," + HOSTILE_VALUE.encode() + b"\\n",
            "summary.json": json.dumps({"best": {"acc": 0.9, "epoch": 2}, "evil": HOSTILE_SCRIPT}).encode(),
            # no network loads in here (a sandboxed frame still fetches images): script, svg onload, js link
            "report.html": ("<h1>Report</h1><p>ok</p>" + HOSTILE_SCRIPT + "<svg onload=__pwned=1></svg>"
                            + "<a id=jslink href='javascript:__pwned=1'>js link</a>").encode(),
            "log.txt": ("plain text artifact\\n" + HOSTILE_SCRIPT + "\\n").encode(),
            "gone.txt": b"this file will be deleted",
            HOSTILE_ARTIFACT: b"hostile name",
        }
        for name, data in files.items():
            path = os.path.join(out, "%d-%s" % (os.getpid(), name.replace("/", "_")))
            with open(path, "wb") as f:
                f.write(data)
            _run.add_artifact(path, name=name)
        return 0.9
    '''
)

HELPER = textwrap.dedent(
    '''
    """A local module, so the run records two source files."""


    def crash(message):
        raise RuntimeError(message)
    '''
)


@dataclass
class DetailRuns:
    basedir: Path  # FileStorage folder
    ids: dict[str, str] = field(default_factory=dict)  # kind -> run id


def write_experiment(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    exp = EXPERIMENT.replace("HOSTILE_KEY", repr(PWN_KEY)).replace("HOSTILE_VALUE", repr(PWN_IMG))
    exp = exp.replace("HOSTILE_SCRIPT", repr(PWN_SCRIPT)).replace("HOSTILE_ARTIFACT", repr(HOSTILE_ARTIFACT))
    (workdir / "toy_detail.py").write_text(exp)
    (workdir / "helper_module.py").write_text(HELPER)
    git_commit(workdir)
    return workdir / "toy_detail.py"


GIT_REMOTE = "https://example.org/lab/toy-detail.git"


def git_commit(workdir: Path) -> str | None:
    """Make the experiment folder a clean git checkout with a remote, so Sacred records repositories."""
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org")
    try:
        for cmd in (["git", "init", "-q"], ["git", "remote", "add", "origin", GIT_REMOTE],
                    ["git", "add", "toy_detail.py", "helper_module.py"], ["git", "commit", "-q", "-m", "toy"]):
            subprocess.run(cmd, cwd=workdir, env=env, check=True, capture_output=True)
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None  # no git here: the runs simply record no repository
    (workdir / ".gitignore").write_text("runs/\nout/\n")
    return head.stdout.strip()


def run_sacred(workdir: Path, args: list[str], expect_ok: bool = True, wait: bool = True,
               env_extra: dict[str, str] | None = None) -> subprocess.Popen | None:
    cmd = [sys.executable, "toy_detail.py", *args]
    env = experiment_env(PYTHONWARNINGS="ignore", **(env_extra or {}))
    if not wait:
        return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    if expect_ok and proc.returncode != 0:
        raise RuntimeError(f"sacred run failed: {' '.join(args)}\n{proc.stderr[-3000:]}")
    return None


PLAN = [
    ("completed", ["with", "lr=0.5", 'optimizer="adam"', "dataset.noise=0.25"], True),
    ("failed", ["with", "mode=fail", "epochs=2"], False),
    ("interrupted", ["with", "mode=interrupt", "epochs=1"], False),
    ("queued", ["--queue", "with", "lr=0.01"], True),
    ("string_id", ["--id=lr-0.1-final", "with", "epochs=1"], True),
    ("huge", ["--id=huge", "with", "epochs=1"], True),
]
BEAT = ["--beat-interval", "0.2"]


def write_runs(workdir: Path) -> DetailRuns:
    """FileStorage runs: completed (1), failed (2), interrupted (3), queued (4), a string id, 16 MB of
    output (huge), and a missing artifact file in run 1. Hostile tags and notes are set by the tests."""
    write_experiment(workdir)
    basedir = workdir / "runs"
    runs = DetailRuns(basedir)
    # ids are given, so the runs can go side by side
    rest = [(kind, ([f"--id={i}"] if i <= 4 else []) + args, ok) for i, (kind, args, ok) in enumerate(PLAN, start=1)]
    procs = [(kind, args, ok, run_sacred(workdir, ["-F", str(basedir), *BEAT, *args], wait=False))
             for kind, args, ok in rest]
    for kind, args, ok, proc in procs:
        code = proc.wait(timeout=180)
        if ok and code != 0:
            raise RuntimeError(f"sacred run failed: {' '.join(args)} (exit {code})")
        runs.ids[kind] = next((a.split("=", 1)[1] for a in args if a.startswith("--id=")), kind)
    with open(basedir / "huge" / "cout.txt", "a", encoding="utf-8") as f:
        line = "step {:>7} \x1b[32mloss=0.123\x1b[0m " + "x" * 60 + "\n"
        for n in range(16 * 1024 * 1024 // 90):
            f.write(line.format(n))
        f.write("THE-LAST-LINE\n")
    os.remove(basedir / "1" / "gone.txt")
    return runs


def write_mongo_runs(workdir: Path, url: str, db_name: str) -> dict[str, int]:
    """MongoObserver runs (int ids 1, 2, 3): completed, failed, queued; gone.txt removed from GridFS."""
    import pymongo

    write_experiment(workdir)
    env = {"DETAIL_MONGO": json.dumps([url, db_name])}
    ids: dict[str, int] = {}
    plan = [p for p in PLAN if p[0] in ("completed", "failed", "queued")]
    for i, (kind, args, ok) in enumerate(plan, start=1):
        run_sacred(workdir, [*BEAT, *args], expect_ok=ok, env_extra=env)
        ids[kind] = i
    client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        db = client[db_name]
        doc = db.runs.find_one({"_id": ids["completed"]})
        gone = next(a["file_id"] for a in doc["artifacts"] if a["name"] == "gone.txt")
        db["fs.files"].delete_one({"_id": gone})
        db["fs.chunks"].delete_many({"files_id": gone})
    finally:
        client.close()
    return ids


_CACHE: dict[str, DetailRuns] = {}


def shared_file_runs() -> DetailRuns:
    """The file-only runs, written once per test session; treat as read-only (copy before mutating)."""
    if "files" not in _CACHE:
        import tempfile

        _CACHE["files"] = write_runs(Path(tempfile.mkdtemp(prefix="omnidash-detail-")))
    return _CACHE["files"]


def copy_runs(runs: DetailRuns, dest: Path) -> DetailRuns:
    """A private copy of the FileStorage folder (for tests that edit or delete)."""
    import shutil

    shutil.copytree(runs.basedir, dest / "runs")
    return DetailRuns(dest / "runs", dict(runs.ids))


def shared_mongo_runs(server_uri: str) -> tuple[str, dict[str, int]]:
    """(database URI, ids) of the Mongo runs, written once per session (read-only for tests)."""
    key = f"mongo:{server_uri}"
    if key not in _CACHE:
        import atexit
        import tempfile
        import uuid

        import pymongo

        db_name = f"t_detail_{uuid.uuid4().hex[:8]}"
        base = server_uri.split("?", 1)[0].rstrip("/")
        ids = write_mongo_runs(Path(tempfile.mkdtemp(prefix="omnidash-detail-mongo-")), base + "/", db_name)

        def drop() -> None:
            try:
                client = pymongo.MongoClient(server_uri, serverSelectionTimeoutMS=2000)
                client.drop_database(db_name)
                client.close()
            except Exception:  # noqa: BLE001 - the server may be gone already
                pass

        atexit.register(drop)
        _CACHE[key] = (f"{base}/{db_name}", ids)  # type: ignore[assignment]
    return _CACHE[key]  # type: ignore[return-value]
