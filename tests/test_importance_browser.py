"""The "Which settings matter" panel in real Chromium over a sweep written by the real Sacred
(FileStorageObserver): on the runs table it opens on demand, draws a bar per key with the two driving
keys on top, lists seeds and constants apart, and a click on a bar draws that key against the metric;
on the comparison page's Hyper-parameters tab it says "too few runs" for a narrow filter."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from sacred_helpers import run_sacred
from sweep_runs import DRIVERS, sweep

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from conftest import LiveServer

    from omnidash.server import create_app
    from omnidash.store.files import FileStore

    base = tmp_path_factory.mktemp("imp_sweep")
    run_sacred(base / "exp", sweep(), file_dir=base / "runs")
    server = LiveServer(create_app(FileStore(str(base / "runs"))).server)
    yield server.url
    server.stop()


def shot(page, folder: Path, name: str) -> None:
    """A screenshot into the test artifacts (or $OMNIDASH_SHOTS), to look at."""
    target = Path(os.environ.get("OMNIDASH_SHOTS") or folder)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / name))


def bars_state(page, prefix: str) -> dict:
    return page.evaluate(
        """(sel) => { const gd = document.querySelector(sel);
            return {order: gd.layout.yaxis.categoryarray, title: gd.layout.title.text,
                    names: gd.data.map(t => t.name)}; }""",
        f"#{prefix}-imp-bars .js-plotly-plot")


def test_table_panel_ranks_the_drivers_and_a_click_opens_the_scatter(page, app_url, artifacts_dir):
    page.set_default_timeout(90_000)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(app_url + "/")
    page.wait_for_selector(".ag-row")
    assert page.locator("#runs-imp-bars .bars path").count() == 0  # closed: nothing computed yet
    page.click("#runs-imp-summary")
    page.wait_for_selector("#runs-imp-bars .bars path")
    # the default metric: last(val.acc), which is 1 - loss in this sweep, so driven by the same two keys
    page.wait_for_function("""() => { const gd = document.querySelector('#runs-imp-bars .js-plotly-plot');
                                      return gd && gd.layout && gd.layout.title.text === 'What drives last(val.acc)'; }""")
    state = bars_state(page, "runs")
    assert set(state["order"][:2]) == set(DRIVERS), state
    assert "config.seed" not in state["order"] and "config.steps" not in state["order"]
    assert "24 runs" in page.inner_text("#runs-imp-status")
    flagged = page.inner_text("#runs-imp-flagged")
    assert "config.seed (a random seed)" in flagged and "config.steps (the same in every run)" in flagged
    page.locator("#runs-imp-details").scroll_into_view_if_needed()
    shot(page, artifacts_dir, "table-importance-panel.png")

    # a click on the top bar: the scatter of that key against the metric, one point per run
    top = state["order"][0]
    bar = page.locator("#runs-imp-bars .bars path").nth(0)
    box = page.locator("#runs-imp-bars .js-plotly-plot").bounding_box()
    ytick = page.locator("#runs-imp-bars .ytick text", has_text=top).bounding_box()
    assert bar.count() == 1 and box and ytick
    page.mouse.click(box["x"] + box["width"] * 0.4, ytick["y"] + ytick["height"] / 2)
    page.wait_for_selector("#runs-imp-scatter .scatterlayer .point")
    scatter = page.evaluate("""() => { const gd = document.querySelector('#runs-imp-scatter .js-plotly-plot');
                                       return {title: gd.layout.title.text,
                                               n: gd._fullData.reduce((a, t) => a + t.x.length, 0)}; }""")
    assert scatter == {"title": f"last(val.acc) vs {top}", "n": 24}
    page.locator("#runs-imp-scatter-box").scroll_into_view_if_needed()
    shot(page, artifacts_dir, "table-importance-scatter.png")

    # the panel follows the table's filter
    page.fill("#tbl-query", "config.batch_size == 32")
    page.press("#tbl-query", "Enter")
    page.wait_for_function("() => document.querySelector('#runs-imp-status .imp-runs').innerText === '8 runs'")
    assert "config.batch_size (the same in every run)" in page.inner_text("#runs-imp-flagged")
    assert "config.batch_size" not in bars_state(page, "runs")["order"]
    # an unranked key still plots against the metric
    page.locator("#runs-imp-flagged .imp-flag", has_text="config.seed").click()
    page.wait_for_function("""() => { const gd = document.querySelector('#runs-imp-scatter .js-plotly-plot');
                                      return gd && gd.layout && gd.layout.title.text === 'last(val.acc) vs config.seed'; }""")


def test_compare_tab_says_too_few_runs(page, app_url):
    page.set_default_timeout(90_000)
    page.goto(app_url + "/compare?tab=hparams&q=" + quote("config.lr == 0.1"))
    page.wait_for_selector("#cmp-imp-status .imp-too-few")
    assert "Too few runs: 6 runs" in page.inner_text("#cmp-imp-status")
    assert page.locator("#cmp-imp-bars .bars path").count() == 0
    assert "6 runs" in page.inner_text("#cmp-imp-status .imp-runs")
