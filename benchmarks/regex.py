"""Catastrophic `~` patterns against a plain query, on a FileStorage folder (issue 12, item 1).

    python benchmarks/regex.py [--runs 2000]

Prints, per pattern, the median time of a listing through the JSON API and its ratio to a plain equality
query over the same runs (each repetition uses a new query text, so no remembered selection answers it).
The baseline is the naive approach the board used before: Python's backtracking `re` on one value of growing
length (it doubles every character or two; 40 characters would take hours), against RE2 on the same value.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from omnidash.server import create_server
from omnidash.store.files import FileStore
from omnidash.store.patterns import compile_regex

PATTERNS = [
    'dataset.cache_dir ~ "^([a-z/-]|[a-z/-])+X@"',
    'dataset.name ~ "^(a+)+$@"',
    'dataset.name ~ "^(a|aa)+b@"',
    'dataset.words ~ "^(\\\\w+\\\\s?)*$@"',
    'dataset.cache_dir ~ "version-[12@]/"',
    "mnist@",
]


def make_folder(n: int) -> Path:
    base = Path(tempfile.mkdtemp(prefix="bench-regex-")) / "runs"
    for i in range(1, n + 1):
        (base / str(i)).mkdir(parents=True)
        (base / str(i) / "run.json").write_text(json.dumps(
            {"status": "COMPLETED", "experiment": {"name": "e"}, "start_time": "2026-11-01T10:00:00"}))
        (base / str(i) / "config.json").write_text(json.dumps({"dataset": {
            "cache_dir": f"/home/user/cache/datasets/mnist-version-{i % 10}/shards", "name": "a" * 40 + "!",
            "words": "some words and more words and still more words here!"}}))
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    client = create_server(FileStore(str(make_folder(args.runs)))).test_client()
    client.get("/api/runs?limit=5")  # the folder is read once

    def timed(query: str) -> float:
        out = []
        for k in range(3):
            t0 = time.perf_counter()
            resp = client.get("/api/runs?limit=5&q=" + quote(query.replace("@", str(k))))
            out.append(time.perf_counter() - t0)
            assert resp.status_code == 200, resp.get_data(as_text=True)
        return statistics.median(out)

    plain = timed('dataset.cache_dir == "nothing@"')
    print(f"{args.runs} runs; plain equality query: {plain * 1000:.0f} ms")
    for q in PATTERNS:
        t = timed(q)
        print(f"  {q.replace('@', '')!s:45} {t * 1000:7.0f} ms  {t / plain:5.1f}x plain")
    print("naive baseline, one value, ^([a-z/-]|[a-z/-])+X:")
    for length in (14, 16, 18, 20):
        value = ("a/b-" * 10)[:length]
        t0 = time.perf_counter()
        re.compile("^([a-z/-]|[a-z/-])+X").search(value)
        slow = time.perf_counter() - t0
        t0 = time.perf_counter()
        compile_regex("^([a-z/-]|[a-z/-])+X", "").search(value)
        fast = time.perf_counter() - t0
        print(f"  {length} characters: Python re {slow * 1000:8.1f} ms, RE2 {fast * 1000:6.3f} ms")


if __name__ == "__main__":
    main()
