"""Benchmark of the runs table: 20,000 runs on the MongoDB test server (the kit's FerretDB 2 + DocumentDB,
tests/testdb.py) or in a Sacred FileStorage folder, measured in headless Chromium.

Our page (infinite row model, rows paged by the store) against the naive approach (all rows sent to a
client-side dash-ag-grid in the layout), on the same data, in the same run: time from navigation to the
first rows on a first visit (empty HTTP cache) and a repeat visit, a sort by a config key and by a metric
summary, a filter, the bytes on the wire (compressed) and decoded, the server's memory after the first
listing, and a 50-run compare page to its drawn chart.

    python benchmarks/table.py [--runs 20000] [--repeat 3] [--store files] [--throttle]

--throttle: Chromium's network emulation at 20 Mbit/s and 40 ms latency (bytes count there).
Times are milliseconds (medians over --repeat page loads); the server and Chromium share the machine's
cores, so compare the two columns rather than reading the numbers as user-facing latencies.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# run as `python benchmarks/table.py`: the repository on the path, benchmarks/ itself off it
sys.path.insert(0, str(ROOT))  # benchmarks.* and tests.* from the repository root

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, fresh_context  # noqa: E402
from benchmarks.serving import Served  # noqa: E402
from tests.testdb import TestServer  # noqa: E402

OPTIMIZERS = ["adam", "sgd", "adamw", "rmsprop"]
LRS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
FILTER_QUERY = "config.optimizer == sgd and config.lr > 0.001"
METRIC_SORT = "last(val.acc)"
THROTTLE = {"offline": False, "latency": 40, "downloadThroughput": 20e6 / 8, "uploadThroughput": 20e6 / 8}


# -- the MongoDB test server ------------------------------------------------------------------------------
@contextmanager
def mongodb():
    """A private kit server (tests/testdb.py: FerretDB 2 + DocumentDB), removed afterwards; yields its URI."""
    try:
        server = TestServer.start("omnidash-bench-table-")
    except RuntimeError as e:
        raise SystemExit(f"cannot start the MongoDB test server: {e}\n(or use --store files)") from None
    try:
        yield server.uri
    finally:
        server.remove()


def rss_mb() -> float:
    """This process's resident memory (the server runs in it), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_folder(path: str, n: int, seed: int = 1) -> None:
    """The same kind of runs as a Sacred FileStorageObserver folder (run.json, config.json, metrics.json)."""
    import json

    rng = random.Random(seed)
    now = datetime.now(UTC)
    for i in range(1, n + 1):
        start = now - timedelta(minutes=3 * (n - i + 1))
        d = os.path.join(path, str(i))
        os.makedirs(d, exist_ok=True)
        run = {"experiment": {"name": rng.choice(["mnist", "cifar", "imagenet"]), "sources": []},
               "command": "train", "status": rng.choices(["COMPLETED", "FAILED", "INTERRUPTED"], [85, 9, 6])[0],
               "start_time": start.isoformat(), "heartbeat": (start + timedelta(seconds=rng.randint(60, 3600)))
               .isoformat(), "host": {"hostname": f"node-{i % 16:02d}"}, "result": round(rng.uniform(0.5, 0.99), 4),
               "meta": {"comment": ""}, "artifacts": [], "resources": []}
        config = {"lr": rng.choice(LRS), "optimizer": rng.choice(OPTIMIZERS),
                  "batch_size": rng.choice([32, 64, 128]), "dropout": rng.choice([0.0, 0.1, 0.3]), "epochs": 50,
                  "seed": i, "model": {"depth": rng.choice([2, 4, 8]), "width": rng.choice([64, 128, 256])},
                  "weight_decay": rng.choice([0.0, 1e-4]), "warmup": rng.choice([0, 500])}
        metrics = {name: {"steps": list(range(50)), "values": [rng.random() for _ in range(50)],
                          "timestamps": [(start + timedelta(seconds=10 * s)).isoformat() for s in range(50)]}
                   for name in ("val.acc", "train.loss")}
        for fname, content in (("run.json", run), ("config.json", config), ("metrics.json", metrics),
                               ("info.json", {}), ("cout.txt", "")):
            with open(os.path.join(d, fname), "w") as f:
                f.write(content if isinstance(content, str) else json.dumps(content))


@contextmanager
def folder():
    """A temporary FileStorage folder."""
    path = tempfile.mkdtemp(prefix="omnidash-bench-folder-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def insert_runs(db, n: int, seed: int = 1) -> None:
    """n Sacred MongoObserver runs (10 config keys) with two metrics of 50 steps each, via insert_many.

    Each run already carries the metric summaries MongoStore keeps under `omnidash` (the state a live
    dashboard reaches after its first pass), so the benchmark measures the table, not that one-off build.
    No run is RUNNING: those are re-summarised on every listing.
    """
    from omnidash.store import rows as rowlib
    from omnidash.store.mongo_summaries import omnidash_field

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    runs, metrics = [], []
    for i in range(1, n + 1):
        start = now - timedelta(minutes=3 * (n - i + 1))
        lr = rng.choice(LRS)
        status = rng.choices(["COMPLETED", "FAILED", "INTERRUPTED"], [85, 9, 6])[0]
        experiment = rng.choice(["mnist", "cifar", "imagenet"])
        stop = start + timedelta(seconds=rng.randint(60, 3600))  # Sacred's last heartbeat comes with the stop
        runs.append({
            "_id": i, "experiment": {"name": experiment, "sources": []},
            "command": "train", "status": status, "start_time": start, "heartbeat": stop, "stop_time": stop,
            "host": {"hostname": f"node-{i % 16:02d}"},
            "config": {"lr": lr, "optimizer": rng.choice(OPTIMIZERS), "batch_size": rng.choice([32, 64, 128]),
                       "dropout": rng.choice([0.0, 0.1, 0.3]), "epochs": 50, "seed": i,
                       "model": {"depth": rng.choice([2, 4, 8]), "width": rng.choice([64, 128, 256])},
                       "weight_decay": rng.choice([0.0, 1e-4]), "warmup": rng.choice([0, 500])},
            "result": round(rng.uniform(0.5, 0.99), 4), "info": {}, "meta": {"comment": ""},
            "omniboard": {"tags": rng.sample(["baseline", "sweep", "ablation", "final"], k=rng.randint(0, 2))},
        })
        summaries = {}
        for name in ("val.acc", "train.loss"):
            values = [rng.random() for _ in range(50)]
            metrics.append({"run_id": i, "name": name, "steps": list(range(50)), "values": values,
                            "timestamps": [start + timedelta(seconds=10 * s) for s in range(50)]})
            summary = rowlib.summarize(range(50), values)
            summary["tail"] = summary["tail"][-20:]
            summaries[rowlib.escape_key(name)] = summary
        runs[-1]["omnidash"] = omnidash_field(runs[-1], summaries)
        if len(runs) >= 2000:
            db["runs"].insert_many(runs)
            db["metrics"].insert_many(metrics)
            runs, metrics = [], []
    if runs:
        db["runs"].insert_many(runs)
        db["metrics"].insert_many(metrics)


# -- the two apps ---------------------------------------------------------------------------------------
def naive_app(rows: list[dict[str, Any]], columns: list[str]):
    """The approach we avoid: every row in a client-side grid, sorted and filtered in the browser."""
    import dash_ag_grid as dag
    from dash import Dash, html

    app = Dash(__name__, assets_folder=str(ROOT / "assets"), assets_ignore=r".*\.py$")
    app.layout = html.Div([
        html.Div(f"{len(rows):,} runs", id="naive-count"),
        dag.AgGrid(id="naive", rowData=rows,
                   columnDefs=[{"field": c, "colId": c, "sortable": True, "filter": True} for c in columns],
                   getRowId="omniRowId(params)",
                   dashGridOptions={"suppressFieldDotNotation": True, "suppressColumnVirtualisation": True,
                                    "theme": {"function": "omniGridTheme(themeQuartz)"}},
                   style={"height": "600px"}),
    ])
    return app


# -- measuring in Chromium --------------------------------------------------------------------------------
# the first rows: a body row's id cell shows a run id (AG Grid's infinite model first draws placeholder rows, whose
# id cell shows "…", ~0.25 s before the data; the naive grid's cells hold the id as text)
FIRST_ROW = ("() => [...document.querySelectorAll('.ag-body-viewport .ag-row [col-id=\"id\"]')]"
             ".some(c => /\\d/.test(c.innerText))")
# the runs table sorted by config.lr: its first row shows the smallest value (the argument), the URL says so
LR_SORTED = ("v => { const c = document.querySelector('#tbl-grid .ag-body-viewport .ag-row[row-index=\"0\"]"
             " [col-id=\"config.lr\"]'); return c && parseFloat(c.innerText) === v"
             " && location.search.includes('sort=config.lr'); }")


class Meter:
    """Bytes received per page load through the DevTools protocol: on the wire (encodedDataLength: headers
    and compressed bodies, 0 for what the HTTP cache served) and decoded (the bodies as the page reads them)."""

    def __init__(self, page, throttle: bool = False) -> None:
        self.wire = self.decoded = self.data = self.responses = 0
        self._urls: dict[str, str] = {}
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        if throttle:
            cdp.send("Network.emulateNetworkConditions", THROTTLE)
        self._open: dict[str, str] = {}  # requests sent and not finished: what a stalled page waits for
        cdp.on("Network.requestWillBeSent", lambda e: self._open.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.responseReceived", lambda e: self._urls.__setitem__(e["requestId"], e["response"]["url"]))
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.loadingFailed", lambda e: self._open.pop(e["requestId"], None))

    def waiting_for(self) -> list[str]:
        """The paths of the requests still open."""
        return sorted({url.split("//", 1)[-1].split("/", 1)[-1][:80] for url in self._open.values()})

    def _data(self, e: dict[str, Any]) -> None:
        self.decoded += int(e.get("dataLength") or 0)

    def _finished(self, e: dict[str, Any]) -> None:
        self._open.pop(e["requestId"], None)
        size = int(e.get("encodedDataLength") or 0)
        self.wire += size
        self.responses += 1
        url = self._urls.get(e["requestId"], "")
        if "_dash-layout" in url or "_dash-update-component" in url or url.rstrip("/").count("/") == 2:
            self.data += size

    def reset(self) -> None:
        self.wire = self.decoded = self.data = self.responses = 0
        self._open.clear()


def timed(page, action, condition: str, arg: Any = None) -> float:
    """Milliseconds from just before `action` until `condition` holds in the page."""
    t0 = page.evaluate("() => performance.now()")
    action()
    page.wait_for_function(condition, arg=arg, timeout=120_000, polling="raf")
    return page.evaluate("() => performance.now()") - t0


def visit(page, meter: Meter, url: str, condition: str) -> tuple[float, dict[str, int]]:
    """Milliseconds from navigation to `condition`, and the bytes of the visit once the page settles."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    meter.reset()
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    try:
        page.wait_for_function(condition, timeout=30_000, polling="raf")
    except PlaywrightTimeout:  # say what the page waits for (two throttled runs once took 42 s and > 120 s)
        print(f"   ... {url}: nothing after 30 s; open requests: {meter.waiting_for()}; the page shows "
              f"{page.inner_text('body')[:160]!r}", flush=True)
        page.wait_for_function(condition, timeout=90_000, polling="raf")
    ms = (time.perf_counter() - t0) * 1000
    page.wait_for_timeout(1500)  # let the page settle (plot panel, tag list) before counting or interacting
    return ms, {"wire": meter.wire, "decoded": meter.decoded, "data": meter.data, "responses": meter.responses}


def measure(browser, url: str, interact: Callable[[Any], dict[str, float]], throttle: bool) -> dict[str, float]:
    """First rows and bytes of a first visit (empty HTTP cache), what `interact(page)` measures, and first
    rows and bytes again on a repeat visit (scripts from the HTTP cache, as for a returning user)."""
    context, page = fresh_context(browser)
    meter = Meter(page, throttle)
    first_ms, first = visit(page, meter, url + "/", FIRST_ROW)
    out = interact(page)
    page.goto("about:blank")
    repeat_ms, repeat = visit(page, meter, url + "/", FIRST_ROW)
    context.close()
    return {"first_rows_ms": first_ms, "repeat_visit_ms": repeat_ms, **out,
            "wire_first": first["wire"], "decoded_first": first["decoded"], "data_first": first["data"],
            "responses_first": first["responses"], "wire_repeat": repeat["wire"],
            "decoded_repeat": repeat["decoded"], "responses_repeat": repeat["responses"]}


CHART_DRAWN = ("() => document.querySelectorAll('#cmp-sec-metrics .js-plotly-plot .scatterlayer .trace').length"
               " >= 2")


def measure_compare(browser, url: str, run_ids: list[Any], throttle: bool) -> dict[str, float]:
    """The compare page of `run_ids`: navigation to its first metric chart drawn, first and repeat visit."""
    context, page = fresh_context(browser)
    meter = Meter(page, throttle)
    target = f"{url}/compare?runs={','.join(str(r) for r in run_ids)}"
    first_ms, first = visit(page, meter, target, CHART_DRAWN)
    page.goto("about:blank")
    repeat_ms, repeat = visit(page, meter, target, CHART_DRAWN)
    context.close()
    return {"compare_first_ms": first_ms, "compare_repeat_ms": repeat_ms, "compare_wire_first": first["wire"],
            "compare_wire_repeat": repeat["wire"]}


def measure_ours(browser, url: str, expected_filtered: int, min_lr: float, throttle: bool) -> dict[str, float]:
    def interact(page) -> dict[str, float]:
        header = page.locator('#tbl-grid [role="columnheader"][col-id="config.lr"] .ag-header-cell-label')
        sort_ms = timed(page, header.click,
                        LR_SORTED, min_lr)
        metric = page.locator(f'#tbl-grid [role="columnheader"][col-id="{METRIC_SORT}"] .ag-header-cell-label')
        metric.scroll_into_view_if_needed()
        metric_ms = timed(page, metric.click,
                          "k => new URLSearchParams(location.search).get('sort') === k && document.querySelector("
                          "'#tbl-grid .ag-body-viewport .ag-row[row-index=\"0\"] [col-id=\"' + k + '\"]')"
                          " !== null && !document.querySelector('#tbl-grid .ag-loading')", METRIC_SORT)
        page.fill("#tbl-query", FILTER_QUERY)
        filter_ms = timed(page, lambda: page.press("#tbl-query", "Enter"),
                          "n => document.getElementById('tbl-count').innerText.startsWith(n.toLocaleString('en-US'))"
                          " && [...document.querySelectorAll('#tbl-grid .ag-body-viewport"
                          " [col-id=\"config.optimizer\"]')].every(e => e.innerText === 'sgd')", expected_filtered)
        return {"sort_ms": sort_ms, "metric_sort_ms": metric_ms, "filter_ms": filter_ms}

    return measure(browser, url, interact, throttle)


def measure_naive(browser, url: str, expected_filtered: int, min_lr: float, throttle: bool) -> dict[str, float]:
    def interact(page) -> dict[str, float]:
        header = page.locator('[role="columnheader"][col-id="config.lr"] .ag-header-cell-label')
        sort_ms = timed(page, header.click,
                        "v => { const c = document.querySelector('.ag-body-viewport .ag-row[row-index=\"0\"]"
                        " [col-id=\"config.lr\"]'); return c && parseFloat(c.innerText) === v; }", min_lr)
        model = {"config.optimizer": {"filterType": "text", "type": "equals", "filter": "sgd"},
                 "config.lr": {"filterType": "number", "type": "greaterThan", "filter": 0.001}}
        filter_ms = timed(
            page, lambda: page.evaluate("m => dash_ag_grid.getApi('naive').setFilterModel(m)", model),
            "n => dash_ag_grid.getApi('naive').getDisplayedRowCount() === n && [...document.querySelectorAll("
            "'.ag-body-viewport [col-id=\"config.optimizer\"]')].every(e => e.innerText === 'sgd')",
            expected_filtered)
        return {"sort_ms": sort_ms, "metric_sort_ms": float("nan"), "filter_ms": filter_ms}

    return measure(browser, url, interact, throttle)


def median_of(results: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in results) for k in results[0]}



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", choices=["mongodb", "files"], default="mongodb",
                        help="the MongoDB test server (default; tests/testdb.py) or a Sacred FileStorage folder")
    parser.add_argument("--throttle", action="store_true", help="Chromium at 20 Mbit/s and 40 ms latency")
    parser.add_argument("--no-naive", action="store_true", help="skip the client-side baseline (large --runs)")
    parser.add_argument("--compare-runs", type=int, default=50, help="runs on the compare page measured")
    args = parser.parse_args()


    import pymongo
    from playwright.sync_api import sync_playwright

    from omnidash.cli import keep_out_of_collection
    from omnidash.components.columns import as_cols, default_columns
    from omnidash.context import Settings
    from omnidash.server import create_app
    from omnidash.store.files import FileStore
    from omnidash.store.mongo import MongoStore
    from omnidash.transfer import install_transfer

    with (mongodb() if args.store == "mongodb" else folder()) as base:
        t = time.perf_counter()
        if args.store == "mongodb":
            client = pymongo.MongoClient(base)
            insert_runs(client["bench_table"], args.runs)
            client.close()
        else:
            write_folder(base, args.runs)
        print(f"wrote {args.runs:,} runs (+{2 * args.runs:,} metric series) to {args.store} "
              f"in {time.perf_counter() - t:.1f} s")
        import gc

        gc.collect()
        rss_before = rss_mb()
        store = MongoStore(base + "bench_table") if args.store == "mongodb" else FileStore(base)
        columns = default_columns(as_cols(store.columns()))
        t = time.perf_counter()
        store.list_runs("", ["-id"], 0, 100, columns)
        print(f"first listing through the store: {time.perf_counter() - t:.2f} s")
        snapshot = getattr(store, "snapshot", None)
        if snapshot is not None:  # a slow count moves listings to the per-process copy
            deadline = time.time() + 900
            while not snapshot.ready and time.time() < deadline:
                time.sleep(0.2)
            print(f"listing snapshot ready {time.perf_counter() - t:.1f} s after the first listing "
                  f"(one full scan: {snapshot.scan_seconds:.1f} s; refreshed in the background from then on)")
            t = time.perf_counter()
            store.list_runs("", ["-id"], 0, 100, columns)
            print(f"a listing from the snapshot: {time.perf_counter() - t:.2f} s")
        rss_listed = rss_mb()
        print(f"server process RSS: {rss_before:,.0f} MB before opening the store, {rss_listed:,.0f} MB after the "
              f"first listing ({rss_listed - rss_before:+,.0f} MB)")
        expected = store.count(FILTER_QUERY)
        min_lr = min(store.distinct("config.lr"))
        compare_ids = list(range(1, min(args.compare_runs, args.runs) + 1))

        all_rows: list[dict[str, Any]] = []
        if not args.no_naive:
            t = time.perf_counter()
            all_rows = list(store.iter_rows("", ["-id"], columns, batch=5000))
            print(f"naive: read all {len(all_rows):,} rows for the client-side grid in "
                  f"{time.perf_counter() - t:.1f} s")
        ours = Served(create_app(store, Settings(refresh_interval=0)).server)
        keep_out_of_collection()  # as `omnidash serve` does once its sources are open
        naive = None
        if all_rows:
            naive_dash = naive_app(all_rows, columns)
            install_transfer(naive_dash.server)  # the same compression: the comparison is of the approach
            naive = Served(naive_dash.server)
        ours_runs, naive_runs, compare_runs = [], [], []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                # warm-up: caches, JIT, the OS file cache
                measure_ours(browser, ours.url, expected, min_lr, args.throttle)
                if naive:
                    measure_naive(browser, naive.url, expected, min_lr, args.throttle)
                for _ in range(args.repeat):
                    ours_runs.append(measure_ours(browser, ours.url, expected, min_lr, args.throttle))
                if naive:
                    naive_runs = [measure_naive(browser, naive.url, expected, min_lr, args.throttle)
                                  for _ in range(args.repeat)]
                measure_compare(browser, ours.url, compare_ids, args.throttle)
                compare_runs = [measure_compare(browser, ours.url, compare_ids, args.throttle)
                                for _ in range(args.repeat)]
                browser.close()
        finally:
            ours.stop()
            if naive:
                naive.stop()
            store.close()
    report(args, columns, expected, ours_runs, naive_runs, compare_runs, rss_before, rss_listed)


def report(args: Any, columns: list[str], expected: int, ours_runs: list[dict[str, float]],
           naive_runs: list[dict[str, float]], compare_runs: list[dict[str, float]], rss_before: float,
           rss_listed: float) -> None:
    a = median_of(ours_runs)
    b = median_of(naive_runs) if naive_runs else {k: float("nan") for k in a}
    c = median_of(compare_runs)
    network = "Chromium throttled to 20 Mbit/s, 40 ms latency" if args.throttle else "loopback, no throttling"
    print(f"\n{args.store}: {args.runs:,} runs, {len(columns)} columns; filter `{FILTER_QUERY}` -> {expected:,} "
          f"runs; {network}; medians of {args.repeat}\n")
    print(f"{'':40}{'omnidash (infinite)':>20}{'naive (client-side)':>21}{'naive / ours':>14}")
    rows = [("navigation -> first rows, first visit (ms)", "first_rows_ms", "{:,.0f}"),
            ("  the same, repeat visit (ms)", "repeat_visit_ms", "{:,.0f}"),
            ("sort by config.lr (ms)", "sort_ms", "{:,.0f}"),
            (f"sort by {METRIC_SORT} (ms)", "metric_sort_ms", "{:,.0f}"),
            ("filter (ms)", "filter_ms", "{:,.0f}"),
            ("first visit: bytes on the wire (KB)", "wire_first", "{:,.1f}"),
            ("first visit: decoded bytes (KB)", "decoded_first", "{:,.1f}"),
            ("first visit: data on the wire (KB)", "data_first", "{:,.1f}"),
            ("first visit: responses", "responses_first", "{:,.0f}"),
            ("repeat visit: bytes on the wire (KB)", "wire_repeat", "{:,.1f}"),
            ("repeat visit: decoded bytes (KB)", "decoded_repeat", "{:,.1f}"),
            ("repeat visit: responses", "responses_repeat", "{:,.0f}")]
    for label, key, fmt in rows:
        x, y = a[key], b[key]
        if "wire" in key or "decoded" in key or "data" in key:
            x, y = x / 1024, y / 1024
        ratio = (y / x) if x else float("nan")
        print(f"{label:40}{fmt.format(x):>20}{fmt.format(y):>21}{ratio:>13.1f}x")
    print(f"\ncompare page, {min(args.compare_runs, args.runs)} runs, navigation -> metric chart drawn: "
          f"{c['compare_first_ms']:,.0f} ms first visit ({c['compare_wire_first'] / 1024:,.0f} KB on the wire), "
          f"{c['compare_repeat_ms']:,.0f} ms repeat visit ({c['compare_wire_repeat'] / 1024:,.0f} KB)")
    print(f"server process RSS after the first listing: {rss_listed:,.0f} MB "
          f"({rss_listed - rss_before:+,.0f} MB for the store)")
    print("\ntargets: first rows < 1500 ms first visit, < 1000 ms repeat; filter < 500 ms; compare drawn < 2500 ms;"
          " first visit < 1.2 MB on the wire, repeat < 100 KB")


if __name__ == "__main__":
    main()
