"""Run detail page without a browser: component trees, the reproduce command, fail traces, link safety."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from detail_runs import shared_file_runs
from sacred.arg_parser import _convert_value

from omnidash.components import run_detail as rd
from omnidash.components.tree import dotted_paths, json_tree
from omnidash.core.run_view import (
    cli_literal,
    code_fence,
    dedupe_repositories,
    exception_summary,
    flat_updates,
    format_duration,
    format_size,
    format_time,
    is_safe_url,
    language_of,
    reproduce_command,
    sanitize_markdown,
    split_dependency,
)
from omnidash.downloads import safe_filename, zip_entry_name
from omnidash.pages.run_detail_data import candidate_ids

PWN = "<img src=x onerror=__pwned=1>"


def walk(component: Any):
    """Every component and string in a Dash component tree."""
    yield component
    children = getattr(component, "children", None)
    if children is None:
        return
    for child in children if isinstance(children, list | tuple) else [children]:
        yield from walk(child)


def texts(component: Any) -> list[str]:
    return [c for c in walk(component) if isinstance(c, str)]


def by_class(component: Any, cls: str) -> list[Any]:
    return [c for c in walk(component) if cls in (getattr(c, "className", None) or "").split()]


# -- tree -----------------------------------------------------------------------------------------
CONFIG = {"lr": 0.1, "dataset": {"noise": 0.5, "n": 100}, "tags": ["a", "b"], "__doc__": "hidden",
          "schedule": {"type": "step", "milestones": [5, 8]}, "name": None}


def test_tree_shows_keys_and_values_as_text():
    tree = json_tree(CONFIG)
    keys = [c.children for c in by_class(tree, "tree-key")]
    assert {"lr", "dataset", "noise", "n", "tags", "schedule", "type", "milestones", "name"} <= set(keys)
    assert "__doc__" not in keys
    values = [c.children for c in by_class(tree, "tree-value")]
    assert "0.1" in values and '"step"' in values and "null" in values and '["a", "b"]' in values


def test_tree_marks_command_line_values():
    marked = dotted_paths({"dataset": {"noise": 0.25}, "schedule": {"type": "cos"}, "lr": 0.5})
    assert marked == {"dataset.noise", "schedule.type", "lr"}
    tree = json_tree(CONFIG, marked=marked)
    rows = by_class(tree, "tree-marked")
    marked_keys = {c.children for r in rows for c in by_class(r, "tree-key")}
    assert {"noise", "type", "lr"} <= marked_keys
    assert "n" not in marked_keys and "milestones" not in marked_keys
    assert len(by_class(tree, "tree-badge")) == 3


def test_tree_search_keeps_matching_branches_open():
    tree = json_tree(CONFIG, query="NOISE")
    keys = {c.children for c in by_class(tree, "tree-key")}
    assert keys == {"dataset", "noise"}
    assert all(d.open for d in by_class(tree, "tree-node"))
    by_value = json_tree(CONFIG, query="step")
    assert {c.children for c in by_class(by_value, "tree-key")} == {"schedule", "type"}
    assert "Nothing matches" in " ".join(texts(json_tree(CONFIG, query="zzz")))


def test_tree_decodes_jsonpickle_and_handles_empty():
    tree = json_tree({"acc": {"py/object": "numpy.float64", "dtype": "float64", "value": 0.875},
                      "shape": {"py/tuple": [2, 3]}})
    values = [c.children for c in by_class(tree, "tree-value")]
    assert "0.875" in values and "[2, 3]" in values
    assert "Nothing recorded." in texts(json_tree({}))
    assert "Nothing recorded." in texts(json_tree(None))


def test_hostile_keys_and_values_stay_strings():
    tree = json_tree({PWN: f"<script>{PWN}</script>"})
    assert PWN in [c.children for c in by_class(tree, "tree-key")]
    assert all(type(c).__name__ in ("Div", "Span", "Details", "Summary", "P", "str") for c in walk(tree))


def test_huge_lists_are_summarised():
    tree = json_tree({"xs": list(range(5000))})
    assert any("more" in t for t in texts(tree))


# -- header and tabs -------------------------------------------------------------------------------
def test_header_has_tags_notes_and_delete_only_when_editable():
    header = rd.header(7, "exp", "COMPLETED", [("Command", "train")], ["a", PWN], "**hi**", editable=True)
    ids = {c.id for c in walk(header) if isinstance(getattr(c, "id", None), str)}
    assert {"rd-delete", "rd-tag-input", "rd-notes-edit", "rd-notes-text"} <= ids
    assert PWN in [c.children for c in by_class(header, "tag-text")]
    read_only = rd.header(7, "exp", "COMPLETED", [], ["a"], "", editable=False)
    assert not {"rd-delete", "rd-tag-input", "rd-notes-edit"} & usable_ids(read_only)
    # what cannot be used stays in view, disabled, with the reason as its tooltip
    disabled = {c.id: c.title for c in walk(read_only) if getattr(c, "disabled", False)}
    assert set(disabled) == {"rd-delete", "rd-notes-edit"} and all(disabled.values())


def test_notes_markdown_has_raw_html_off():
    md = rd.notes_markdown(f"hi {PWN} [x](javascript:alert(1))")
    assert md.dangerously_allow_html is False
    assert "javascript:" not in md.children


def test_status_badge_for_every_status():
    for status in ("COMPLETED", "RUNNING", "FAILED", "INTERRUPTED", "QUEUED", "PROBABLY_DEAD", "TIMEOUT", "MY STATUS"):
        badge = rd.status_badge(status)
        assert status.replace("_", " ").title() in texts(badge)


def test_failure_view_puts_the_exception_first():
    trace = ["Traceback (most recent call last):\n",
             '  File "/x/site-packages/sacred/config/captured_function.py", line 42, in captured_function\n'
             "    result = wrapped(*args, **kwargs)\n",
             '  File "/home/ana/exp.py", line 5, in train\n    raise RuntimeError("boom")\n',
             "RuntimeError: boom\n"]
    view = rd.failure_view(trace)
    assert by_class(view, "exception-line")[0].children == "RuntimeError: boom"
    assert len(by_class(view, "trace-lib")) == 1
    assert "This run did not fail." in texts(rd.failure_view(None))


# -- fail traces -------------------------------------------------------------------------------------
def test_exception_summary_variants():
    chained = ("Traceback (most recent call last):\n  File \"a.py\", line 1, in f\n    x()\nKeyError: 'k'\n\n"
               "During handling of the above exception, another exception occurred:\n\n"
               "Traceback (most recent call last):\n  File \"a.py\", line 3, in g\n    y()\n"
               "ValueError: bad value\nsecond line of the message\n")
    assert exception_summary(chained) == "ValueError: bad value\nsecond line of the message"
    assert exception_summary(["Traceback (most recent call last):\n", '  File "a", line 1\n    q\n',
                              "KeyboardInterrupt\n"]) == "KeyboardInterrupt"
    assert exception_summary("just a message") == "just a message"


# -- reproduce command ----------------------------------------------------------------------------------
def test_reproduce_command_from_sacred_format_example():
    doc = {"command": "train", "experiment": {"mainfile": "toy_experiment.py", "name": "toy"},
           "meta": {"command": "train", "named_configs": [], "config_updates": {"fail_at_step": 137, "seed": 111}}}
    assert reproduce_command(doc) == "python toy_experiment.py train with fail_at_step=137 seed=111"


def test_reproduce_command_quotes_values_for_shell_and_sacred():
    updates = {"optimizer": "adam", "dataset": {"noise": 0.5, "path": "/data/my files"}, "grad_clip": None,
               "flag": True, "milestones": [5, 8], "schedule": {"py/tuple": [1, 2]}, "word": "True",
               "quote": "it's \"x\""}
    doc = {"command": "train", "experiment": {"mainfile": "exp.py"},
           "meta": {"named_configs": ["fast"], "config_updates": updates}}
    cmd = reproduce_command(doc)
    argv = shlex.split(cmd)
    assert argv[:5] == ["python", "exp.py", "train", "with", "fast"]
    parsed = {}
    for token in argv[5:]:
        key, _, value = token.partition("=")
        parsed[key] = _convert_value(value)  # exactly how Sacred's command line reads it back
    assert parsed == {"optimizer": "adam", "dataset.noise": 0.5, "dataset.path": "/data/my files",
                      "grad_clip": None, "flag": True, "milestones": [5, 8], "schedule": [1, 2],
                      "word": "True", "quote": "it's \"x\""}


def test_reproduce_command_without_updates_or_mainfile():
    assert reproduce_command({"command": "main", "experiment": {"name": "toy"}, "meta": {}}) == "python toy.py main"
    assert flat_updates(None) == []
    assert cli_literal({"a": [1, "b"]}) == '{"a": [1, "b"]}'


# -- small helpers ---------------------------------------------------------------------------------------
def test_repositories_are_deduplicated():
    repo = {"url": "https://x/y.git", "commit": "abc", "dirty": False}
    assert dedupe_repositories([repo, dict(repo), {**repo, "dirty": True}, "junk"]) == [
        repo, {**repo, "dirty": True}]
    assert dedupe_repositories(None) == []


def test_dependencies_and_formatting():
    assert split_dependency("numpy==2.4.6") == ("numpy", "2.4.6")
    assert split_dependency("<unknown>") == ("<unknown>", "")
    assert format_duration(None) is None
    assert format_duration(3.21) == "3.2 s"
    assert format_duration(125) == "2 min 05 s"
    assert format_duration(3 * 3600 + 120) == "3 h 02 min"
    assert format_duration(90000) == "1 d 1 h 00 min"
    assert format_size(512) == "512 B" and format_size(2048) == "2.0 KB" and format_size(None) == "?"
    assert format_time("2026-11-28T00:41:13.343Z", "UTC") == "2026-11-28 00:41:13 UTC"
    assert format_time("2026-11-28T00:41:13", "Europe/Paris") == "2026-11-28 01:41:13 CET"
    assert format_time("2026-11-28T00:41:13", "Not/AZone").endswith("UTC")
    assert format_time(None) is None


def test_candidate_ids():
    assert candidate_ids("7") == [7, "7"]
    assert candidate_ids("lr-0.1-final") == ["lr-0.1-final"]
    assert candidate_ids("a%20b") == ["a b"]


def test_code_fence_cannot_be_closed_by_the_source():
    src = 'x = """\n```\n"""\n````'
    fenced = code_fence(src, "python")
    assert fenced.startswith("`````python\n") and fenced.rstrip().endswith("`````")
    assert language_of("a/b.PY") == "python" and language_of("x.unknown") == ""


# -- link safety -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "jav&#x61;script:alert(1)", "java\tscript:alert(1)",
    " javascript:alert(1)", "vbscript:msgbox", "data:text/html,<script>alert(1)</script>",
    "javascript%3Aalert(1)", "<javascript:alert(1)>",
])
def test_unsafe_urls(url):
    assert not is_safe_url(url)


@pytest.mark.parametrize("url", ["https://example.org", "http://x", "mailto:a@b.c", "/runs/1", "#top", "page?a=b"])
def test_safe_urls(url):
    assert is_safe_url(url)


def test_sanitize_markdown_rewrites_every_link_form():
    text = ("[a](javascript:alert(1)) [b](https://ok.org) [c](<javascript:x>)\n"
            "<javascript:alert(2)> <https://fine.org>\n\n[ref]: javascript:alert(3)\n[ok]: https://ok.org\n"
            "[d](jav&#x61;script:alert(4) \"title\")")
    out = sanitize_markdown(text)
    assert "javascript:alert(1)" not in out and "alert(2)>" not in out and "alert(3)" not in out
    assert "jav&#x61;script" not in out
    assert "https://ok.org" in out and "<https://fine.org>" in out
    assert out.count("#unsafe-link-removed") == 4


# -- download helpers --------------------------------------------------------------------------------------
def test_zip_entries_cannot_climb_out():
    assert zip_entry_name("../../etc/passwd") == "etc/passwd"
    assert zip_entry_name("/abs/x.txt") == "abs/x.txt"
    assert zip_entry_name("a/./b/../c.txt") == "a/c.txt"
    assert zip_entry_name("..") == "artifact"
    assert safe_filename("../x\r\n.txt") == "x.txt"
    assert safe_filename("..", "f") == "f"


def test_hostile_source_and_artifact_names_are_text():
    from datetime import UTC, datetime

    from omnidash.core.types import FileInfo

    infos = [FileInfo(PWN, 10, datetime(2026, 1, 1, tzinfo=UTC), "text/plain")]
    view = rd.experiment_view({"name": PWN, "repositories": [{"url": PWN, "commit": "c", "dirty": True}]},
                              infos, lambda n: "/x/" + n)
    assert texts(view).count(PWN) == 3  # name fact, source row, repository url
    arts = rd.artifacts_view(infos, lambda n: "/a/" + n, "/zip", lambda d: "when")
    assert PWN in texts(arts)


# -- the page layout on real Sacred runs (FileStorage), no browser --------------------------------------
@pytest.fixture(scope="module")
def detail_app():
    from omnidash.context import Settings
    from omnidash.server import create_app
    from omnidash.store.files import FileStore

    runs = shared_file_runs()
    return create_app(FileStore(str(runs.basedir))), create_app(FileStore(str(runs.basedir)),
                                                                 Settings(read_only=True))


def layout_of(app, **params):
    from omnidash.pages import run_detail

    with app.server.test_request_context("/"):
        return run_detail.layout(**params)


def ids_in(component) -> set[str]:
    return {c.id for c in walk(component) if isinstance(getattr(c, "id", None), str)}


def usable_ids(component) -> set[str]:
    """Ids of the controls a user can use (shown and not disabled)."""
    return {c.id for c in walk(component) if isinstance(getattr(c, "id", None), str) and not getattr(c, "disabled", 0)}


def test_layout_opens_on_the_most_useful_tab(detail_app):
    app, _ = detail_app
    tabs = {rid: next(c for c in walk(layout_of(app, run_id=rid)) if getattr(c, "id", None) == "rd-tabs")
            for rid in ("1", "2", "4")}
    assert tabs["1"].value == "metrics" and tabs["2"].value == "failure" and tabs["4"].value == "config"
    assert [t.value for t in tabs["2"].children].count("failure") == 1
    assert "failure" not in [t.value for t in tabs["1"].children]
    assert next(c for c in walk(layout_of(app, run_id="1", tab="output"))
                if getattr(c, "id", None) == "rd-tabs").value == "output"
    assert next(c for c in walk(layout_of(app, run_id="1", tab="bogus"))
                if getattr(c, "id", None) == "rd-tabs").value == "metrics"


def test_layout_of_odd_ids(detail_app):
    app, _ = detail_app
    assert "#lr-0.1-final" in texts(layout_of(app, run_id="lr-0.1-final"))
    missing = layout_of(app, run_id="no%20such%3Crun%3E")
    assert "No such run" in texts(missing)
    assert any("“no such<run>”" in t for t in texts(missing))


def test_read_only_layout_has_no_edit_controls(detail_app):
    app, read_only = detail_app
    assert {"rd-delete", "rd-tag-input", "rd-notes-edit"} <= ids_in(layout_of(app, run_id="1"))
    assert not {"rd-delete", "rd-tag-input", "rd-notes-edit"} & usable_ids(layout_of(read_only, run_id="1"))


def test_download_links_carry_the_url_prefix():
    from omnidash.context import Settings
    from omnidash.server import create_app
    from omnidash.store.files import FileStore

    app = create_app(FileStore(str(shared_file_runs().basedir)), Settings(url_prefix="/omnidash/lab/"))
    hrefs = []
    for tab in ("output", "artifacts", "experiment"):
        hrefs += [c.href for c in walk(layout_of(app, run_id="1", tab=tab)) if getattr(c, "href", None)]
    assert "/omnidash/lab/download/runs/1/output.txt" in hrefs
    assert "/omnidash/lab/download/runs/1/artifacts.zip" in hrefs
    assert "/omnidash/lab/download/runs/1/sources/toy_detail.py" in hrefs
    assert "/omnidash/lab/api/runs/1/artifacts/%3Cimg%20src%3Dx%20onerror%3D__pwned%3D1%3E.txt?download=1" in hrefs


def test_output_window_load_more_stops_at_the_cap():
    from omnidash.core.output import DEFAULT_WINDOW, MAX_WINDOW
    from omnidash.pages.run_detail_tabs import output_data

    text = ("x" * 99 + "\n") * 100_000  # 10 MB
    data, info, more = output_data(text, DEFAULT_WINDOW)
    assert more and info.startswith("100,000 lines, 9.5 MB; showing the last")
    assert sum(len(s[0]) for s in data["spans"]) <= DEFAULT_WINDOW
    _data, info, more = output_data(text, MAX_WINDOW)
    assert not more and info.endswith("(download the raw text for the rest)")
    _data, info, more = output_data("short\n", DEFAULT_WINDOW)
    assert not more and info == "1 line, 6 B"
