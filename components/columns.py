"""Column definitions for the runs grid: which columns show by default and how each one renders.

Pure layout data (AG Grid colDefs as dicts); never touches the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

STATUSES = ["RUNNING", "COMPLETED", "FAILED", "INTERRUPTED", "PROBABLY_DEAD", "QUEUED", "TIMEOUT"]
LEADING_COLUMNS = ["id", "experiment", "status", "tags", "notes", "start_time", "duration", "hostname", "result"]
DATE_COLUMNS = {"start_time", "stop_time", "heartbeat"}
MAX_DEFAULT_CONFIG = 12
MAX_DEFAULT_METRICS = 4
DEFAULT_WIDTH = 140  # px, any column without its own default below
MIN_WIDTH, MAX_WIDTH = 70, 2000  # px, what a user can resize a column to (and what a link may ask for)
DEFAULT_WIDTHS = {"id": 90, "experiment": 150, "status": 150, "tags": 190, "notes": 200, "start_time": 170,
                  "duration": 120, "hostname": 130, "result": 110}

HEADER_NAMES = {"id": "Id", "experiment": "Experiment", "status": "Status", "tags": "Tags", "notes": "Notes",
                "start_time": "Started", "stop_time": "Stopped", "heartbeat": "Heartbeat", "duration": "Duration",
                "hostname": "Host", "result": "Result", "command": "Command"}


@dataclass(frozen=True)
class Col:
    """What the table needs to know about one column (a ColumnInfo without the store import)."""

    name: str
    kind: str = "config"  # base | config | metric | custom | path
    dtype: str = "mixed"
    label: str | None = None
    varies: bool = True


def default_width(name: str) -> int:
    """The width a column has until the user resizes it."""
    return DEFAULT_WIDTHS.get(name, DEFAULT_WIDTH)


def as_cols(infos: Iterable[Any]) -> list[Col]:
    """ColumnInfo objects (or anything with the same attributes) as Col."""
    return [Col(i.name, i.kind, i.dtype, getattr(i, "label", None), getattr(i, "varies", True)) for i in infos]


def header_name(col: Col) -> str:
    if col.label:
        return col.label
    if col.name in HEADER_NAMES:
        return HEADER_NAMES[col.name]
    if col.name.startswith("config."):
        return col.name[len("config."):]
    return col.name


def default_columns(cols: Sequence[Col]) -> list[str]:
    """Omniboard's leading columns, then config keys that vary, then chosen metric summaries."""
    names = {c.name for c in cols}
    out = [n for n in LEADING_COLUMNS if n in names or n in {"id", "status"}]
    config = [c.name for c in cols if c.kind == "config" and c.varies and c.name not in {"config.seed", "config.tags"}]
    out += config[:MAX_DEFAULT_CONFIG]
    # Omniboard's shared columns (omniboard.custom.columns and omniboard.metric.columns) always show
    shared = [c.name for c in cols if c.kind == "custom" or (c.kind == "metric" and c.label)]
    out += [n for n in shared if n not in out]
    metrics = [c.name for c in cols if c.kind == "metric" and not c.label and c.name.startswith("last(")]
    if not metrics:
        metrics = [c.name for c in cols if c.kind == "metric" and not c.label]
    metrics.sort(key=_metric_priority)
    out += [m for m in metrics[:MAX_DEFAULT_METRICS] if m not in out]
    return out


def _metric_priority(name: str) -> tuple[int, str]:
    """Validation metrics first, then losses and accuracies, then the rest (stable by name)."""
    low = name.lower()
    if "val" in low or "test" in low:
        return (0, low)
    if "loss" in low or "acc" in low:
        return (1, low)
    return (2, low)


def _filter_for(col: Col) -> dict[str, Any]:
    """The grid's own column filter (applied with a button, then translated to the query)."""
    params: dict[str, Any] = {"buttons": ["apply", "reset"], "closeOnApply": True, "maxNumConditions": 2}
    if col.name in DATE_COLUMNS or col.dtype == "date":
        return {"filter": "agDateColumnFilter", "filterParams": params}
    if col.dtype == "number" or col.name in {"id", "duration"} or col.kind == "metric":
        return {"filter": "agNumberColumnFilter", "filterParams": params}
    if col.name in {"status"}:
        return {"filter": "agTextColumnFilter",
                "filterParams": {**params, "filterOptions": ["equals", "notEqual"]}}
    return {"filter": "agTextColumnFilter", "filterParams": params}


def column_def(col: Col, timezone: str = "UTC", base_path: str = "/", width: int | None = None,
               pinned: str | None = None, read_only: bool = False) -> dict[str, Any]:
    """One AG Grid colDef. Field names keep their dots (the grid sets suppressFieldDotNotation)."""
    d: dict[str, Any] = {
        "colId": col.name,
        "field": col.name,
        "headerName": header_name(col),
        "headerTooltip": col.name,
        "sortable": True,
        "resizable": True,
        **_filter_for(col),
    }
    d["width"] = width or default_width(col.name)
    if pinned:
        d["pinned"] = pinned
    name = col.name
    if name == "id":
        d["cellRenderer"] = "RunIdCell"
        d["cellRendererParams"] = {"basePath": base_path}
    elif name == "status":
        d["cellRenderer"] = "StatusCell"
    elif name == "tags":
        d["cellRenderer"] = "TagsCell"
        d["editable"] = not read_only
        d["cellEditor"] = "TagsEditor"
        d["cellEditorPopup"] = True
        d["sortable"] = False
    elif name == "notes":
        d["editable"] = not read_only
        d["cellEditor"] = "agLargeTextCellEditor"
        d["cellEditorPopup"] = True
        d["cellEditorParams"] = {"maxLength": 10000, "rows": 8, "cols": 50}
        d["tooltipField"] = "notes"
    elif name in DATE_COLUMNS or col.dtype == "date":
        d["valueFormatter"] = {"function": f"omniFormatTime(params.value, {timezone!r})"}
    elif name == "duration":
        d["valueFormatter"] = {"function": "omniFormatDuration(params.value)"}
        d["type"] = "rightAligned"
    else:
        d["valueFormatter"] = {"function": "omniFormatValue(params.value)"}
        if col.dtype == "number" or col.kind == "metric":
            d["type"] = "rightAligned"
    return d


def column_defs(visible: Sequence[str], known: Sequence[Col], timezone: str = "UTC", base_path: str = "/",
                pinned: Iterable[str] = (), widths: dict[str, int] | None = None,
                read_only: bool = False) -> list[dict[str, Any]]:
    """colDefs for the visible columns in order; unknown names still get a generic column."""
    by_name = {c.name: c for c in known}
    pinned = set(pinned)
    widths = widths or {}
    defs = []
    for name in visible:
        col = by_name.get(name) or Col(name, "path")
        defs.append(column_def(col, timezone, base_path, widths.get(name), "left" if name in pinned else None,
                               read_only))
    return defs


def split_columns(text: str | None) -> list[str]:
    """Split "id,last_avg(loss, 5),config.lr" on commas outside parentheses."""
    if not text:
        return []
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [c for c in out if c]
