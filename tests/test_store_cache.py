"""The caches in front of a store (`omnidash.store.cache`) drop what a write through the store changed.

No test here calls `cache.forget`: a write through the store (or the API, or the guarded store the pages
use) is enough for the next cached read to show it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omnidash.auth.store import GuardedStore
from omnidash.demo import write_demo_runs
from omnidash.server import create_server
from omnidash.store import cache
from omnidash.store.cache import SeriesCache
from omnidash.store.files import FileStore


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    write_demo_runs(tmp_path / "runs", 3)
    return FileStore(str(tmp_path / "runs"))


def test_a_tag_written_through_the_store_shows_in_the_cached_distinct_values(store: FileStore) -> None:
    run = store.run_ids("")[0]
    assert "fresh-tag" not in cache.distinct(store, "tags")
    store.update_tags([run], add=["fresh-tag"])
    assert "fresh-tag" in cache.distinct(store, "tags")
    store.set_tags(run, [])
    assert "fresh-tag" not in cache.distinct(store, "tags")


def test_a_write_through_the_guarded_store_the_pages_use_invalidates_its_cache(store: FileStore) -> None:
    guarded = GuardedStore(store)
    before = cache.column_names(guarded)
    guarded.add_custom_column("my_lr", "config.lr")
    assert "my_lr" in cache.column_names(guarded) and "my_lr" not in before
    assert "my_lr" in [c.name for c in cache.column_infos(guarded)]


def test_notes_set_through_the_api_show_in_the_cached_distinct_values(store: FileStore) -> None:
    server = create_server(store)
    guarded = server.extensions["omnidash"]["store"]
    run = store.run_ids("")[0]
    assert "written by the API" not in cache.distinct(guarded, "notes")
    response = server.test_client().patch(f"/api/runs/{run}", json={"notes": "written by the API"})
    assert response.status_code == 200, response.get_json()
    assert "written by the API" in cache.distinct(guarded, "notes")


def test_which_config_keys_vary_follows_a_delete(store: FileStore) -> None:
    ids = store.run_ids("")
    keys = [c.name for c in store.columns() if c.name.startswith("config.")]
    assert cache.listed_varies(store, "", keys) is not None
    for run in ids[1:]:
        store.delete_run(run)
    assert cache.listed_varies(store, "", keys) is None  # one run left: nothing to compare


def test_a_deleted_run_leaves_the_series_cache(store: FileStore) -> None:
    series_cache = SeriesCache()
    ids = store.run_ids("")
    name = store.metric_names(ids)[ids[0]][0]
    assert {s.run_id for s in series_cache.series(store, ids, [name], 100)} == set(ids)
    store.delete_run(ids[0])
    assert {s.run_id for s in series_cache.series(store, ids, [name], 100)} == set(ids[1:])


def test_reads_keep_the_cache_and_every_write_is_counted(store: FileStore) -> None:
    run = store.run_ids("")[0]
    store.list_runs("")
    store.delete_preview(run)
    assert store.changes() == (0, 0)
    store.set_notes(run, "x")
    store.update_tags([run], add=["a"])
    assert store.changes() == (2, 0)
    store.delete_run(run)
    assert store.changes() == (3, 1)
    assert GuardedStore(store).changes() == (3, 1)


def test_the_table_reads_the_tag_list_once_until_a_tag_is_written(store: FileStore, dash_call, monkeypatch) -> None:
    """A table's tag inputs ask for the tag list (their suggestions): a scan of the tag index on MongoDB
    (0.5 s at 100,000 tagged runs). It comes from the cache; a tag written through the store shows at once."""
    from omnidash.context import Settings
    from omnidash.server import create_app

    app = create_app(store, Settings(refresh_interval=0))
    reads: list[str] = []
    real = FileStore.distinct
    monkeypatch.setattr(FileStore, "distinct", lambda self, column, limit=100: reads.append(column) or
                        real(self, column, limit))
    load = lambda: dash_call(app, "tbl-tag-options.data",  # noqa: E731
                             {"tbl-tags-wanted.data": 1, "tbl-soft-refresh.data": None})
    first, second = load(), load()
    assert reads == ["tags"] and first["tbl-tag-options.data"] == second["tbl-tag-options.data"]
    app.server.extensions["omnidash"]["store"].update_tags([store.run_ids("")[0]], add=["fresh-tag"])
    assert "fresh-tag" in load()["tbl-tag-options.data"] and reads == ["tags", "tags"]


# -- values refreshed in the background (store/refreshing.py) ------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def computing(values: list[str]):
    """A compute function that hands out `values` one by one, each call noted; one may block on an event."""
    import threading

    calls: list[str] = []
    gate = threading.Event()
    gate.set()

    def compute() -> str:
        gate.wait(10)
        calls.append(values[len(calls)])
        return calls[-1]

    return compute, calls, gate


def test_a_value_past_its_freshness_is_answered_at_once_and_refreshed_once_in_the_background() -> None:
    import threading

    from omnidash.store.refreshing import Refreshing

    clock = Clock()
    values = Refreshing(fresh=10, stale=120, clock=clock)
    compute, calls, gate = computing(["v1", "v2", "v3"])
    assert values.get("k", compute) == "v1" and calls == ["v1"]
    clock.now += 5
    assert values.get("k", compute) == "v1" and calls == ["v1"]  # fresh: not recomputed
    clock.now += 10
    gate.clear()  # the background refresh waits until the gate opens
    answers = [values.get("k", compute) for _ in range(5)]
    assert answers == ["v1"] * 5 and calls == ["v1"]  # answered at once, from the old value
    assert [t.name for t in threading.enumerate()].count("omnidash-refresh") == 1  # one refresh, not five
    gate.set()
    for t in threading.enumerate():
        if t.name == "omnidash-refresh":
            t.join(5)
    assert calls == ["v1", "v2"] and values.get("k", compute) == "v2"


def test_a_value_too_old_or_of_another_version_is_recomputed_before_answering() -> None:
    from omnidash.store.refreshing import Refreshing

    clock = Clock()
    values = Refreshing(fresh=10, stale=120, clock=clock)
    compute, calls, _gate = computing(["v1", "v2", "v3"])
    assert values.get("k", compute, version=1) == "v1"
    assert values.get("k", compute, version=2) == "v2"  # a write went through the store: at once
    clock.now += 121
    assert values.get("k", compute, version=2) == "v3"  # left alone for minutes: never shown that old


def test_a_failed_background_refresh_keeps_the_old_value_and_a_too_old_one_meets_the_error() -> None:
    import threading

    from omnidash.store.refreshing import Refreshing

    clock = Clock()
    values = Refreshing(fresh=10, stale=120, clock=clock)
    assert values.get("k", lambda: "v1") == "v1"
    clock.now += 11

    def down() -> str:
        raise RuntimeError("the database is down")

    assert values.get("k", down) == "v1"
    for t in threading.enumerate():
        if t.name == "omnidash-refresh":
            t.join(5)
    assert values.get("k", down) == "v1"  # kept; another refresh is tried
    clock.now += 120
    with pytest.raises(RuntimeError, match="down"):
        values.get("k", down)


def test_callers_asking_while_a_call_runs_share_its_answer_and_nothing_is_kept() -> None:
    import threading

    from omnidash.store.refreshing import SharedCalls

    shared = SharedCalls()
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def count() -> int:
        calls.append(1)
        started.set()
        release.wait(10)
        return len(calls)

    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(shared.call("q", count)))
    first.start()
    started.wait(10)
    others = [threading.Thread(target=lambda: answers.append(shared.call("q", count))) for _ in range(3)]
    for t in others:
        t.start()
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert calls == [1] and answers == [1, 1, 1, 1]
    assert shared.call("q", count) == 2  # asked after: computed anew
    with pytest.raises(ZeroDivisionError):
        shared.call("bad", lambda: 1 / 0)
    assert shared.call("bad", lambda: 5) == 5  # a failure is not kept either
