"""The plain values every layer passes around: run ids, table pages, columns, files and metric series.

Pure: no store, no dash, no database driver; the store fills them and components lay them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RunId = int | str


@dataclass
class RunPage:
    total: int
    offset: int
    rows: list[dict[str, Any]]


@dataclass
class ColumnInfo:
    """One column the table can show."""

    name: str  # the column name, e.g. "config.lr", "max(val.acc)", "status"
    kind: str  # "base" | "config" | "metric" | "custom" | "path"
    dtype: str = "mixed"  # "number" | "string" | "date" | "bool" | "list" | "mixed"
    label: str | None = None  # header text when it differs from name (Omniboard custom columns)
    path: str | None = None  # document path for custom columns (omniboard config_path)
    varies: bool = True  # False when every run has the same value


@dataclass
class FileInfo:
    name: str
    size: int | None
    date: datetime | None
    content_type: str | None = None
    missing: bool = False  # the reference exists but the file does not
    file_id: str | None = None


@dataclass
class Series:
    run_id: RunId
    name: str
    steps: list[float]
    values: list[float | None]  # NaN/inf become None (gaps)
    timestamps: list[datetime | None] = field(default_factory=list)
    total_points: int = 0  # points stored before downsampling


@dataclass
class DeleteReport:
    run_id: RunId
    metrics: int = 0
    artifacts: int = 0
    sources: int = 0
    files: list[str] = field(default_factory=list)
