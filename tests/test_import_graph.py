"""The installed `omnidash` package imports in one direction: no module reaches itself again through its imports.

The graph is read from the source (ast), so an import inside a function counts like one at the top: a loop
hidden by a function-local import is still a loop.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

import omnidash
import omnidash.components

ROOTS = {"omnidash": omnidash, "omnidash.components": omnidash.components}


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def source_of(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin) if spec and spec.origin and spec.origin.endswith(".py") else None


def imported_modules(name: str, tree: ast.AST, is_package: bool) -> set[str]:
    """The omnidash modules `name` imports anywhere in its source (`from pkg import sub` names the submodule)."""
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if base.startswith("omnidash") and module_exists(sub) else base)
    return {m for m in out if m == "omnidash" or m.startswith("omnidash.")}


def import_graph() -> dict[str, set[str]]:
    """Every module of the installed package (the components too) -> the omnidash modules it imports."""
    todo = list(ROOTS)
    for prefix, package in ROOTS.items():
        todo += [m.name for m in pkgutil.walk_packages(package.__path__, prefix + ".")]
    graph: dict[str, set[str]] = {}
    while todo:
        name = todo.pop()
        if name in graph:
            continue
        path = source_of(name)
        if path is None:
            graph[name] = set()
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        graph[name] = imported_modules(name, tree, path.name == "__init__.py") - {name}
        todo += sorted(graph[name] - graph.keys())
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_reads_function_local_imports_and_relative_ones() -> None:
    tree = ast.parse("from .b import c\n\ndef f():\n    from omnidash.pages import table_state\n")
    assert imported_modules("omnidash.pages.x", tree, False) == {"omnidash.pages.b", "omnidash.pages.table_state"}


def test_cycles_finds_a_loop_and_only_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_loop() -> None:
    graph = import_graph()
    assert {"omnidash.pages.table", "omnidash.components.table", "omnidash.store.base"} <= graph.keys()
    assert cycles(graph) == []
