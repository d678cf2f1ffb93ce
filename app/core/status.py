"""The statuses a run shows: Sacred's, plus PROBABLY_DEAD (a RUNNING run whose heartbeat stopped)."""

from __future__ import annotations

PROBABLY_DEAD = "PROBABLY_DEAD"
LIVE_STATUSES = ("RUNNING", "QUEUED")  # runs whose metrics and output may still grow
FINAL_STATUSES = ("COMPLETED", "FAILED", "INTERRUPTED", "TIMEOUT")  # runs that will not change again
# in the order the filter chips show them
STATUSES = ("RUNNING", "COMPLETED", "FAILED", "INTERRUPTED", PROBABLY_DEAD, "QUEUED", "TIMEOUT")
