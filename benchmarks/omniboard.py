"""omnidash against Omniboard 2.16.1 on the same database, measured in one Chromium session.

One test server (FerretDB 2 + DocumentDB from the testdb kit, or --uri), one database holding --runs
Sacred runs (4 metrics x 200 steps each) plus 10 runs with a 100,000-point metric, served at once by
omnidash (`omnidash serve`, its own Python process, as a user runs it) and by Omniboard (its own Node process,
tests/omniboard.py). For each, medians of --repeat fresh browser contexts (after one warm-up):

- navigation -> first table rows, in a fresh context (nothing cached), then again in the same tab (a
  returning user's visit: the first visit's scripts in the HTTP cache);
- on that page, a click on a config column's header (config.batch_size) -> the table sorted by it;
- navigation to the 10 long runs' metric plot -> drawn, in a fresh context (omnidash: /compare?runs=...;
  Omniboard: its compare modal, opened by the URL its Compare button writes);
- bytes transferred (response bodies as received, summed) and responses, for the table and for the plot.

    python benchmarks/omniboard.py [--runs 20000] [--repeat 3] [--uri mongodb://host:port/]

Needs `bash tests/omniboard.sh` (Omniboard from npm, cached) and /usr/bin/chromium. The servers and the
browser share the machine's cores: compare the two columns of one run, not numbers across machines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# run as `python benchmarks/omniboard.py`: the repository on the path, benchmarks/ itself off it
sys.path.insert(0, str(ROOT))  # benchmarks.* and tests.* from the repository root

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, fresh_context  # noqa: E402
from benchmarks.table import FIRST_ROW as OURS_FIRST_ROW  # noqa: E402

LONG_RUNS = 10
LONG_POINTS = 100_000
SORT_COLUMN = "config.batch_size"  # values 16..256 (benchmarks/synthetic_runs.py)
TIMEOUT_MS = 180_000
SETTLE_MS = 1000  # after a view is complete, responses still arriving are counted with it


# -- the two apps ---------------------------------------------------------------------------------------
class Omnidash:
    """`omnidash serve <database URI>` in a process of its own, as a user runs it (and as Omniboard runs, in
    its Node process): in this process its threads would share the interpreter with the benchmark's own
    Playwright and DevTools traffic."""

    def __init__(self, db_uri: str, timeout: float = 60.0, import_path: str | None = None) -> None:
        """`import_path`: a folder put first on the server's PYTHONPATH, holding another build's `omnidash`
        (benchmarks/ab.py); by default the installed one."""
        import os
        import subprocess
        import urllib.request

        from tests.omniboard import _free_port

        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's output, read if it fails to start
        env = dict(os.environ)
        if import_path:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (import_path, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen([sys.executable, "-m", "omnidash.cli", "serve", db_uri, "--port", str(port)],
                                      stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                self._log.seek(0)
                raise RuntimeError(f"omnidash serve did not start: {self._log.read().decode()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except Exception:  # noqa: BLE001 - it did not stop: make it
            self._proc.kill()


# -- measuring --------------------------------------------------------------------------------------------
class Meter:
    """Bytes received (response bodies plus their headers, as Chromium counts them; neither server
    compresses) and responses of one page, through the DevTools protocol; `data` counts the answers to
    data requests (Omniboard's /api/, Dash's layout, dependencies and callbacks), not scripts and styles."""

    DATA = ("/api/", "/_dash-layout", "/_dash-dependencies", "/_dash-update-component")

    def __init__(self, page) -> None:
        self.bytes = self.data = self.responses = 0
        self._data_ids: set[str] = set()
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)

    def _response(self, e: dict[str, Any]) -> None:
        if any(part in e["response"]["url"] for part in self.DATA):
            self._data_ids.add(e["requestId"])

    def _finished(self, e: dict[str, Any]) -> None:
        size = int(e.get("encodedDataLength") or 0)
        self.bytes += size
        self.responses += 1
        if e["requestId"] in self._data_ids:
            self.data += size

    def take(self) -> tuple[int, int, int]:
        """(bytes, data bytes, responses) since the last take."""
        out = (self.bytes, self.data, self.responses)
        self.bytes = self.data = self.responses = 0
        return out


def wait(page, condition: str, arg: Any = None) -> None:
    page.wait_for_function(condition, arg=arg, timeout=TIMEOUT_MS, polling="raf")


def now_ms(page) -> float:
    return page.evaluate("() => performance.now()")


OURS_SORTED = (
    "v => { const c = document.querySelector('#tbl-grid .ag-body-viewport .ag-row[row-index=\"0\"]"
    " [col-id=\"config.batch_size\"]'); return !!c && Number(c.innerText) === v"
    " && location.search.includes('sort=config.batch_size'); }"
)
OURS_PLOT = (
    "n => { const g = document.querySelector('.pp-chart .js-plotly-plot');"
    " return !!(g && g._fullData && g._fullData.length >= n && g.querySelectorAll('.scatterlayer .trace').length > 0); }"
)
OB_FIRST_ROW = ("() => [...document.querySelectorAll('.public_fixedDataTableRow_main')]"
                ".some(r => /\\d/.test(r.innerText) && r.querySelector('.public_fixedDataTableCell_main'))")
# Omniboard reloads the whole table on a sort (and scrolls back to the left, where the config column is
# not drawn): sorted = the sorted Runs request has finished and the topmost body row's id is one of the
# runs holding the column's extreme value (the request's order_by says which end)
OB_SORTED = """([key, loIds, hiIds]) => {
  const req = performance.getEntriesByType('resource').filter(e => e.name.includes('sort_by=' + key)).pop();
  if (!req || !req.responseEnd) return false;
  const want = req.name.includes('order_by=-1') ? hiIds : loIds;
  const a = document.querySelector('[test-attr="header-sort-_id"]');
  if (!a) return false;
  const head = a.closest('.public_fixedDataTableCell_main').getBoundingClientRect();
  const rows = [...document.querySelectorAll('.public_fixedDataTableRow_main')]
    .filter(r => r.getBoundingClientRect().top >= head.bottom - 1 && r.getBoundingClientRect().height > 0)
    .sort((x, y) => x.getBoundingClientRect().top - y.getBoundingClientRect().top);
  if (!rows.length) return false;
  const cell = [...rows[0].querySelectorAll('.public_fixedDataTableCell_main')]
    .find(c => Math.abs(c.getBoundingClientRect().left - head.left) < 2);
  return !!cell && want.includes(Number(cell.innerText.trim()));
}"""
OB_PLOT = (  # n runs' traces of the long metric, every point (Omniboard draws each run raw and smoothed)
    "([n, points]) => { const g = document.querySelector('.modal .js-plotly-plot');"
    " return !!(g && g._fullData && g._fullData.filter(d => d.x && d.x.length === points).length >= n"
    " && g.querySelectorAll('.scatterlayer .trace').length > 0); }"
)


def fresh_page(browser) -> tuple[Any, Any, Meter]:
    """A new browser context (nothing cached, no state carried over), its page and the page's meter."""
    context, page = fresh_context(browser)
    return context, page, Meter(page)


def settle(page, meter: Meter, out: dict[str, float], view: str) -> None:
    """Wait SETTLE_MS, then record what `view` received: out[view + "_bytes" / "_data" / "_responses"]."""
    page.wait_for_timeout(SETTLE_MS)
    out[f"{view}_bytes"], out[f"{view}_data"], out[f"{view}_responses"] = meter.take()


def visit(browser, url: str, ready: str, arg: Any, out: dict[str, float], ms_key: str,
          view: str) -> tuple[Any, Any, Meter]:
    """Open `url` in a fresh context: out[ms_key] when `ready` holds, then what `view` received."""
    context, page, meter = fresh_page(browser)
    page.goto(url, wait_until="commit")
    wait(page, ready, arg)
    out[ms_key] = now_ms(page)
    settle(page, meter, out, view)
    return context, page, meter


def revisit(page, url: str, ready: str, arg: Any, out: dict[str, float]) -> None:
    """out["repeat_rows_ms"]: `url` opened again in `page` (after about:blank), whose HTTP cache holds the first
    visit's scripts: a returning user's visit. (Its bytes are not counted: the sort's meter starts afresh.)"""
    page.goto("about:blank")
    page.goto(url, wait_until="commit")
    wait(page, ready, arg)
    out["repeat_rows_ms"] = now_ms(page)
    page.wait_for_timeout(SETTLE_MS)  # the sort that follows starts on a settled page, as after `visit`


def timed_sort(page, meter: Meter, out: dict[str, float], click: Callable[[], Any], ready: str, arg: Any) -> None:
    """out["sort_ms"]: from `click` until `ready` holds, then what the sort received."""
    page.wait_for_timeout(300)
    meter.take()
    t0 = now_ms(page)
    click()
    wait(page, ready, arg)
    out["sort_ms"] = now_ms(page) - t0
    settle(page, meter, out, "sort")


def measure_ours(browser, url: str, long_ids: list[int], sort_lo: float) -> dict[str, float]:
    """One fresh visit: table, sort, then the compare page of the long runs (each with its own meter)."""
    out: dict[str, float] = {}
    context, page, meter = visit(browser, url + "/", OURS_FIRST_ROW, None, out, "first_rows_ms", "table")
    revisit(page, url + "/", OURS_FIRST_ROW, None, out)
    header = page.locator(f'#tbl-grid [role="columnheader"][col-id="{SORT_COLUMN}"] .ag-header-cell-label')
    header.scroll_into_view_if_needed()
    timed_sort(page, meter, out, header.click, OURS_SORTED, sort_lo)
    context.close()

    # the plot in a fresh context too (as a shared link opens it): nothing cached, no state carried over
    context, _, _ = visit(browser, f"{url}/compare?runs={','.join(map(str, long_ids))}", OURS_PLOT, len(long_ids),
                          out, "plot_ms", "plot")
    context.close()
    return out


def measure_omniboard(browser, url: str, long_ids: list[int], lo_ids: list[int], hi_ids: list[int]) -> dict[str, float]:
    """The same visit in Omniboard: its table, a click on the config column's sort link, then the compare
    modal of the long runs (they are the table's first rows: rows 0..9 sorted by id descending)."""
    out: dict[str, float] = {}
    context, page, meter = visit(browser, url, OB_FIRST_ROW, None, out, "first_rows_ms", "table")
    revisit(page, url, OB_FIRST_ROW, None, out)
    link = f'[test-attr="header-sort-c_{SORT_COLUMN[7:]}"]'
    table = page.locator(".public_fixedDataTable_main").first
    box = table.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(60):  # columns are virtualised: scroll right until the config column is drawn
        if page.locator(link).count():
            break
        page.mouse.wheel(400, 0)
        page.wait_for_timeout(100)
    page.locator(link).scroll_into_view_if_needed()
    timed_sort(page, meter, out, page.locator(link).click, OB_SORTED, [SORT_COLUMN, lo_ids, hi_ids])
    context.close()

    # a fresh context: Omniboard keeps the table's sort in localStorage, and the URL's selectedRows are row
    # indices of the table as sorted (ids descending, on a first visit: the long runs)
    rows = ",".join(str(i) for i in range(len(long_ids)))
    context, _, _ = visit(browser, f"{url}?selectedRows=[{rows}]&showCompareModal=true", OB_PLOT,
                          [len(long_ids), LONG_POINTS], out, "plot_ms", "plot")
    context.close()
    return out


# -- main -------------------------------------------------------------------------------------------------
def load_data(db, n: int) -> list[int]:
    """n runs from benchmarks/synthetic_runs.py plus LONG_RUNS long-metric runs after them; their ids."""
    from benchmarks.synthetic_runs import load, load_long_metrics

    load(db, n, workers=4)
    return load_long_metrics(db, n + 1, LONG_RUNS, LONG_POINTS)


ROWS = [
    ("navigation -> first rows (ms)", "first_rows_ms"),
    ("  the same, repeat visit (ms)", "repeat_rows_ms"),
    ("  table: bytes received (KB)", "table_bytes"),
    ("  table: of which data (KB)", "table_data"),
    ("  table: responses", "table_responses"),
    (f"sort by {SORT_COLUMN} (ms)", "sort_ms"),
    ("  sort: bytes received (KB)", "sort_bytes"),
    ("  sort: of which data (KB)", "sort_data"),
    ("  sort: responses", "sort_responses"),
    (f"{LONG_RUNS}-run metric plot drawn (ms)", "plot_ms"),
    ("  plot: bytes received (KB)", "plot_bytes"),
    ("  plot: of which data (KB)", "plot_data"),
    ("  plot: responses", "plot_responses"),
]


TIMED = [("first rows", "first_rows_ms"), ("first rows, repeat visit", "repeat_rows_ms"), ("sort", "sort_ms"),
         ("plot", "plot_ms")]


def report(ours: list[dict[str, float]], theirs: list[dict[str, float]]) -> None:
    a = {k: statistics.median(r[k] for r in ours) for k in ours[0]}
    b = {k: statistics.median(r[k] for r in theirs) for k in theirs[0]}
    print(f"\n{'':38}{'omnidash':>14}{'Omniboard':>14}{'Omniboard / omnidash':>23}")
    for label, key in ROWS:
        x, y = a[key], b[key]
        if key.endswith(("_bytes", "_data")):
            x, y = x / 1024, y / 1024
        ratio = f"{y / x:.1f}x" if x else "-"
        print(f"{label:38}{x:>14,.0f}{y:>14,.0f}{ratio:>23}")
    # the visits alternate between the apps, so each pair saw the same machine load: their ratios drift less
    print("\nomnidash / Omniboard, visit by visit (median, range):")
    for label, key in TIMED:
        pairs = sorted(r[key] / t[key] for r, t in zip(ours, theirs, strict=True))
        print(f"  {label:34}{statistics.median(pairs):>6.2f}x  ({pairs[0]:.2f}-{pairs[-1]:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20_000, help="runs besides the long-metric ones (2000: a quick check)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--uri", help="a MongoDB server URI (default: a kit server started here)")
    ap.add_argument("--db", help="use this database as it is (filled by an earlier run with --keep); kept afterwards")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from benchmarks.server import bench_database
    from omnidash.store.mongo import MongoStore
    from tests.omniboard import Omniboard, omniboard_missing
    from tests.sacred_helpers import database_uri

    missing = omniboard_missing()
    if missing:
        sys.exit(f"benchmarks/omniboard.py: {missing}")
    db_name = args.db or f"bench_omniboard_{uuid.uuid4().hex[:6]}"
    # a database named by --db is the user's: kept (it was dropped at the end, runs and all)
    with bench_database(args.uri, "omnidash-bench-omniboard-", db_name, keep=args.keep or bool(args.db)) as (uri, db):
        ours = ob = store = None
        try:
            if args.db and db.runs.estimated_document_count():
                n = db.runs.count_documents({}) - LONG_RUNS
                long_ids = list(range(n + 1, n + LONG_RUNS + 1))
                print(f"database {db_name}: {n:,} runs + {LONG_RUNS} long-metric runs, as found")
            else:
                t = time.perf_counter()
                long_ids = load_data(db, args.runs)
                n = args.runs
                print(f"wrote {n:,} runs + {LONG_RUNS} x {LONG_POINTS:,} points in {time.perf_counter() - t:.0f} s")
            db_uri = database_uri(uri, db_name)

            store = MongoStore(db_uri)
            t = time.perf_counter()
            store.list_runs("", ["-id"], 0, 50, None)
            print(f"omnidash's one-off summary build (metric summaries stored in the runs): {time.perf_counter() - t:.1f} s")
            sizes = sorted({v for v in store.distinct(SORT_COLUMN) if isinstance(v, int | float)})
            lo, hi = sizes[0], sizes[-1]
            lo_ids = [d["_id"] for d in db.runs.find({SORT_COLUMN: lo}, {"_id": 1})]
            hi_ids = [d["_id"] for d in db.runs.find({SORT_COLUMN: hi}, {"_id": 1})]

            ours = Omnidash(db_uri)
            ob = Omniboard.start(db_uri)
            print(f"omnidash at {ours.url}, Omniboard at {ob.url}")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                t = time.perf_counter()
                measure_ours(browser, ours.url, long_ids, lo)  # warm-up: server caches, the OS file cache
                measure_omniboard(browser, ob.url, long_ids, lo_ids, hi_ids)
                print(f"warm-up visits: {time.perf_counter() - t:.0f} s")
                ours_runs, ob_runs = [], []
                for i in range(args.repeat):  # interleaved, so both see the same machine load
                    ours_runs.append(measure_ours(browser, ours.url, long_ids, lo))
                    ob_runs.append(measure_omniboard(browser, ob.url, long_ids, lo_ids, hi_ids))
                    print(f"   visit {i + 1}/{args.repeat}: omnidash {ours_runs[-1]['first_rows_ms']:,.0f} "
                          f"(repeat {ours_runs[-1]['repeat_rows_ms']:,.0f}) / "
                          f"{ours_runs[-1]['sort_ms']:,.0f} / {ours_runs[-1]['plot_ms']:,.0f} ms, Omniboard "
                          f"{ob_runs[-1]['first_rows_ms']:,.0f} (repeat {ob_runs[-1]['repeat_rows_ms']:,.0f}) / "
                          f"{ob_runs[-1]['sort_ms']:,.0f} / "
                          f"{ob_runs[-1]['plot_ms']:,.0f} ms (first rows / sort / plot)")
                browser.close()
            print(f"\n{n:,} runs + {LONG_RUNS} runs x {LONG_POINTS:,} points, one database ({db_uri}); "
                  f"medians of {args.repeat} fresh visits")
            report(ours_runs, ob_runs)
        finally:
            if ob is not None:
                ob.stop()
            if ours is not None:
                ours.stop()
            if store is not None:
                store.close()


if __name__ == "__main__":
    main()
