"""The run detail page in Chromium, on runs written by the real Sacred (FileStorageObserver): every tab of
a completed run, a failed, an interrupted and a queued run, a string id, 16 MB of output, editing,
deleting, and hostile content that must stay text. Screenshots of every tab go to test-artifacts/."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from detail_runs import (
    GIT_REMOTE,
    HOSTILE_ARTIFACT,
    PWN_IMG,
    PWN_KEY,
    PWN_NOTES,
    PWN_SCRIPT,
    PWN_TAG,
    copy_runs,
    run_sacred,
    shared_file_runs,
    shared_mongo_runs,
)

from omnidash.core.output import plain_text
from omnidash.server import create_app
from omnidash.store.base import NotFound
from omnidash.store.files import FileStore

pytestmark = pytest.mark.browser

TIMEOUT = 45_000  # ms; the machine is shared, so be generous
# What Chromium logs when the preview frame's sandbox or CSP blocks something: proof they work.
EXPECTED_BLOCKED = ("Blocked script execution in 'about:srcdoc'", "violates the following Content Security Policy")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A private copy (these tests edit tags and notes, and delete a run)."""
    return copy_runs(shared_file_runs(), tmp_path_factory.mktemp("detail-browser"))


@pytest.fixture(scope="module")
def store(runs):
    return FileStore(str(runs.basedir))


@pytest.fixture(scope="module")
def live(store):
    from conftest import LiveServer

    server = LiveServer(create_app(store).server)
    yield server
    server.stop()


# -- helpers -------------------------------------------------------------------------------------
def open_run(page, live, run_id: str, tab: str | None = None, dark: bool = False) -> None:
    if dark:
        page.add_init_script("window.localStorage.setItem('theme', JSON.stringify('dark'))")
    url = f"{live.url}/runs/{quote(str(run_id), safe='')}" + (f"?tab={tab}" if tab else "")
    page.goto(url)
    page.wait_for_selector(".run-header", timeout=TIMEOUT)


def click_tab(page, label: str) -> None:
    page.locator(".rd-tabs .tab", has_text=re.compile(rf"^{re.escape(label)}")).first.click()


def shot(page, artifacts_dir: Path, name: str) -> None:
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts_dir / f"detail-{name}.png"), full_page=True)


def assert_not_pwned(page) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # hostile markup must never become elements of the page itself
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate(
        "Array.from(document.scripts).filter(s => s.textContent.includes('__pwned')).length") == 0
    assert page.locator("a[href^='javascript:' i]").count() == 0


def drop_expected_sandbox_errors(page) -> None:
    """The sandboxed HTML preview blocking a script logs an error: that is the sandbox working."""
    page.console_errors[:] = [e for e in page.console_errors if not any(m in e for m in EXPECTED_BLOCKED)]


# -- a completed run, tab by tab ---------------------------------------------------------------------
def test_completed_run_header_config_meta_info_host(page, live, runs, artifacts_dir):
    open_run(page, live, runs.ids["completed"], "config")
    header = page.locator(".run-header")
    assert "toy_detail" in header.inner_text()
    assert page.locator(".status-badge").inner_text().strip() == "Completed"
    facts = page.locator(".facts").inner_text()
    assert "train" in facts and "UTC" in facts and "0.9" in facts

    tree = page.locator("#rd-config-tree")
    tree.locator(".tree-key", has_text="optimizer").wait_for(timeout=TIMEOUT)
    marked = tree.locator(".tree-marked .tree-key").all_inner_texts()
    assert {"lr", "optimizer", "noise"} <= set(marked)
    assert "seed" not in marked
    assert PWN_KEY in tree.locator(".tree-key").all_inner_texts()
    assert page.locator("#rd-config-copy").count() == 1
    shot(page, artifacts_dir, "config")

    page.fill("#rd-config-search", "noise")
    page.wait_for_function("document.querySelectorAll('#rd-config-tree .tree-key').length === 2", timeout=TIMEOUT)
    assert set(tree.locator(".tree-key").all_inner_texts()) == {"dataset", "noise"}
    assert "tab=config" in page.url

    click_tab(page, "Meta")
    repro = page.locator("#rd-repro")
    repro.wait_for(timeout=TIMEOUT)
    assert repro.inner_text().strip() == (
        "python toy_detail.py train with dataset.noise=0.25 lr=0.5 'optimizer=\"adam\"'")
    shot(page, artifacts_dir, "meta")
    click_tab(page, "Info")
    balance = page.locator("#rd-tab-body .tree-row", has_text="class_balance")
    balance.wait_for(timeout=TIMEOUT)
    assert "[308, 332]" in balance.inner_text()  # jsonpickle ndarray decoded
    shot(page, artifacts_dir, "info")
    click_tab(page, "Host")
    page.locator("#rd-tab-body .tree-key", has_text="hostname").wait_for(timeout=TIMEOUT)
    assert "python_version" in page.locator("#rd-tab-body").inner_text()
    shot(page, artifacts_dir, "host")
    assert_not_pwned(page)


def test_completed_run_output(page, live, runs, artifacts_dir):
    raw = (runs.basedir / runs.ids["completed"] / "cout.txt").read_bytes().decode()  # keep the \r
    open_run(page, live, runs.ids["completed"], "output")
    pre = page.locator("#rd-out-pre")
    page.wait_for_function("document.querySelector('#rd-out-pre') && "
                           "document.querySelector('#rd-out-pre').textContent.includes('starting')",
                           timeout=TIMEOUT)
    text = page.evaluate("document.querySelector('#rd-out-pre').textContent")
    assert text == plain_text(raw)  # exactly what a terminal shows (Sacred may lose the last lines: §6.4)
    assert "epoch 0 [====] 4/4" in text and "[=   ]" not in text  # \r progress bars collapsed
    assert PWN_IMG in text  # printed markup is text
    assert pre.locator("span.ansi-fg-2.ansi-bold", has_text="starting").count() == 1
    assert page.locator("#rd-out-more").is_hidden()
    href = page.locator("#rd-out-download").get_attribute("href")
    assert href.endswith("/download/runs/1/output.txt")
    assert page.locator("#rd-out-download-plain").get_attribute("href").endswith("/download/runs/1/output.txt?ansi=0")
    shot(page, artifacts_dir, "output")

    page.fill("#rd-out-search", "STARTING")
    hit = page.locator(".out-hit")
    hit.first.wait_for(timeout=TIMEOUT)
    assert hit.count() == 1 and "starting training with lr=0.5" in hit.first.inner_text()
    assert page.locator(".out-hit mark").first.inner_text() == "starting"
    assert page.locator(".out-hit-no").first.inner_text() == str(plain_text(raw).split("\n").index(
        "starting training with lr=0.5") + 1)
    shot(page, artifacts_dir, "output-search")
    page.fill("#rd-out-search", "starting training")  # on screen; in the raw text an escape code splits it
    page.locator(".out-hit mark", has_text="starting training").wait_for(timeout=TIMEOUT)
    assert_not_pwned(page)


def test_completed_run_metrics(page, live, runs, artifacts_dir):
    open_run(page, live, runs.ids["completed"], "metrics")
    page.locator("#rd-tab-body .js-plotly-plot").first.wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#rd-tab-body .js-plotly-plot'))"
        ".some(g => g.data && g.data.length > 0 && g.data[0].x &&"
        " (g.data[0].x.length === 3 || String((g.data[0].x._inputArray || {}).shape) === '3'))",
        timeout=TIMEOUT)
    shot(page, artifacts_dir, "metrics")


def test_completed_run_experiment_and_sources(page, live, runs, artifacts_dir):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_run(page, live, runs.ids["completed"], "experiment")
    body = page.locator("#rd-tab-body")
    body.locator("td", has_text="sacred").first.wait_for(timeout=TIMEOUT)
    assert "0.8.7" in body.inner_text()
    assert body.locator("td", has_text="helper_module.py").count() == 1
    repos = body.locator("tr", has_text=GIT_REMOTE)
    assert repos.count() == 1  # Sacred wrote one entry per source file; shown once
    assert "clean" in repos.inner_text() and re.search(r"[0-9a-f]{40}", repos.inner_text())
    page.locator("button:text-is('View')").last.click()  # toy_detail.py (sorted after helper_module.py)
    code = page.locator(".source-code code")
    code.wait_for(timeout=TIMEOUT)
    page.locator(".source-code .hljs-keyword").first.wait_for(timeout=TIMEOUT)  # highlighted, offline
    assert "def train(" in code.inner_text()
    link = page.locator("a:has-text('Download')").last.get_attribute("href")
    assert link.endswith("/download/runs/1/sources/toy_detail.py")
    assert all(u.startswith(live.url) or u.startswith("data:") for u in requests), requests
    shot(page, artifacts_dir, "experiment")


def test_completed_run_artifacts(page, live, runs, artifacts_dir):
    open_run(page, live, runs.ids["completed"], "artifacts")
    table = page.locator(".artifacts table")
    table.wait_for(timeout=TIMEOUT)
    assert table.locator("tbody tr").count() == 7
    gone = table.locator("tr", has_text="gone.txt")
    assert "file missing" in gone.inner_text()
    assert page.locator("#rd-art-zip").get_attribute("href").endswith("/download/runs/1/artifacts.zip")

    def preview(name: str, selector: str):
        table.locator("tr", has=page.locator(f"td:text-is('{name}')")).locator("button:has-text('Preview')").click()
        el = page.locator(f"#rd-art-body {selector}")
        el.first.wait_for(timeout=TIMEOUT)
        page.wait_for_function(
            f"document.querySelector('#rd-art-body .section-head').textContent === {name!r}", timeout=TIMEOUT)
        return el

    img = preview("plot.png", "img.preview-img")
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    page.wait_for_function("document.querySelector('#rd-art-body img').naturalWidth === 8", timeout=TIMEOUT)
    shot(page, artifacts_dir, "artifacts-image")
    csv = preview("table.csv", "table")
    assert csv.locator("th").all_inner_texts() == ["epoch", "loss", "note"]
    assert PWN_IMG in csv.inner_text() and "<b>x</b>" in csv.inner_text()
    shot(page, artifacts_dir, "artifacts-csv")
    tree = preview("summary.json", ".json-tree")
    assert "best" in tree.inner_text() and PWN_SCRIPT in tree.inner_text()
    text = preview("log.txt", "pre.preview-text")
    assert PWN_SCRIPT in text.inner_text()
    frame = preview("report.html", "iframe.preview-html")
    assert frame.get_attribute("sandbox") == ""
    inner = page.frame_locator("#rd-art-body iframe")
    inner.locator("h1").wait_for(timeout=TIMEOUT)
    assert inner.locator("h1").inner_text() == "Report"
    shot(page, artifacts_dir, "artifacts-html")
    with contextlib.suppress(Exception):  # a sandboxed frame may refuse the navigation outright
        inner.locator("#jslink").click(timeout=3000)
    hostile = preview(HOSTILE_ARTIFACT, "pre.preview-text")
    assert hostile.inner_text() == "hostile name"
    assert page.locator(".section-head span", has_text=HOSTILE_ARTIFACT).count() == 1
    page.wait_for_timeout(500)
    assert_not_pwned(page)
    drop_expected_sandbox_errors(page)


# -- the other statuses --------------------------------------------------------------------------------
def test_failed_run_opens_on_its_failure(page, live, runs, artifacts_dir):
    open_run(page, live, runs.ids["failed"])
    assert page.locator(".status-badge").inner_text().strip() == "Failed"
    exc = page.locator("#rd-exception")
    exc.wait_for(timeout=TIMEOUT)
    assert exc.inner_text() == f"RuntimeError: Simulated worker crash {PWN_SCRIPT}"
    trace = page.locator(".trace").inner_text()
    assert trace.index("Traceback") < trace.index("helper_module.py") < trace.rindex("RuntimeError")
    assert page.locator(".trace-lib").count() >= 1  # the sacred frame is dimmed
    shot(page, artifacts_dir, "failure")
    click_tab(page, "Artifacts")
    page.get_by_text("This run has no artifacts.").wait_for(timeout=TIMEOUT)
    assert_not_pwned(page)


def test_interrupted_run(page, live, runs, artifacts_dir):
    open_run(page, live, runs.ids["interrupted"], "output")
    assert page.locator(".status-badge").inner_text().strip() == "Interrupted"
    assert page.locator(".rd-tabs .tab", has_text="Failure").count() == 0
    page.wait_for_function("document.querySelector('#rd-out-pre') && "
                           "document.querySelector('#rd-out-pre').textContent.length > 0", timeout=TIMEOUT)
    shot(page, artifacts_dir, "interrupted-output")


def test_queued_run_has_no_start_and_no_output(page, live, runs, artifacts_dir):
    open_run(page, live, runs.ids["queued"])
    assert page.locator(".status-badge").inner_text().strip() == "Queued"
    facts = page.locator(".facts").inner_text()
    assert "Queued" in facts and "none" in facts  # queue time shown, no heartbeat
    page.locator("#rd-config-tree").wait_for(timeout=TIMEOUT)  # no metrics: opens on the config
    click_tab(page, "Output")
    page.get_by_text("No output captured.").wait_for(timeout=TIMEOUT)
    click_tab(page, "Meta")
    assert "lr=0.01" in page.locator("#rd-repro").inner_text()
    shot(page, artifacts_dir, "queued")


def test_string_id_and_unknown_run(page, live, runs, artifacts_dir):
    open_run(page, live, runs.ids["string_id"])
    assert "#lr-0.1-final" in page.locator(".run-title").inner_text()
    page.goto(f"{live.url}/runs/{quote('no such run', safe='')}")
    page.get_by_role("heading", name="No such run").wait_for(timeout=TIMEOUT)
    assert "no such run" in page.locator(".error-panel").inner_text()
    shot(page, artifacts_dir, "not-found")


def test_sixteen_megabytes_of_output(page, live, runs, artifacts_dir):
    started = time.monotonic()
    open_run(page, live, runs.ids["huge"], "output")
    page.wait_for_function("document.querySelector('#rd-out-pre') && "
                           "document.querySelector('#rd-out-pre').textContent.includes('THE-LAST-LINE')",
                           timeout=TIMEOUT)
    print(f"16 MB output page shown in {time.monotonic() - started:.1f} s")
    info = page.locator("#rd-out-info").inner_text()
    assert re.search(r"^178,\d{3} lines, 16\.0 MB; showing the last 25\d\.\d KB$", info), info
    shown = page.evaluate("document.querySelector('#rd-out-pre').textContent.length")
    assert shown < 300_000
    shot(page, artifacts_dir, "output-huge")
    page.click("#rd-out-more")
    page.wait_for_function("document.querySelector('#rd-out-info').textContent.includes('last 51')",
                           timeout=TIMEOUT)
    assert page.evaluate("document.querySelector('#rd-out-pre').textContent.length") > 1.9 * shown
    page.fill("#rd-out-search", "the-last-line")
    page.locator(".out-hit").first.wait_for(timeout=TIMEOUT)
    number = int(page.locator(".out-hit-no").first.inner_text())
    assert number > 170_000


# -- editing, deleting --------------------------------------------------------------------------------
def test_tags_and_notes_are_edited_and_kept(page, live, runs, store, artifacts_dir):
    run_id = runs.ids["interrupted"]
    open_run(page, live, run_id, "config")
    page.fill("#rd-tag-input", "baseline, best")
    page.press("#rd-tag-input", "Enter")
    page.locator(".tag-chip", has_text="best").wait_for(timeout=TIMEOUT)
    page.locator(".tag-chip", has_text="toy").locator(".tag-remove").click()
    page.wait_for_function("!Array.from(document.querySelectorAll('.tag-text')).some(t => t.textContent === 'toy')",
                           timeout=TIMEOUT)
    page.click("#rd-notes-edit")
    page.fill("#rd-notes-text", "Converged **fast**.\n\n- lr too high")
    page.click("#rd-notes-save")
    page.locator("#rd-notes-view strong", has_text="fast").wait_for(timeout=TIMEOUT)
    assert page.locator("#rd-edit-msg").inner_text() == "Notes saved."
    doc = store.get_run(run_id)
    assert doc["omniboard"]["tags"] == ["detail", "baseline", "best"]
    assert doc["omniboard"]["notes"] == "Converged **fast**.\n\n- lr too high"
    page.reload()
    page.locator("#rd-notes-view li", has_text="lr too high").wait_for(timeout=TIMEOUT)
    assert page.locator(".tag-text").all_inner_texts() == ["detail", "baseline", "best"]
    shot(page, artifacts_dir, "edited")


def test_delete_lists_what_goes_then_returns_home(page, live, runs, store, artifacts_dir):
    run_id = runs.ids["string_id"]
    open_run(page, live, run_id)
    page.click("#rd-delete")
    dialog = page.locator("#rd-delete-dialog")
    dialog.locator("li", has_text="metric series").wait_for(timeout=TIMEOUT)
    assert "2 metric series" in dialog.inner_text()
    shot(page, artifacts_dir, "delete-dialog")
    page.click("#rd-delete-cancel")
    dialog.wait_for(state="hidden", timeout=TIMEOUT)
    store.get_run(run_id)  # still there
    page.click("#rd-delete")
    page.click("#rd-delete-confirm")
    page.wait_for_url(re.compile(r"/$"), timeout=TIMEOUT)
    with pytest.raises(NotFound):
        store.get_run(run_id)


# -- hostile content ----------------------------------------------------------------------------------
def test_hostile_tags_and_notes_render_as_text(page, live, runs, store, artifacts_dir):
    run_id = runs.ids["completed"]
    store.set_tags(run_id, [PWN_TAG, PWN_SCRIPT, "ok"])
    store.set_notes(run_id, PWN_NOTES)
    open_run(page, live, run_id, "config")
    notes = page.locator("#rd-notes-view")
    notes.locator("h1", has_text="Notes").wait_for(timeout=TIMEOUT)
    shown = notes.inner_text()  # Markdown turns __x__ into bold; the markup itself stays text
    assert "<img src=x onerror=" in shown and "<script>" in shown and "</script>" in shown
    assert notes.locator("img").count() == 0 and notes.locator("script").count() == 0
    hrefs = notes.locator("a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    assert "https://example.org" in hrefs
    assert not any(h and "script" in h.lower() for h in hrefs), hrefs
    for link in notes.locator("a").all():
        if link.get_attribute("href") != "https://example.org":
            link.click()
    assert page.locator(".tag-text").all_inner_texts() == [PWN_TAG, PWN_SCRIPT, "ok"]
    page.wait_for_timeout(500)
    assert_not_pwned(page)
    shot(page, artifacts_dir, "hostile-notes")


def test_dark_theme_screenshots(page, live, runs, artifacts_dir):
    open_run(page, live, runs.ids["completed"], "output", dark=True)
    page.wait_for_function("document.documentElement.dataset.theme === 'dark'", timeout=TIMEOUT)
    page.wait_for_function("document.querySelector('#rd-out-pre') && "
                           "document.querySelector('#rd-out-pre').textContent.length > 0", timeout=TIMEOUT)
    shot(page, artifacts_dir, "dark-output")
    for label, wait in [("Config", "#rd-config-tree"), ("Meta", "#rd-repro"), ("Experiment", ".experiment"),
                        ("Artifacts", ".artifacts"), ("Metrics", "#rd-tab-body .js-plotly-plot")]:
        click_tab(page, label)
        page.locator(wait).first.wait_for(timeout=TIMEOUT)
        shot(page, artifacts_dir, f"dark-{label.lower()}")
    bg = page.evaluate("getComputedStyle(document.querySelector('.tab-body')).backgroundColor")
    assert bg != "rgb(255, 255, 255)"
    click_tab(page, "Experiment")
    page.locator("button:text-is('View')").last.click()
    page.locator(".source-code .hljs-keyword").first.wait_for(timeout=TIMEOUT)
    shot(page, artifacts_dir, "dark-source")
    open_run(page, live, runs.ids["failed"])
    page.locator("#rd-exception").wait_for(timeout=TIMEOUT)
    shot(page, artifacts_dir, "dark-failure")


# -- a running run: live tail ---------------------------------------------------------------------------
def test_running_run_tails_its_output(page, live, runs, artifacts_dir):
    workdir = runs.basedir.parent
    for name in ("toy_detail.py", "helper_module.py"):
        source = shared_file_runs().basedir.parent / name
        (workdir / name).write_text(source.read_text())
    proc = run_sacred(workdir, ["-F", str(runs.basedir), "--beat-interval", "0.5", "--id=live", "with",
                                "mode=slow", "epochs=1", "ticks=80"], wait=False)
    try:
        deadline = time.monotonic() + 60
        while not (runs.basedir / "live" / "cout.txt").exists() or "tick 1" not in (
                runs.basedir / "live" / "cout.txt").read_text():
            assert time.monotonic() < deadline, "the live run did not start"
            time.sleep(0.3)
        open_run(page, live, "live", "output")
        assert page.locator(".status-badge").inner_text().strip() == "Running"
        assert page.locator(".live-badge").count() == 1
        first = page.evaluate("document.querySelector('#rd-out-pre').textContent")
        page.wait_for_function(
            "(prev) => { const t = document.querySelector('#rd-out-pre').textContent;"
            " return t.length > prev.length && t.includes('tick'); }", arg=first, timeout=60_000)
        shot(page, artifacts_dir, "output-live")
        # the run ends while we watch: the badge turns, the tail stops, the last line is there
        page.locator("#rd-status", has_text="Completed").wait_for(timeout=90_000)
        page.wait_for_function("document.querySelector('#rd-out-pre').textContent.includes('tick 60')",
                               timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)


# -- the same page on MongoDB (FerretDB) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def mongo_runs(mongo_server):
    """Completed (1), failed (2), queued (3) written by Sacred's MongoObserver (once per session)."""
    return shared_mongo_runs(mongo_server.uri)


@pytest.mark.mongo
def test_mongo_runs_every_kind(page, mongo_runs, serve, artifacts_dir):
    from omnidash.store.mongo import MongoStore

    uri, ids = mongo_runs
    store = MongoStore(uri)
    live = serve(create_app(store).server)
    open_run(page, live, str(ids["completed"]), "config")
    assert page.locator(".status-badge").inner_text().strip() == "Completed"
    tree = page.locator("#rd-config-tree")
    tree.locator(".tree-key", has_text="optimizer").wait_for(timeout=TIMEOUT)
    assert {"lr", "optimizer", "noise"} <= set(tree.locator(".tree-marked .tree-key").all_inner_texts())

    click_tab(page, "Artifacts")
    table = page.locator(".artifacts table")
    table.wait_for(timeout=TIMEOUT)
    assert table.locator("tbody tr").count() == 7
    assert "file missing" in table.locator("tr", has_text="gone.txt").inner_text()
    table.locator("tr", has=page.locator("td:text-is('table.csv')")).locator("button:has-text('Preview')").click()
    page.locator("#rd-art-body table th", has_text="loss").wait_for(timeout=TIMEOUT)
    shot(page, artifacts_dir, "mongo-artifacts")

    click_tab(page, "Experiment")
    page.locator("button:text-is('View')").last.click()  # sources as Sacred stores them: [[name, ObjectId]]
    page.locator(".source-code .hljs-keyword").first.wait_for(timeout=TIMEOUT)

    click_tab(page, "Output")  # MongoObserver also prints its content-type guesses into the output
    page.wait_for_function("document.querySelector('#rd-out-pre') && "
                           "document.querySelector('#rd-out-pre').textContent.includes('content-type')",
                           timeout=TIMEOUT)
    assert_not_pwned(page)

    open_run(page, live, str(ids["failed"]))
    page.locator("#rd-exception", has_text="RuntimeError: Simulated worker crash").wait_for(timeout=TIMEOUT)
    open_run(page, live, str(ids["queued"]), "meta")
    assert page.locator(".status-badge").inner_text().strip() == "Queued"
    assert re.search(r"Queued\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page.locator(".facts").inner_text())
    assert "lr=0.01" in page.locator("#rd-repro").inner_text()
    shot(page, artifacts_dir, "mongo-queued")
    store.close()


@pytest.mark.mongo
def test_database_outage_gives_a_message_then_recovers(page, mongo_server, mongo_runs, private_mongo_server, serve,
                                                       artifacts_dir):
    """A private test server holding a copy of a real Sacred run is stopped while the page is open."""
    import pymongo

    from omnidash.store.mongo import MongoStore

    private = private_mongo_server
    uri, ids = mongo_runs
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as a, \
            pymongo.MongoClient(private.uri, serverSelectionTimeoutMS=5000) as b:
        source, target = a.get_default_database(), b["outage"]
        target.runs.insert_one(source.runs.find_one({"_id": ids["completed"]}))
        target.metrics.insert_many(list(source.metrics.find({"run_id": ids["completed"]})))
    store = MongoStore(private.uri + "outage", server_selection_timeout_ms=1000)
    live = serve(create_app(store).server)
    open_run(page, live, str(ids["completed"]), "config")
    page.locator("#rd-config-tree").wait_for(timeout=TIMEOUT)
    private.stop()
    click_tab(page, "Host")
    page.get_by_text("The data source did not answer.").wait_for(timeout=TIMEOUT)
    shot(page, artifacts_dir, "outage")
    private.start()
    click_tab(page, "Meta")
    page.locator("#rd-repro").wait_for(timeout=TIMEOUT)
