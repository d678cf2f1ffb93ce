"""omnidash: the dashboard (omnidash.server, omnidash.cli) and, for notebooks, `connect` (omnidash.notebook).

The repository's app/ folder; it installs as `omnidash`. `connect` is imported on first use, so `import omnidash`
loads neither dash nor pandas.
"""

from __future__ import annotations

from typing import Any

__all__ = ["connect"]


def __getattr__(name: str) -> Any:
    if name == "connect":
        from omnidash.notebook import connect

        return connect
    raise AttributeError(f"module 'omnidash' has no attribute {name!r}")
