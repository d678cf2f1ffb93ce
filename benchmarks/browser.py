"""The benchmarks' Chromium: how it is launched, and fresh browser contexts that start on an idle browser.

A new context in Chromium 156 (headless) opens a window, and the window sets up its browser UI in a renderer
of its own (the "top chrome" WebUI of the omnibox popup): ~1.2 CPU-seconds within the ~0.8 s after the
context is created, on a page that does nothing. A page opened at once shares this machine's two cores
with that work, whichever app it is. A user's browser has its window already; so a fresh visit here opens
its context, then waits until Chromium has gone idle (`SystemInfo.getProcessInfo`: the CPU time of all its
processes) before the page navigates. The HTTP cache is as empty as before.
"""

from __future__ import annotations

import time
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}
IDLE_CPU_S = 0.03  # Chromium counts as idle once all its processes used less than this ...
IDLE_WINDOW_S = 0.3  # ... CPU time in this long
IDLE_TIMEOUT_S = 10.0


def cpu_seconds(session) -> float:
    """CPU time used so far by all of Chromium's processes (browser, GPU, network, renderers)."""
    return sum(p["cpuTime"] for p in session.send("SystemInfo.getProcessInfo")["processInfo"])


def wait_idle(browser, timeout: float = IDLE_TIMEOUT_S) -> float:
    """Wait until Chromium uses less than IDLE_CPU_S in IDLE_WINDOW_S (at most `timeout` s); the seconds waited."""
    session = browser.new_browser_cdp_session()
    try:
        t0 = time.monotonic()
        last = cpu_seconds(session)
        while time.monotonic() - t0 < timeout:
            time.sleep(IDLE_WINDOW_S)
            now = cpu_seconds(session)
            if now - last < IDLE_CPU_S:
                break
            last = now
        return time.monotonic() - t0
    finally:
        session.detach()


def fresh_context(browser, **options: Any) -> tuple[Any, Any]:
    """A new context (nothing cached, no state carried over) and its page, once Chromium is idle again."""
    context = browser.new_context(viewport=VIEWPORT, **options)
    page = context.new_page()
    wait_idle(browser)
    return context, page
