"""Issue 13, in Chromium at 1440x900: the runs table shows config by metric at first sight (on the demo and on a
real Sacred sweep), "only columns that vary" lives in the URL, group headers and tooltips, tags `+N`, notes as
plain text, the viewer's view on the table, run and compare pages, refused writes shown in the page, disabled
buttons that look disabled in dark mode, and no AG Grid warning when a group is expanded."""

from __future__ import annotations

import itertools
import re
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from omnidash.context import Settings

pytestmark = [pytest.mark.browser]
# Tests ask for `serve` before `page`: the page (and its last callbacks) closes before the server stops.
WIDE = {"width": 1440, "height": 900}
TIMEOUT = 30_000
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # conftest.ARTIFACTS


# -- data -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    from omnidash.demo import write_demo_runs

    folder = tmp_path_factory.mktemp("first_sight") / "demo"
    write_demo_runs(str(folder), 60)
    return folder


@pytest.fixture
def demo_copy(demo_folder, tmp_path) -> Path:
    """A private, writable copy of the demo runs (for tests that write tags and notes)."""
    target = tmp_path / "demo"
    shutil.copytree(demo_folder, target)
    return target


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory) -> Path:
    """A real Sacred sweep through FileStorageObserver: lr x batch size x optimizer x beta1 x 2 seeds."""
    from sacred_helpers import run_sacred

    base = tmp_path_factory.mktemp("sacred_sweep")
    runs = [{"config": {"lr": lr, "batch_size": bs, "optimizer": opt, "adam": {"beta1": b1, "beta2": 0.999},
                        "seed": seed, "steps": 12}}
            for lr, bs, opt, b1, seed in itertools.product([0.001, 0.01], [32, 64], ["adam", "sgd"], [0.9, 0.95],
                                                           [1, 2])]
    run_sacred(base / "exp", runs, file_dir=base / "runs")
    return base / "runs"


def serve_folder(serve, folder: Path, **settings):
    from omnidash.server import create_app
    from omnidash.store import open_store

    return serve(create_app(open_store(str(folder)), Settings(refresh_interval=0, **settings)).server)


def open_table(page, url: str) -> None:
    page.set_viewport_size(WIDE)
    page.goto(url)
    page.wait_for_selector("#tbl-grid .ag-row .run-link", timeout=TIMEOUT)


def show_column(page, col_id: str) -> None:
    """Scroll the runs grid to a column, as a user would: AG Grid draws only the columns in view."""
    page.evaluate("c => dash_ag_grid.getApi('tbl-grid').ensureColumnVisible(c)", col_id)
    page.locator(f'#tbl-grid .ag-center-cols-container [col-id="{col_id}"]').first.wait_for(timeout=TIMEOUT)


# -- what the first screen shows --------------------------------------------------------------------------
FULLY_VISIBLE = """() => {
  const root = document.querySelector('#tbl-grid .ag-root-wrapper').getBoundingClientRect();
  const out = [];
  for (const cell of document.querySelectorAll('#tbl-grid .ag-header-cell[col-id]')) {
    if (cell.getAttribute('col-id').startsWith('ag-Grid')) { continue; }
    const r = cell.getBoundingClientRect();
    if (r.width > 0 && r.left >= root.left - 1 && r.right <= root.right + 1 && r.right <= window.innerWidth) {
      const text = cell.querySelector('.ag-header-cell-text');
      out.push({col: cell.getAttribute('col-id'), header: text ? text.innerText : '',
                clipped: text ? text.scrollWidth > text.clientWidth + 1 : false,
                pinned: !!cell.closest('.ag-pinned-left-header')});
    }
  }
  return {cols: out, scrollLeft: document.querySelector('#tbl-grid .ag-center-cols-viewport').scrollLeft,
          groups: [...document.querySelectorAll('#tbl-grid .ag-header-group-cell')].map(e => e.innerText.trim())};
}"""


def first_screen(page) -> dict:
    time.sleep(0.3)  # the header layout settles after the first rows
    return page.evaluate(FULLY_VISIBLE)


def assert_config_by_metric(screen: dict) -> None:
    cols = [c["col"] for c in screen["cols"]]
    config = [c for c in cols if c.startswith("config.")]
    metrics = [c for c in cols if re.match(r"^(last|max|min)\(", c)]
    assert len(config) >= 4, f"config columns visible at 1440 px: {config} of {cols}"
    assert len(metrics) >= 2, f"metric columns visible at 1440 px: {metrics} of {cols}"
    assert screen["scrollLeft"] == 0
    assert cols[:3] == ["id", "experiment", "status"]
    assert [c["col"] for c in screen["cols"] if c["pinned"]] == ["id", "experiment"]
    assert cols.index(config[-1]) < cols.index(metrics[0])  # what it was run with, then what came out
    assert not [c for c in screen["cols"] if c["clipped"]], "headers cut off: " + str(
        [c for c in screen["cols"] if c["clipped"]])
    assert {"config", "metrics", "run"} <= {g.lower() for g in screen["groups"] if g}


def test_demo_table_shows_config_by_metric_at_first_sight(serve, page, demo_folder):
    live = serve_folder(serve, demo_folder)
    open_table(page, live.url + "/")
    screen = first_screen(page)
    page.screenshot(path=str(SHOTS / "first-sight-demo.png"))
    assert_config_by_metric(screen)
    cols = [c["col"] for c in screen["cols"]]
    # the learning rate and the optimizer come first; a metric's last value sits beside its best one
    assert cols[3:5] == ["config.lr", "config.optimizer"]
    assert cols[cols.index("last(val.acc)") + 1] == "max(val.acc)"
    headers = {c["col"]: c["header"] for c in screen["cols"]}
    assert headers["config.lr"] == "lr" and headers["max(val.acc)"] == "val.acc (max)"

    # the full name of a short header is in its tooltip
    page.hover('#tbl-grid .ag-header-cell[col-id="config.lr"] .ag-header-cell-text')
    page.wait_for_selector(".ag-tooltip", timeout=10_000)
    assert page.inner_text(".ag-tooltip").strip() == "config.lr"
    page.mouse.move(5, 5)
    page.hover('#tbl-grid .ag-header-cell[col-id="max(val.acc)"] .ag-header-cell-text')
    page.wait_for_function("() => (document.querySelector('.ag-tooltip') || {}).innerText?.includes('largest')",
                           timeout=10_000)
    assert "max(val.acc)" in page.inner_text(".ag-tooltip")


def test_sacred_sweep_table_shows_config_by_metric_at_first_sight(serve, page, sweep_folder):
    live = serve_folder(serve, sweep_folder)
    open_table(page, live.url + "/")
    screen = first_screen(page)
    page.screenshot(path=str(SHOTS / "first-sight-sacred-sweep.png"))
    assert_config_by_metric(screen)
    cols = [c["col"] for c in screen["cols"]]
    assert {"config.lr", "config.batch_size", "config.optimizer", "config.adam.beta1"} <= set(cols)
    assert "config.adam.beta2" not in cols and "config.steps" not in cols  # the same in every run
    assert {"last(val.acc)", "max(val.acc)", "last(train.loss)"} <= set(cols) or \
        {"last(val.acc)", "max(val.acc)"} <= set(cols)


def test_only_varying_config_keys_is_a_toggle_kept_in_the_url(serve, page, demo_folder):
    live = serve_folder(serve, demo_folder)
    open_table(page, live.url + "/")
    constant = '#tbl-grid .ag-header-cell[col-id="config.epochs"]'
    assert page.locator(constant).count() == 0  # 'epochs' is the same in every demo run
    page.click("#tbl-picker-toggle")
    box = page.locator("#tbl-picker-varying input[type=checkbox]")
    assert box.is_checked()
    box.uncheck()
    page.wait_for_function("() => new URLSearchParams(location.search).get('varying') === '0'", timeout=TIMEOUT)
    page.wait_for_selector(constant, timeout=TIMEOUT)
    assert "cols" not in parse_qs(urlparse(page.url).query)  # still the default columns, of the other mode

    page.reload()
    page.wait_for_selector(constant, timeout=TIMEOUT)
    page.click("#tbl-picker-toggle")
    assert not page.locator("#tbl-picker-varying input[type=checkbox]").is_checked()
    page.locator("#tbl-picker-varying input[type=checkbox]").check()
    page.wait_for_function("() => !location.search.includes('varying')", timeout=TIMEOUT)
    page.wait_for_selector(constant, state="detached", timeout=TIMEOUT)


def test_default_columns_follow_the_query_to_the_keys_that_vary_among_the_listed_runs(serve, page, demo_folder):
    live = serve_folder(serve, demo_folder)
    open_table(page, live.url + "/")
    optimizer = '#tbl-grid .ag-header-cell[col-id="config.optimizer"]'
    page.wait_for_selector(optimizer, timeout=TIMEOUT)
    page.fill("#tbl-query", "config.optimizer == sgd")
    page.press("#tbl-query", "Enter")
    page.wait_for_selector(optimizer, state="detached", timeout=TIMEOUT)  # the same in every listed run
    assert page.locator('#tbl-grid .ag-header-cell[col-id="config.lr"]').count() == 1
    assert "cols" not in parse_qs(urlparse(page.url).query)
    page.reload()
    page.wait_for_selector('#tbl-grid .ag-header-cell[col-id="config.lr"]', timeout=TIMEOUT)
    assert page.locator(optimizer).count() == 0


# -- cells -------------------------------------------------------------------------------------------------
def test_tags_that_do_not_fit_show_plus_n_and_notes_are_one_line_of_text(serve, page, demo_copy):
    from omnidash.store import open_store

    store = open_store(str(demo_copy))
    tags = ["baseline", "ablation-dropout", "paper-figure-3", "reviewed", "long-tag-number-five", "six"]
    store.set_tags(7, tags)
    store.set_notes(7, "# Result\n\n**Best** so far, see [the report](http://example.org/r) and `train.py`.\n\n"
                       "- second line\n- third line")
    live = serve_folder(serve, demo_copy)
    open_table(page, live.url + "/?q=id%20%3D%3D%207")
    show_column(page, "tags")
    cell = page.locator('#tbl-grid .ag-center-cols-container [col-id="tags"]').first
    more = cell.locator(".tag-more")
    more.wait_for(timeout=TIMEOUT)
    shown = cell.locator(".tag-chip:not(.tag-more)").all_inner_texts()
    assert 1 <= len(shown) < len(tags) and shown == tags[:len(shown)]
    assert more.inner_text() == f"+{len(tags) - len(shown)}"
    assert more.get_attribute("title") == ", ".join(tags)
    box = cell.bounding_box()
    chips = cell.locator(".tag-chip")
    for i in range(chips.count()):  # every chip shown is whole, inside the cell
        b = chips.nth(i).bounding_box()
        assert b["x"] + b["width"] <= box["x"] + box["width"] + 1

    # wider column: more tags fit, fewer hide behind +N
    page.evaluate("() => dash_ag_grid.getApi('tbl-grid').setColumnWidths([{key: 'tags', newWidth: 700}])")
    page.wait_for_function(
        "n => document.querySelectorAll('#tbl-grid .ag-center-cols-container [col-id=\"tags\"] "
        ".tag-chip:not(.tag-more)').length > n", arg=len(shown), timeout=TIMEOUT)

    show_column(page, "notes")
    notes = page.locator('#tbl-grid .ag-center-cols-container [col-id="notes"]').first.inner_text()
    assert notes.startswith("Result Best so far, see the report and train.py.")
    assert "\n" not in notes and not set("#*`[]()") & set(notes)
    page.screenshot(path=str(SHOTS / "first-sight-tags-notes.png"))


COUNT_TAG_CELL_READS = """
(() => {
  const d = Object.getOwnPropertyDescriptor(Element.prototype, 'clientWidth');
  window.__tagCellReads = { tagged: 0, untagged: 0 };
  Object.defineProperty(Element.prototype, 'clientWidth', { configurable: true, get() {
    if (this.classList && this.classList.contains('tags-cell')) {
      window.__tagCellReads[this.children.length ? 'tagged' : 'untagged'] += 1;
    }
    return d.get.call(this);
  } });
})();
"""


def test_tags_cells_without_tags_measure_nothing(serve, page, demo_copy):
    """Fitting chips reads the cell's layout; a first block's untagged cells read none (each one's read forced a
    layout of its own as its row was drawn), and tagged cells are still fitted."""
    from omnidash.store import open_store

    store = open_store(str(demo_copy))
    tags = ["baseline", "ablation-dropout", "paper-figure-3", "reviewed", "long-tag-number-five", "six"]
    store.set_tags(58, tags)
    live = serve_folder(serve, demo_copy)
    page.add_init_script(COUNT_TAG_CELL_READS)
    open_table(page, live.url + "/?cols=id,status,tags,notes")
    cells = page.locator('#tbl-grid .ag-center-cols-container [col-id="tags"]')
    assert cells.count() > 10
    tagged = page.locator('#tbl-grid .ag-row[row-id="58"] [col-id="tags"]')
    tagged.locator(".tag-more").wait_for(timeout=TIMEOUT)
    shown = tagged.locator(".tag-chip:not(.tag-more)").all_inner_texts()
    assert 1 <= len(shown) < len(tags) and shown == tags[:len(shown)]
    reads = page.evaluate("() => window.__tagCellReads")
    assert reads["untagged"] == 0 and reads["tagged"] >= 1, reads


def test_times_in_utc_read_as_the_formatter_writes_them(serve, page, demo_folder):
    """The UTC shortcut of omniFormatTime gives what Intl's formatter gives (and other zones still convert)."""
    live = serve_folder(serve, demo_folder)
    open_table(page, live.url + "/")
    out = page.evaluate("""() => {
      const fmt = new Intl.DateTimeFormat('sv-SE', { timeZone: 'UTC', year: 'numeric', month: '2-digit',
        day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
      const values = ['2026-11-28T14:03:05.123Z', '2026-01-01T00:00:00+02:00', '1999-12-31T23:59:59.999Z',
                      '2024-02-29T12:00:00Z', '0999-01-01T00:00:00Z', 1700000000000];
      const f = window.dashAgGridFunctions.omniFormatTime;
      return { same: values.map(v => [f(v, 'UTC'), fmt.format(new Date(v))]),
               berlin: f('2026-07-01T12:00:00Z', 'Europe/Berlin'), bad: f('not a time', 'UTC') };
    }""")
    assert all(a == b for a, b in out["same"]), out["same"]
    assert out["berlin"] == "2026-07-01 14:00:00" and out["bad"] == "not a time"


# -- roles -------------------------------------------------------------------------------------------------
@pytest.fixture
def accounts(demo_copy, tmp_path):
    from omnidash.auth.users import UsersFile

    users = UsersFile(tmp_path / "users.toml", must_exist=False)
    users.add("vera", "viewer-pass-1", "viewer")
    users.add("eddie", "editor-pass-1", "editor")
    return users


def serve_with_accounts(serve, folder: Path, users, read_only: bool = False):
    from omnidash.auth.web import AuthConfig
    from omnidash.config import single_source_config
    from omnidash.server import build_wsgi
    from omnidash.store import open_store

    config = single_source_config(str(folder))
    config.read_only = read_only
    return serve(build_wsgi(config, {"main": open_store(str(folder))},
                            AuthConfig(users=users, secret_key="first-sight-secret-key-0123456789abcdef")))


def sign_in(page, url: str, name: str, password: str) -> None:
    page.set_viewport_size(WIDE)
    page.goto(url + "/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#tbl-grid .ag-row .run-link", timeout=TIMEOUT)


def assert_refused(page, selector: str) -> None:
    el = page.locator(selector)
    assert el.is_disabled(), selector
    assert (el.get_attribute("title") or "").strip(), f"{selector} gives no reason"


def test_a_viewer_sees_what_they_cannot_do_disabled_on_every_page(serve, page, demo_copy, accounts):
    live = serve_with_accounts(serve, demo_copy, accounts)
    sign_in(page, live.url, "vera", "viewer-pass-1")
    for button in ("#tbl-bulk-add", "#tbl-bulk-remove", "#tbl-bulk-delete"):
        assert_refused(page, button)
    assert page.locator("#tbl-bulk-tag").is_disabled()
    title = page.locator("#tbl-bulk-add").get_attribute("title")
    assert "viewer" in title and "editor" in title
    page.click("#theme-toggle")  # a disabled button looks disabled in dark mode too
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    time.sleep(0.3)
    page.screenshot(path=str(SHOTS / "first-sight-viewer-table-dark.png"))
    look = page.evaluate("""() => ['#tbl-compare', '#tbl-bulk-add'].map(s => {
        const st = getComputedStyle(document.querySelector(s));
        return {bg: st.backgroundColor, border: st.borderStyle, cursor: st.cursor}; })""")
    for style in look:
        assert style["bg"] in ("rgba(0, 0, 0, 0)", "transparent"), style  # no accent fill
        assert style["border"] == "dashed" and style["cursor"] == "not-allowed", style
    page.click("#theme-toggle")

    # the tags cell does not open an editor
    show_column(page, "tags")
    cell = page.locator('#tbl-grid .ag-center-cols-container [col-id="tags"]').first
    cell.dblclick()
    time.sleep(0.5)
    assert page.locator(".tags-editor").count() == 0
    # saving views and adding shared columns say why not
    page.click("#tbl-views summary")
    assert "Saving views:" in page.inner_text("#tbl-views")
    assert page.locator("#tbl-view-save").is_hidden()

    run_id = page.locator("#tbl-grid .ag-row .run-link").first.inner_text()
    page.goto(f"{live.url}/runs/{run_id}")
    page.wait_for_selector("#rd-delete", timeout=TIMEOUT)
    assert_refused(page, "#rd-delete")
    assert_refused(page, "#rd-notes-edit")
    assert page.locator("#rd-tag-input").count() == 0 and page.locator(".tag-remove").count() == 0
    page.screenshot(path=str(SHOTS / "first-sight-viewer-run.png"))

    page.goto(f"{live.url}/compare?runs=1,2,3")
    page.wait_for_selector(".cmp-chip", timeout=TIMEOUT)
    enabled_writes = page.evaluate("""() => [...document.querySelectorAll('button:not([disabled])')]
        .map(b => b.innerText.trim()).filter(t => /tag|delete|note|save/i.test(t))""")
    assert enabled_writes == []


def test_a_read_only_board_disables_writes_with_the_reason(serve, page, demo_copy, accounts):
    live = serve_with_accounts(serve, demo_copy, accounts, read_only=True)
    sign_in(page, live.url, "eddie", "editor-pass-1")
    for button in ("#tbl-bulk-add", "#tbl-bulk-delete"):
        assert_refused(page, button)
        assert "read-only" in page.locator(button).get_attribute("title")


def test_a_refused_write_shows_a_message_in_the_page(serve, page, demo_copy, accounts):
    """The editor's role is taken away while the page is open: the bulk tag is refused (403) and the page
    says so, not only the browser console."""
    from omnidash.store import open_store

    live = serve_with_accounts(serve, demo_copy, accounts)
    sign_in(page, live.url, "eddie", "editor-pass-1")
    page.locator("#tbl-grid .ag-selection-checkbox input").first.check()
    page.fill("#tbl-bulk-tag", "refused-tag")
    accounts.set_role("eddie", "viewer")
    page.click("#tbl-bulk-add")
    notice = page.locator("#omnidash-notice")
    notice.wait_for(timeout=TIMEOUT)
    text = notice.inner_text()
    assert "Not allowed" in text and "viewer" in text and "Nothing was changed" in text
    page.screenshot(path=str(SHOTS / "first-sight-refused-write.png"))
    assert notice.is_visible()
    assert "refused-tag" not in open_store(str(demo_copy)).distinct("tags")
    # the browser's own log of the refused request is expected; nothing else may be there
    page.console_errors[:] = [e for e in page.console_errors
                              if "cannot do this" not in e and "status of 403" not in e]


# -- AG Grid warnings --------------------------------------------------------------------------------------
def test_expanding_a_group_gives_no_grid_warning(serve, page, demo_folder):
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type in ("warning", "error") else None)
    live = serve_folder(serve, demo_folder)
    page.set_viewport_size(WIDE)
    page.goto(live.url + "/?group=config.optimizer")
    page.wait_for_selector(".group-toggle", timeout=TIMEOUT)
    page.locator(".group-toggle").first.click()
    page.wait_for_selector(".group-member-row", timeout=TIMEOUT)
    page.locator(".group-toggle").first.click()
    page.wait_for_selector(".group-member-row", state="detached", timeout=TIMEOUT)
    assert not [w for w in warnings if "AG Grid" in w or "cellRendererData" in w], warnings


DRAWN = """() => {
  const api = dash_ag_grid.getApi('tbl-grid');
  const viewport = document.querySelector('#tbl-grid .ag-body-viewport');
  const rows = document.querySelectorAll('#tbl-grid .ag-center-cols-container .ag-row');
  const height = rows[0].getBoundingClientRect().height;
  return {rows: rows.length, fit: Math.ceil(viewport.clientHeight / height),
          cells: rows[0].querySelectorAll('.ag-cell').length,
          columns: api.getAllDisplayedColumns().filter(c => !c.isPinned()).length,
          last: api.getAllDisplayedColumns().at(-1).getColId()};
}"""


def test_the_grid_draws_only_the_rows_and_columns_in_view(serve, page, demo_folder):
    """Every cell is a React component: drawing columns out of view and 10 rows below it cost a first visit ~9%.
    The grid draws what fits (+2 rows), and a column scrolled to is drawn then."""
    live = serve_folder(serve, demo_folder)
    page.set_viewport_size({"width": 900, "height": 800})
    page.goto(live.url + "/")
    page.wait_for_selector("#tbl-grid .ag-row .run-link", timeout=TIMEOUT)
    drawn = page.evaluate(DRAWN)
    assert drawn["rows"] <= drawn["fit"] + 2, drawn
    assert drawn["cells"] < drawn["columns"], drawn
    show_column(page, drawn["last"])
