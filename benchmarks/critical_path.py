"""Where the time of a page load goes, in measures that do not depend on the machine's load: the requests a
page makes and what waits on what (the critical chain of sequential round trips), the callbacks fired at load
and by a filter, the server's milliseconds per request, the JavaScript parsed, Chromium's script time.

    python benchmarks/critical_path.py [--runs 500] [--store files|mongodb] [--compare-runs 50] [--json out.json]

Scenarios: the runs table (first visit with an empty HTTP cache, repeat visit), a sort by a config key, a filter
typed in the query bar, the compare page of --compare-runs runs (first and repeat visit). For each: the requests
in start order with their start and end (ms after navigation), the request each one waited on (the last one to finish before
it started: its predecessor in the chain), and the chain of round trips up to the page's goal (first rows, a
drawn chart). Under load every time grows, but the chain's length and the callbacks do not.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmarks.* and tests.* from the repository root

from benchmarks.browser import CHROMIUM, CHROMIUM_ARGS, fresh_context  # noqa: E402
from benchmarks.serving import Served  # noqa: E402
from benchmarks.table import (  # noqa: E402
    CHART_DRAWN,
    FILTER_QUERY,
    FIRST_ROW,
    LR_SORTED,
    LRS,
    folder,
    insert_runs,
    mongodb,
    write_folder,
)


class ServerClock:
    """WSGI middleware: milliseconds the server spent on each request, and the outputs of each callback."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        outputs = ""
        if path.endswith("_dash-update-component"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                outputs = json.loads(body).get("output", "")
            except ValueError:
                outputs = "?"
        t0 = time.perf_counter()
        result = list(self.app(environ, start_response))  # the whole body, so the time includes rendering it
        with self._lock:
            self.log.append({"path": path, "outputs": outputs, "ms": (time.perf_counter() - t0) * 1000})
        return result

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            out, self.log = self.log, []
        return out


class Network:
    """Requests as Chromium's DevTools protocol sees them: start, end, bytes, whether the cache served them."""

    def __init__(self, page: Any) -> None:
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.cdp.send("Performance.enable")
        self.requests: dict[str, dict[str, Any]] = {}
        self.offset = 0.0
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.responseReceived", self._response)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.on("Network.requestServedFromCache", self._cached)

    def _sent(self, e: dict[str, Any]) -> None:
        r = e["request"]
        self.offset = e["wallTime"] - e["timestamp"]  # wall clock minus the monotonic clock of the timestamps
        self.requests[e["requestId"]] = {"url": r["url"], "method": r["method"], "start": e["timestamp"],
                                         "end": None, "wire": 0, "cached": False, "type": e.get("type", ""),
                                         "status": None, "body": r.get("postData", "")}

    def _response(self, e: dict[str, Any]) -> None:
        if e["requestId"] in self.requests:
            self.requests[e["requestId"]]["status"] = e["response"]["status"]
            if e["response"].get("fromDiskCache") or e["response"].get("fromMemoryCache"):
                self.requests[e["requestId"]]["cached"] = True

    def _cached(self, e: dict[str, Any]) -> None:
        if e["requestId"] in self.requests:
            self.requests[e["requestId"]]["cached"] = True

    def _finished(self, e: dict[str, Any]) -> None:
        if e["requestId"] in self.requests:
            self.requests[e["requestId"]].update(end=e["timestamp"], wire=int(e.get("encodedDataLength") or 0))

    def reset(self) -> None:
        self.requests = {}

    def script_seconds(self) -> float:
        metrics = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        return float(metrics.get("ScriptDuration", 0.0))


def short(url: str) -> str:
    """A request's name: the path's last part, and what a callback asks for."""
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
    name = path.rsplit("/", 1)[-1] or "/" + path
    return name if len(name) < 48 else name[:45] + "..."


def callback_name(body: str) -> str:
    try:
        return str(json.loads(body).get("output", ""))[:70]
    except ValueError:
        return "?"


def chain(requests: list[dict[str, Any]], goal_t: float) -> list[dict[str, Any]]:
    """The critical chain to the goal: from the last request finished before the goal, each request's
    predecessor (the last request that finished before it started), back to the page itself."""
    done = [r for r in requests if r["end"] is not None and r["end"] <= goal_t and not r["cached"]
            and r["url"].startswith("http")]
    if not done:
        return []
    out = [max(done, key=lambda r: r["end"])]
    while True:
        before = [r for r in done if r["end"] < out[-1]["start"]]
        if not before:
            return list(reversed(out))
        out.append(max(before, key=lambda r: r["end"]))


def goal_scenario(page: Any, net: Network, clock: ServerClock, go: Any, goal: str, arg: Any = None
                  ) -> dict[str, Any]:
    """`scenario` with the chain cut at the goal: requests that finished before the goal was first seen."""
    net.reset()
    clock.take()
    script0 = net.script_seconds()
    watched = ("(a) => { const ok = (" + goal + ")(a); if (ok && !window.__goalAt) {"
               " window.__goalAt = performance.timeOrigin + performance.now(); } return ok; }")
    go()
    page.wait_for_function(watched, arg=arg, timeout=180_000, polling="raf")
    goal_t = page.evaluate("() => window.__goalAt") / 1000 - net.offset  # on the CDP clock
    page.evaluate("() => { window.__goalAt = undefined; }")
    page.wait_for_timeout(1500)
    script = net.script_seconds() - script0
    after = sorted(net.requests.values(), key=lambda r: r["start"])
    reqs = [r for r in after if r["start"] <= goal_t]
    base = after[0]["start"] if after else 0.0
    path = chain(reqs, goal_t) if reqs else []
    return {"requests": reqs, "all": after, "base": base, "chain": path, "goal_ms": (goal_t - base) * 1000,
            "callbacks_to_goal": [r for r in reqs if "_dash-update-component" in r["url"]],
            "callbacks_all": [r for r in after if "_dash-update-component" in r["url"]],
            "server": clock.take(), "script_s": script}


def describe(title: str, s: dict[str, Any]) -> dict[str, Any]:
    """Print one scenario; return its summary figures."""
    base = s["base"]
    reqs = s["all"]
    print(f"\n== {title}")
    print(f"{'start':>7} {'end':>7}  {'wire KB':>8}  request")
    for r in reqs:
        end = f"{(r['end'] - base) * 1000:7.0f}" if r["end"] is not None else "      -"
        what = short(r["url"]) + (f"  <- {callback_name(r['body'])}" if r["method"] == "POST" else "")
        flag = " (cache)" if r["cached"] else ""
        print(f"{(r['start'] - base) * 1000:7.0f} {end}  {r['wire'] / 1024:8.1f}  {r['method']} {what}{flag}")
    names = [short(r["url"]) + (f"[{callback_name(r['body'])[:30]}]" if r["method"] == "POST" else "")
             for r in s["chain"]]
    server_ms = {}
    for entry in s["server"]:
        key = entry["path"].rsplit("/", 1)[-1] + (f"[{str(entry['outputs'])[:40]}]" if entry["outputs"] else "")
        server_ms.setdefault(key, []).append(entry["ms"])
    scripts = [r for r in s["requests"] if r["type"] == "Script" or r["url"].split("?")[0].endswith(".js")]
    summary = {
        "goal_ms": s["goal_ms"],
        "requests_to_goal": len(s["requests"]),
        "chain_round_trips": len(s["chain"]),
        "chain": names,
        "callbacks_to_goal": len(s["callbacks_to_goal"]),
        "callbacks_settled": len(s["callbacks_all"]),
        "callback_outputs": [callback_name(r["body"]) for r in s["callbacks_all"]],
        "script_requests": len(scripts),
        "wire_kb": sum(r["wire"] for r in s["all"]) / 1024,
        "server_ms_total": sum(e["ms"] for e in s["server"]),
        "chromium_script_s": s["script_s"],
    }
    print(f"goal reached at {s['goal_ms']:.0f} ms (this machine's load inflates it)")
    print(f"critical chain to the goal: {len(s['chain'])} sequential round trips: " + " -> ".join(names))
    print(f"callbacks before the goal: {summary['callbacks_to_goal']}; once settled: {summary['callbacks_settled']}")
    print("server ms per request: " + "; ".join(f"{k} {'/'.join(f'{v:.0f}' for v in vs)}"
                                                for k, vs in server_ms.items()))
    print(f"Chromium script time (Performance ScriptDuration): {s['script_s'] * 1000:.0f} ms; "
          f"{summary['wire_kb']:.0f} KB on the wire in {len(reqs)} responses")
    return summary


def one_pass(browser: Any, url: str, compare: str, expected: int, clock: ServerClock
             ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The five scenarios in one fresh browser context (empty HTTP cache); and the console's warnings."""
    context, page = fresh_context(browser)
    net = Network(page)
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type in ("warning", "error") else None)
    out = {"table, first visit -> first rows":
           goal_scenario(page, net, clock, lambda: page.goto(url + "/", wait_until="commit"), FIRST_ROW)}
    page.fill("#tbl-query", FILTER_QUERY)
    out["table, filter -> new rows"] = goal_scenario(
        page, net, clock, lambda: page.press("#tbl-query", "Enter"),
        "n => document.getElementById('tbl-count').innerText.startsWith(n.toLocaleString('en-US'))"
        " && [...document.querySelectorAll('#tbl-grid .ag-body-viewport"
        " [col-id=\"config.optimizer\"]')].every(e => e.innerText === 'sgd')", expected)
    page.goto("about:blank")
    out["table, repeat visit -> first rows"] = goal_scenario(
        page, net, clock, lambda: page.goto(url + "/", wait_until="commit"), FIRST_ROW)
    header = page.locator('#tbl-grid [role="columnheader"][col-id="config.lr"] .ag-header-cell-label')
    out["table, sort by config.lr -> sorted rows"] = goal_scenario(
        page, net, clock, header.click,
        LR_SORTED, min(LRS))
    for visit in ("first", "repeat"):
        page.goto("about:blank")
        out[f"compare, {visit} visit -> chart drawn"] = goal_scenario(
            page, net, clock, lambda: page.goto(compare, wait_until="commit"), CHART_DRAWN)
    context.close()
    return out, warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--store", choices=["mongodb", "files"], default="files")
    parser.add_argument("--compare-runs", type=int, default=50)
    parser.add_argument("--json", help="write the summaries to this file")
    args = parser.parse_args()


    from playwright.sync_api import sync_playwright

    from omnidash.context import Settings
    from omnidash.server import create_app
    from omnidash.store.files import FileStore
    from omnidash.store.mongo import MongoStore

    summaries: dict[str, Any] = {}
    with (mongodb() if args.store == "mongodb" else folder()) as base:
        if args.store == "mongodb":
            import pymongo

            client = pymongo.MongoClient(base)
            insert_runs(client["bench_path"], args.runs)
            client.close()
            store = MongoStore(base + "bench_path")
        else:
            write_folder(base, args.runs)
            store = FileStore(base)
        expected = store.count(FILTER_QUERY)
        clock = ServerClock(create_app(store, Settings(refresh_interval=0)).server)
        server = Served(clock)
        compare = f"{server.url}/compare?runs={','.join(str(i) for i in range(1, args.compare_runs + 1))}"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for _warm in range(2):  # the last pass is reported (the first warms the server's caches)
                    scenarios, warnings = one_pass(browser, server.url, compare, expected, clock)
                for name, s in scenarios.items():
                    summaries[name.replace("compare", f"compare {args.compare_runs} runs")] = describe(name, s)
                print("\nconsole warnings and errors: " + (" | ".join(warnings) if warnings else "none"))
                summaries["console"] = warnings
                browser.close()
        finally:
            server.stop()
            store.close()
    print("\nsummary: round trips in the critical chain / callbacks to the goal / callbacks once settled / "
          "server ms / script ms")
    for name, s in summaries.items():
        if name != "console":
            print(f"  {name:55} {s['chain_round_trips']:3} {s['callbacks_to_goal']:3} {s['callbacks_settled']:3} "
                  f"{s['server_ms_total']:7.0f} {s['chromium_script_s'] * 1000:7.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(summaries, indent=1))


if __name__ == "__main__":
    main()
