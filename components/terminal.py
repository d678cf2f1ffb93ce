"""Terminal-like rendering of captured output: styled spans inside one <pre>, text nodes only."""

from __future__ import annotations

from dash import html

from omnidash.core.output import Span, split_matches


def terminal_payload(spans: list[Span]) -> list[list[str]]:
    """Spans as compact JSON for the browser: [text], or [text, classes, color, background].

    The page draws them with `textContent` in a clientside callback (run_detail_callbacks.py): thousands of
    spans as Dash components would take seconds to render, and text nodes can never become markup.
    """
    out: list[list[str]] = []
    for span in spans:
        classes, css = span.style.classes(), span.style.css()
        if not classes and not css:
            out.append([span.text])
        else:
            out.append([span.text, classes, css.get("color", ""), css.get("backgroundColor", "")])
    return out


def terminal(element_id: str, empty_text: str = "No output captured.") -> html.Pre:
    """The empty <pre> the output is drawn into."""
    return html.Pre(id=element_id, className="terminal", **{"data-empty": empty_text})


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
