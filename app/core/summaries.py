"""The summary statistics of a metric (min, max, last, mean, mean of the last N): one registry.

Each `Statistic` says what it is called in the query language and column names (`max(val.acc)`), the words
the UI uses, how to compute it over a metric's values, how to fold it as values arrive (when it can be), its
Omniboard `extrema` alias and where it shows. The query language, the column catalogue, the table's metric
column menu, the compare page's summary and both stores' stored summaries read this registry, so a new
statistic is one `Statistic` added to `STATISTICS` (tests/test_summaries.py adds `median` that way).

Stored summaries are recomputed from a run's whole series whenever it changes (both stores), so a statistic
without a fold (median, a window) is as usable as one with. Pure: imports neither dash, pymongo nor the store.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

import numpy as np

State = TypeVar("State")


@dataclass(frozen=True)
class Points:
    """One metric's values in step order: `values` (anything but a finite number as NaN) and the `finite` ones."""

    values: np.ndarray
    finite: list[float]


def points(values: Iterable[Any]) -> Points:
    """Points of values in step order; None, NaN, infinities, bools and non-numbers are gaps."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        arr = values
    else:
        arr = np.array([float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
                        for v in values], dtype=float)
    return Points(arr, arr[np.isfinite(arr)].tolist())


@dataclass(frozen=True)
class Fold(Generic[State]):
    """How a statistic is updated one value at a time: state = step(state, value), result(state)."""

    initial: State
    step: Callable[[State, float], State]
    result: Callable[[State], float | None]

    def over(self, values: Iterable[float]) -> float | None:
        state = self.initial
        for v in values:
            state = self.step(state, v)
        return self.result(state)


@dataclass(frozen=True)
class Statistic:
    """One summary statistic of a metric."""

    name: str  # in the query language and column names: mean(val.loss), last_avg(loss, 5)
    label: str  # the words the UI uses; "{n}" stands for the window of a windowed statistic
    meaning: str  # a header tooltip: "the {meaning} of metric loss"
    compute: Callable[[Points], float | None]  # over a metric's values in step order
    fold: Fold[Any] | None = None  # how to update it value by value; None: only over the whole series
    omniboard: str | None = None  # Omniboard's `extrema` word for it (metric columns), None when it has none
    windowed: bool = False  # takes a window N, name(metric, N): computed over the last N values
    follows_goal: bool = True  # a lower-is-better metric's best run has its lowest value (not so for a count)
    compare: bool = True  # a row of the compare page's metric summary

    @property
    def incremental(self) -> bool:
        """Whether stored summaries can update it as values arrive, without the whole series."""
        return self.fold is not None

    def words(self, n: int | None = None) -> str:
        """The label, with the window filled in ("mean of last 5"; "N" when no window is given)."""
        return self.label.format(n=n if n is not None else "N")

    def describe(self, n: int | None = None) -> str:
        return self.meaning.format(n=n if n is not None else "N")

    def of(self, values: Iterable[Any] | Points, n: int | None = None) -> float | None:
        """This statistic over values in step order (over the last n of them when windowed)."""
        p = values if isinstance(values, Points) else points(values)
        if self.windowed:
            window = p.values[-max(1, int(n or 1)):]
            p = Points(window, window[np.isfinite(window)].tolist())
        return self.compute(p)


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _mean(p: Points) -> float | None:
    return sum(p.finite) / len(p.finite) if p.finite else None


def _extreme(pick: Callable[[float, float], float]) -> Fold[float | None]:
    return Fold(None, lambda s, v: s if not math.isfinite(v) else v if s is None else pick(s, v), lambda s: s)


MEAN_FOLD: Fold[tuple[float, int]] = Fold(
    (0.0, 0), lambda s, v: (s[0] + v, s[1] + 1) if math.isfinite(v) else s, lambda s: s[0] / s[1] if s[1] else None
)

STATISTICS: dict[str, Statistic] = {
    s.name: s
    for s in [
        Statistic("min", "min", "smallest value", lambda p: min(p.finite) if p.finite else None,
                  _extreme(min), omniboard="min"),
        Statistic("max", "max", "largest value", lambda p: max(p.finite) if p.finite else None,
                  _extreme(max), omniboard="max"),
        # the value at the largest step (None when that one is not a finite number), as Omniboard shows it
        Statistic("last", "last", "last value", lambda p: _finite(float(p.values[-1])) if len(p.values) else None,
                  Fold(None, lambda _s, v: _finite(v), lambda s: s), omniboard="last"),
        Statistic("mean", "mean", "mean", _mean, MEAN_FOLD, omniboard="avg", compare=False),
        Statistic("last_avg", "mean of last {n}", "mean of the last {n} values", _mean, omniboard="last_avg",
                  windowed=True, compare=False),
    ]
}


# -- looking statistics up ---------------------------------------------------------------------
def names() -> tuple[str, ...]:
    """Every statistic's name, in registry order (what the query language accepts before a parenthesis)."""
    return tuple(STATISTICS)


def get(name: str) -> Statistic | None:
    return STATISTICS.get(name)


def stored() -> list[Statistic]:
    """The statistics every stored summary holds (windowed ones are added per window asked for)."""
    return [s for s in STATISTICS.values() if not s.windowed]


def by_omniboard(extrema: Any) -> Statistic | None:
    """The statistic an Omniboard metric column's `extrema` names ("avg" -> mean); None when unknown."""
    return next((s for s in STATISTICS.values() if s.omniboard is not None and s.omniboard == extrema), None)


def omniboard_extrema() -> tuple[str, ...]:
    """The `extrema` words an Omniboard metric column may hold (the ones the registry maps)."""
    return tuple(s.omniboard for s in STATISTICS.values() if s.omniboard is not None)


def window(value: Any) -> int:
    """A window N from any input: a whole number >= 1, else 1."""
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def omniboard_ref(extrema: Any, metric: str, lastn: Any = 1) -> tuple[str, str, int | None] | None:
    """(statistic, metric, window) of an Omniboard metric column; None when its extrema is unknown."""
    stat = by_omniboard(extrema)
    if stat is None:
        return None
    return stat.name, metric, window(lastn) if stat.windowed else None


# -- column names and stored keys ------------------------------------------------------------------
def column_name(name: str, metric: str, n: int | None = None) -> str:
    """`column_name("max", "val.acc")` -> "max(val.acc)"; a windowed one takes n: "last_avg(loss, 5)"."""
    stat = STATISTICS.get(name)
    if stat is not None and stat.windowed:
        return f"{name}({metric}, {window(n)})"
    return f"{name}({metric})"


@lru_cache(maxsize=8)
def _column_pattern(known: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(rf"^({'|'.join(map(re.escape, known))})\((.+?)(?:,\s*(\d+))?\)$")


def parse_column(name: str) -> tuple[str, str, int | None] | None:
    """ "last_avg(loss, 5)" -> ("last_avg", "loss", 5), "max(acc)" -> ("max", "acc", None); else None."""
    m = _column_pattern(names()).match(name.strip())
    if not m:
        return None
    stat, metric, n = STATISTICS[m.group(1)], m.group(2).strip(), m.group(3)
    if stat.windowed:
        return stat.name, metric, int(n) if n else 1
    if n is not None:
        return None
    return stat.name, metric, None


def summary_key(name: str, n: int | None = None) -> str:
    """Key of a statistic inside a stored summary dict: "max", "last_avg_5"."""
    stat = STATISTICS.get(name)
    return f"{name}_{window(n)}" if stat is not None and stat.windowed else name


def summarize(values: Iterable[Any] | Points) -> dict[str, float | None]:
    """Every stored statistic over values in step order: {"min": ..., "max": ..., ...}."""
    p = values if isinstance(values, Points) else points(values)
    return {s.name: s.compute(p) for s in stored()}


def value(summary: Mapping[str, Any] | None, name: str, n: int | None = None) -> Any:
    """A statistic read from a stored summary; a window not stored yet is computed over the summary's tail."""
    if not summary:
        return None
    stat = STATISTICS.get(name)
    key = summary_key(name, n)
    if stat is None or key in summary or not stat.windowed:
        return summary.get(key)
    return stat.of(summary.get("tail") or [], n)


def fingerprint() -> str:
    """The stored statistics by name ("min,max,last,mean"): stored summaries made with others are outdated."""
    return ",".join(s.name for s in stored())


def version(base: int) -> int:
    """A stored-summary format version: `base` for the built-in statistics, a number of its own for any other set."""
    names_now = fingerprint()
    return base if names_now == BUILTIN else base + 1 + zlib.crc32(names_now.encode()) % (1 << 30)


BUILTIN = fingerprint()
