"""Pages: each module defines `PAGE`, a `Page` with a path template, a layout function and callbacks;
`registry.all_pages()` lists them.

We route ourselves (no Dash Pages global registry) so several apps can live in one process (tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dash import Dash


@dataclass
class Page:
    name: str
    path: str  # template: "/runs/<run_id>"
    layout: Callable[..., Any]  # layout(**path_params, **query_params) -> component
    register: Callable[[Dash], None]  # registers this page's callbacks on the app
    title: str = "omnidash"
    nav: bool = False  # shown in the navigation bar

    def match(self, pathname: str) -> dict[str, str] | None:
        pattern = "^" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", self.path.rstrip("/") or "/") + "/?$"
        m = re.match(pattern, pathname or "/")
        return m.groupdict() if m else None
