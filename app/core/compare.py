"""Pure comparison helpers (no dash, no database): config diff, metric summaries, text diffs,
grouping over config keys, mean ± std aggregation aligned on x, and debiased EMA smoothing."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omnidash.core import summaries as stats
from omnidash.core.types import RunId, Series
from omnidash.core.values import decode_value, flatten_dict, get_path

MISSING = "—"  # shown where a run lacks a leaf
_LOWER_IS_BETTER = re.compile(r"loss|err|mse|mae|rmse|perplex|ppl|nll|cost|regret|time|latency|wer|cer", re.I)


# -- config diff -----------------------------------------------------------------------------
def _text(v: Any) -> Any:
    """A scalar for display and equality: lists and dicts become compact JSON."""
    v = decode_value(v)
    if isinstance(v, list | dict):
        return json.dumps(v, sort_keys=True, default=str)
    return v


def gpus_text(gpus: Any) -> str | None:
    """Sacred's `host.gpus` ({"gpus": [{"model", "total_memory" (MiB), ...}], "driver_version"}) as people read it:
    "2 × NVIDIA A100-SXM4-40GB (40,960 MiB); driver 550.127.05". None when it is not of that shape."""
    if not isinstance(gpus, Mapping) or not isinstance(cards := gpus.get("gpus"), list) or \
            not all(isinstance(c, Mapping) for c in cards):
        return None
    counts: dict[str, int] = {}
    for card in cards:
        memory = card.get("total_memory")
        name = str(card.get("model") or "GPU")
        if isinstance(memory, int | float) and not isinstance(memory, bool):
            name += f" ({memory:,.0f} MiB)"
        counts[name] = counts.get(name, 0) + 1
    text = " + ".join(f"{n} × {name}" for name, n in counts.items()) or "none"
    driver = gpus.get("driver_version")
    return f"{text}; driver {driver}" if driver else text


def os_text(os_: Any) -> str | None:
    """Sacred's `host.os` ([platform.system(), platform.platform()]) as one string, without the system's name
    when the platform string starts with it: "Linux-6.8.0-49-generic-x86_64-with-glibc2.39". None when it is not
    a list of strings."""
    if not isinstance(os_, list) or not os_ or not all(isinstance(x, str) for x in os_):
        return None
    if len(os_) == 2 and os_[1].startswith(os_[0]):
        return os_[1]
    return ", ".join(os_)


HOST_TEXT = {"gpus": gpus_text, "os": os_text}  # host leaves shown as text rather than JSON


def comparison_leaves(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Every leaf worth comparing for one run: config, meta, host, dependencies, git, experiment."""
    leaves: dict[str, Any] = {}
    for key, value in flatten_dict(doc.get("config") or {}, "config").items():
        leaves[key] = _text(value)
    exp = found if isinstance(found := doc.get("experiment"), Mapping) else {}
    leaves["experiment.name"] = exp.get("name")
    leaves["experiment.mainfile"] = exp.get("mainfile")
    leaves["command"] = doc.get("command")
    leaves["status"] = doc.get("status")
    meta = found if isinstance(found := doc.get("meta"), Mapping) else {}
    for key in ("command", "named_configs", "config_updates", "comment", "priority"):
        if key in meta:
            leaves[f"meta.{key}"] = _text(meta[key])
    host = found if isinstance(found := doc.get("host"), Mapping) else {}
    for key, value in host.items():
        if key != "ENV":
            readable = HOST_TEXT[key](value) if key in HOST_TEXT else None
            leaves[f"host.{key}"] = readable if readable is not None else _text(value)
    for dep in exp.get("dependencies") or []:
        if isinstance(dep, str):
            name, _, version = dep.partition("==")
            leaves[f"dependency.{name}"] = version or dep
    repos = [r for r in exp.get("repositories") or [] if isinstance(r, Mapping)]
    seen: set[tuple[Any, Any]] = set()
    for r in repos:
        repo = (r.get("url"), r.get("commit"))
        if repo in seen:
            continue
        seen.add(repo)
        suffix = "" if len(seen) == 1 else f"[{len(seen) - 1}]"
        leaves[f"git.url{suffix}"] = r.get("url")
        leaves[f"git.commit{suffix}"] = r.get("commit")
        leaves[f"git.dirty{suffix}"] = r.get("dirty")
    return {k: v for k, v in leaves.items() if v is not None or k.startswith("config.")}


def _leaf_order(key: str) -> tuple[int, str]:
    groups = ("config.", "experiment.", "command", "status", "meta.", "git.", "host.", "dependency.")
    rank = next((i for i, g in enumerate(groups) if key.startswith(g)), len(groups))
    return rank, key


@dataclass
class DiffRow:
    key: str
    values: list[Any]  # one per run, MISSING when absent
    differs: bool


@dataclass
class ConfigDiff:
    run_ids: list[RunId]
    rows: list[DiffRow] = field(default_factory=list)

    @property
    def differing_keys(self) -> list[str]:
        return [r.key for r in self.rows if r.differs]


def config_diff(docs: Mapping[RunId, Mapping[str, Any]]) -> ConfigDiff:
    """Rows = leaves of every run (union), columns = runs; `differs` when any two runs disagree."""
    leaves = {rid: comparison_leaves(doc) for rid, doc in docs.items()}
    keys = sorted({k for lv in leaves.values() for k in lv}, key=_leaf_order)
    diff = ConfigDiff(run_ids=list(docs))
    for key in keys:
        values = [lv.get(key, MISSING) for lv in leaves.values()]
        distinct = {json.dumps(v, sort_keys=True, default=str) for v in values}
        diff.rows.append(DiffRow(key, values, len(distinct) > 1))
    return diff


def varying_config_keys(configs: Iterable[Mapping[str, Any]], exclude: Sequence[str] = ("seed",)) -> list[str]:
    """Dotted config keys (without "config.") whose value is not the same in every run."""
    flat = [{k[len("config."):]: _text(v) for k, v in flatten_dict(c or {}, "config").items()} for c in configs]
    if len(flat) < 2:
        return []
    keys = sorted({k for f in flat for k in f})
    out = []
    for key in keys:
        if key in exclude or key.split(".")[-1] in exclude:
            continue
        values = {json.dumps(f.get(key, MISSING), sort_keys=True, default=str) for f in flat}
        if len(values) > 1:
            out.append(key)
    return out


_FIRST_KEYS = re.compile(r"(^|[._])(lr|learning_?rate|optim|optimi[sz]er|opt)$", re.I)
_LAST_KEYS = re.compile(r"(data|dataset|path|dir|file|name|root|url)", re.I)


def informative_keys(configs: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    """`keys` ordered for legend labels: learning rate and optimizer first, dataset names, paths and the
    like last, and within each kind the keys with more distinct values among `configs` first."""
    flat = [{k[len("config."):]: _text(v) for k, v in flatten_dict(c or {}, "config").items()} for c in configs]

    def rank(key: str) -> tuple[int, int, str]:
        kind = 0 if _FIRST_KEYS.search(key) else 2 if _LAST_KEYS.search(key) else 1
        distinct = len({json.dumps(f.get(key, MISSING), sort_keys=True, default=str) for f in flat})
        return kind, -distinct, key

    return sorted(keys, key=rank)


def config_value(doc: Mapping[str, Any], key: str) -> Any:
    """The value at `key` ("lr", "config.lr", "host.hostname") in a run document."""
    path = key if key.split(".")[0] in ("config", "host", "meta", "experiment", "info") else f"config.{key}"
    return _text(get_path(doc, path))


def legend_label(doc: Mapping[str, Any], keys: Sequence[str]) -> str:
    """`opt=adam lr=0.01` from the chosen keys ("config." prefix dropped in the text)."""
    parts = []
    for key in keys:
        short = key[len("config."):] if key.startswith("config.") else key
        parts.append(f"{short}={format_value(config_value(doc, key))}")
    return " ".join(parts)


def format_value(v: Any) -> str:
    """Compact display of a scalar (4 significant digits for floats; booleans `true`/`false` as in the
    table and the query language)."""
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        return f"{v:.4g}"
    return str(v)


def group_runs(docs: Mapping[RunId, Mapping[str, Any]], keys: Sequence[str]) -> dict[str, list[RunId]]:
    """Runs grouped by their values at `keys`; the group label is `legend_label`. Order kept."""
    groups: dict[str, list[RunId]] = {}
    for rid, doc in docs.items():
        label = legend_label(doc, keys) if keys else "all runs"
        groups.setdefault(label, []).append(rid)
    return groups


# -- metric summaries ------------------------------------------------------------------------
def lower_is_better(metric: str) -> bool:
    """Guess the goal of a metric from its name (loss, error, time ... go down)."""
    return bool(_LOWER_IS_BETTER.search(metric)) and "acc" not in metric.lower()


def series_summary(s: Series) -> dict[str, float | None]:
    """The compare page's statistics (omnidash.core.summaries) of one series, gaps skipped: last is the last
    finite value."""
    finite = stats.points(stats.points(s.values).finite)
    return {stat.name: stat.compute(finite) for stat in stats.STATISTICS.values() if stat.compare}


@dataclass
class SummaryRow:
    metric: str
    stat: str  # a statistic's name: "min" | "max" | "last"
    values: list[float | None]  # one per run
    best: list[int]  # columns holding the best value (none when every run has the same value)


def metric_summary(series: Iterable[Series], run_ids: Sequence[RunId]) -> list[SummaryRow]:
    """The compare statistics per metric (rows) per run (columns), best value per row marked by direction."""
    by_metric: dict[str, dict[RunId, dict[str, float | None]]] = {}
    for s in series:
        by_metric.setdefault(s.name, {})[s.run_id] = series_summary(s)
    rows = []
    for metric in sorted(by_metric):
        per_run = by_metric[metric]
        lower = lower_is_better(metric)
        for stat in (st for st in stats.STATISTICS.values() if st.compare):
            values = [per_run.get(rid, {}).get(stat.name) for rid in run_ids]
            present = [v for v in values if v is not None]
            best: list[int] = []
            if stat.follows_goal and len(set(present)) > 1:
                target = min(present) if lower else max(present)
                best = [i for i, v in enumerate(values) if v == target]
            rows.append(SummaryRow(metric, stat.name, values, best))
    return rows


# -- text diffs ------------------------------------------------------------------------------
def text_diff(a: str, b: str, name_a: str = "a", name_b: str = "b", context: int = 3) -> list[str]:
    """A unified diff of two texts as lines (no trailing newlines); [] when equal."""
    a_lines = (a or "").replace("\r\n", "\n").split("\n")
    b_lines = (b or "").replace("\r\n", "\n").split("\n")
    return list(difflib.unified_diff(a_lines, b_lines, name_a, name_b, n=context, lineterm=""))


def diff_line_kind(line: str) -> str:
    """"add", "del", "hunk", "file" or "same" for one unified-diff line (for colouring)."""
    if line.startswith(("+++", "---")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "same"


# -- smoothing and aggregation -----------------------------------------------------------------
def ema_smooth(values: Sequence[float | None] | np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average; gaps (None/NaN/inf) stay gaps."""
    return ema_continue(values, weight)[0]


def ema_continue(values: Sequence[float | None] | np.ndarray, weight: float, last: float = 0.0,
                 n: int = 0) -> tuple[np.ndarray, float, int]:
    """`ema_smooth` carried on from a state (the biased average and the count of points so far), and the
    state after `values`: live charts smooth new points without the old ones."""
    y = np.array([np.nan if v is None else v for v in values], dtype=float)
    if weight <= 0 or len(y) == 0:
        return y, last, n
    weight = min(float(weight), 0.9999)
    out = np.full_like(y, np.nan)
    for i, v in enumerate(y.tolist()):
        if not math.isfinite(v):
            continue
        last = last * weight + (1 - weight) * v
        n += 1
        out[i] = last / (1 - weight**n)
    return out, last, n


@dataclass
class GroupCurve:
    label: str
    run_ids: list[RunId]
    x: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray  # min over runs at x
    hi: np.ndarray  # max over runs at x
    count: np.ndarray  # runs with a value at x

    @property
    def n(self) -> int:
        return len(self.run_ids)


def align_on_x(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], max_points: int | None = None) -> tuple[
    np.ndarray, np.ndarray
]:
    """Put several (x, y) curves on one x grid: the union of their x (or an even grid of max_points
    when larger), linearly interpolated inside each curve's own x span, NaN outside it."""
    xs = [np.asarray(x, dtype=float) for x in xs]
    ys = [np.asarray(y, dtype=float) for y in ys]
    nonempty = [x for x in xs if len(x)]
    if not nonempty:
        return np.array([]), np.empty((len(xs), 0))
    grid = np.unique(np.concatenate(nonempty))
    if max_points and len(grid) > max_points:
        grid = np.linspace(grid[0], grid[-1], max_points)
    matrix = np.full((len(xs), len(grid)), np.nan)
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        ok = np.isfinite(y) & np.isfinite(x)
        if ok.sum() == 0:
            continue
        xo, yo = x[ok], y[ok]
        inside = (grid >= xo[0]) & (grid <= xo[-1])
        matrix[i, inside] = np.interp(grid[inside], xo, yo)
        exact = np.isin(grid, x[~ok])  # a gap at an exact x stays a gap
        matrix[i, exact & ~np.isin(grid, xo)] = np.nan
    return grid, matrix


def aggregate(
    label: str, run_ids: Sequence[RunId], xs: Sequence[np.ndarray], ys: Sequence[np.ndarray],
    max_points: int | None = None,
) -> GroupCurve:
    """Mean, population std (ddof=0), min and max over runs, aligned on x."""
    grid, m = align_on_x(xs, ys, max_points)
    with np.errstate(all="ignore"):
        count = np.isfinite(m).sum(axis=0)
        has = count > 0
        mean = np.full(len(grid), np.nan)
        std = np.full(len(grid), np.nan)
        lo = np.full(len(grid), np.nan)
        hi = np.full(len(grid), np.nan)
        if has.any():
            sub = m[:, has]
            mean[has] = np.nanmean(sub, axis=0)
            std[has] = np.nanstd(sub, axis=0)
            lo[has] = np.nanmin(sub, axis=0)
            hi[has] = np.nanmax(sub, axis=0)
    return GroupCurve(label, list(run_ids), grid, mean, std, lo, hi, count)


