"""The filter bar: query input with suggestions, inline error, status chips. Pure layout."""

from __future__ import annotations

from dash import dcc, html

from omnidash.core.status import STATUSES

QUERY_INPUT = "tbl-query"
SUGGESTIONS = "tbl-suggest"
QUERY_APPLY = "tbl-query-apply"
QUERY_CLEAR = "tbl-query-clear"
QUERY_ERROR = "tbl-query-error"
QUERY_SUBMIT = "tbl-query-submit"  # {text, t}: what was in the input when Enter or Apply was pressed
CHIP = "tbl-chip"  # pattern-matching id type: {"type": CHIP, "status": S}

PLACEHOLDER = 'Filter: status == COMPLETED and lr < 1e-3 and tags has baseline   (free text searches everything)'


def status_chip(status: str, active: bool) -> html.Button:
    key = status.lower()
    return html.Button(
        [html.Span(className="status-dot", style={"background": f"var(--status-{key})"}),
         status.replace("_", " ").lower()],
        id={"type": CHIP, "status": status},
        className="chip" + (" chip-active" if active else ""),
        title=f"Show only {status} runs (click again to remove)",
        **{"aria-pressed": "true" if active else "false"},
    )


def status_chips(active: list[str]) -> list[html.Button]:
    return [status_chip(s, s in active) for s in STATUSES]


def error_view(message: str | None, query: str = "", position: int | None = None) -> list:
    """The query error shown under the bar, with a caret under the offending (1-based) column."""
    if not message:
        return []
    parts: list = [html.Span("⚠ ", className="error-icon"), html.Span(message, className="error-text")]
    if position is not None and query:
        pos = max(0, min(int(position) - 1, len(query)))
        parts.append(html.Pre(
            [query, "\n", " " * pos + "^"], className="error-caret", **{"aria-label": f"error at column {pos + 1}"}
        ))
    return parts


def filter_bar(query: str, active_statuses: list[str]) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    dcc.Input(
                        id=QUERY_INPUT, type="text", value=query, placeholder=PLACEHOLDER, debounce=0.25,
                        list=SUGGESTIONS, className="query-input", autoComplete="off", spellCheck="false",
                        name="q",
                    ),
                    html.Datalist(id=SUGGESTIONS, children=[]),
                    dcc.Store(id=QUERY_SUBMIT),
                    html.Button("Apply", id=QUERY_APPLY, className="btn btn-primary"),
                    html.Button("Clear", id=QUERY_CLEAR, className="btn", title="Remove the filter"),
                ],
                className="query-row",
            ),
            html.Div(error_view(None), id=QUERY_ERROR, className="query-error", role="alert"),
            html.Div(status_chips(active_statuses), className="status-chips", id="tbl-chips"),
        ],
        className="filter-bar",
    )
