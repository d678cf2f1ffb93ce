"""Data access: `open_store(source)` gives a RunStore for a MongoDB URI or a Sacred FileStorage folder."""

from __future__ import annotations

from typing import Any

from omnidash.store.base import RunStore, StoreError, StoreUnavailable  # noqa: F401


def open_store(source: str, **options: Any) -> RunStore:
    """A MongoStore for `mongodb://` / `mongodb+srv://` URIs, else a FileStore for a folder.

    Raises StoreUnavailable (or a subclass) with a one-line message when the source is unusable.
    """
    if source.startswith(("mongodb://", "mongodb+srv://")):
        from omnidash.store.mongo import MongoStore

        return MongoStore(source, **options)
    from omnidash.store.files import FileStore

    return FileStore(source, **options)
