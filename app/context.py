"""Access to the current app's store and settings from callbacks and Flask views (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from omnidash.store.base import RunStore


@dataclass
class Settings:
    """Per-source settings (issue 7 adds more)."""

    timezone: str = "UTC"
    refresh_interval: float = 30.0  # seconds; 0 disables auto-refresh
    probably_dead_after: float = 120.0
    page_size: int = 50
    read_only: bool = False
    url_prefix: str = "/"
    title: str = "omnidash"
    extra: dict[str, Any] = field(default_factory=dict)


def get_store() -> RunStore:
    """The RunStore of the app serving the current request."""
    return current_app.extensions["omnidash"]["store"]


def get_settings() -> Settings:
    return current_app.extensions["omnidash"]["settings"]
