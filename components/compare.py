"""Layout builders for the comparison page: config diff, metric summary, text diffs, run chips.

All run data is shown as text children (Dash escapes it); nothing from a run becomes HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from omnidash.components.figures import run_colors
from omnidash.components.text import plural
from omnidash.core import summaries as stats
from omnidash.core.compare import MISSING, ConfigDiff, SummaryRow, diff_line_kind, format_value
from omnidash.core.types import RunId

MAX_DIFF_LINES = 4000
MAX_CELL_CHARS = 300


def cell_text(v: Any) -> str:
    text = format_value(v) if v is not MISSING else MISSING
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def run_header(run_ids: Sequence[RunId], href: Any) -> list[html.Th]:
    """Column headers: a coloured dot and a link per run (`href(path)` makes app-relative links)."""
    colors = run_colors(list(run_ids))
    return [
        html.Th([html.Span(className="cmp-dot", style={"background": colors[rid]}),
                 dcc.Link(f"#{rid}", href=href(f"/runs/{rid}"))], className="cmp-run-col")
        for rid in run_ids
    ]


def _group(key: str) -> str:
    return key.split(".")[0] if "." in key else "run"


def config_diff_table(diff: ConfigDiff, href: Any) -> html.Div:
    """Rows = leaves, columns = runs; differing rows carry the class `differs`."""
    if not diff.rows:
        return html.Div("Nothing to compare.", className="pp-empty")
    body = []
    section = None
    differing_groups = {_group(r.key) for r in diff.rows if r.differs}
    for row in diff.rows:
        group = _group(row.key)
        if group != section:
            section = group
            body.append(html.Tr(html.Td(group, colSpan=len(diff.run_ids) + 1, className="cmp-section"),
                                className="cmp-head differs" if group in differing_groups else "cmp-head same"))
        cells = [html.Td(row.key, className="cmp-key", title=row.key)]
        for v in row.values:
            text = cell_text(v)
            cells.append(html.Td(text, title=text, className="cmp-missing" if v is MISSING or v == MISSING else None))
        body.append(html.Tr(cells, className="cmp-row differs" if row.differs else "cmp-row same",
                            **{"data-key": row.key}))
    n_diff = len(diff.differing_keys)
    return html.Div([
        html.P(f"{n_diff} of {plural(len(diff.rows), 'value')} differ{'s' if n_diff == 1 else ''}.", className="cmp-note"),
        html.Div(html.Table([html.Thead(html.Tr([html.Th("key"), *run_header(diff.run_ids, href)])),
                             html.Tbody(body)], className="cmp-table cmp-config"), className="cmp-scroll"),
    ])


def summary_table(rows: Sequence[SummaryRow], run_ids: Sequence[RunId], href: Any,
                  lower_better: dict[str, bool]) -> html.Div:
    """The compare statistics (min / max / last) per metric per run; the best value of each row marked ★."""
    if not rows:
        return html.Div("These runs logged no metrics.", className="pp-empty")
    body = []
    for k, r in enumerate(rows):
        first = k == 0 or rows[k - 1].metric != r.metric
        stat = stats.get(r.stat)
        cells = [html.Td(r.metric if first else "", className="cmp-key", title=r.metric),
                 html.Td(stat.words() if stat else r.stat, className="cmp-stat")]
        for i, v in enumerate(r.values):
            best = i in r.best
            cells.append(html.Td([format_value(v) if v is not None else MISSING, " ★" if best else ""],
                                 className="cmp-best" if best else ("cmp-missing" if v is None else None)))
        body.append(html.Tr(cells, className="cmp-row cmp-first" if first else "cmp-row"))
    return html.Div([
        html.P("★ best per row: lowest for metrics named like loss/error/time, highest otherwise.",
               className="cmp-note"),
        html.Div(html.Table([html.Thead(html.Tr([html.Th("metric"), html.Th(""), *run_header(run_ids, href)])),
                             html.Tbody(body)], className="cmp-table cmp-summary"), className="cmp-scroll"),
    ])


def diff_view(lines: Sequence[str], empty_message: str = "No differences.") -> html.Div:
    """A unified diff as coloured text lines (never HTML)."""
    if not lines:
        return html.Div(empty_message, className="cmp-note cmp-same")
    shown = lines[:MAX_DIFF_LINES]
    children = [html.Div(line or " ", className=f"diff-line diff-{diff_line_kind(line)}") for line in shown]
    if len(lines) > MAX_DIFF_LINES:
        children.append(html.Div(f"… {len(lines) - MAX_DIFF_LINES} more lines not shown", className="diff-line diff-hunk"))
    return html.Div(children, className="diff-view")


def pair_defaults(run_ids: Sequence[RunId]) -> tuple[str | None, str | None]:
    """The pair a two-way diff starts with, as its pickers hold it: the first two runs (the first twice if alone)."""
    first = str(run_ids[0]) if run_ids else None
    return first, str(run_ids[1]) if len(run_ids) > 1 else first


def pair_picker(id_a: str, id_b: str, run_ids: Sequence[RunId]) -> html.Div:
    """Two dropdowns choosing the runs of a two-way diff (from `pair_defaults`)."""
    options = [{"label": f"#{r}", "value": str(r)} for r in run_ids]
    first, second = pair_defaults(run_ids)
    return html.Div([
        dcc.Dropdown(id=id_a, options=options, value=first, clearable=False, className="cmp-pick"),
        html.Span("→", className="cmp-arrow"),
        dcc.Dropdown(id=id_b, options=options, value=second, clearable=False, className="cmp-pick"),
    ], className="cmp-pair")
