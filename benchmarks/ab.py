"""Two builds of omnidash side by side on one database: navigation to the first table rows and a sort by a config
key, in fresh visits that alternate between the two (A B B A ...) in one Chromium, so that this machine's drift
(its speed moves by 30-40% within an hour) falls on both sides alike. A single run of benchmarks/table.py cannot
tell a 10% change; this can.

    python benchmarks/ab.py BASE [HEAD] [--runs 20000] [--visits 10]

BASE and HEAD are git revisions; without HEAD, the working tree as it is. Each side runs `omnidash serve` in a
process of its own, from that revision's files (`git archive`, arranged as the installed package is: app/ as
`omnidash`, components/ and assets/ inside it), on the MongoDB test server with benchmarks/table.py's runs.
Prints each visit, the medians, and the median of the per-pair ratios HEAD / BASE; besides the wall-clock times,
Chromium's main-thread time to the first rows (the page's own work, which the drift moves less).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks.* and tests.* from the repository root

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, fresh_context  # noqa: E402
from benchmarks.omniboard import OURS_FIRST_ROW, Omnidash  # noqa: E402
from benchmarks.table import LR_SORTED, LRS, insert_runs, mongodb  # noqa: E402


def package_tree(source: Path, into: Path) -> Path:
    """A folder to put first on PYTHONPATH that imports `omnidash` and `sacredlog` from `source` (a checkout)."""
    package = into / "omnidash"
    package.mkdir(parents=True)
    for entry in (source / "app").iterdir():
        (package / entry.name).symlink_to(entry)
    (package / "components").symlink_to(source / "components")
    (package / "assets").symlink_to(source / "assets")
    (into / "sacredlog").symlink_to(source / "sacredlog")
    return into


@contextlib.contextmanager
def build(revision: str | None) -> Iterator[tuple[str, Path]]:
    """(label, import folder) of a revision's files, or of the working tree (None)."""
    with tempfile.TemporaryDirectory(prefix="omnidash-ab-") as tmp:
        if revision is None:
            source, label = ROOT, "working tree"
        else:
            source = Path(tmp) / "src"
            source.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
            label = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", revision], check=True,
                                   capture_output=True, text=True).stdout.strip()
        yield label, package_tree(source, Path(tmp) / "path")


MEASURES = ("navigation -> first rows (ms)", "  Chromium main thread busy (ms)", "sort by config.lr (ms)")


def visit(browser, url: str, sort: bool = True) -> tuple[float, float, float]:
    """In a fresh context: ms to the first rows of a first visit, ms of them the page's main thread was busy
    (Chromium's TaskDuration: the page's own work, less moved by the machine's drift than the wall clock; work
    moved to after the first rows leaves it), ms to the rows sorted by config.lr (nan without `sort`)."""
    context, page = fresh_context(browser)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    try:
        start = time.perf_counter()
        page.goto(url + "/")
        page.wait_for_function(OURS_FIRST_ROW, polling="raf", timeout=120_000)
        first = (time.perf_counter() - start) * 1000
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        busy = float(metrics.get("TaskDuration", 0.0)) * 1000
        if not sort:
            return first, busy, float("nan")
        page.wait_for_timeout(500)
        header = page.locator('#tbl-grid [role="columnheader"][col-id="config.lr"] .ag-header-cell-label')
        start = time.perf_counter()
        header.click()
        page.wait_for_function(LR_SORTED, arg=min(LRS), polling="raf", timeout=120_000)
        return first, busy, (time.perf_counter() - start) * 1000
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="a git revision")
    parser.add_argument("head", nargs="?", help="a git revision (default: the working tree)")
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--visits", type=int, default=10, help="measured visits per side (after one warm-up each)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with build(args.base) as (base_label, base_path), build(args.head) as (head_label, head_path), \
            mongodb() as uri:
        import pymongo

        started = time.perf_counter()
        client = pymongo.MongoClient(uri)
        insert_runs(client["bench_ab"], args.runs)
        client.close()
        print(f"wrote {args.runs:,} runs in {time.perf_counter() - started:.0f} s", flush=True)
        servers: dict[str, Omnidash] = {}
        times: dict[str, list[tuple[float, float, float]]] = {"base": [], "head": []}
        labels = {"base": base_label, "head": head_label}
        try:
            for side, path in (("base", base_path), ("head", head_path)):
                servers[side] = Omnidash(uri + "bench_ab", import_path=str(path))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for side in ("base", "head"):  # one unmeasured visit each: both servers' caches filled alike
                    visit(browser, servers[side].url)
                for i in range(args.visits):
                    for side in (("base", "head") if i % 2 == 0 else ("head", "base")):
                        first, busy, sort = visit(browser, servers[side].url)
                        times[side].append((first, busy, sort))
                        print(f"   visit {i + 1}/{args.visits} {side} ({labels[side]}): first rows {first:,.0f} ms"
                              f" (main thread {busy:,.0f} ms), sort {sort:,.0f} ms", flush=True)
                browser.close()
        finally:
            for server in servers.values():
                server.stop()
    report(times, base_label, head_label, args)


def report(times: dict[str, list[tuple[float, float, float]]], base_label: str, head_label: str, args) -> None:
    print(f"\n{args.runs:,} runs on the MongoDB test server; {args.visits} alternating fresh visits per side\n")
    print(f"{'':34s}{'base ' + base_label:>16s}{'head ' + head_label:>22s}   head / base (pairs)")
    for i, name in enumerate(MEASURES):
        base = [t[i] for t in times["base"]]
        head = [t[i] for t in times["head"]]
        ratios = [h / b for h, b in zip(head, base, strict=True)]
        print(f"{name:34s}{statistics.median(base):16,.0f}{statistics.median(head):22,.0f}"
              f"   {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
