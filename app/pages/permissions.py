"""What the current user may write, for the pages to hide or disable the controls they cannot use.

The store enforces every write (app/auth/store.py); this only asks it, so a viewer or a read-only board
sees disabled controls with the reason as a tooltip rather than buttons that fail.
"""

from __future__ import annotations

from typing import Any

# page action -> the store method it calls
ACTIONS = {"tags": "set_tags", "notes": "set_notes", "bulk_tags": "update_tags", "delete": "delete_run",
           "columns": "add_custom_column", "views": "save_view"}


def write_permissions(store: Any, settings: Any = None) -> dict[str, str]:
    """{action: ""} when allowed, {action: "why not"} when the current user's role or a read-only board
    refuses it."""
    board_read_only = bool(getattr(settings, "read_only", False) or getattr(store, "read_only", False))
    refusal = getattr(store, "refusal", None)
    out: dict[str, str] = {}
    for action, method in ACTIONS.items():
        if board_read_only:
            out[action] = "This dashboard is read-only."
            continue
        reason = refusal(method) if callable(refusal) else None
        out[action] = _sentence(str(reason)) if reason else ""
    return out


def can(permissions: dict[str, str] | None, action: str) -> bool:
    return not (permissions or {}).get(action)


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
