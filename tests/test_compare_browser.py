"""The comparison page in real Chromium over runs written by the real Sacred (FileStorageObserver).

Checks the figure data plotly holds (`.data` / `.layout` of the plot div) after switching the x axis,
the y scale and smoothing, zooming (finer series fetched for the visible range), grouping; the config
diff marks exactly the differing keys; odd cases (string ids, a run without metrics, a metric only some
runs have, NaN, unknown ids) get clear output. Screenshots in light and dark theme.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

EXPERIMENT = textwrap.dedent(
    '''
    import json, math, sys
    from sacred import Experiment
    from sacred.observers import FileStorageObserver

    ex = Experiment("compare_toy")

    @ex.config
    def cfg():
        lr = 0.01
        opt = "adam"
        points = 3000
        with_acc = True
        note = "plain"

    @ex.main
    def train(_run, lr, opt, points, with_acc, seed, note):
        print(f"training with {opt} lr={lr}")
        value = None
        for step in range(points):
            value = math.exp(-step * lr / 10) + 0.05 * math.sin(step * (seed % 7 + 1))
            _run.log_scalar("loss", float("nan") if step == 100 else value, step)
            if with_acc and step % 100 == 0:
                _run.log_scalar("acc", 1 - value / 2, step)
        print("done")
        return value

    if __name__ == "__main__":
        ex.observers.append(FileStorageObserver(sys.argv[1]))
        for cfg in json.loads(sys.argv[2]):
            ex.run(config_updates=cfg)
    '''
)

RUNS = [
    {"lr": 0.01, "opt": "adam", "seed": 1, "points": 5000},
    {"lr": 0.1, "opt": "adam", "seed": 2, "points": 5000},
    {"lr": 0.01, "opt": "sgd", "seed": 3, "points": 3000, "with_acc": False,
     "note": "<img src=x onerror=alert(1)>"},
    {"lr": 0.01, "opt": "adam", "seed": 4, "points": 0, "with_acc": False},
]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    """Four runs by the real Sacred; run 3 renamed to the string id "sgd-run" (a folder name)."""
    work = tmp_path_factory.mktemp("compare_exp")
    (work / "compare_exp.py").write_text(EXPERIMENT)
    out = work / "runs"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "compare_exp.py", str(out), json.dumps(RUNS)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (out / "3").rename(out / "sgd-run")
    return out


@pytest.fixture(scope="module")
def app_url(runs_dir):
    from conftest import LiveServer

    from omnidash.server import create_app
    from omnidash.store.files import FileStore

    server = LiveServer(create_app(FileStore(str(runs_dir))).server)
    yield server.url
    server.stop()


GRAPHS = ".pp-chart .js-plotly-plot"


@pytest.fixture(autouse=True)
def patient_page(page):
    """Playwright waits up to 90 s: other suites share this machine's two CPUs."""
    page.set_default_timeout(90_000)
    return page


def graph_state(page, index: int = 0) -> dict:
    """What plotly holds for one chart: trace types/names/lengths, first/last x, y values, axis types."""
    return page.evaluate(
        """([sel, i]) => {
            const gd = document.querySelectorAll(sel)[i];
            const num = (a) => Array.from(a || []).map(Number);
            return {
              title: gd.layout.title && gd.layout.title.text,
              xtype: gd.layout.xaxis.type, ytype: gd.layout.yaxis.type,
              xrange: gd.layout.xaxis.range,
              // gd.data keeps the base64 specs as sent; gd._fullData holds the decoded typed arrays
              traces: gd._fullData.map(t => ({type: t.type, name: t.name, n: (t.x || []).length,
                                         opacity: t.opacity, showlegend: t.showlegend, fill: t.fill,
                                         x0: num(t.x)[0], xn: num(t.x).slice(-1)[0],
                                         gaps: num(t.x).filter((x, j) => Number.isNaN(Number(t.y[j]))),
                                         y: num(t.y).map(v => Number.isNaN(v) ? null : v)})),
            };
        }""",
        [GRAPHS, index],
    )


def wait_for(page, predicate, timeout: float = 90.0, what: str = "condition"):
    """Poll `predicate` (generous timeout: the shared CI machine can be heavily loaded)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - the chart is being redrawn
            last = e
        page.wait_for_timeout(200)  # not time.sleep: Playwright's sync API handles events only inside its calls
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def chart_titled(page, title: str) -> int:
    titles = page.evaluate(f"Array.from(document.querySelectorAll('{GRAPHS}')).map(g => g.layout.title.text)")
    return titles.index(title)


def open_compare(page, url: str, ids: str = "1,2,sgd-run"):
    page.goto(f"{url}/compare?runs={ids}")
    wait_for(page, lambda: page.evaluate(f"Array.from(document.querySelectorAll('{GRAPHS}'))"
                                         ".filter(g => g.data && g._fullData).length") == 2,
             what="two drawn charts (acc, loss)")


def test_three_runs_axes_log_smoothing_zoom(page, app_url, artifacts_dir):
    open_compare(page, app_url)
    assert "Compare 3 runs" in page.inner_text("h2")
    status = page.inner_text(".pp-status")
    assert "3 runs · 2 metrics" in status
    loss = chart_titled(page, "loss")
    state = graph_state(page, loss)
    assert [t["type"] for t in state["traces"]] == ["scatter"] * 3, "SVG, not WebGL, for a few thousand points"
    names = [t["name"] for t in state["traces"]]
    assert names == ["#1 lr=0.01 opt=adam note=plain", "#2 lr=0.1 opt=adam note=plain",
                     "#sgd-run lr=0.01 opt=sgd note=&lt;img src=x onerror=alert(1)&gt;"], "escaped for plotly"
    assert all(t["n"] <= 1000 for t in state["traces"]), "downsampled on the server"
    assert [t["gaps"] for t in state["traces"]] == [[100]] * 3, "the NaN at step 100 stays a gap"
    acc = graph_state(page, chart_titled(page, "acc"))
    assert len(acc["traces"]) == 2, "acc exists only in runs 1 and 2"
    # small multiples: one legend above the charts (every run once, in its line colour), none in the charts
    assert page.eval_on_selector_all(f"{GRAPHS}", "gs => gs.map(g => g._fullLayout.showlegend)") == [False, False]
    legend = page.eval_on_selector_all(".pp-legend .pp-legend-item", """items => items.map(i =>
        [i.innerText.trim(), getComputedStyle(i.querySelector('.cmp-dot')).backgroundColor])""")
    lines = page.evaluate(f"(i) => document.querySelectorAll('{GRAPHS}')[i]._fullData.map(t => t.line.color)", loss)
    hex_to_rgb = lambda h: "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (1, 3, 5)))  # noqa: E731
    assert [name for name, _ in legend] == ["#1 lr=0.01 opt=adam note=plain", "#2 lr=0.1 opt=adam note=plain",
                                            "#sgd-run lr=0.01 opt=sgd note=<img src=x onerror=alert(1)>"]
    assert [color for _, color in legend] == [hex_to_rgb(c) for c in lines]
    page.screenshot(path=str(artifacts_dir / "compare_metrics_light.png"), full_page=True)

    # x axis: wall time -> a date axis
    page.get_by_text("wall time", exact=True).click()
    wait_for(page, lambda: graph_state(page, chart_titled(page, "loss"))["xtype"] == "date", what="date axis")
    page.get_by_text("time since start", exact=True).click()
    wait_for(page, lambda: graph_state(page, chart_titled(page, "loss"))["xtype"] == "linear", what="relative")
    rel = graph_state(page, chart_titled(page, "loss"))
    assert all(0 <= t["x0"] < 60 for t in rel["traces"]), "seconds since each run's start"
    page.get_by_text("step", exact=True).click()

    # y axis: log
    page.locator("#cmp-y").get_by_text("log", exact=True).click()
    wait_for(page, lambda: graph_state(page, chart_titled(page, "loss"))["ytype"] == "log", what="log y")

    # smoothing: a faint raw trace plus a smoothed one per run
    slider_input = page.locator("#cmp-smooth input")
    slider_input.fill("0.9")
    slider_input.press("Enter")
    slider_input.press("Tab")
    wait_for(page, lambda: len(graph_state(page, chart_titled(page, "loss"))["traces"]) == 6, what="smoothed")
    sm = graph_state(page, chart_titled(page, "loss"))["traces"]
    raw, smooth = sm[0], sm[1]
    assert raw["opacity"] < 0.5 and raw["showlegend"] is False and smooth["opacity"] == 1
    assert abs(smooth["y"][0] - raw["y"][0]) < 1e-6, "debiased: the first smoothed point is the first value"
    noise = lambda ys: sum(abs(b - a) for a, b in zip(ys, ys[1:], strict=False) if a and b)  # noqa: E731
    assert noise(smooth["y"]) < noise(raw["y"]) / 2
    page.screenshot(path=str(artifacts_dir / "compare_smoothed_log_light.png"), full_page=True)

    # zoom: relayout to a narrow step window -> the server sends a finer series for that range
    before = graph_state(page, chart_titled(page, "loss"))["traces"][0]
    assert before["n"] <= 1000
    page.evaluate(f"Plotly.relayout(document.querySelectorAll('{GRAPHS}')[{chart_titled(page, 'loss')}],"
                  " {'xaxis.range[0]': 1000, 'xaxis.range[1]': 1400})")

    def zoomed():
        tr = graph_state(page, chart_titled(page, "loss"))["traces"][0]
        return tr if tr["x0"] >= 900 and tr["xn"] <= 1500 else None

    tr = wait_for(page, zoomed, what="zoom refetch")
    assert tr["n"] >= 400, "every step of the window is back (400 steps < max points)"
    assert graph_state(page, chart_titled(page, "loss"))["xrange"] == [1000, 1400]


def test_only_a_change_of_x_range_asks_the_server(page, app_url):
    """Plotly reports a chart's first autosize and a y-only zoom in relayoutData too; neither reaches the server
    (each was a round trip answered 204). A change of x range does, once."""
    figure_calls: list[dict] = []

    def on_request(request):
        if "_dash-update-component" in request.url:
            body = json.loads(request.post_data or "{}")
            if "cmp-graph" in body.get("output", "") and body["output"].endswith(".figure"):
                figure_calls.append(body)

    page.on("request", on_request)
    open_compare(page, app_url)
    page.wait_for_timeout(800)
    loss = chart_titled(page, "loss")
    page.evaluate(f"Plotly.relayout(document.querySelectorAll('{GRAPHS}')[{loss}], {{'yaxis.range': [0, 0.5]}})")
    page.evaluate(f"Plotly.relayout(document.querySelectorAll('{GRAPHS}')[{loss}], {{dragmode: 'pan'}})")
    page.wait_for_timeout(800)
    assert figure_calls == [], "no zoom callback for an autosize, a y-only zoom or a drag mode"
    page.evaluate(f"Plotly.relayout(document.querySelectorAll('{GRAPHS}')[{loss}],"
                  " {'xaxis.range[0]': 1000, 'xaxis.range[1]': 1400})")
    wait_for(page, lambda: len(figure_calls) == 1, what="the zoom callback")
    assert "zoom" in json.dumps(figure_calls[0]["inputs"])


def test_group_mode_and_csv(page, app_url, artifacts_dir):
    open_compare(page, app_url)
    page.locator("#cmp-group").get_by_text("by", exact=True).click()
    # default grouping keys: everything varying except the seed -> lr and opt; note varies too
    def legend():
        return [t["name"] for t in graph_state(page, chart_titled(page, "loss"))["traces"]
                if t["showlegend"] is not False]

    names = wait_for(page, lambda: legend() if any("(n=" in n for n in legend()) else None, what="groups")
    assert len(names) == 3 and all("(n=1)" in n for n in names)
    # group by opt only: adam runs 1+2 -> one mean curve with a band
    page.locator("#cmp-group-keys .dash-dropdown-clear, #cmp-group-keys [aria-label*='Clear']").first.click()
    page.locator("#cmp-group-keys").click()
    page.get_by_role("option", name="opt", exact=True).click()
    page.keyboard.press("Escape")
    names = wait_for(page, lambda: legend() if "opt=adam (n=2)" in legend() else None, what="opt groups")
    assert names == ["opt=adam (n=2)", "opt=sgd (n=1)"]
    traces = graph_state(page, chart_titled(page, "loss"))["traces"]
    assert traces[1]["fill"] == "tonexty", "± std band"
    page.screenshot(path=str(artifacts_dir / "compare_groups_light.png"), full_page=True)

    with page.expect_download() as dl:
        page.click("#cmp-csv-btn")
    text = Path(dl.value.path()).read_text()
    header, *lines = text.strip().splitlines()
    assert header.startswith("run_id,label,metric,step,timestamp,value")
    assert {line.split(",")[0] for line in lines} == {"1", "2", "sgd-run"}


def test_smoothing_applies_on_enter_and_the_view_lives_in_the_url(page, app_url, artifacts_dir):
    """Enter in the smoothing box applies it (no blur); metrics, smoothing, axes, labels, grouping, chart
    layout and tab are in the URL (replaceState), so a reload or Back restores the view."""
    open_compare(page, app_url)
    box = page.locator("#cmp-smooth input")
    box.fill("0.8")
    box.press("Enter")
    wait_for(page, lambda: len(graph_state(page, chart_titled(page, "loss"))["traces"]) == 6,
             what="smoothed on Enter")
    assert page.evaluate("document.activeElement === document.querySelector('#cmp-smooth input')"), "still typing"
    wait_for(page, lambda: "smooth=0.8" in page.url, what="smoothing in the URL")

    page.locator("#cmp-y").get_by_text("log", exact=True).click()
    page.get_by_text("wall time", exact=True).click()
    wait_for(page, lambda: "y=log" in page.url and "x=wall" in page.url, what="axes in the URL")
    page.get_by_text("Config diff", exact=True).click()
    wait_for(page, lambda: "tab=config" in page.url, what="tab in the URL")
    history = page.evaluate("history.length")
    page.reload()
    page.wait_for_selector("#cmp-sec-config table")
    assert page.is_hidden("#cmp-sec-metrics") and page.evaluate("history.length") == history
    for part in ("smooth=0.8", "y=log", "x=wall", "tab=config", "labels=lr,opt,note", "metrics=acc,loss"):
        assert part in page.url, (part, page.url)

    # a shared link: grouped by opt, one chart, min-max band, labels by opt
    page.goto(f"{app_url}/compare?runs=1,2,sgd-run&metrics=loss&group=opt&band=minmax&labels=opt&charts=single"
              "&smooth=0.5")
    wait_for(page, lambda: page.evaluate(f"document.querySelectorAll('{GRAPHS}').length") == 1, what="one chart")

    def legend():
        return [t["name"] for t in graph_state(page, 0)["traces"] if t["showlegend"] is not False]

    names = wait_for(page, lambda: legend() if "opt=adam (n=2)" in legend() else None, what="grouped by opt")
    assert names == ["opt=adam (n=2)", "opt=sgd (n=1)"]
    assert page.locator("#cmp-group input[type=checkbox]").is_checked()
    assert page.locator("#cmp-band input[value=minmax]").is_checked()
    assert page.input_value("#cmp-smooth input") == "0.5"
    assert "group=opt" in page.url and "band=minmax" in page.url
    page.screenshot(path=str(artifacts_dir / "compare_url_state.png"), full_page=True)
    page.goto(f"{app_url}/compare?runs=1,2&smooth=banana&x=<b>&group=no.such.key&tab=nope")
    page.wait_for_selector("#cmp-sec-metrics .js-plotly-plot")
    assert page.input_value("#cmp-smooth input") == "0"


def run_colours(page) -> dict[str, str]:
    """Run id -> line colour in the loss chart, and -> dot colour of its chip in the page header."""
    lines = page.evaluate(f"""(i) => Object.fromEntries(document.querySelectorAll('{GRAPHS}')[i]._fullData
        .map(t => [t.name.split(' ')[0].slice(1), t.line.color]))""", chart_titled(page, "loss"))
    chips = page.eval_on_selector_all(".cmp-chip", """cs => Object.fromEntries(cs.map(c =>
        [c.innerText.trim().slice(1), getComputedStyle(c.querySelector('.cmp-dot')).backgroundColor]))""")
    return {"lines": lines, "chips": chips}


def test_run_colours_do_not_depend_on_the_selection_order(page, app_url, artifacts_dir):
    open_compare(page, app_url, "1,2,sgd-run")
    first = run_colours(page)
    open_compare(page, app_url, "sgd-run,2,1")
    assert page.eval_on_selector_all(".cmp-chip", "cs => cs.map(c => c.innerText.trim())") == ["#sgd-run", "#2", "#1"]
    second = run_colours(page)
    assert first == second, "a run keeps its colour whatever order the runs were chosen in"
    assert set(first["lines"]) == {"1", "2", "sgd-run"} and len(set(first["lines"].values())) == 3
    hex_to_rgb = lambda h: "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (1, 3, 5)))  # noqa: E731
    assert {k: hex_to_rgb(v) for k, v in first["lines"].items()} == first["chips"], "chips match the lines"
    page.screenshot(path=str(artifacts_dir / "compare_colours_reordered.png"), full_page=True)


def test_config_diff_summary_and_text_diffs(page, app_url, artifacts_dir):
    open_compare(page, app_url)
    page.get_by_text("Config diff", exact=True).click()
    page.wait_for_selector("#cmp-config tr.cmp-row")
    differing = page.eval_on_selector_all("#cmp-config tr.cmp-row.differs", "rs => rs.map(r => r.dataset.key)")
    config_diffs = sorted(k for k in differing if k.startswith("config."))
    assert config_diffs == ["config.lr", "config.note", "config.opt", "config.points", "config.seed",
                            "config.with_acc"]
    same = page.eval_on_selector_all("#cmp-config tr.cmp-row.same", "rs => rs.map(r => r.dataset.key)")
    assert "experiment.name" in same and "config.lr" not in same
    assert not page.is_visible("#cmp-config tr.cmp-row.same"), "only differences by default"
    assert "<img src=x onerror=alert(1)>" in page.inner_text("#cmp-config"), "shown as text, never HTML"
    page.screenshot(path=str(artifacts_dir / "compare_config_light.png"), full_page=True)
    page.get_by_text("only differences").click()
    wait_for(page, lambda: page.is_visible("#cmp-config tr.cmp-row.same"), what="all rows")

    page.get_by_text("Metric summary", exact=True).click()
    page.wait_for_selector(".cmp-summary td.cmp-best")
    rows = page.eval_on_selector_all(".cmp-summary tbody tr", "rs => rs.map(r => r.innerText)")
    loss_last = next(r for r in rows if r.split("\t")[1:2] == ["last"] and "loss" not in r.split("\t")[0]
                     and rows.index(r) > 2)
    assert "★" in loss_last
    page.screenshot(path=str(artifacts_dir / "compare_summary_light.png"), full_page=True)

    page.get_by_text("Output diff", exact=True).click()
    page.wait_for_selector(".diff-view")
    diff_text = page.inner_text(".diff-view")
    assert "-training with adam lr=0.01" in diff_text and "+training with adam lr=0.1" in diff_text

    page.get_by_text("Source diff", exact=True).click()
    page.wait_for_selector(".cmp-file-block")
    assert "compare_exp.py" in page.inner_text("#cmp-src-diff")


def test_hparams_scatter_click_and_brush(page, app_url, artifacts_dir):
    page.goto(f"{app_url}/compare?runs=1,2&tab=hparams")
    page.wait_for_selector("#cmp-scatter .js-plotly-plot")
    wait_for(page, lambda: page.evaluate("document.querySelector('#cmp-scatter .js-plotly-plot').data.length")
             >= 1, what="scatter")
    page.wait_for_selector("#cmp-parcoords .parcoords .tick text")
    ids = page.evaluate("document.querySelector('#cmp-scatter .js-plotly-plot').data"
                        ".flatMap(t => Array.from(t.customdata))")
    # y is last(acc): runs sgd-run and 4 logged no acc, so they are only counted in the chart's note
    assert sorted(ids) == ["1", "2"], "every run of the (empty) filter that has a y value"
    assert "2 runs without a value for x or y" in page.text_content("#cmp-scatter .annotation")
    ticks = page.eval_on_selector_all("#cmp-parcoords .parcoords .tick text", "ts => ts.map(t => t.textContent)")
    assert "<img src=x onerror=aler…" in ticks, f"the config value reads literally (no &lt;): {ticks}"
    assert page.eval_on_selector_all("#cmp-parcoords img, #cmp-scatter img", "es => es.length") == 0, "no markup"
    page.screenshot(path=str(artifacts_dir / "compare_hparams_light.png"), full_page=True)
    # brushing the lr axis: simulate plotly's restyle event with a constraint range
    page.evaluate("""() => {
        const gd = document.querySelector('#cmp-parcoords .js-plotly-plot');
        Plotly.restyle(gd, {'dimensions[0].constraintrange': [[0.05, 0.2]]}, [0]);
    }""")
    page.wait_for_selector("#cmp-brush-open")
    assert "config.lr >= 0.05 and config.lr <= 0.2" in page.inner_text("#cmp-brush-link")
    assert "1 run match" in page.inner_text("#cmp-brush-link")
    href = page.get_attribute("#cmp-brush-open", "href")
    assert href.startswith("/?q=config.lr%20%3E%3D%200.05")
    # clicking a scatter point opens its run
    box = page.evaluate("""() => {
        const paths = document.querySelectorAll('#cmp-scatter .scatterlayer .points path');
        const p = Array.from(paths).find(e => e.__data__ && String(e.__data__.data) === '2');
        p.scrollIntoView({block: 'center'});
        const r = p.getBoundingClientRect();
        return [r.x + r.width / 2, r.y + r.height / 2];
    }""")
    page.mouse.move(*box)
    page.wait_for_selector("#cmp-scatter .hoverlayer .hovertext")
    assert "#2" in page.text_content("#cmp-scatter .hoverlayer")
    page.mouse.click(*box)
    wait_for(page, lambda: "/runs/2" in page.url, what="navigation to the run")


def test_hparams_highlight_the_compared_runs_over_the_filter(page, app_url, artifacts_dir):
    """The compared runs are coloured over the filter's other runs in grey (a toggle hides those); the
    default axes are every varying config key, the scatter's x the key with most distinct values."""
    page.goto(f"{app_url}/compare?runs=1,sgd-run&tab=hparams")
    wait_for(page, lambda: "compared runs" in page.inner_text("#cmp-hp-count"), what="scope line")
    assert page.inner_text("#cmp-hp-count") == "The 2 compared runs, coloured, over 2 other runs in grey."
    page.wait_for_selector("#cmp-parcoords .parcoords .tick text")
    labels = page.evaluate("document.querySelector('#cmp-parcoords .js-plotly-plot').data[0].dimensions"
                           ".map(d => d.label)")
    assert labels[:-1] == ["lr", "note", "opt", "points", "with_acc"], "every varying key but the seed"
    scale = page.evaluate("document.querySelector('#cmp-parcoords .js-plotly-plot').data[0].line.colorscale")
    assert scale[0][1] == scale[1][1] != scale[-1][1], "grey bottom of the scale: the context runs"
    x_label = wait_for(page, lambda: page.evaluate(
        "document.querySelector('#cmp-scatter .js-plotly-plot').layout.xaxis.title.text"), what="scatter")
    assert x_label == "config.points", "three values: the most of any varying key"
    traces = page.evaluate("document.querySelector('#cmp-scatter .js-plotly-plot').data"
                           ".map(t => [t.name, Array.from(t.customdata)])")
    assert ["other runs", ["2"]] in traces and sorted(i for _, ids in traces for i in ids) == ["1", "2"]
    page.screenshot(path=str(artifacts_dir / "compare_hparams_highlight.png"), full_page=True)

    page.locator("#cmp-hp-context").get_by_text("as grey context").click()
    wait_for(page, lambda: page.inner_text("#cmp-hp-count") == "The 2 compared runs.", what="toggle off")
    traces = wait_for(page, lambda: page.evaluate("document.querySelector('#cmp-scatter .js-plotly-plot').data"
                                                  ".map(t => t.name)"), what="scatter")
    assert "other runs" not in traces


def test_odd_cases(page, app_url, artifacts_dir):
    page.goto(f"{app_url}/compare?runs=1,999,4")
    page.wait_for_selector("#cmp-missing")
    assert "Unknown run id: 999" in page.inner_text("#cmp-missing")
    wait_for(page, lambda: "no data for run 4" in page.inner_text(".pp-status"), what="run without metrics")
    page.goto(f"{app_url}/compare?runs=nope")
    page.wait_for_selector("#cmp-missing")
    assert "nope" in page.inner_text("#cmp-missing")
    page.goto(f"{app_url}/compare?runs=4")
    page.wait_for_selector(".pp-empty")
    wait_for(page, lambda: "no metrics" in page.inner_text(".pp-charts"), what="no-metrics message")


def test_dark_theme_screenshots(page, app_url, artifacts_dir):
    open_compare(page, app_url)
    # the theme callback runs once as the page mounts (light here); a click toggles it, in the renderer's time
    page.wait_for_function("() => document.documentElement.dataset.theme === 'light'", timeout=30_000)
    page.click("#theme-toggle")
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'", timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts_dir / "compare_metrics_dark.png"), full_page=True)
    color = page.evaluate(f"getComputedStyle(document.querySelector('{GRAPHS} .main-svg text.gtitle')).fill")
    assert color != "rgb(29, 35, 48)", "chart text follows the dark theme"
    page.get_by_text("Config diff", exact=True).click()
    page.wait_for_selector("#cmp-config tr.cmp-row")
    page.screenshot(path=str(artifacts_dir / "compare_config_dark.png"), full_page=True)
    page.get_by_text("Hyper-parameters", exact=True).click()
    page.wait_for_selector("#cmp-scatter .js-plotly-plot .scatterlayer")
    page.wait_for_timeout(500)
    page.screenshot(path=str(artifacts_dir / "compare_hparams_dark.png"), full_page=True)


# -- a running run: new points are appended, not redrawn ------------------------------------------------------
def _write_growing_run(folder: Path, n: int, start) -> None:
    import datetime as dt
    import math

    run = {"experiment": {"name": "live"}, "command": "main", "status": "RUNNING", "start_time": start.isoformat(),
           "heartbeat": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(), "host": {"hostname": "h"},
           "meta": {}, "artifacts": [], "resources": []}
    metrics = {"loss": {"steps": list(range(n)), "values": [math.sin(i / 5) for i in range(n)],
                        "timestamps": [(start + dt.timedelta(seconds=i)).isoformat() for i in range(n)]}}
    for name, content in (("run.json", run), ("metrics.json", metrics)):
        (folder / f"{name}.tmp").write_text(json.dumps(content))
        os.replace(folder / f"{name}.tmp", folder / name)


def test_running_run_is_extended_live_with_smoothing(page, serve, tmp_path):
    import datetime as dt
    import threading

    from omnidash.context import Settings
    from omnidash.core.compare import ema_smooth
    from omnidash.server import create_app
    from omnidash.store.files import FileStore

    run_dir = tmp_path / "runs" / "1"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text('{"lr": 0.1}')
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _write_growing_run(run_dir, 30, start)
    stop, n = threading.Event(), [30]

    def grow() -> None:
        while not stop.wait(1.0):
            n[0] += 3
            _write_growing_run(run_dir, n[0], start)

    threading.Thread(target=grow, daemon=True).start()
    try:
        live = serve(create_app(FileStore(str(tmp_path / "runs"), scan_ttl=0), Settings(refresh_interval=0)).server)
        outputs: list[str] = []
        page.on("request", lambda r: outputs.append(json.loads(r.post_data or "{}").get("output", ""))
                if "_dash-update" in r.url else None)
        page.goto(f"{live.url}/compare?runs=1")
        page.wait_for_selector(".pp-chart .js-plotly-plot .scatterlayer .trace", timeout=30_000)
        box = page.locator("#cmp-smooth input")
        box.fill("0.8")
        box.press("Enter")
        box.press("Tab")
        lengths = "() => document.querySelector('.pp-chart .js-plotly-plot')._fullData.map(t => t._length)"
        page.wait_for_function(f"() => ({lengths})().length === 2", timeout=20_000)
        drawn = page.evaluate(lengths)[0]
        outputs.clear()
        page.wait_for_function(f"() => ({lengths})().every(k => k >= {drawn + 6})", timeout=30_000)
        assert not any("cmp-charts" in o for o in outputs), "new points appended (extendData), not a redraw"
        raw, smooth = page.evaluate("() => document.querySelector('.pp-chart .js-plotly-plot')._fullData"
                                    ".map(t => Array.from(t.y))")
        import math

        values = [math.sin(i / 5) for i in range(len(smooth))]
        assert raw == pytest.approx(values, abs=1e-6)
        assert smooth == pytest.approx(list(ema_smooth(values, 0.8)), abs=1e-5), "the same as a full redraw"
    finally:
        stop.set()
