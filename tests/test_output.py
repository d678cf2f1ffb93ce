"""Captured output as a terminal shows it: progress bars, ANSI colours, search and windows over huge text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sacred.utils import apply_backspaces_and_linefeeds

from omnidash.components.terminal import terminal_payload
from omnidash.core.output import (
    DEFAULT_WINDOW,
    MAX_WINDOW,
    Style,
    ansi_spans,
    apply_sgr,
    collapse_carriage_returns,
    count_lines,
    next_window_size,
    plain_text,
    render_terminal,
    search_output,
    split_matches,
    strip_ansi,
    tail_window,
)


# -- carriage returns ----------------------------------------------------------------------------
def test_progress_bar_collapses_like_sacred():
    text = "start\n\r [=   ] 1/4\r [==  ] 2/4\r [=== ] 3/4\r [====] 4/4\ndone\n"
    assert collapse_carriage_returns(text) == "start\n [====] 4/4\ndone\n"
    assert collapse_carriage_returns(text) == apply_backspaces_and_linefeeds(text)


def test_shorter_update_leaves_the_tail_of_the_longer_one():
    assert collapse_carriage_returns("loss=0.12345\rloss=0.5") == "loss=0.52345"


def test_windows_line_endings_and_backspaces():
    assert collapse_carriage_returns("a line\r\nnext\r\n") == "a line\nnext\n"
    assert collapse_carriage_returns("abc\b\bX") == "aXc"
    assert collapse_carriage_returns("\b\bok") == "ok"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab \r\n\b", max_size=60))
def test_collapse_agrees_with_sacred(text):
    """Same result as sacred.utils.apply_backspaces_and_linefeeds (which keeps one trailing \\r)."""
    expected = apply_backspaces_and_linefeeds(text)
    if text.endswith("\r"):
        expected = expected[:-1] if expected.endswith("\r") else expected
    assert collapse_carriage_returns(text) == expected


# -- ANSI ---------------------------------------------------------------------------------------------
def test_sgr_colours_and_reset():
    spans = ansi_spans("\x1b[1;31mred bold\x1b[0m plain \x1b[32mgreen\x1b[39m default")
    assert [s.text for s in spans] == ["red bold", " plain ", "green", " default"]
    assert spans[0].style == Style(fg=1, bold=True)
    assert spans[0].style.classes() == "ansi-fg-1 ansi-bold"
    assert spans[1].style == Style()
    assert spans[2].style.fg == 2
    assert spans[3].style == Style()


def test_bright_256_and_truecolour():
    assert apply_sgr(Style(), "91").fg == 9
    assert apply_sgr(Style(), "38;5;196").fg == "#ff0000"
    assert apply_sgr(Style(), "38;5;3").fg == 3  # the 16 base colours stay themed
    assert apply_sgr(Style(), "48;2;1;2;3").bg == "#010203"
    assert apply_sgr(Style(), "38;2;1;2;3").css() == {"color": "#010203"}
    assert apply_sgr(Style(fg=1, bg=2), "7").classes() == "ansi-fg-2 ansi-bg-1 ansi-inverse"


def test_other_escapes_are_dropped_and_runs_merge():
    text = "a\x1b[2K\x1b[1Ab\x1b]0;window title\x07c\x1b[?25ld"
    spans = ansi_spans(text)
    assert spans == ansi_spans("abcd")
    assert len(spans) == 1 and spans[0].text == "abcd"
    assert strip_ansi(text) == "abcd"


def test_malformed_sgr_is_ignored():
    assert "".join(s.text for s in ansi_spans("x\x1b[38;5mfoo\x1b[99999mbar\x1b[;;m")) == "xfoobar"


def test_render_terminal_collapses_then_colours():
    spans = render_terminal("\x1b[32m  epoch 1 [=   ]\r  epoch 1 [====]\x1b[0m\ndone")
    assert "".join(s.text for s in spans) == "  epoch 1 [====]\ndone"


def test_control_characters_never_reach_the_page():
    assert plain_text("bell\x07 nul\x00 ok") == "bell nul ok"


def test_terminal_payload_is_compact():
    payload = terminal_payload(render_terminal("plain \x1b[31mred\x1b[0m"))
    assert payload == [["plain "], ["red", "ansi-fg-1", "", ""]]


# -- windows -------------------------------------------------------------------------------------------
def test_tail_window_starts_at_a_line():
    text = "".join(f"line {i}\n" for i in range(1000))
    window = tail_window(text, 100)
    assert window.truncated
    assert window.text.startswith("line ")
    assert text.endswith(window.text)
    assert window.start + len(window.text) == window.total == len(text)
    assert len(window.text) <= 100


def test_tail_window_of_small_text_is_whole():
    window = tail_window("short\n", 100)
    assert window.text == "short\n" and not window.truncated


def test_tail_window_of_one_huge_line_is_cut():
    window = tail_window("x" * 1000, 100)
    assert len(window.text) == 100 and window.truncated


def test_load_more_doubles_up_to_a_cap():
    assert next_window_size(DEFAULT_WINDOW) == 2 * DEFAULT_WINDOW
    assert next_window_size(MAX_WINDOW) == MAX_WINDOW
    assert next_window_size(0) == DEFAULT_WINDOW
    assert count_lines("a\nb") == 2 and count_lines("a\nb\n") == 2 and count_lines("") == 0


@pytest.mark.timeout(60)
def test_fifty_megabytes_only_process_the_window():
    """50 MB of coloured progress output: the rendered window stays small and search stays bounded."""
    line = "\r  epoch 1 [==  ] 2/4\r  epoch 1 [====] 4/4 \x1b[32mloss=0.123\x1b[0m" + "x" * 40 + "\n"
    text = line * (50 * 1024 * 1024 // len(line))
    assert len(text) > 49 * 1024 * 1024
    window = tail_window(text)
    spans = render_terminal(window.text)
    assert len(window.text) <= DEFAULT_WINDOW
    assert sum(len(s.text) for s in spans) < DEFAULT_WINDOW
    result = search_output(text, "LOSS=0.123", max_hits=50)
    assert len(result.hits) == 50 and result.truncated


# -- search ------------------------------------------------------------------------------------------------
def test_search_finds_lines_with_numbers_case_insensitively():
    text = "alpha\nBeta gamma\n\x1b[31mbeta\x1b[0m red\ndelta\n"
    result = search_output(text, "BETA")
    assert result.hits == [(2, "Beta gamma"), (3, "beta red")]
    assert not result.truncated


def test_search_sees_what_the_terminal_shows():
    text = "progress 1/4\rprogress 4/4\nend\n"
    assert search_output(text, "1/4").hits == []
    assert search_output(text, "4/4").hits == [(1, "progress 4/4")]


def test_search_matches_across_escape_codes():
    text = "  epoch  3 val_acc=\x1b[1m0.8707\x1b[0m val_loss=0.41\n\x1b]0;title\x07done\n"
    assert search_output(text, "val_acc=0.87").hits == [(1, "  epoch  3 val_acc=0.8707 val_loss=0.41")]
    assert search_output(text, "0.8707 val_loss").hits == [(1, "  epoch  3 val_acc=0.8707 val_loss=0.41")]
    assert search_output(text, "done").hits == [(2, "done")]
    assert search_output(text, "[1m").hits == []  # the codes themselves are not on screen


def test_search_limits_hits():
    result = search_output("hit\n" * 500, "hit", max_hits=10)
    assert len(result.hits) == 10 and result.truncated
    assert [n for n, _ in result.hits] == list(range(1, 11))


def test_empty_search():
    assert search_output("abc", "").hits == []
    assert search_output("", "abc").hits == []


def test_split_matches_for_highlighting():
    assert split_matches("Loss and loss", "loss") == [("Loss", True), (" and ", False), ("loss", True)]
    assert split_matches("a+b", "+") == [("a", False), ("+", True), ("b", False)]
