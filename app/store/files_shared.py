"""Dashboard-owned files of a FileStorage folder: per-run annotations and <basedir>/_omnidash/*.json.

Annotations (Omniboard's tags and notes) live in <run>/omnidash.json, never in run.json, because Sacred
rewrites run.json wholesale at every heartbeat. Every write is locked (fcntl.flock) and atomic.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from omnidash.core import summaries as stats
from omnidash.core.jsonsafe import json_safe
from omnidash.core.values import iso
from omnidash.store.base import BadRequest, NotFound, StoreError
from omnidash.store.common import check_custom_column, check_metric_column
from omnidash.store.files_io import file_sig, locked, read_json, write_json_atomic

SIDECAR = "omnidash.json"
RUN_LOCK = ".omnidash.lock"
SHARED_DIR = "_omnidash"
VIEWS_FILE = "views.json"
COLUMNS_FILE = "columns.json"
CUSTOM_KEY = "omniboard.custom.columns"
METRIC_KEY = "omniboard.metric.columns"
RECHECK_SECONDS = 0.5


def update_annotations(run_dir: str, mutate: Callable[[dict[str, Any]], None]) -> None:
    """Locked read-modify-write of <run>/omnidash.json's "omniboard" object."""
    path = os.path.join(run_dir, SIDECAR)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(os.path.join(run_dir, RUN_LOCK)))
        except FileNotFoundError:
            raise NotFound(f"run folder {run_dir} is gone") from None
        if not os.path.isdir(run_dir):  # deleted while we waited for the lock
            raise NotFound(f"run folder {run_dir} is gone")
        data = read_json_object(path, f"cannot update annotations: {path} is not valid JSON (fix or remove it)")
        annotations = data.get("omniboard")
        annotations = annotations if isinstance(annotations, dict) else {}
        mutate(annotations)
        data["omniboard"] = annotations
        write_json_atomic(path, json_safe(data))


def read_json_object(path: str, problem: str) -> dict[str, Any]:
    """The JSON object in `path` ({} if the file is missing or holds no object); StoreError(problem) if not JSON."""
    data: Any = {}
    if os.path.exists(path):
        ok, data = read_json(path)
        if not ok:
            raise StoreError(problem)
    return data if isinstance(data, dict) else {}


class SharedFiles:
    """<basedir>/_omnidash/{views,columns}.json: saved views and Omniboard's shared column definitions."""

    def __init__(self, basedir: str) -> None:
        self.folder = os.path.join(basedir, SHARED_DIR)
        self._cache: dict[str, tuple[Any, Any, float]] = {}

    def _read(self, fname: str) -> dict[str, Any]:
        """The parsed file, re-checked (stat) at most every RECHECK_SECONDS; our own writes show at once."""
        path = os.path.join(self.folder, fname)
        cached = self._cache.get(fname)
        now = time.monotonic()
        if cached is not None and now - cached[2] < RECHECK_SECONDS:
            return cached[1]
        sig = file_sig(path)
        if cached is not None and cached[0] == sig:
            self._cache[fname] = (sig, cached[1], now)
            return cached[1]
        ok, value = read_json(path) if sig is not None else (True, {})
        value = value if ok and isinstance(value, dict) else {}
        self._cache[fname] = (sig, value, now)
        return value

    def _update(self, fname: str, mutate: Callable[[dict[str, Any]], None]) -> None:
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, fname)
        with locked(os.path.join(self.folder, ".lock")):
            data = read_json_object(path, f"cannot write {path}: it is not valid JSON (fix or remove it)")
            mutate(data)
            write_json_atomic(path, json_safe(data))
        self._cache.pop(fname, None)

    # -- views -------------------------------------------------------------------------
    def list_views(self) -> list[dict[str, Any]]:
        views = self._read(VIEWS_FILE).get("views")
        good = [v for v in views if isinstance(v, dict) and isinstance(v.get("name"), str)] if isinstance(
            views, list
        ) else []
        return sorted(good, key=lambda v: v["name"].lower())

    def save_view(self, name: str, state: dict[str, Any]) -> None:
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("a view needs a name")
        if not isinstance(state, dict):
            raise BadRequest("a view's state must be an object")
        name = name.strip()
        entry = {"name": name, "state": state, "saved_at": iso(datetime.now(UTC))}

        def mutate(data: dict[str, Any]) -> None:
            views = found if isinstance(found := data.get("views"), list) else []
            data["views"] = [v for v in views if not (isinstance(v, dict) and v.get("name") == name)] + [entry]

        self._update(VIEWS_FILE, mutate)

    def delete_view(self, name: str) -> None:
        def mutate(data: dict[str, Any]) -> None:
            views = found if isinstance(found := data.get("views"), list) else []
            data["views"] = [v for v in views if not (isinstance(v, dict) and v.get("name") == name)]

        self._update(VIEWS_FILE, mutate)

    # -- Omniboard shared columns (same field names as its collections) ------------------
    def custom_columns(self) -> list[dict[str, Any]]:
        items = self._read(COLUMNS_FILE).get(CUSTOM_KEY)
        return [
            {"name": c["name"], "config_path": c["config_path"]}
            for c in (items if isinstance(items, list) else [])
            if isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("config_path"), str)
        ]

    def metric_columns(self) -> list[dict[str, Any]]:
        items = self._read(COLUMNS_FILE).get(METRIC_KEY)
        out = []
        for c in items if isinstance(items, list) else []:
            if not isinstance(c, dict) or not isinstance(c.get("name"), str):
                continue
            if not isinstance(c.get("metric_name"), str) or stats.by_omniboard(c.get("extrema")) is None:
                continue
            out.append({k: c.get(k) for k in ("name", "metric_name", "extrema", "lastn")})
        return out

    def add_custom_column(self, name: str, config_path: str) -> None:
        path = check_custom_column(name, config_path)
        self._put_column(CUSTOM_KEY, {"name": name, "config_path": path})

    def add_metric_column(self, name: str, metric_name: str, extrema: str, lastn: int = 1) -> None:
        fields = check_metric_column(name, metric_name, extrema, lastn)
        self._put_column(METRIC_KEY, {"name": name, **fields})

    def _put_column(self, key: str, column: dict[str, Any]) -> None:
        def mutate(data: dict[str, Any]) -> None:
            items = found if isinstance(found := data.get(key), list) else []
            items = [c for c in items if not (isinstance(c, dict) and c.get("name") == column["name"])]
            data[key] = [*items, column]

        self._update(COLUMNS_FILE, mutate)


