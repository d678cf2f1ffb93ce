"""One run with 1,000,000 points in one metric (a Sacred FileStorage folder): the run page's chart, in Chromium.

Prints navigation -> chart drawn (first visit, then a repeat visit with the scripts cached), the bytes of
the chart's callback, and the server's memory (RSS, and its peak) before, after the first draw and after
ten more loads: the page sends a downsampled series (a few thousand points), and the server keeps one
full-resolution copy of the series in its plot cache, so memory stays bounded however often it is drawn.

    python benchmarks/run_page.py [--points 1000000] [--repeat 3]

Why a folder: a Sacred MongoObserver keeps a metric in one document, and 1,000,000 points (steps, values,
timestamps) are ~45 MB of BSON, over MongoDB's 16 MB document limit: no MongoDB can hold such a run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks.* and tests.* from the repository root

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, fresh_context  # noqa: E402
from benchmarks.serving import Served  # noqa: E402

DRAWN = "() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length > 0"


def memory() -> tuple[float, float]:
    """(RSS, peak RSS) of this process, MB: the server runs in it."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def write_run(folder: str, points: int) -> None:
    """Run 1 of a FileStorage folder: a COMPLETED run whose metric `loss` has `points` points."""
    import numpy as np

    d = os.path.join(folder, "1")
    os.makedirs(d)
    start = datetime.now(UTC) - timedelta(hours=5)
    rng = np.random.default_rng(1)
    steps = np.arange(points)
    values = np.exp(-steps / (points / 4)) + 0.05 * rng.standard_normal(points)
    stamps = [(start + timedelta(milliseconds=10 * i)).isoformat() for i in range(points)]
    run = {"experiment": {"name": "big", "sources": []}, "command": "train", "status": "COMPLETED",
           "start_time": start.isoformat(), "stop_time": (start + timedelta(hours=3)).isoformat(),
           "heartbeat": (start + timedelta(hours=3)).isoformat(), "host": {"hostname": "node-00"},
           "result": float(values[-1]), "meta": {"comment": ""}, "artifacts": [], "resources": []}
    with open(os.path.join(d, "run.json"), "w") as f:
        json.dump(run, f)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"lr": 0.001, "seed": 1}, f)
    with open(os.path.join(d, "metrics.json"), "w") as f:
        json.dump({"loss": {"steps": steps.tolist(), "values": values.round(6).tolist(), "timestamps": stamps}}, f)
    for name, text in (("info.json", "{}"), ("cout.txt", "")):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()


    from playwright.sync_api import sync_playwright

    from omnidash.context import Settings
    from omnidash.server import create_app
    from omnidash.store.files import FileStore

    folder = tempfile.mkdtemp(prefix="omnidash-bench-run-page-")
    try:
        t = time.perf_counter()
        write_run(folder, args.points)
        size = os.path.getsize(os.path.join(folder, "1", "metrics.json"))
        print(f"wrote one run, metric `loss` of {args.points:,} points ({size / 1e6:,.1f} MB of metrics.json) "
              f"in {time.perf_counter() - t:.1f} s")
        import gc

        gc.collect()
        rss0, _ = memory()
        app = create_app(FileStore(folder), Settings(refresh_interval=0))
        srv = Served(app.server)
        url = f"{srv.url}/runs/1"
        firsts, repeats, chart_bytes = [], [], []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for i in range(args.repeat + 1):  # the first round warms the server's caches and the OS
                    context, page = fresh_context(browser)
                    sizes: list[int] = []
                    page.on("response", lambda r, s=sizes: s.append(len(r.body())) if (
                        "_dash-update-component" in r.url and "run-metrics-charts" in (r.request.post_data or "")
                    ) else None)
                    for visit in ("first", "repeat"):
                        t0 = time.perf_counter()
                        page.goto(url, wait_until="commit")
                        page.wait_for_function(DRAWN, timeout=120_000, polling="raf")
                        ms = (time.perf_counter() - t0) * 1000
                        if i:
                            (firsts if visit == "first" else repeats).append(ms)
                        if i == 0 and visit == "first":
                            rss1, peak1 = memory()
                        page.goto("about:blank")
                    chart_bytes.extend(sizes)
                    context.close()
                rss_mid, _ = memory()
                for _ in range(10):
                    page = browser.new_page()
                    page.goto(url, wait_until="commit")
                    page.wait_for_function(DRAWN, timeout=120_000, polling="raf")
                    page.close()
                browser.close()
        finally:
            srv.stop()
        rss2, peak2 = memory()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nrun page, one metric of {args.points:,} points; medians of {args.repeat}")
    print(f"  navigation -> chart drawn, first visit:  {statistics.median(firsts):,.0f} ms   (target < 2,000 ms)")
    print(f"  navigation -> chart drawn, repeat visit: {statistics.median(repeats):,.0f} ms")
    print(f"  chart callback reply (decoded): {statistics.median(chart_bytes) / 1024:,.0f} KB")
    print(f"  server RSS: {rss0:,.0f} MB before, {rss1:,.0f} MB after the first draw (peak {peak1:,.0f} MB), "
          f"{rss_mid:,.0f} MB after {2 * (args.repeat + 1)} loads, {rss2:,.0f} MB after 10 more (peak {peak2:,.0f} MB)")


if __name__ == "__main__":
    main()
