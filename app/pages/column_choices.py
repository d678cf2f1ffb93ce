"""Default choices among a source's columns: the hyper-parameter tab's axes, and the metric that tab and the
"Which settings matter" panel start on. Pure: column descriptions in, names out."""

from __future__ import annotations

from omnidash.core.types import ColumnInfo

MAX_AXES = 12  # parallel coordinates stay readable up to about a dozen axes


def default_choices(cols: list[ColumnInfo]) -> tuple[list[str], list[str], list[str], str | None]:
    """(config columns, metric columns, default axes, default metric)."""
    config = [c for c in cols if c.kind == "config"]
    config_names = [c.name for c in config]
    metrics = [c.name for c in cols if c.kind == "metric"]
    varying = [c.name for c in config if c.varies and c.name.split(".")[-1] not in ("seed", "tags")]
    axes = varying[:MAX_AXES] or config_names[:MAX_AXES]
    lasts = [m for m in metrics if m.startswith("last(")]
    preferred = [m for m in lasts if any(k in m.lower() for k in ("val", "acc", "test"))]
    metric = (preferred or lasts or metrics or [None])[0]
    return config_names, metrics, axes, metric
