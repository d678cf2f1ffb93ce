"""Layout builders of the run detail page. Pure: they take plain values and return components; every
user-supplied string ends up as a text node (or in sanitised Markdown), never as markup."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dash import dcc, html

from omnidash.components.text import plural
from omnidash.core.run_view import (
    code_fence,
    dedupe_repositories,
    exception_summary,
    format_size,
    is_library_frame,
    language_of,
    sanitize_markdown,
    split_dependency,
    trace_text,
)
from omnidash.core.types import FileInfo


def status_badge(status: str) -> html.Span:
    slug = "".join(ch if ch.isalnum() else "_" for ch in status.lower())
    return html.Span(
        [html.Span(className="status-dot", style={"background": f"var(--status-{slug}, var(--muted))"}),
         status.replace("_", " ").title()],
        className=f"status-badge status-{slug}",
        title=status,
    )


def facts(items: Sequence[tuple[str, Any]]) -> html.Dl:
    """A definition list of (label, value); missing values show an em dash."""
    rows: list[Any] = []
    for label, value in items:
        rows.append(html.Dt(label))
        rows.append(html.Dd(value if value not in (None, "") else "—"))
    return html.Dl(rows, className="facts")


def tag_chips(tags: Sequence[str], editable: bool) -> list[Any]:
    chips = []
    for tag in tags:
        parts: list[Any] = [html.Span(tag, className="tag-text")]
        if editable:
            parts.append(html.Button("×", id={"type": "rd-tag-remove", "index": tag}, className="tag-remove",
                                     title="Remove tag", n_clicks=0))
        chips.append(html.Span(parts, className="tag-chip"))
    if not chips:
        chips.append(html.Span("no tags", className="muted"))
    return chips


def notes_markdown(notes: str) -> dcc.Markdown:
    """Notes rendered as Markdown with raw HTML off and unsafe link targets removed."""
    if not notes.strip():
        return dcc.Markdown("*No notes.*", className="notes-md muted", dangerously_allow_html=False)
    return dcc.Markdown(sanitize_markdown(notes), className="notes-md", dangerously_allow_html=False,
                        link_target="_blank")


def notes_conflict_panel() -> html.Div:
    """Shown when the notes changed since editing began: their version beside the editor, and the choices."""
    return html.Div(
        [html.P("Someone else changed these notes while you were editing. Their version is below, yours is "
                "in the editor.", className="notes-conflict-msg"),
         html.Div([html.Span("Their version (saved now)", className="label"),
                   html.Pre(id="rd-notes-theirs", className="notes-theirs")]),
         html.Div([html.Button("Keep mine", id="rd-notes-keep", className="btn btn-primary", n_clicks=0,
                               title="Save your version over theirs"),
                   html.Button("Take theirs", id="rd-notes-take", className="btn", n_clicks=0,
                               title="Drop your changes"),
                   html.Button("Merge…", id="rd-notes-merge", className="btn", n_clicks=0,
                               title="Put both versions in the editor, edit, then Save")],
                  className="notes-buttons")],
        id="rd-notes-conflict", hidden=True, className="notes-conflict", role="alert",
    )


def header(
    run_id: Any,
    experiment: str | None,
    status: str,
    fact_items: Sequence[tuple[str, Any]],
    tags: Sequence[str],
    notes: str,
    editable: bool,
    permissions: dict[str, str] | None = None,
) -> html.Div:
    """The run's title, facts, tags and notes. What `permissions` refuses (omnidash.pages.permissions: action ->
    reason) shows disabled with the reason as its tooltip, or not at all when it would only be clutter."""
    permissions = permissions or {}
    title = html.H2([html.Span(f"#{run_id}", className="run-id"), html.Span(experiment or "(unnamed)",
                    className="run-experiment"), html.Span(status_badge(status), id="rd-status")],
                    className="run-title")
    actions = []
    delete_refused = permissions.get("delete", "" if editable else "This dashboard is read-only.")
    actions.append(html.Button("Delete run…", id="rd-delete", className="btn btn-danger", n_clicks=0,
                               disabled=bool(delete_refused), title=delete_refused or "Delete this run for good"))
    refused = "" if editable else (permissions.get("tags") or "This dashboard is read-only.")
    tag_row = html.Div(
        [html.Span("Tags", className="label"), html.Span(tag_chips(tags, editable), id="rd-tags", className="tags")]
        + ([dcc.Input(id="rd-tag-input", placeholder="add tag ⏎", debounce=True, className="tag-input",
                      value="", maxLength=200)] if editable else
           [html.Span("(read-only)", className="muted perm-hint", title=refused)]),
        className="tag-row",
    )
    notes_block = html.Div(
        [
            html.Div([html.Span("Notes", className="label")]
                     + [html.Button("Edit", id="rd-notes-edit", className="btn btn-small", n_clicks=0,
                                    disabled=not editable, title=refused or "Edit the notes (Markdown)")],
                     className="notes-head"),
            html.Div(notes_markdown(notes), id="rd-notes-view"),
            html.Div(
                [dcc.Textarea(id="rd-notes-text", value=notes, className="notes-text"),
                 html.Div([html.Button("Save", id="rd-notes-save", className="btn btn-primary", n_clicks=0),
                           html.Button("Cancel", id="rd-notes-cancel", className="btn", n_clicks=0),
                           html.Span("Markdown; HTML is shown as text.", className="muted")],
                          className="notes-buttons"),
                 notes_conflict_panel(),
                 dcc.Store(id="rd-notes-base", data=notes)],
                id="rd-notes-editor", hidden=True, className="notes-editor",
            ) if editable else html.Div(),
        ],
        className="notes",
    )
    return html.Div(
        [
            html.Div([title, html.Div(actions, className="run-actions")], className="run-title-row"),
            facts(fact_items),
            tag_row,
            notes_block,
            html.Div(id="rd-edit-msg", className="edit-msg", role="status"),
        ],
        className="run-header",
    )


def delete_dialog() -> html.Div:
    return html.Div(
        html.Div(
            [
                html.H3("Delete this run?"),
                html.Div(id="rd-delete-preview"),
                dcc.Store(id="rd-deleted"),  # where to go once the run is gone
                html.Div([html.Button("Delete for good", id="rd-delete-confirm", className="btn btn-danger",
                                      n_clicks=0),
                          html.Button("Cancel", id="rd-delete-cancel", className="btn", n_clicks=0)],
                         className="dialog-buttons"),
            ],
            className="dialog",
            role="dialog",
        ),
        id="rd-delete-dialog",
        className="dialog-backdrop",
        hidden=True,
    )


def delete_summary(report: Any) -> html.Div:
    """What delete_run will remove, from a DeleteReport."""
    items = [
        html.Li("the run document (config, info, output, tags and notes)"),
        html.Li(f"{report.metrics} metric series"),
        html.Li(f"{report.artifacts} artifact file{'s' if report.artifacts != 1 else ''}"),
        html.Li(f"{report.sources} source file{'s' if report.sources != 1 else ''} not shared with other runs"),
    ]
    files = list(report.files or [])
    detail = []
    if files:
        detail = [html.Details([html.Summary(f"{len(files)} stored file{'s' if len(files) != 1 else ''}"),
                                html.Ul([html.Li(f, className="mono") for f in files[:200]])])]
    return html.Div([html.P("This removes, and cannot be undone:"), html.Ul(items), *detail])


# -- failure ---------------------------------------------------------------------------------
def failure_view(fail_trace: Any) -> html.Div:
    if not fail_trace:
        return html.Div(html.P("This run did not fail.", className="muted"), className="failure")
    frames = fail_trace if isinstance(fail_trace, list) else trace_text(fail_trace).splitlines(keepends=True)
    blocks = [
        html.Div(str(chunk), className="trace-chunk trace-lib" if is_library_frame(str(chunk)) else "trace-chunk")
        for chunk in frames
    ]
    return html.Div(
        [
            html.Pre(exception_summary(fail_trace), className="exception-line", id="rd-exception"),
            html.Div([html.Span("Traceback", className="label"),
                      dcc.Clipboard(content=trace_text(fail_trace), className="copy-btn", title="Copy trace")],
                     className="section-head"),
            html.Pre(blocks, className="trace"),
        ],
        className="failure",
    )


# -- meta ------------------------------------------------------------------------------------
def reproduce_block(command: str) -> html.Div:
    return html.Div(
        [
            html.Div([html.Span("Reproduce this run", className="label"),
                      dcc.Clipboard(target_id="rd-repro", className="copy-btn", title="Copy command")],
                     className="section-head"),
            html.Pre(command, id="rd-repro", className="repro"),
        ],
        className="repro-block",
    )


# -- experiment --------------------------------------------------------------------------------
def experiment_view(
    experiment: dict[str, Any],
    sources: Sequence[FileInfo],
    source_href: Callable[[str], str],
) -> html.Div:
    deps = [split_dependency(d) for d in experiment.get("dependencies") or []]
    repos = dedupe_repositories(experiment.get("repositories"))
    repo_rows = [
        html.Tr([html.Td(str(r["url"]), className="mono"), html.Td(str(r["commit"]), className="mono"),
                 html.Td(html.Span("dirty", className="flag flag-warn") if r["dirty"]
                         else html.Span("clean", className="flag flag-ok"))])
        for r in repos
    ]
    source_rows = []
    for i, info in enumerate(sources):
        actions: list[Any] = []
        if info.missing:
            actions.append(html.Span("file missing", className="flag flag-warn"))
        else:
            actions += [html.Button("View", id={"type": "rd-src-view", "index": i}, className="btn btn-small",
                                    n_clicks=0),
                        html.A("Download", href=source_href(info.name), className="btn btn-small", download="")]
        source_rows.append(html.Tr([html.Td(info.name, className="mono"), html.Td(format_size(info.size)),
                                    html.Td(actions, className="actions")]))
    return html.Div(
        [
            facts([("Name", experiment.get("name")), ("Main file", experiment.get("mainfile")),
                   ("Base directory", experiment.get("base_dir"))]),
            html.H4("Source files"),
            table(["File", "Size", ""], source_rows, "No source files recorded."),
            html.Div(id="rd-src-body", className="source-body"),
            html.H4("Git repositories"),
            table(["Repository", "Commit", "State"], repo_rows, "No git information recorded."),
            html.H4(f"Dependencies ({len(deps)})"),
            table(["Package", "Version"], [html.Tr([html.Td(n), html.Td(v, className="mono")]) for n, v in deps],
                  "No dependencies recorded."),
        ],
        className="experiment",
    )


def source_view(name: str, text: str, truncated: bool) -> html.Div:
    """A source file, highlighted by Dash's bundled highlight.js through a fenced code block."""
    note = [html.P("Showing the first 1 MB.", className="muted")] if truncated else []
    return html.Div(
        [html.Div([html.Span(name, className="mono file-title")], className="section-head"), *note,
         dcc.Markdown(code_fence(text, language_of(name)), className="source-code", dangerously_allow_html=False)],
        className="source-view",
    )


def table(headers: Sequence[str], rows: list[Any], empty_text: str) -> Any:
    if not rows:
        return html.P(empty_text, className="muted")
    return html.Table([html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody(rows)], className="grid")


# -- artifacts --------------------------------------------------------------------------------------
def artifacts_view(
    artifacts: Sequence[FileInfo],
    artifact_href: Callable[[str], str],
    zip_href: str,
    tz_format: Callable[[Any], str | None],
) -> html.Div:
    rows = []
    for i, info in enumerate(artifacts):
        if info.missing:
            actions: list[Any] = [html.Span("file missing", className="flag flag-warn")]
        else:
            actions = [html.Button("Preview", id={"type": "rd-art-view", "index": i}, className="btn btn-small",
                                   n_clicks=0),
                       html.A("Download", href=artifact_href(info.name), className="btn btn-small", download="")]
        rows.append(html.Tr([html.Td(info.name, className="mono"), html.Td(format_size(info.size)),
                             html.Td(tz_format(info.date) or "—"), html.Td(info.content_type or "—"),
                             html.Td(actions, className="actions")]))
    head = html.Div(
        [html.Span(f"{len(artifacts)} artifact{'s' if len(artifacts) != 1 else ''}", className="label")]
        + ([html.A("Download all (zip)", href=zip_href, className="btn", download="", id="rd-art-zip")]
           if any(not a.missing for a in artifacts) else []),
        className="section-head",
    )
    return html.Div(
        [head, table(["Name", "Size", "Date", "Type", ""], rows, "This run has no artifacts."),
         html.Div(id="rd-art-body", className="artifact-body")],
        className="artifacts",
    )


def preview_frame(name: str, body: Any, note: str | None = None) -> html.Div:
    return html.Div([html.Div(html.Span(name, className="mono file-title"), className="section-head"),
                     *([html.P(note, className="muted")] if note else []), body], className="preview")


SMALL_IMAGE_PX = 360  # images narrower than this are shown at least this wide (pixels kept sharp)


def image_width(raw: bytes) -> int | None:
    """The pixel width of a PNG or GIF from its header (None for other formats)."""
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:
        return int.from_bytes(raw[16:20], "big")
    if raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 8:
        return int.from_bytes(raw[6:8], "little")
    return None


def image_preview(data_uri: str, name: str, width: int | None = None) -> html.Div:
    """The image, small ones scaled up; a click shows it as large as the window (assets/image_zoom.js)."""
    small = width is not None and width < SMALL_IMAGE_PX
    return html.Div(
        html.Img(src=data_uri, alt=name, className="preview-img preview-img-small" if small else "preview-img",
                 title="Click to enlarge"),
        className="img-zoom", role="button", tabIndex="0", **{"aria-label": f"enlarge {name}"})


def text_preview(text: str) -> html.Pre:
    return html.Pre(text, className="preview-text")


PREVIEW_CSP = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
               'style-src \'unsafe-inline\'; font-src data:">')


def html_preview(document: str) -> html.Iframe:
    """An HTML artifact in a frame with every sandbox restriction (no scripts, forms, popups or same-origin),
    and a CSP that stops it from fetching anything over the network."""
    return html.Iframe(srcDoc=PREVIEW_CSP + document, sandbox="", className="preview-html",
                       title="HTML artifact (sandboxed)")


def csv_preview(columns: Sequence[str], rows: Sequence[Sequence[Any]], total_rows: int) -> html.Div:
    body = [html.Tr([html.Td("" if v is None else str(v)) for v in row]) for row in rows]
    note = f"First {len(rows)} of {plural(total_rows, 'row')}." if total_rows > len(rows) else f"{plural(total_rows, 'row')}."
    return html.Div([html.P(note, className="muted"),
                     html.Div(table([str(c) for c in columns], body, "Empty table."), className="csv-wrap")])
