"""Group table rows by config keys: one row per group with n, and mean and std of each metric column.

Pure pandas, no dash. Used by the runs table's grouping view and by its tests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

GROUP_KEY = "group_key"  # a stable string id of the group (JSON of its key values)
MEMBER_IDS = "run_ids"


def mean_col(column: str) -> str:
    return f"mean:{column}"


def std_col(column: str) -> str:
    return f"std:{column}"


def varying_keys_except_seed(config_columns: Iterable[str]) -> list[str]:
    """The one-click grouping: every varying config key except the seed (and config.tags, not a parameter)."""
    skip = {"seed", "_seed", "random_seed", "tags"}
    return [c for c in config_columns if c.rsplit(".", 1)[-1].lower() not in skip]


def _hashable(v: Any) -> Any:
    """Lists and dicts as JSON text so pandas can group on them; None kept as a group of its own."""
    if isinstance(v, list | dict):
        return json.dumps(v, sort_keys=True, default=str)
    return v


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        f = float(v)
        return f if math.isfinite(f) else None
    return None


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v.item() if hasattr(v, "item") else v


def group_rows(
    rows: Sequence[dict[str, Any]], keys: Sequence[str], value_columns: Sequence[str]
) -> list[dict[str, Any]]:
    """One dict per group: the key values, `n`, `mean:<col>`, `std:<col>` (sample std, ddof=1), run ids.

    Non-numeric metric values are ignored (as NaN); a group of one run has std None.
    Groups come sorted by their key values.
    """
    keys = list(keys)
    if not keys:
        return []
    records = []
    for r in rows:
        rec: dict[str, Any] = {k: _hashable(r.get(k)) for k in keys}
        rec["id"] = r.get("id")
        for c in value_columns:
            rec[c] = _number(r.get(c))
        records.append(rec)
    if not records:
        return []
    df = pd.DataFrame.from_records(records, columns=[*keys, "id", *value_columns])
    for c in value_columns:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    grouped = df.groupby(keys, dropna=False, sort=False)
    out: list[dict[str, Any]] = []
    for key_values, part in grouped:
        if not isinstance(key_values, tuple):
            key_values = (key_values,)
        group: dict[str, Any] = {}
        for k, v in zip(keys, key_values, strict=True):
            group[k] = None if (isinstance(v, float) and math.isnan(v)) else _clean(v)
        group["n"] = len(part)
        for c in value_columns:
            values = part[c].dropna()
            group[mean_col(c)] = _clean(float(values.mean())) if len(values) else None
            group[std_col(c)] = _clean(float(values.std(ddof=1))) if len(values) > 1 else None
        group[MEMBER_IDS] = [_clean(i) for i in part["id"].tolist()]
        group[GROUP_KEY] = json.dumps([group[k] for k in keys], default=str)
        out.append(group)
    out.sort(key=lambda g: [_order(g[k]) for k in keys])
    return out


def _order(v: Any) -> tuple[int, float, str]:
    """Sort key that orders numbers, then strings, then missing values, without comparing across types."""
    if v is None:
        return (2, 0.0, "")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0.0, str(v))
