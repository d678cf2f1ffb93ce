"""The demo (omnidash.demo) in real Chromium, as a new user first sees it: grouping over seeds (in the URL,
by the experiment too), live runs that grow and announce new runs, the same run colour in the table's
plots and on the compare page, a wide config diff, and image previews that can be enlarged."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from omnidash.context import Settings
from omnidash.demo import LiveRuns, write_demo_runs
from omnidash.server import create_app
from omnidash.store.files import FileStore

pytestmark = pytest.mark.browser
TIMEOUT = 90_000


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo-browser") / "runs"
    write_demo_runs(folder, 60)
    return folder


@pytest.fixture
def live(demo_dir, serve):
    return serve(create_app(FileStore(str(demo_dir))).server)


@pytest.fixture(autouse=True)
def patient_page(page):
    page.set_default_timeout(TIMEOUT)
    page.set_viewport_size({"width": 1440, "height": 900})
    return page


def group_counts(page) -> list[str]:
    return page.locator("#tbl-groups .ag-pinned-left-cols-container .ag-row").all_inner_texts()


def test_group_over_seeds_is_in_the_url_and_shows_mean_and_std_of_three(page, live, artifacts_dir):
    page.goto(live.url + "/")
    page.wait_for_selector("#tbl-grid .ag-row")
    page.click("#tbl-group-seeds")
    page.wait_for_function("() => location.search.includes('group=')", timeout=TIMEOUT)
    page.wait_for_selector("#tbl-groups .ag-row")
    page.wait_for_function("() => document.querySelectorAll('#tbl-groups .ag-pinned-left-cols-container .ag-row')"
                           ".length === 20", timeout=TIMEOUT)
    assert all(text.strip().endswith("3 runs") for text in group_counts(page)), group_counts(page)
    groups = page.evaluate("""() => { const out = [];
        dash_ag_grid.getApi('tbl-groups').forEachNode(n => out.push([n.data.n, n.data['std:result']]));
        return out; }""")
    assert len(groups) == 20 and all(n == 3 for n, _ in groups)
    assert sum(1 for _, std in groups if std) >= 15, f"three seeds give a real std of the result: {groups}"
    url = page.url
    keys = re.search(r"group=([^&]+)", url).group(1)
    assert "seed" not in keys and "config.lr" in keys.replace("%2C", ",")
    page.screenshot(path=str(artifacts_dir / "demo_group_over_seeds.png"))
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#tbl-groups .ag-pinned-left-cols-container .ag-row')"
                           ".length === 20", timeout=TIMEOUT)
    assert page.url == url

    page.goto(live.url + "/?group=experiment")
    page.wait_for_function("() => document.querySelectorAll('#tbl-groups .ag-pinned-left-cols-container .ag-row')"
                           ".length === 2", timeout=TIMEOUT)
    experiments = page.locator('#tbl-groups .ag-center-cols-container [col-id="experiment"]').all_inner_texts()
    assert sorted(experiments) == ["cifar_resnet", "mnist_cnn"]
    assert sorted(group_counts(page)) == ["24 runs", "36 runs"] or \
        sorted(t.strip()[-7:] for t in group_counts(page)) == ["24 runs", "36 runs"]
    page.click("#tbl-group-keys")
    assert page.get_by_role("option", name="experiment", exact=True).count() == 1
    assert page.get_by_role("option", name="status", exact=True).count() == 1, "any column, not only config"


def served_runs(url: str) -> int:
    """How many runs the server lists (its /healthz)."""
    with urllib.request.urlopen(url + "/healthz", timeout=10) as reply:
        return int(json.loads(reply.read())["runs"])


class HeldLiveRuns(LiveRuns):
    """LiveRuns whose runs start at once but log their first points only once `logging` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logging = threading.Event()

    def _advance(self, live: dict[str, Any], now: float) -> bool:
        return super()._advance(live, now) if self.logging.is_set() else False


def test_live_demo_runs_grow_and_new_runs_are_announced(page, tmp_path, serve, artifacts_dir):
    folder = tmp_path / "runs"
    write_demo_runs(folder, 6)
    server = serve(create_app(FileStore(str(folder)), Settings(refresh_interval=1)).server)
    runner = HeldLiveRuns(folder, steps=600, steps_per_second=6.0, beat=0.5).start()  # run 8 ends first, after 20 s
    try:
        deadline = time.time() + 60
        while served_runs(server.url) < 8 and time.time() < deadline:  # the server's store lists them
            time.sleep(0.1)
        # opened as the runs start, before they log a point: the metric the URL names comes once they do
        page.goto(server.url + "/compare?runs=7,8&metrics=train.loss")
        page.wait_for_selector("#cmp-sec-metrics .pp-empty", timeout=TIMEOUT)
        runner.logging.set()
        page.wait_for_selector(".pp-chart .js-plotly-plot", timeout=TIMEOUT)
        assert "metrics=train.loss" in page.url
        length = "(i) => document.querySelectorAll('.pp-chart .js-plotly-plot')[0].data.map(t => (t.x || []).length)"
        first = page.evaluate(length)
        page.wait_for_function(f"() => ({length})(0).some((n, i) => n > {max(first)} + 5)", timeout=TIMEOUT)
        page.screenshot(path=str(artifacts_dir / "demo_live_compare.png"))

        page.goto(server.url + "/")
        page.wait_for_selector("#tbl-grid .ag-row")
        running = page.locator('#tbl-grid [col-id="status"]', has_text="Running")
        assert running.count() >= 2, "two live runs"
        page.wait_for_selector("#tbl-new-runs:not([hidden])", timeout=TIMEOUT)  # a finished live run -> a new one
        assert re.match(r"^\d+ new runs? — show$", page.inner_text("#tbl-new-runs"))
        page.screenshot(path=str(artifacts_dir / "demo_live_new_runs.png"))
    finally:
        page.goto("about:blank")  # no callback in flight when the server stops
        runner.stop()


def line_colours(page, selector: str) -> dict[str, str]:
    """Run id -> line colour in the first chart under `selector` (legend names start with `#id`)."""
    return page.evaluate(
        """(sel) => Object.fromEntries(document.querySelector(sel)._fullData
            .filter(t => t.name && t.name.startsWith('#')).map(t => [t.name.split(' ')[0].slice(1), t.line.color]))""",
        selector)


def test_a_run_has_the_same_colour_in_the_table_plots_and_on_compare(page, live, artifacts_dir):
    page.goto(live.url + "/?q=id%20in%20%5B7%2C%2012%2C%2030%5D")
    page.wait_for_function("() => document.querySelectorAll('#tbl-grid .ag-center-cols-container .ag-row').length"
                           " === 3", timeout=TIMEOUT)
    for run_id in ("12", "30", "7"):  # picked out of order
        page.locator(f'#tbl-grid .ag-row[row-id="{run_id}"] input[type=checkbox]').first.check()
    table_chart = "#tbl-plots .pp-chart .js-plotly-plot"
    page.wait_for_function(f"() => {{ const g = document.querySelector('{table_chart}');"
                           " return g && g._fullData && g._fullData.length >= 3; }", timeout=TIMEOUT)
    in_table = line_colours(page, table_chart)
    page.goto(live.url + "/compare?runs=7,12,30")
    page.wait_for_function("() => { const g = document.querySelector('#cmp-sec-metrics .pp-chart .js-plotly-plot');"
                           " return g && g._fullData && g._fullData.length >= 3; }", timeout=TIMEOUT)
    on_compare = line_colours(page, "#cmp-sec-metrics .pp-chart .js-plotly-plot")
    assert set(in_table) == {"7", "12", "30"} and in_table == on_compare


def test_config_diff_of_many_runs_keeps_the_key_column_and_reaches_every_run(page, live, artifacts_dir):
    ids = ",".join(str(i) for i in range(1, 13))
    page.goto(live.url + f"/compare?runs={ids}&tab=config")
    page.wait_for_selector("#cmp-config table")
    box = page.locator("#cmp-config .cmp-scroll")
    assert page.evaluate("(e) => e.scrollWidth > e.clientWidth", box.element_handle()), "wider than the page"
    page.evaluate("(e) => { e.scrollLeft = e.scrollWidth; }", box.element_handle())
    page.wait_for_timeout(300)
    frame = box.bounding_box()
    key = page.locator("#cmp-config tr.cmp-row td.cmp-key").first.bounding_box()
    last = page.locator("#cmp-config thead th").last.bounding_box()
    assert abs(key["x"] - frame["x"]) < 3, "the key column stays at the left"
    assert last["x"] + last["width"] <= frame["x"] + frame["width"] + 1, "the last run's column is reachable"
    assert page.evaluate("getComputedStyle(document.querySelector('#cmp-config td:not(.cmp-key)')).whiteSpace")\
        == "normal", "long values wrap"
    page.screenshot(path=str(artifacts_dir / "demo_config_diff_12_runs.png"))


def test_image_preview_is_large_and_enlarges_on_click(page, live, demo_dir, artifacts_dir):
    page.goto(live.url + "/runs/9?tab=artifacts")
    page.get_by_role("button", name="Preview").first.click()
    img = page.locator(".img-zoom img.preview-img")
    img.wait_for()
    assert img.bounding_box()["width"] >= 360, "a 120 px confusion matrix is not shown at 120 px"
    img.click()
    page.wait_for_selector(".img-zoom.zoomed")
    assert img.bounding_box()["width"] > 1000 or img.bounding_box()["height"] > 700
    page.screenshot(path=str(artifacts_dir / "demo_image_zoomed.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector(".img-zoom:not(.zoomed)")


def test_readme_free_text_example_finds_runs_in_the_table(page, live):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    example = re.search(r"^(resnet baseline)\s+# no operator: free text$", readme, re.M).group(1)
    page.goto(live.url + "/?q=" + example.replace(" ", "%20"))
    page.wait_for_selector("#tbl-grid .ag-row")
    assert re.match(r"^[1-9]\d* runs? match", page.inner_text("#tbl-count")), page.inner_text("#tbl-count")
