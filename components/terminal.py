"""Terminal-like rendering of captured output: styled spans inside one <pre>, text nodes only."""

from __future__ import annotations

from typing import Any

from dash import html

from app.store.output import Span, split_matches


def terminal_children(spans: list[Span]) -> list[Any]:
    """Plain runs become bare strings (cheap text nodes); styled runs become <span>s."""
    out: list[Any] = []
    for span in spans:
        classes, css = span.style.classes(), span.style.css()
        if not classes and not css:
            out.append(span.text)
        else:
            out.append(html.Span(span.text, className=classes or None, style=css or None))
    return out


def terminal(spans: list[Span], element_id: str | None = None, empty_text: str = "") -> html.Pre:
    """The whole visible output as one <pre class="terminal">."""
    children = terminal_children(spans) or [html.Span(empty_text, className="terminal-empty")]
    kwargs = {"id": element_id} if element_id else {}
    return html.Pre(children, className="terminal", **kwargs)


def search_hits(hits: list[tuple[int, str]], query: str, truncated: bool) -> html.Div:
    """Matching lines with their numbers, the query highlighted."""
    if not query:
        return html.Div()
    if not hits:
        return html.Div(html.P(f"No line contains “{query}”.", className="muted"), className="out-hits")
    rows = []
    for line_no, line in hits:
        pieces = [html.Mark(text) if hit else text for text, hit in split_matches(line[:2000], query)]
        rows.append(html.Div([html.Span(str(line_no), className="out-hit-no"), html.Span(pieces)],
                             className="out-hit"))
    title = f"{len(hits)}{'+' if truncated else ''} matching line{'s' if len(hits) != 1 else ''}"
    return html.Div([html.Div(title, className="out-hits-title"), html.Pre(rows, className="out-hits-lines")],
                    className="out-hits")
