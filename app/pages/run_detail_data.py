"""Which run a run page's URL names: id candidates and their resolution in the store.

The page's pure formatters live in `omnidash.core.run_view`."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from omnidash.core.ids import id_candidates, parse_run_id
from omnidash.core.types import RunId
from omnidash.store.base import NotFound, RunStore


# -- ids -------------------------------------------------------------------------------------
def candidate_ids(raw: str) -> list[RunId]:
    """The ids a URL segment may mean: `"7"` -> [7, "7"]; `"lr-0.1-final"` -> ["lr-0.1-final"]."""
    return id_candidates(parse_run_id(unquote(str(raw))))


def resolve_run(store: RunStore, raw: str | RunId) -> tuple[RunId, dict[str, Any]]:
    """(run id as stored, run document) for a URL segment; raises NotFound."""
    if isinstance(raw, int):
        return raw, store.get_run(raw)
    for run_id in candidate_ids(raw):
        try:
            return run_id, store.get_run(run_id)
        except NotFound:
            continue
    raise NotFound(f"no run with id {unquote(str(raw))!r}")
