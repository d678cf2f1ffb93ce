"""The registry of summary statistics (omnidash.core.summaries): a new statistic is one entry, and the
query language, the column catalogue, the table's headers, the compare page and both stores' stored
summaries follow."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnidash.components.columns import Col, header_text, header_tooltip
from omnidash.components.table import extrema_options
from omnidash.core import summaries as stats
from omnidash.core.compare import metric_summary
from omnidash.core.types import Series
from omnidash.store import mongo_summaries
from omnidash.store.base import BadRequest
from omnidash.store.common import check_metric_column
from omnidash.store.files import FileStore
from omnidash.store.mongo import MongoStore
from omnidash.store.query import Compare, QueryContext, compile_query, parse
from omnidash.store.rows import summarize

CTX = QueryContext(now=datetime(2026, 11, 15, tzinfo=UTC))
MEDIAN = stats.Statistic("median", "median", "median", lambda p: float(np.median(p.finite)) if p.finite else None)


@pytest.fixture
def median(monkeypatch: pytest.MonkeyPatch) -> stats.Statistic:
    """`median` registered for one test (one entry, nothing else), removed after it."""
    monkeypatch.setitem(stats.STATISTICS, "median", MEDIAN)
    return MEDIAN


def write_run(base: Path, run_id: int, loss: list[float]) -> None:
    """A minimal FileStorageObserver run folder with one metric."""
    folder = base / str(run_id)
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({
        "status": "COMPLETED", "start_time": "2026-11-01T10:00:00", "heartbeat": "2026-11-01T10:01:00",
        "experiment": {"name": "e"}, "command": "main"}))
    (folder / "config.json").write_text(json.dumps({"seed": run_id}))
    (folder / "metrics.json").write_text(json.dumps(
        {"loss": {"steps": list(range(len(loss))), "values": loss, "timestamps": []}}))


# -- the built-in registry --------------------------------------------------------------------
def test_builtin_statistics_and_their_omniboard_words() -> None:
    assert stats.names() == ("min", "max", "last", "mean", "last_avg")
    assert [s.name for s in stats.stored()] == ["min", "max", "last", "mean"]
    # Omniboard's metric columns use extrema min/max/avg/last/last_avg: each maps, avg to the mean
    assert sorted(stats.omniboard_extrema()) == sorted(["min", "max", "avg", "last", "last_avg"])
    assert stats.by_omniboard("avg").name == "mean" and stats.by_omniboard("mean") is None
    assert stats.omniboard_ref("last_avg", "loss", "3") == ("last_avg", "loss", 3)
    assert stats.omniboard_ref("avg", "loss", 3) == ("mean", "loss", None)
    assert stats.omniboard_ref("median", "loss") is None
    assert [o["value"] for o in extrema_options()] == ["min", "max", "last", "avg", "last_avg"]
    assert stats.version(1) == 1  # databases summarised before the registry existed stay current


def test_summaries_skip_gaps_and_last_is_the_value_at_the_largest_step() -> None:
    s = summarize([3, 0, 1, 2], [float("nan"), 4.0, 1.0, 2.0])
    assert (s["min"], s["max"], s["mean"], s["last"]) == (1.0, 4.0, pytest.approx(7 / 3), None)
    assert stats.STATISTICS["last_avg"].of([1.0, None, 3.0, 5.0], 3) == 4.0
    assert stats.value({"tail": [1.0, 2.0, 6.0]}, "last_avg", 2) == 4.0
    assert stats.value({"last_avg_2": 9.0, "tail": [1.0]}, "last_avg", 2) == 9.0


@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.none()), max_size=40))
def test_folds_agree_with_the_whole_series(values: list[float | None]) -> None:
    """Incremental statistics give, value by value, what they give over the whole series."""
    p = stats.points(values)
    for stat in stats.STATISTICS.values():
        if not stat.incremental:
            continue
        folded, whole = stat.fold.over(p.values.tolist()), stat.compute(p)
        assert (folded is None) == (whole is None), stat.name
        if whole is not None:
            assert folded == pytest.approx(whole, rel=1e-9, abs=1e-9), stat.name
    assert not stats.STATISTICS["last_avg"].incremental  # a window: computed over the kept tail


# -- adding a statistic is one entry -------------------------------------------------------------
def test_a_registered_median_reaches_the_query_language(median) -> None:
    node = parse("median(val.loss) < 1")
    assert isinstance(node, Compare) and node.name.text == "median(val.loss)"
    assert compile_query("median(val.loss) < 1", CTX) == {"omnidash.metrics.val%2Eloss.median": {"$lt": 1}}
    assert header_text("median(val.loss)") == "val.loss (median)"
    assert header_tooltip(Col("median(val.loss)", "metric")) == "median(val.loss): the median of metric val.loss"
    assert stats.version(1) != 1  # MongoDB's stored summaries made without it are outdated and recomputed
    # no Omniboard word for it: Omniboard's metric columns cannot hold it, and the menu does not offer it
    assert "median" not in stats.omniboard_extrema() and "median" not in [o["label"] for o in extrema_options()]
    with pytest.raises(BadRequest, match="extrema must be one of"):
        check_metric_column("m", "loss", "median", 1)


def test_without_the_entry_median_is_an_unknown_reducer() -> None:
    with pytest.raises(BadRequest, match="unknown reducer 'median'"):
        parse("median(val.loss) < 1")


def test_a_registered_median_is_listed_sorted_and_filtered_by_the_folder_store(median, tmp_path: Path) -> None:
    base = tmp_path / "runs"
    write_run(base, 1, [0.1, 0.2, 9.0])  # median 0.2, mean 3.1
    write_run(base, 2, [0.5, 0.6, 0.7])  # median 0.6, mean 0.6
    write_run(base, 3, [2.0, float("nan"), 3.0])  # median 2.5 (the gap skipped)
    store = FileStore(str(base), scan_ttl=0)
    assert "median(loss)" in [c.name for c in store.columns() if c.kind == "metric"]
    page = store.list_runs(sort="-median(loss)", columns=["median(loss)", "mean(loss)"])
    assert [(r["id"], r["median(loss)"]) for r in page.rows] == [(3, 2.5), (2, pytest.approx(0.6)), (1, 0.2)]
    assert store.run_ids("median(loss) < 1") == [1, 2]
    assert store.run_ids("median(loss) < 1 and mean(loss) > 1") == [1]


def test_a_registered_median_outdates_mongodb_summaries_which_then_sort_and_filter_by_it(
        mongo_uri, mongo_db, monkeypatch: pytest.MonkeyPatch) -> None:
    start = datetime(2026, 11, 1, 10, tzinfo=UTC)
    losses = {1: [0.1, 0.2, 9.0], 2: [0.5, 0.6, 0.7], 3: [2.0, float("nan"), 3.0]}
    mongo_db.runs.insert_many([{"_id": i, "status": "COMPLETED", "start_time": start, "heartbeat": start,
                                "experiment": {"name": "e"}, "config": {"seed": i}} for i in losses])
    mongo_db.metrics.insert_many([{"run_id": i, "name": "loss", "steps": [0, 1, 2], "values": v, "timestamps": []}
                                  for i, v in losses.items()])
    monkeypatch.setattr(mongo_summaries, "REFRESH_EVERY", 0.0)
    store = MongoStore(mongo_uri)
    try:
        assert store.run_ids("mean(loss) > 1") == [1, 3]  # summaries stored with the built-in statistics
        assert mongo_db.runs.find_one({"_id": 1})["omnidash"]["v"] == mongo_summaries.SUMMARY_VERSION
        monkeypatch.setitem(stats.STATISTICS, "median", MEDIAN)
        page = store.list_runs(sort="-median(loss)", columns=["median(loss)"])
        assert [(r["id"], r["median(loss)"]) for r in page.rows] == [(3, 2.5), (2, pytest.approx(0.6)), (1, 0.2)]
        assert store.run_ids("median(loss) < 1") == [1, 2]
        assert mongo_db.runs.find_one({"_id": 1})["omnidash"]["metrics"]["loss"]["median"] == 0.2
        assert "median(loss)" in [c.name for c in store.columns()]
    finally:
        store.close()


def test_a_registered_median_is_a_row_of_the_compare_summary(median) -> None:
    series = [Series(1, "loss", [0, 1, 2], [0.1, 0.2, 9.0]), Series(2, "loss", [0, 1, 2], [0.5, 0.6, 0.7])]
    rows = {r.stat: r for r in metric_summary(series, [1, 2])}
    assert list(rows) == ["min", "max", "last", "median"]
    assert rows["median"].values == [0.2, pytest.approx(0.6)] and rows["median"].best == [0]  # a loss: lower
