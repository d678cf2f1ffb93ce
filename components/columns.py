"""Column definitions for the runs grid: which columns show by default and how each one renders.

Pure layout data (AG Grid colDefs as dicts); never touches the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from omnidash.core import summaries as stats

# The default view: what identifies a run (pinned), its status, then what it was run with (the config keys that
# vary) and what came out (metric summaries), then the annotations, then the facts about where and when.
HEAD_COLUMNS = ["id", "experiment", "status"]
DEFAULT_PINNED = ["id", "experiment"]
ANNOTATION_COLUMNS = ["tags", "notes"]
TAIL_COLUMNS = ["start_time", "duration", "hostname", "result"]
LEADING_COLUMNS = [*HEAD_COLUMNS, *ANNOTATION_COLUMNS, *TAIL_COLUMNS]  # every base column the default view shows
DATE_COLUMNS = {"start_time", "stop_time", "heartbeat"}
MIN_DEFAULT_CONFIG, MAX_DEFAULT_CONFIG = 4, 8  # varying config keys shown by default (the picker has the rest),
CONFIG_BUDGET_PX = 640  # as many as fit this width beyond the first four: metrics stay in view at 1440 px
MAX_ALL_CONFIG = 40  # config keys shown with "only columns that vary" off
MAX_DEFAULT_METRICS = 6  # metric summary columns shown by default
DEFAULT_WIDTH = 140  # px, what a column with no header text to fit gets
MIN_WIDTH, MAX_WIDTH = 70, 2000  # px, what a user can resize a column to (and what a link may ask for)
MAX_FIT_WIDTH = 240  # px, the widest a default width grows to fit a long header
DEFAULT_WIDTHS = {"id": 86, "experiment": 132, "status": 140, "tags": 170, "notes": 190, "start_time": 158,
                  "duration": 100, "hostname": 130, "result": 96}
_MAX_GOAL = re.compile(r"acc|score|f1|auc|precision|recall|map|iou|bleu|rouge|r2|reward|return", re.I)

HEADER_NAMES = {"id": "Id", "experiment": "Experiment", "status": "Status", "tags": "Tags", "notes": "Notes",
                "start_time": "Started", "stop_time": "Stopped", "heartbeat": "Heartbeat", "duration": "Duration",
                "hostname": "Host", "result": "Result", "command": "Command"}
GROUP_CONFIG, GROUP_METRICS, GROUP_RUN = "Config", "Metrics", "Run"


@dataclass(frozen=True)
class Col:
    """What the table needs to know about one column (a ColumnInfo without the store import)."""

    name: str
    kind: str = "config"  # base | config | metric | custom | path
    dtype: str = "mixed"
    label: str | None = None
    varies: bool = True
    path: str | None = None  # a custom column's document path


def header_text(name: str, label: str | None = None) -> str:
    """The short header of a column (its group header says Config or Metrics): `lr`, `val.acc (max)`."""
    if label:
        return label
    if name in HEADER_NAMES:
        return HEADER_NAMES[name]
    if name.startswith("config."):
        return name[len("config."):]
    ref = stats.parse_column(name)
    if ref:
        stat, metric, n = ref
        return f"{metric} ({stats.STATISTICS[stat].words(n)})"
    return name


def default_width(name: str, label: str | None = None) -> int:
    """The width a column has until the user resizes it: its own default, else wide enough for its header
    (sort arrow and filter button included), within MIN_WIDTH..MAX_FIT_WIDTH."""
    if name in DEFAULT_WIDTHS and not label:
        return DEFAULT_WIDTHS[name]
    text = header_text(name, label)
    return max(84, min(MAX_FIT_WIDTH, round(len(text) * 7.7 + 58)))


def as_cols(infos: Iterable[Any]) -> list[Col]:
    """ColumnInfo objects (or anything with the same attributes) as Col."""
    return [Col(i.name, i.kind, i.dtype, getattr(i, "label", None), getattr(i, "varies", True),
                getattr(i, "path", None)) for i in infos]


def header_name(col: Col) -> str:
    return header_text(col.name, col.label)


def column_group(col: Col) -> str:
    """Which group header a column sits under: Config, Metrics or Run."""
    if col.kind == "config" or col.name.startswith("config."):
        return GROUP_CONFIG
    if col.kind == "metric" or col.name == "result" or stats.parse_column(col.name):
        return GROUP_METRICS
    if col.kind == "custom":
        return GROUP_CONFIG if str(col.path or "").startswith("config.") else GROUP_METRICS
    return GROUP_RUN


def metric_goal(metric: str) -> str | None:
    """"min" for names that look like a loss or an error, "max" for accuracies and scores, else None."""
    from omnidash.core.compare import lower_is_better

    if lower_is_better(metric):
        return "min"
    return "max" if _MAX_GOAL.search(metric) else None


def default_metric_columns(cols: Sequence[Col]) -> list[str]:
    """For each metric (validation and test first): `last`, and `max` or `min` when its goal is clear."""
    names = {c.name for c in cols}
    metrics = sorted({ref[1] for c in cols if c.kind == "metric" and not c.label
                      for ref in [stats.parse_column(c.name)] if ref and ref[2] is None}, key=_metric_priority)
    out: list[str] = []
    for metric in metrics:
        goal = metric_goal(metric)
        for reducer in ("last", goal):
            name = f"{reducer}({metric})" if reducer else None
            if name and name in names and name not in out:
                out.append(name)
    return out[:MAX_DEFAULT_METRICS]


def default_columns(cols: Sequence[Col], varying_only: bool = True) -> list[str]:
    """Id, experiment, status; the config keys that vary (all config keys with `varying_only` off), Omniboard's
    shared columns and the metric summaries; tags and notes; then start time, duration, host and result."""
    names = {c.name for c in cols}
    out = [n for n in HEAD_COLUMNS if n in names or n in {"id", "status"}]
    config = [c.name for c in cols if c.kind == "config" and c.name != "config.tags" and (c.varies or not varying_only)]
    config.sort(key=config_rank)
    if varying_only:
        shown: list[str] = []
        for name in config[:MAX_DEFAULT_CONFIG]:
            if len(shown) >= MIN_DEFAULT_CONFIG and sum(map(default_width, [*shown, name])) > CONFIG_BUDGET_PX:
                break
            shown.append(name)
        config = shown
    out += config[:MAX_ALL_CONFIG]
    # Omniboard's shared columns (omniboard.custom.columns and omniboard.metric.columns) always show
    shared = [c.name for c in cols if c.kind == "custom" or (c.kind == "metric" and c.label)]
    out += [n for n in shared if n not in out]
    out += [m for m in default_metric_columns(cols) if m not in out]
    out += [n for n in [*ANNOTATION_COLUMNS, *TAIL_COLUMNS] if n in names]
    return out


_HPARAM = re.compile(r"(^|[._])(lr|learning_rate|optim\w*|batch_size|bs|epochs?|steps|dropout|weight_decay|wd|"
                     r"momentum|beta\d?|warmup\w*|model|arch\w*|depth|width|layers?|hidden\w*|heads?|"
                     r"loss|temperature|alpha|gamma|lambda)($|[._])", re.I)
_DATA = re.compile(r"(^|[._])(data\w*|dir|path|file\w*|root|cache\w*|name|tags|host|device|workers?)($|[._])", re.I)


def config_rank(name: str) -> tuple[int, int]:
    """The order config keys are offered in: hyper-parameters (learning rate, optimizer, sizes) first, then the
    rest, then dataset names, paths and the like; the seed last (it tells runs apart but explains nothing)."""
    key = name.removeprefix("config.")
    if key == "seed" or key.endswith(".seed"):
        return (3, 0)
    if _HPARAM.search(key):
        return (0, 0 if re.match(r"(lr|learning_rate|optim)", key.rsplit(".", 1)[-1], re.I) else 1)
    if _DATA.search(key):
        return (2, 0)
    return (1, 0)


def _metric_priority(name: str) -> tuple[int, str]:
    """Validation and test metrics first, then losses and accuracies, then the rest (stable by name)."""
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


def header_tooltip(col: Col) -> str:
    """The full name of a column, with what a metric summary means."""
    ref = stats.parse_column(col.name)
    if col.label:
        return f"{col.label} (Omniboard column{': ' + col.path if col.path else ''})"
    if ref:
        stat, metric, n = ref
        return f"{col.name}: the {stats.STATISTICS[stat].describe(n)} of metric {metric}"
    return col.name


def column_def(col: Col, timezone: str = "UTC", base_path: str = "/", width: int | None = None,
               pinned: str | None = None, read_only: bool = False) -> dict[str, Any]:
    """One AG Grid colDef. Field names keep their dots (the grid sets suppressFieldDotNotation)."""
    d: dict[str, Any] = {
        "colId": col.name,
        "field": col.name,
        "headerName": header_name(col),
        "headerTooltip": header_tooltip(col),
        "sortable": True,
        "resizable": True,
        **_filter_for(col),
    }
    d["width"] = width or default_width(col.name, col.label)
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
        d["tooltipValueGetter"] = {"function": "omniTagsTooltip(params.value)"}
    elif name == "notes":
        d["editable"] = not read_only
        d["cellEditor"] = "agLargeTextCellEditor"
        d["cellEditorPopup"] = True
        d["cellEditorParams"] = {"maxLength": 10000, "rows": 8, "cols": 50}
        # one line of plain text in the cell (and a longer plain excerpt in the tooltip), never raw Markdown
        d["valueFormatter"] = {"function": "omniNotesExcerpt(params.value, 200)"}
        d["tooltipValueGetter"] = {"function": "omniNotesExcerpt(params.value, 600)"}
    elif name in DATE_COLUMNS or col.dtype == "date":
        d["valueFormatter"] = {"function": f"omniFormatTime(params.value, {timezone!r})"}
    elif name == "duration":
        d["valueFormatter"] = {"function": "omniFormatDuration(params.value)"}
        d["type"] = "rightAligned"
    else:
        d["valueFormatter"] = {"function": "omniFormatValue(params.value)"}
        if col.dtype == "number" or col.kind == "metric":
            d["type"] = "rightAligned"
    if not read_only and name in {"tags", "notes"}:
        d["headerTooltip"] = f"{d['headerTooltip']} (double-click a cell to edit)"
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


def grouped_column_defs(defs: Sequence[dict[str, Any]], known: Sequence[Col]) -> list[dict[str, Any]]:
    """The leaf colDefs under group headers (Config, Metrics, Run), one group per run of neighbours. A run of
    neighbours that the pinned edge cuts is two groups (a group lives in one section); the part after the
    edge has no title, so "Run" reads once, over both."""
    by_name = {c.name: c for c in known}
    out: list[dict[str, Any]] = []
    previous = ""
    for d in defs:
        col = by_name.get(d["colId"]) or Col(d["colId"], "path")
        group = column_group(col)
        continued = bool(out) and previous == group
        if continued and bool(out[-1]["children"][-1].get("pinned")) == bool(d.get("pinned")):
            out[-1]["children"].append(d)
            continue
        previous = group
        out.append({"headerName": "" if continued else group, "groupId": f"g{len(out)}-{group.lower()}", "children": [d],
                    "headerClass": f"col-group col-group-{group.lower()}",
                    "headerTooltip": {GROUP_CONFIG: "The run's configuration", GROUP_METRICS: "Metric summaries",
                                      GROUP_RUN: "About the run"}[group]})
    return out


def leaf_defs(defs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The column defs under any group headers, in order."""
    out: list[dict[str, Any]] = []
    for d in defs:
        out.extend(leaf_defs(d["children"]) if "children" in d else [d])
    return out


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
