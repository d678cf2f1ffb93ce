"""Captured output as a terminal shows it: `\\r` progress bars collapsed, ANSI SGR colours as spans,
search, and tail windows over huge text. Pure Python, no dash.

Sacred stores `captured_out` raw (sacred-format.md §2.2, §6.6): carriage returns, backspaces and
ANSI escapes included, and never truncated. Everything here works on a slice of that text so a
50 MB output never has to be processed whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# -- escape sequences -------------------------------------------------------------------
_CSI = r"\x1b\[[0-?]*[ -/]*[@-~]"
_OSC = r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
_OTHER_ESC = r"\x1b[@-Z\\-_]?"
_ESCAPES = re.compile(f"{_CSI}|{_OSC}|{_OTHER_ESC}")
_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")


def strip_ansi(text: str) -> str:
    """Text without any escape sequence (colours, cursor moves, titles)."""
    return _ESCAPES.sub("", text) if "\x1b" in text else text


# -- carriage returns and backspaces ---------------------------------------------------------
def collapse_line(line: str) -> str:
    """One line (no `\\n`) as a terminal leaves it: `\\r` returns to column 0 and overwrites, `\\b` steps back."""
    if "\b" in line:
        return _collapse_slow(line)
    if "\r" not in line:
        return line
    parts = line.split("\r")
    if parts[-1] == "" and len(parts) > 1:  # a trailing \r (or \r\n) moves the cursor only
        parts.pop()
    shown = ""
    if "\x1b" in line:
        for part in parts:
            shown = part + _after_visible(shown, _visible_len(part))
        return shown
    for part in parts:
        shown = part + shown[len(part) :]
    return shown


def _visible_len(text: str) -> int:
    return len(strip_ansi(text))


def _after_visible(text: str, n: int) -> str:
    """`text` without its first `n` visible characters; escapes met on the way are kept (they set colours)."""
    kept: list[str] = []
    pos = 0
    seen = 0
    while pos < len(text) and seen < n:
        m = _ESCAPES.match(text, pos)
        if m and m.end() > pos:
            kept.append(m.group(0))
            pos = m.end()
        else:
            pos += 1
            seen += 1
    return "".join(kept) + text[pos:]


def _collapse_slow(line: str) -> str:
    chars: list[str] = []
    cursor = 0
    for ch in line:
        if ch == "\r":
            cursor = 0
        elif ch == "\b":
            cursor = max(0, cursor - 1)
        else:
            if cursor == len(chars):
                chars.append(ch)
            else:
                chars[cursor] = ch
            cursor += 1
    return "".join(chars)


def collapse_carriage_returns(text: str) -> str:
    """Like `sacred.utils.apply_backspaces_and_linefeeds`, line by line, fast when there is nothing to do."""
    if "\r" not in text and "\b" not in text:
        return text
    return "\n".join(collapse_line(line) for line in text.split("\n"))


def plain_text(text: str) -> str:
    """What the terminal shows, as plain text: collapsed, without escapes and stray control characters."""
    return _CONTROL.sub("", strip_ansi(collapse_carriage_returns(text)))


# -- ANSI SGR -> styled spans ------------------------------------------------------------------
@dataclass(frozen=True)
class Style:
    """The SGR state of a run of text."""

    fg: int | str | None = None  # 0-15 (themed classes), or "#rrggbb"
    bg: int | str | None = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    inverse: bool = False
    strike: bool = False

    def classes(self) -> str:
        """CSS class names for this style (16 colours are classes so the theme can tune them)."""
        names = []
        fg, bg = (self.bg, self.fg) if self.inverse else (self.fg, self.bg)
        if isinstance(fg, int):
            names.append(f"ansi-fg-{fg}")
        if isinstance(bg, int):
            names.append(f"ansi-bg-{bg}")
        if self.inverse:
            names.append("ansi-inverse")
        for flag in ("bold", "dim", "italic", "underline", "strike"):
            if getattr(self, flag):
                names.append(f"ansi-{flag}")
        return " ".join(names)

    def css(self) -> dict[str, str]:
        """Inline colours for 256-colour and true-colour codes."""
        out = {}
        fg, bg = (self.bg, self.fg) if self.inverse else (self.fg, self.bg)
        if isinstance(fg, str):
            out["color"] = fg
        if isinstance(bg, str):
            out["backgroundColor"] = bg
        return out


PLAIN = Style()


@dataclass(frozen=True)
class Span:
    text: str
    style: Style = PLAIN


def _xterm_256(n: int) -> int | str:
    """Colour n of the xterm 256 palette: 0-15 stay themed, the rest become #rrggbb."""
    if n < 16:
        return n
    if n < 232:
        n -= 16
        levels = [0, 95, 135, 175, 215, 255]
        r, g, b = levels[n // 36], levels[(n // 6) % 6], levels[n % 6]
    else:
        r = g = b = 8 + (n - 232) * 10
    return f"#{r:02x}{g:02x}{b:02x}"


def _extended_colour(codes: list[int], i: int) -> tuple[int | str | None, int]:
    """Parse `38;5;n` / `38;2;r;g;b` starting at codes[i] (the 38/48); returns (colour, next index)."""
    if i + 1 < len(codes) and codes[i + 1] == 5 and i + 2 < len(codes):
        return _xterm_256(max(0, min(255, codes[i + 2]))), i + 3
    if i + 1 < len(codes) and codes[i + 1] == 2 and i + 4 < len(codes):
        r, g, b = (max(0, min(255, c)) for c in codes[i + 2 : i + 5])
        return f"#{r:02x}{g:02x}{b:02x}", i + 5
    return None, len(codes)


# SGR codes that switch attributes on or off, or reset a colour to the default
_SGR_SETS: dict[int, dict[str, Any]] = {
    1: {"bold": True}, 2: {"dim": True}, 3: {"italic": True}, 4: {"underline": True}, 7: {"inverse": True},
    9: {"strike": True}, 22: {"bold": False, "dim": False}, 23: {"italic": False}, 24: {"underline": False},
    27: {"inverse": False}, 29: {"strike": False}, 39: {"fg": None}, 49: {"bg": None},
}


def apply_sgr(style: Style, params: str) -> Style:
    """The style after one `ESC[...m` sequence."""
    try:
        codes = [int(c) if c else 0 for c in re.split(r"[;:]", params)] if params else [0]
    except ValueError:
        return style
    s = dict(style.__dict__)
    i = 0
    while i < len(codes):
        c = codes[i]
        i += 1
        if c == 0:
            s = dict(PLAIN.__dict__)
        elif c in _SGR_SETS:
            s.update(_SGR_SETS[c])
        elif 30 <= c <= 37:
            s["fg"] = c - 30
        elif 90 <= c <= 97:
            s["fg"] = c - 90 + 8
        elif 40 <= c <= 47:
            s["bg"] = c - 40
        elif 100 <= c <= 107:
            s["bg"] = c - 100 + 8
        elif c in (38, 48):
            colour, i = _extended_colour(codes, i - 1)
            s["fg" if c == 38 else "bg"] = colour
    return Style(**s)


def ansi_spans(text: str, style: Style = PLAIN) -> list[Span]:
    """Split text (already collapsed) into styled spans; escapes other than SGR are dropped.

    Adjacent runs with the same style are merged, so uncoloured output is a single span.
    """
    spans: list[Span] = []

    def add(chunk: str, st: Style) -> None:
        chunk = _CONTROL.sub("", chunk)
        if not chunk:
            return
        if spans and spans[-1].style == st:
            spans[-1] = Span(spans[-1].text + chunk, st)
        else:
            spans.append(Span(chunk, st))

    if "\x1b" not in text:
        add(text, style)
        return spans
    pos = 0
    for m in _ESCAPES.finditer(text):
        add(text[pos : m.start()], style)
        sgr = _SGR.fullmatch(m.group(0))
        if sgr:
            style = apply_sgr(style, sgr.group(1))
        pos = m.end()
    add(text[pos:], style)
    return spans


def render_terminal(text: str) -> list[Span]:
    """Raw captured output -> what a terminal would show, as styled spans."""
    return ansi_spans(collapse_carriage_returns(text))


# -- windows over huge output --------------------------------------------------------------------
DEFAULT_WINDOW = 256 * 1024  # characters shown at first
MAX_WINDOW = 8 * 1024 * 1024  # beyond this, download the raw text


@dataclass
class Window:
    """The last part of an output, cut at a line start when possible."""

    text: str  # raw text of the window
    start: int  # offset of the window in the whole output
    total: int  # length of the whole output

    @property
    def truncated(self) -> bool:
        return self.start > 0


def tail_window(text: str, max_chars: int = DEFAULT_WINDOW) -> Window:
    """The last `max_chars` characters of `text`, starting at a line boundary unless one line is longer."""
    total = len(text)
    if total <= max_chars:
        return Window(text, 0, total)
    cut = total - max_chars
    newline = text.find("\n", cut, total)
    if newline != -1 and newline + 1 < total:
        cut = newline + 1
    return Window(text[cut:], cut, total)


def next_window_size(current: int) -> int:
    """Size of the window after one more "load more" (doubling, capped)."""
    return min(MAX_WINDOW, max(DEFAULT_WINDOW, current * 2))


def count_lines(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


# -- search ----------------------------------------------------------------------------------
@dataclass
class SearchResult:
    query: str
    hits: list[tuple[int, str]] = field(default_factory=list)  # (1-based line number, plain line)
    truncated: bool = False  # more lines match than were returned


def search_output(text: str, query: str, max_hits: int = 200) -> SearchResult:
    """Lines whose terminal rendering contains `query` (case-insensitive), with their line numbers.

    Escape codes are removed first (one regex pass), then the text is scanned with one compiled regex, so
    50 MB is searched in well under a second; only the lines that match are collapsed.
    """
    result = SearchResult(query=query)
    needle = query.strip("\n")
    if not needle or not text:
        return result
    text = strip_ansi(text)  # match what is on screen: `val_acc=0.87` in `val_acc=\x1b[1m0.8707` (newlines kept)
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    folded = needle.casefold()
    line_no = 1
    counted_to = 0
    last_line_start = -1
    for m in pattern.finditer(text):
        start = text.rfind("\n", 0, m.start()) + 1
        if start == last_line_start:
            continue
        last_line_start = start
        end = text.find("\n", m.end())
        end = len(text) if end == -1 else end
        line = plain_text(text[start:end])
        if folded not in line.casefold():
            continue
        line_no += text.count("\n", counted_to, start)
        counted_to = start
        if len(result.hits) >= max_hits:
            result.truncated = True
            break
        result.hits.append((line_no, line))
    return result


def split_matches(line: str, query: str) -> list[tuple[str, bool]]:
    """`line` cut into (text, is_match) pieces for highlighting `query` case-insensitively."""
    if not query:
        return [(line, False)]
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for m in re.finditer(re.escape(query), line, re.IGNORECASE):
        if m.start() > pos:
            pieces.append((line[pos : m.start()], False))
        pieces.append((m.group(0), True))
        pos = m.end()
    if pos < len(line):
        pieces.append((line[pos:], False))
    return pieces
