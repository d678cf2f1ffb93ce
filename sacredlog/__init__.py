"""sacredlog: write Sacred 0.8.7-format runs (MongoDB and/or FileStorage folders) without Sacred.

    from sacredlog import Run
    with Run(experiment="mnist", config={"lr": 0.1}, mongo_url="mongodb://localhost:27017/sacred") as run:
        run.log_scalar("train.loss", 0.31)

Needs only pymongo (for MongoDB) and the standard library; numpy values are accepted when numpy is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sacredlog.decorator import main, run_function
from sacredlog.run import Run, Terminated

__all__ = ["Run", "Terminated", "main", "replay", "run_function"]


if TYPE_CHECKING:
    from sacredlog.replay import ReplayReport


def replay(journal: str, mongo_url: str | None = None) -> ReplayReport:  # lazy import keeps pymongo optional
    """Send what a journal holds to MongoDB (idempotent). Returns a ReplayReport."""
    from sacredlog.replay import replay as _replay

    return _replay(journal, mongo_url=mongo_url)
