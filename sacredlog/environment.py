"""Host and experiment information, gathered the way Sacred 0.8.7 does (host_info.py, dependencies.py),
with the standard library only (git is asked through its command line)."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SourceFile:
    """One source file of the experiment: its path relative to base_dir, absolute path and md5."""

    relative: str
    absolute: str
    md5: str


@dataclass
class ExperimentInfo:
    name: str
    base_dir: str
    mainfile: str | None
    sources: list[SourceFile] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    repositories: list[dict[str, Any]] = field(default_factory=list)


def file_md5(path: str | os.PathLike) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- host ---------------------------------------------------------------------------
@functools.cache
def _cpu_model() -> str | None:
    try:
        if platform.system() == "Linux":
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if re.match(r"^\s*model name\s*:", line):
                        return line.split(":", 1)[1].strip()
        elif platform.system() == "Darwin":
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, timeout=5)
            return out.stdout.decode().strip() or None
    except OSError:
        pass
    return platform.processor() or None


@functools.cache
def _gpus() -> dict[str, Any] | None:
    """nvidia-smi's view, or None when there is no nvidia-smi (Sacred then omits the key)."""
    import xml.etree.ElementTree as ElementTree

    try:
        xml = subprocess.run(["nvidia-smi", "-q", "-x"], capture_output=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    info: dict[str, Any] = {"gpus": []}
    try:
        for child in ElementTree.fromstring(xml.decode("utf-8", "replace")):
            if child.tag == "driver_version":
                info["driver_version"] = child.text
            if child.tag != "gpu":
                continue
            total = child.find("fb_memory_usage").find("total").text  # type: ignore[union-attr]
            info["gpus"].append({
                "model": child.find("product_name").text,  # type: ignore[union-attr]
                "total_memory": int(str(total).split()[0]),
                "persistence_mode": child.find("persistence_mode").text == "Enabled",  # type: ignore[union-attr]
            })
    except (ElementTree.ParseError, AttributeError, ValueError):
        return None
    return info


def host_info(captured_env: tuple[str, ...] = ()) -> dict[str, Any]:
    """Sacred's `host` object: hostname, os, python_version, cpu, [gpus], ENV."""
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "os": [platform.system(), platform.platform()],
        "python_version": platform.python_version(),
        "cpu": _cpu_model(),
    }
    gpus = _gpus()
    if gpus is not None:
        info["gpus"] = gpus
    info["ENV"] = {k: os.environ[k] for k in captured_env if k in os.environ}
    return info


# -- experiment ------------------------------------------------------------------------
def main_file() -> str | None:
    """The running script (`__main__.__file__`), or None in a notebook / interactive shell."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    return os.path.realpath(path)


def _is_local(path: str, base_dir: str) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(base_dir))
    except ValueError:
        return False
    return "site-packages" not in path and "dist-packages" not in path


def _imported_modules(globs: dict[str, Any]) -> list[tuple[str, types.ModuleType]]:
    """Modules named in a namespace (and their parent packages), like Sacred's iterate_imported_modules."""
    seen: set[str] = set()
    found = []
    for value in list(globs.values()):
        if isinstance(value, types.ModuleType):
            mod_path = value.__name__
        else:
            module = getattr(value, "__module__", None)
            if not isinstance(module, str):
                continue
            mod_path = module
        parts = mod_path.split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            if name in seen:
                continue
            seen.add(name)
            mod = sys.modules.get(name)
            if mod is not None:
                found.append((name, mod))
    return found


@functools.cache
def _module_to_distribution() -> dict[str, tuple[str, str]]:
    mapping: dict[str, tuple[str, str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for dist_name in dists:
            try:
                mapping.setdefault(module, (dist_name, importlib.metadata.version(dist_name)))
            except importlib.metadata.PackageNotFoundError:
                continue
    return mapping


def _dependency(mod: types.ModuleType) -> str | None:
    name = mod.__name__
    dist = _module_to_distribution().get(name)
    if dist:
        return f"{dist[0]}=={dist[1]}"
    version = getattr(mod, "__version__", None)
    return f"{name}=={version}" if isinstance(version, str) else None


@functools.lru_cache(maxsize=64)
def git_info(directory: str) -> dict[str, Any] | None:
    """{url, commit, dirty} of the git repository holding `directory`, or None."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", directory, *args], capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.decode("utf-8", "replace").strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    url = git("remote", "get-url", "origin")
    if not url:
        top = git("rev-parse", "--show-toplevel") or directory
        url = "git:/" + top
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"url": url, "commit": commit, "dirty": bool(status)}


def experiment_info(
    name: str | None,
    base_dir: str | None = None,
    sources: list[str] | None = None,
    globs: dict[str, Any] | None = None,
    dependencies: list[str] | None = None,
    save_git_info: bool = True,
) -> ExperimentInfo:
    """Sacred's ex_info: name, base_dir, sources (main file + local imports), dependencies, repositories."""
    mainfile = main_file() if sources is None else (os.path.realpath(sources[0]) if sources else None)
    if base_dir is None:
        base_dir = os.path.dirname(mainfile) if mainfile else os.path.abspath(os.curdir)
    base_dir = os.path.realpath(base_dir)
    if name is None:
        name = Path(mainfile).stem if mainfile else "sacredlog"

    if globs is None and sources is None:
        main_mod = sys.modules.get("__main__")
        globs = vars(main_mod) if main_mod is not None else {}
    modules = _imported_modules(globs or {})

    paths: set[str] = set()
    if sources is not None:
        paths.update(os.path.realpath(s) for s in sources if os.path.isfile(s))
    else:
        if mainfile:
            paths.add(mainfile)
        for _, mod in modules:
            f = getattr(mod, "__file__", None)
            if f and f.endswith(".py") and _is_local(f, base_dir) and os.path.isfile(f):
                paths.add(os.path.realpath(f))

    source_files = [SourceFile(os.path.relpath(p, base_dir), p, file_md5(p)) for p in sorted(paths)]

    if dependencies is None:
        deps: set[str] = set()
        for modname, mod in modules:
            f = getattr(mod, "__file__", None)
            if (f and _is_local(f, base_dir)) or modname.startswith("_") or "." in modname:
                continue
            dep = _dependency(mod)
            if dep:
                deps.add(dep)
        np_mod = sys.modules.get("numpy")
        if np_mod is not None:
            deps.add(_dependency(np_mod) or f"numpy=={np_mod.__version__}")
        dependencies = sorted(deps, key=str.lower)

    repositories = []
    if save_git_info:
        for s in source_files:
            repo = git_info(os.path.dirname(s.absolute))
            if repo:
                repositories.append(dict(repo))

    rel_main = os.path.relpath(mainfile, base_dir) if mainfile else None
    return ExperimentInfo(name, base_dir, rel_main, source_files, list(dependencies), repositories)
