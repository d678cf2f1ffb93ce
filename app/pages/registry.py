"""Every page of the dashboard, in navigation order (the server routes and registers them)."""

from __future__ import annotations

from omnidash.pages import Page, compare, run_detail, table


def all_pages() -> list[Page]:
    """Every page, in navigation order."""
    return [table.PAGE, compare.PAGE, run_detail.PAGE]
