"""omnidash: the dashboard (app.server, app.cli) and, for notebooks, `connect` (app/notebook.py).

`connect` is imported on first use, so `import app` loads neither dash nor pandas.
"""

from __future__ import annotations

from typing import Any

__all__ = ["connect"]


def __getattr__(name: str) -> Any:
    if name == "connect":
        from app.notebook import connect

        return connect
    raise AttributeError(f"module 'app' has no attribute {name!r}")
