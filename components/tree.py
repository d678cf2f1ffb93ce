"""A readable, collapsible tree of JSON-like data (config, info, meta, host). Text only: keys and values are
rendered as text nodes, never as markup."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from dash import html

from omnidash.core.values import decode_value

MAX_CHILDREN = 300  # children shown per node; the rest are summarised
INLINE_LIST = 8  # short lists of scalars are shown on one line
# levels drawn; each costs ~6 levels of the layout's JSON, and Dash's serializer (orjson) stops at 255
MAX_TREE_DEPTH = 24


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def scalar_text(value: Any) -> str:
    """A leaf as text: strings quoted like JSON, null/true/false lower-case."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value != value:
        return "NaN"
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def scalar_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"


def inline_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) <= INLINE_LIST and all(is_scalar(v) for v in value)


def _children(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items() if k != "__doc__"]
    return [(str(i), v) for i, v in enumerate(value)]


def _matches(path: str, value: Any, folded_query: str) -> bool:
    """True when the path, or any leaf value below it, contains the query."""
    if folded_query in path.casefold():
        return True
    if is_scalar(value):
        return folded_query in scalar_text(value).casefold()
    if isinstance(value, Mapping | list):
        return any(_matches(f"{path}.{k}", v, folded_query) for k, v in _children(value))
    return False


def _is_marked(path: str, marked: Collection[str]) -> bool:
    parts = path.split(".")
    return any(".".join(parts[:i]) in marked for i in range(1, len(parts) + 1))


def _leaf_value(value: Any) -> html.Span:
    if inline_list(value):
        return html.Span("[" + ", ".join(scalar_text(v) for v in value) + "]", className="tree-value tree-list")
    if isinstance(value, Mapping | list) and not value:
        return html.Span("{}" if isinstance(value, Mapping) else "[]", className="tree-value tree-empty")
    return html.Span(scalar_text(value), className=f"tree-value tree-{scalar_kind(value)}")


def _key(key: str, path: str, marked: Collection[str]) -> list[Any]:
    out: list[Any] = [html.Span(key, className="tree-key")]
    if marked and _is_marked(path, marked):
        out.append(html.Span("CLI", className="tree-badge", title="set on the command line (meta.config_updates)"))
    return out


def _node(key: str, path: str, value: Any, depth: int, ctx: dict[str, Any]) -> Any:
    marked, query, open_depth = ctx["marked"], ctx["query"], ctx["open_depth"]
    leaf = is_scalar(value) or inline_list(value) or (isinstance(value, Mapping | list) and not value)
    cls = "tree-row tree-marked" if marked and _is_marked(path, marked) else "tree-row"
    if not leaf and depth >= MAX_TREE_DEPTH:
        note = f"… nested deeper than {MAX_TREE_DEPTH} levels: not shown here (the JSON API has the document)"
        return html.Div([*_key(key, path, marked), html.Span(": ", className="tree-sep"),
                         html.Span(note, className="tree-value muted")], className=cls, **{"data-path": path})
    if leaf:
        return html.Div([*_key(key, path, marked), html.Span(": ", className="tree-sep"), _leaf_value(value)],
                        className=cls, **{"data-path": path})
    children = _children(value)
    shown = [(k, v) for k, v in children if not query or _matches(f"{path}.{k}", v, query)]
    if query and folded_in(query, path):
        shown = children
    body = [_node(k, f"{path}.{k}", v, depth + 1, ctx) for k, v in shown[:MAX_CHILDREN]]
    if len(shown) > MAX_CHILDREN:
        body.append(html.Div(f"… {len(shown) - MAX_CHILDREN} more", className="tree-more"))
    size = f"{{{len(children)}}}" if isinstance(value, Mapping) else f"[{len(children)}]"
    return html.Details(
        [html.Summary([*_key(key, path, marked), html.Span(size, className="tree-size")], className=cls),
         html.Div(body, className="tree-children")],
        open=bool(query) or depth < open_depth,
        className="tree-node",
        **{"data-path": path},
    )


def folded_in(folded_query: str, path: str) -> bool:
    return folded_query in path.casefold()


def json_tree(
    data: Any,
    marked: Collection[str] = (),
    query: str = "",
    open_depth: int = 2,
    empty_text: str = "Nothing recorded.",
) -> html.Div:
    """A tree of `data` (jsonpickle shapes decoded). `marked` holds dotted paths to flag as set on the
    command line; a non-empty `query` keeps only matching branches, all opened."""
    data = decode_value(data)
    folded = query.strip().casefold()
    if data is None or (isinstance(data, Mapping | list) and not data):
        return html.Div(html.P(empty_text, className="muted"), className="json-tree")
    if is_scalar(data):
        return html.Div(_leaf_value(data), className="json-tree")
    ctx = {"marked": set(marked), "query": folded, "open_depth": open_depth}
    rows = [
        _node(k, k, v, 0, ctx)
        for k, v in _children(data)
        if not folded or _matches(k, v, folded)
    ]
    if not rows:
        return html.Div(html.P(f"Nothing matches “{query}”.", className="muted"), className="json-tree")
    return html.Div(rows[:MAX_CHILDREN], className="json-tree")


def dotted_paths(data: Any, prefix: str = "") -> set[str]:
    """Every dotted path to a leaf of a nested dict (used for meta.config_updates)."""
    out: set[str] = set()
    if isinstance(data, Mapping):
        for k, v in data.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, Mapping) and v and "py/object" not in v and "py/tuple" not in v:
                out |= dotted_paths(v, path)
            else:
                out.add(path)
    return out
