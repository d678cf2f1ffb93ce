"""The import graph keeps its layers: the core is pure, components build layout from core values only.

store (data access) -> core (pure values and analysis) <- components (pure layout) <- pages <- server.
Every import is read from the source (ast), including those inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# (folder in the repository, the package it installs as)
CORE = (ROOT / "app" / "core", "omnidash.core")
COMPONENTS = (ROOT / "components", "omnidash.components")
# Libraries that belong to the web, database or layout layers, never to the core.
NOT_IN_CORE = ("dash", "dash_ag_grid", "plotly", "_plotly_utils", "flask", "flask_login", "werkzeug", "pymongo",
               "bson", "gridfs")
# Libraries that belong to data access or the server, never to layout builders.
NOT_IN_COMPONENTS = ("pymongo", "bson", "gridfs", "flask", "flask_login", "werkzeug")


def modules(folder: Path, package: str) -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) for every module of a package folder."""
    for path in sorted(folder.rglob("*.py")):
        parts = list(path.relative_to(folder).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join([package, *parts]), path


def imported_names(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of every import in a file; relative imports resolved against `module`."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            yield node.lineno, prefix
            for alias in node.names:  # `from omnidash import store` imports omnidash.store
                if alias.name != "*":
                    yield node.lineno, f"{prefix}.{alias.name}"


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def top_level_is(name: str, libraries: tuple[str, ...]) -> bool:
    return name.split(".")[0] in libraries


def first_per_line(found: list[str]) -> list[str]:
    """One message per import statement (its module, not each name it imports)."""
    seen: dict[str, str] = {}
    for message in found:
        seen.setdefault(message.split(" ", 1)[0], message)
    return list(seen.values())


def core_violations() -> list[str]:
    folder, package = CORE
    found = []
    for module, path in modules(folder, package):
        for line, name in imported_names(module, path):
            if name == "omnidash":
                continue  # `from omnidash import core` names the package itself; its members are checked
            bad_own = within(name, "omnidash") and not within(name, "omnidash.core")
            old_names = top_level_is(name, ("app", "components", "sacredlog"))
            if bad_own or old_names or top_level_is(name, NOT_IN_CORE):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return first_per_line(found)


def component_violations() -> list[str]:
    folder, package = COMPONENTS
    found = []
    for module, path in modules(folder, package):
        for line, name in imported_names(module, path):
            if name in ("omnidash", "omnidash.core", "omnidash.components"):
                continue
            allowed_own = within(name, "omnidash.core") or within(name, "omnidash.components")
            bad_own = within(name, "omnidash") and not allowed_own
            old_names = top_level_is(name, ("app", "components", "sacredlog"))
            if bad_own or old_names or top_level_is(name, NOT_IN_COMPONENTS):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return first_per_line(found)


def test_the_layer_folders_are_where_the_test_looks() -> None:
    core = [module for module, _ in modules(*CORE)]
    components = [module for module, _ in modules(*COMPONENTS)]
    assert "omnidash.core" in core and len(core) > 1
    assert "omnidash.components.figures" in components


def test_core_imports_no_omnidash_module_outside_core_and_no_web_or_database_library() -> None:
    found = core_violations()
    assert not found, "the core must stay pure:\n" + "\n".join(found)


def test_components_import_only_the_core_and_other_components() -> None:
    found = component_violations()
    assert not found, "components build layout from core values only:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import omnidash.store.rows", "omnidash.core.x", ["omnidash.store.rows"]),
        ("from omnidash.store import rows", "omnidash.core.x", ["omnidash.store", "omnidash.store.rows"]),
        ("from ..store import base", "omnidash.core.x", ["omnidash.store", "omnidash.store.base"]),
        ("from . import values", "omnidash.core.x", ["omnidash.core", "omnidash.core.values"]),
        ("def f():\n    from dash import html\n", "omnidash.core.x", ["dash", "dash.html"]),
    ],
)
def test_imports_are_read_with_relative_and_function_local_forms(
    tmp_path: Path, source: str, module: str, expected: list[str]
) -> None:
    path = tmp_path / "x.py"
    path.write_text(source, encoding="utf-8")
    assert [name for _, name in imported_names(module, path)] == expected


# -- every layer, top to bottom ------------------------------------------------------------------------
# (package prefix, layer): a module may import its own package and the packages of lower layers only.
LAYERS = (
    ("omnidash.core", 0),
    ("omnidash.store", 1),
    ("omnidash.components", 1),
    ("omnidash.auth", 2),
    ("omnidash.context", 2),
    ("omnidash.csv_safe", 2),
    ("omnidash.pages", 3),
)
SERVER = 4  # every other omnidash module: server, api, downloads, transfer, config, cli, wsgi, demo, notebook


def layer_of(name: str) -> tuple[str, int]:
    for prefix, layer in LAYERS:
        if within(name, prefix):
            return prefix, layer
    return "omnidash", SERVER


def upward_imports() -> list[str]:
    """Imports from a module to a package of its own layer or above (other than its own package)."""
    found = []
    for module, path in modules(ROOT / "app", "omnidash"):
        own, layer = layer_of(module)
        if layer == SERVER:
            continue
        for line, name in imported_names(module, path):
            if not within(name, "omnidash") or name == "omnidash" or within(name, own):
                continue
            target, target_layer = layer_of(name)
            if target_layer >= layer:
                found.append(f"{path.relative_to(ROOT)}:{line} ({own}, layer {layer}) imports {name} "
                             f"({target}, layer {target_layer})")
    for module, path in modules(*COMPONENTS):
        for line, name in imported_names(module, path):
            if within(name, "omnidash") and name != "omnidash" and layer_of(name)[1] >= 1 \
                    and not within(name, "omnidash.components"):
                found.append(f"{path.relative_to(ROOT)}:{line} (omnidash.components) imports {name}")
    return first_per_line(found)


def test_no_module_imports_its_own_layer_or_one_above() -> None:
    found = upward_imports()
    assert not found, "imports run down the layers (README, Layout):\n" + "\n".join(found)


def test_an_upward_import_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a store module that imports a page is named."""
    app = tmp_path / "app"
    (app / "store").mkdir(parents=True)
    (app / "store" / "x.py").write_text("from omnidash.pages.table import register\n", encoding="utf-8")
    (tmp_path / "components").mkdir()
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    monkeypatch.setattr(f"{__name__}.COMPONENTS", (tmp_path / "components", "omnidash.components"))
    assert upward_imports() == [
        "app/store/x.py:1 (omnidash.store, layer 1) imports omnidash.pages.table (omnidash.pages, layer 3)"
    ]
