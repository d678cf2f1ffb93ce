"""Metric plots at scale (issue 5): 50 runs x 100,000 points of one metric, in a test server it starts
(FerretDB 2 + DocumentDB from the testdb kit, tests/testdb.py) or the MongoDB given by --uri.

Prints, for the compare page's chart (server-side MinMax downsampling, 2,000 points per series) and for
the baseline of sending every point (what Omniboard does):
  server time   metric_series + figure + JSON, in the Flask process (median of 3)
  JSON bytes    the figure as Dash sends it (plotly typed arrays)
  render        Chromium: from navigation to the chart drawn, and from the callback response to the draw
  zoom refetch  Chromium: Plotly.relayout to a 2,000-step window -> the finer series drawn

    python benchmarks/plots.py                 # its own test server, 50 x 100,000 points
    python benchmarks/plots.py --runs 10 --points 20000 --uri mongodb://host:27017/

Targets: < 1.5 MB, < 1 s to render, zoom refetch < 300 ms. Figures are wall-clock on this machine,
so compare the two columns of one run, not numbers across machines.
"""

from __future__ import annotations

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import os
import statistics  # noqa: E402
import sys
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pymongo  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, fresh_context  # noqa: E402
from benchmarks.server import bench_database  # noqa: E402

GRAPH = ".pp-chart .js-plotly-plot"


def load(db: pymongo.database.Database, n_runs: int, n_points: int) -> None:
    """Sacred MongoObserver documents: one run doc and one `loss` metric doc of n_points per run."""
    rng = np.random.default_rng(0)
    base = dt.datetime(2026, 1, 1)
    db.runs.drop()
    db.metrics.drop()
    db.metrics.create_index([("run_id", 1), ("name", 1)])
    for i in range(1, n_runs + 1):
        start = base + dt.timedelta(hours=i)
        db.runs.insert_one({
            "_id": i, "experiment": {"name": "bench", "sources": [], "dependencies": []},
            "command": "main", "status": "COMPLETED", "start_time": start, "heartbeat": start,
            "stop_time": start + dt.timedelta(seconds=n_points / 100),
            "config": {"lr": [1e-3, 1e-2][i % 2], "seed": i}, "meta": {}, "host": {"hostname": "bench"},
            "captured_out": "", "artifacts": [], "resources": [],
            "info": {"metrics": [{"name": "loss", "id": f"{i:024x}"}]},  # as MongoObserver lists them
        })
        steps = np.arange(n_points)
        values = np.exp(-steps / (n_points / 5)) + rng.normal(0, 0.05, n_points) + i * 0.01
        stamps = [start + dt.timedelta(milliseconds=10 * int(s)) for s in steps]
        db.metrics.insert_one({"run_id": i, "name": "loss", "steps": steps.tolist(),
                               "values": values.tolist(), "timestamps": stamps})


def server_side(app, run_ids: list[int], max_points: int | None, repeat: int = 3) -> dict[str, float]:
    """Seconds for series + figure + JSON: the first call (the database read) and later calls (median,
    served from the panel's series cache), the store read alone, and the JSON bytes."""
    from plotly.io.json import to_json_plotly

    from omnidash.pages import plot_panel as pp
    from omnidash.store.cache import CACHE

    with app.server.app_context():
        info = pp.load_run_info(run_ids)
        opts = pp.options_from([["loss"], "multiples", "step", "linear", 0, [], [], [], "std"])
        times, size = [], 0
        for _ in range(repeat + 1):
            t0 = time.perf_counter()
            series = pp.fetch(run_ids, ["loss"], max_points or 10**9, info=info)
            fig = pp.build_figure(series, info, "loss", opts, 460)
            size = len(to_json_plotly(fig))
            times.append(time.perf_counter() - t0)
        app_store = pp.get_store()
        t0 = time.perf_counter()
        lo = len(series[0].steps) and series[0].total_points // 2
        CACHE.series(app_store, run_ids, ["loss"], max_points or 10**9, (lo, lo + 2000))
        zoom_t = time.perf_counter() - t0
    return {"cold": times[0], "warm": statistics.median(times[1:]), "bytes": size,
            "zoom_server": zoom_t}


def browser_side(url: str, n_runs: int, zoom_window: tuple[int, int], timeout_s: float) -> dict[str, float | None]:
    """Navigation -> chart drawn, callback response -> drawn, and zoom -> finer series drawn (seconds)."""
    from playwright.sync_api import sync_playwright

    out: dict[str, float | None] = {"load": None, "render": None, "zoom": None}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        _, page = fresh_context(browser)
        page.set_default_timeout(timeout_s * 1000)
        response_end: dict[str, float] = {}

        def on_finished(request):
            if "_dash-update-component" in request.url and "cmp-charts" in (request.post_data or ""):
                response_end["t"] = time.perf_counter()

        page.on("requestfinished", on_finished)
        if os.environ.get("BENCH_DEBUG"):
            page.on("console", lambda m: print("   console:", m.type, m.text[:200]))
            page.on("response", lambda r: print("   response:", r.status, (r.request.post_data or "")[:70],
                                                (r.request.post_data or "")[(r.request.post_data or "").find("relayoutData"):][:250] if "MATCH" in (r.request.post_data or "") else "")
                    if "_dash-update" in r.url else None)
        t0 = time.perf_counter()
        page.goto(f"{url}/compare?runs={','.join(str(i) for i in range(1, n_runs + 1))}")
        drawn = (f"() => {{ const g = document.querySelector('{GRAPH}');"
                 f" return !!(g && g._fullData && g._fullData.length === {n_runs}"
                 " && g.querySelectorAll('.scatterlayer .trace').length > 0); }")
        try:
            page.wait_for_function(drawn, polling="raf")
        except Exception as e:  # noqa: BLE001 - report a timeout as such
            print(f"   chart not drawn within {timeout_s:.0f} s ({type(e).__name__})")
            browser.close()
            return out
        t_drawn = time.perf_counter()
        out["load"] = t_drawn - t0
        out["render"] = t_drawn - response_end["t"] if "t" in response_end else None
        lo, hi = zoom_window
        page.wait_for_timeout(2000)  # let dcc.Graph settle, as a user would before dragging a zoom box
        t1 = time.perf_counter()
        page.evaluate(f"Plotly.relayout(document.querySelector('{GRAPH}'),"
                      f" {{'xaxis.range[0]': {lo}, 'xaxis.range[1]': {hi}}})")
        finer = (f"() => {{ const g = document.querySelector('{GRAPH}'); const x = g._fullData[0].x;"
                 f" return x && x.length > 0 && Number(x[0]) >= {lo - (hi - lo)} && Number(x[x.length - 1]) <= {hi + (hi - lo)}; }}")
        try:
            page.wait_for_function(finer, polling="raf")
            out["zoom"] = time.perf_counter() - t1
        except Exception as e:  # noqa: BLE001
            print(f"   zoom not refetched within {timeout_s:.0f} s ({type(e).__name__})")
            if os.environ.get("BENCH_DEBUG"):
                print(page.evaluate(f"(() => {{const g=document.querySelector('{GRAPH}'); const x=g._fullData[0].x;"
                                    " return [x.length, Number(x[0]), Number(x[x.length-1]), g.layout.xaxis.range, JSON.stringify(g.data[0].x).length, g.data.length]})()"))
        browser.close()
    return out


def fmt(v: float | None, unit: str = "s") -> str:
    if v is None:
        return "—"
    return f"{v * 1000:,.0f} ms" if unit == "s" else f"{v / 1e6:,.2f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uri", default=os.environ.get("OMNIDASH_TEST_MONGO_URI"))
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--points", type=int, default=100_000)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--baseline-timeout", type=float, default=180.0, help="seconds to wait for the full chart")
    args = ap.parse_args()

    db_name = "bench_plots"
    with bench_database(args.uri, "bench-plots-", db_name, announce=False) as (uri, db):
        t = time.perf_counter()
        load(db, args.runs, args.points)
        print(f"loaded {args.runs} runs x {args.points:,} points in {time.perf_counter() - t:.1f} s ({uri})")

        from benchmarks.serving import Served
        from omnidash.pages import plot_panel as pp
        from omnidash.server import create_app
        from omnidash.store.mongo import MongoStore

        store = MongoStore(uri.rstrip("/") + f"/{db_name}")
        app = create_app(store)
        run_ids = list(range(1, args.runs + 1))
        window = (args.points // 2, args.points // 2 + 2000)
        rows = {}
        opts = pp.options_from([["loss"], "multiples", "step", "linear", 0, [], [], [], "std"])
        ours_points = pp.chart_plan(opts, ["loss"], len(run_ids))[1]  # what the compare page asks for
        for label, points in (("downsampled (ours)", ours_points), ("every point (Omniboard)", None)):
            server = server_side(app, run_ids, points)
            browser = {"load": None, "render": None, "zoom": None}
            if not args.no_browser:
                if points is None:  # the compare page sends what the chart asks for: here, everything
                    pp.POINTS_ONE_CHART, pp.CHART_POINT_BUDGET = 10**9, 10**12
                live = Served(app.server)
                try:
                    browser = browser_side(live.url, args.runs, window,
                                           60.0 if points else args.baseline_timeout)
                finally:
                    live.stop()
            rows[label] = (server, browser)
        print(f"\n{args.runs} runs x {args.points:,} points of one metric, one chart ({ours_points:,} points per "
              "series downsampled)")
        print("server: series + figure + JSON; 'first' reads the database (the baseline row then reuses")
        print("the panel's cache of full-resolution series), 'cached' is the median of later calls")
        print(f"{'':26}{'first':>10}{'cached':>10}{'JSON':>10}{'page→chart':>12}"
              f"{'resp→draw':>11}{'zoom srv':>10}{'zoom':>10}")
        for label, (sv, b) in rows.items():
            print(f"{label:26}{fmt(sv['cold']):>10}{fmt(sv['warm']):>10}"
                  f"{fmt(sv['bytes'], 'b'):>10}{fmt(b['load']):>12}{fmt(b['render']):>11}"
                  f"{fmt(sv['zoom_server']):>10}{fmt(b['zoom']):>10}")
        (ours, ob), (full, fb) = rows["downsampled (ours)"], rows["every point (Omniboard)"]
        print(f"\nratios (every point / ours): JSON {full['bytes'] / ours['bytes']:.0f}x, "
              f"cached server {full['warm'] / ours['warm']:.1f}x"
              + (f", page→chart {fb['load'] / ob['load']:.1f}x" if fb["load"] and ob["load"] else "")
              + (f", resp→draw {fb['render'] / ob['render']:.1f}x" if fb["render"] and ob["render"] else ""))
        print("targets: JSON < 1.5 MB, render < 1 s, zoom refetch < 300 ms")


if __name__ == "__main__":
    main()
