"""What a run looks like at one moment, handed by `Run` to every writer, and the metric batches."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from typing import Any

from sacredlog.environment import ExperimentInfo

MONGO_FORMAT = "MongoObserver-0.7.0"


def utc_datetime(seconds: float) -> dt.datetime:
    """Epoch seconds -> naive UTC datetime (what Sacred's `datetime.utcnow()` gives)."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


if sys.version_info < (3, 12):
    def utc_datetimes(seconds: list[float]) -> list[dt.datetime]:
        """Many epoch-second floats -> naive UTC datetimes, fast."""
        return list(map(dt.datetime.utcfromtimestamp, seconds))
else:  # utcfromtimestamp is deprecated there
    def utc_datetimes(seconds: list[float]) -> list[dt.datetime]:
        """Many epoch-second floats -> naive UTC datetimes."""
        return [utc_datetime(s) for s in seconds]


@dataclass
class MetricBatch:
    """Points of one metric logged since the previous flush, in log order (times are epoch seconds)."""

    steps: list[Any] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.steps)


def group_points(points: list[tuple[str, Any, Any, float]]) -> dict[str, MetricBatch]:
    """[(name, step, value, time)] -> {name: MetricBatch}, keeping log order inside each name."""
    out: dict[str, MetricBatch] = {}
    for name, step, value, t in points:
        batch = out.get(name)
        if batch is None:
            batch = out[name] = MetricBatch()
        batch.steps.append(step)
        batch.values.append(value)
        batch.times.append(t)
    return out


@dataclass
class Artifact:
    name: str
    path: str
    metadata: dict[str, Any] | None = None
    content_type: str | None = None


@dataclass
class RunSnapshot:
    """The run's fields at one moment. Times are naive UTC datetimes; config already normalised."""

    experiment: ExperimentInfo
    command: str
    host: dict[str, Any]
    start_time: dt.datetime
    config: dict[str, Any]
    meta: dict[str, Any]
    status: str = "RUNNING"
    info: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    heartbeat: dt.datetime | None = None
    stop_time: dt.datetime | None = None
    fail_trace: list[str] | None = None
    captured_out: str = ""  # bounded text for the database document
    new_output: str = ""  # full text written since the previous flush (FileStorage cout.txt)
    resources: list[tuple[str, str]] = field(default_factory=list)  # (absolute path, md5)
    run_id: Any = None
