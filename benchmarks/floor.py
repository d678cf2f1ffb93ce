"""How much of a first visit to the runs table is the table page itself, beyond Dash and its grid.

Two servers on one database, each in a process of its own: `omnidash serve`, and a "floor" page with nothing
but Dash and the same dash-ag-grid (the table's columns, theme and first block of rows as the layout sends
them, omnidash's assets, Dash's unused scripts left out as omnidash leaves them out; no other component, no
callback). Fresh visits alternate between them (A B B A ...) in one Chromium; it prints the medians of the
time from navigation to the first rows (a row showing a run id) and floor / omnidash. The ratio bounds what
work on the table page alone can gain: on 12-03 it was 0.84x and 0.89x (two runs).

    python benchmarks/floor.py [--runs 20000] [--visits 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks.* and tests.* from the repository root

from benchmarks.ab import visit  # noqa: E402
from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from benchmarks.omniboard import Omnidash  # noqa: E402
from benchmarks.table import insert_runs, mongodb  # noqa: E402
from tests.test_round_trips import find  # noqa: E402 - a component of a layout, by id

INFINITE_ONLY = ("cacheBlockSize", "maxBlocksInCache", "infiniteInitialRowCount", "blockLoadDebounceMillis",
                 "getRowClass")


def serve_floor(db_uri: str, port: int) -> None:
    """The floor page, served by waitress until killed."""
    import dash
    import dash_ag_grid as dag
    from dash import html

    from omnidash.cli import waitress_server
    from omnidash.server import ASSETS_IGNORED, UNUSED_SCRIPTS, assets_folder, create_app
    from omnidash.store.mongo import MongoStore

    ours = create_app(MongoStore(db_uri))
    layout = json.loads(ours.server.test_client().get("/_dash-layout", headers={"Referer": "http://localhost/"}).data)
    grid, block = find(layout, "tbl-grid")["props"], find(layout, "tbl-preload")["props"]["data"]
    app = dash.Dash(__name__, assets_folder=assets_folder(), assets_ignore=ASSETS_IGNORED, compress=True)
    index = app.interpolate_index

    def interpolate_index(**kwargs: Any) -> str:
        if "scripts" in kwargs:
            kwargs["scripts"] = UNUSED_SCRIPTS.sub("", kwargs["scripts"])
        return index(**kwargs)

    app.interpolate_index = interpolate_index
    options = {k: v for k, v in grid["dashGridOptions"].items() if k not in INFINITE_ONLY}
    app.layout = html.Div(dag.AgGrid(
        id="tbl-grid", rowData=block["rows"], columnDefs=grid["columnDefs"], defaultColDef=grid["defaultColDef"],
        getRowId=grid["getRowId"], dashGridOptions=options, className=grid["className"],
        style={"height": "800px", "width": "100%"}))
    waitress_server(app.server, "127.0.0.1", port).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--visits", type=int, default=10, help="measured visits per side (after one warm-up each)")
    parser.add_argument("--serve-floor", nargs=2, metavar=("DB_URI", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        serve_floor(args.serve_floor[0], int(args.serve_floor[1]))
        return
    from playwright.sync_api import sync_playwright

    from tests.omniboard import _free_port

    with mongodb() as uri:
        import pymongo

        client = pymongo.MongoClient(uri)
        insert_runs(client["bench_floor"], args.runs)
        client.close()
        port = _free_port()
        floor = subprocess.Popen([sys.executable, __file__, "--serve-floor", uri + "bench_floor", str(port)])
        urls = {"floor": f"http://127.0.0.1:{port}"}
        times: dict[str, list[float]] = {"omnidash": [], "floor": []}
        ours = None
        try:
            ours = Omnidash(uri + "bench_floor")
            urls["omnidash"] = ours.url
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(urls["floor"] + "/", timeout=5).close()
                    break
                except OSError:
                    if floor.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the floor page did not start") from None
                    time.sleep(0.3)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for side in times:  # one unmeasured visit each
                    visit(browser, urls[side], sort=False)
                for i in range(args.visits):
                    for side in (("omnidash", "floor") if i % 2 == 0 else ("floor", "omnidash")):
                        first = visit(browser, urls[side], sort=False)[0]
                        times[side].append(first)
                        print(f"   visit {i + 1}/{args.visits} {side}: first rows {first:,.0f} ms", flush=True)
                browser.close()
        finally:
            floor.terminate()
            if ours is not None:
                ours.stop()
    ours_ms, floor_ms = statistics.median(times["omnidash"]), statistics.median(times["floor"])
    ratios = [f / o for f, o in zip(times["floor"], times["omnidash"], strict=True)]
    print(f"\n{args.runs:,} runs on the MongoDB test server; {args.visits} alternating fresh visits per side")
    print(f"navigation -> first rows: omnidash {ours_ms:,.0f} ms, Dash + its grid alone {floor_ms:,.0f} ms; "
          f"floor / omnidash {floor_ms / ours_ms:.2f}x (pairs {statistics.median(ratios):.2f}x, "
          f"{min(ratios):.2f}-{max(ratios):.2f}x)")


if __name__ == "__main__":
    main()
