"""Omniboard 2.16.1 as a live client of the same database: runs written by the real Sacred, then tags,
notes and shared columns written by one side must show on the other, and neither side may lose the
other's fields. Omniboard runs as its own Node process (tests/omniboard.py) against the session's test
server; its writes are the exact requests its web client sends (web/src/components/RunsTable/runsTable.js
`updateTags`/`updateNotes`, MetricColumnModal, CustomColumnModal).
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import pymongo
import pytest
from sacred_helpers import database_uri, run_sacred

from omnidash.store.mongo import MongoStore
from tests.omniboard import Omniboard, omniboard_missing

pytestmark = pytest.mark.mongo

RUNS: list[dict[str, Any]] = [
    {"config": {"seed": 21, "lr": 0.1, "steps": 12}},
    {"config": {"seed": 22, "lr": 0.01, "batch_size": 64, "steps": 12, "nan_at": -1}},
    {"config": {"seed": 23, "lr": 0.05, "batch_size": 16, "steps": 12, "tags": ["from-config"]}},
]


class Both:
    """One database of real Sacred runs, opened by omnidash (`store`), Omniboard (`ob`) and pymongo (`db`)."""

    def __init__(self, store: MongoStore, ob: Omniboard, db: Any) -> None:
        self.store = store
        self.ob = ob
        self.db = db


@pytest.fixture(scope="module")
def both(request, tmp_path_factory):
    missing = omniboard_missing()
    if missing:
        reason = f"Omniboard interop skipped: {missing}"
        print(reason)
        pytest.skip(reason)
    mongo_server = request.getfixturevalue("mongo_server")  # (no test server started just to skip)
    db_name = f"t_omniboard_{uuid.uuid4().hex[:8]}"
    runs = [dict(r, config=dict(r["config"])) for r in RUNS]
    run_sacred(tmp_path_factory.mktemp("omniboard") / "exp", runs, mongo={"url": mongo_server.uri, "db_name": db_name})
    uri = database_uri(mongo_server.uri, db_name)
    client = pymongo.MongoClient(mongo_server.uri)
    ob = Omniboard.start(uri)
    store = MongoStore(uri)
    try:
        yield Both(store, ob, client[db_name])
    finally:
        ob.stop()
        store.close()
        client.drop_database(db_name)
        client.close()


def omniboard_row(ob: Omniboard, run_id: int, select: str) -> dict[str, Any]:
    """One run as Omniboard's table fetches it (GET Runs with a select, filtered by id)."""
    rows = ob.get("Runs", select=select, query={"_id": run_id}, sort_by="_id", order_by="1")
    assert len(rows) == 1, rows
    return rows[0]


def test_omniboard_reads_sacred_runs(both: Both) -> None:
    assert both.ob.get("Runs/count", query="{}") == {"count": len(RUNS)}
    run = both.ob.get("Runs/2")
    assert run["_id"] == 2 and run["status"] == "COMPLETED" and run["config"]["batch_size"] == 64
    assert [m["name"] for m in run["info"]["metrics"]] == ["train.loss", "val.acc"]
    metrics = both.ob.get("Metrics", query='{"run_id":"2"}')  # what its drill-down view asks
    assert sorted(m["name"] for m in metrics) == ["train.loss", "val.acc"]
    assert all(len(m["values"]) == 12 for m in metrics)


def test_omnidash_tags_and_notes_show_in_omniboard(both: Both) -> None:
    both.store.set_tags(1, ["omnidash-tag", "shared"])
    both.store.set_notes(1, "written by omnidash")
    run = both.ob.get("Runs/1")
    assert run["omniboard"] == {"tags": ["omnidash-tag", "shared"], "notes": "written by omnidash"}
    row = omniboard_row(both.ob, 1, "_id,omniboard")  # the table's projection
    assert row["omniboard"]["tags"] == ["omnidash-tag", "shared"]
    assert "shared" in both.ob.get("Runs", distinct="omniboard.tags")  # its tag autocomplete

    assert both.store.update_tags([1, 3], add=["bulk"]) == 2  # omnidash's bulk tagging ($addToSet)
    assert both.ob.get("Runs/1")["omniboard"]["tags"] == ["omnidash-tag", "shared", "bulk"]
    assert both.ob.get("Runs/3")["omniboard"]["tags"] == ["from-config", "bulk"]  # config tags carried over


def test_omniboard_tags_and_notes_show_in_omnidash(both: Both) -> None:
    # exactly what runsTable.js updateTags / updateNotes send: one field per PUT
    answer = both.ob.put("Runs/2", {"omniboard": {"tags": ["ob-tag", "best"]}})
    assert answer["omniboard"]["tags"] == ["ob-tag", "best"]
    both.ob.put("Runs/2", {"omniboard": {"notes": "written by Omniboard"}})

    run = both.store.get_run(2)
    assert run["omniboard"] == {"tags": ["ob-tag", "best"], "notes": "written by Omniboard"}
    page = both.store.list_runs("tags == best", ["id"], 0, 10, ["tags", "notes"])
    assert [(r["id"], r["tags"], r["notes"]) for r in page.rows] == [(2, ["ob-tag", "best"], "written by Omniboard")]
    assert both.store.count('notes ~ "by Omniboard"') == 1


def test_neither_side_loses_the_others_fields(both: Both) -> None:
    both.store.list_runs("", ["-max(val.acc)"], 0, 10, ["max(val.acc)"])  # omnidash stores its summaries
    before = both.db.runs.find_one({"_id": 3})
    assert isinstance(before.get("omnidash"), dict) and before["omnidash"].get("metrics"), before.get("omnidash")

    both.store.set_notes(3, "omnidash note")
    both.ob.put("Runs/3", {"omniboard": {"tags": ["ob-only"]}})  # Omniboard's $set of omniboard.tags
    after = both.db.runs.find_one({"_id": 3})
    assert after["omnidash"] == before["omnidash"]  # omnidash's summary field survives Omniboard's write
    assert after["omniboard"] == {"tags": ["ob-only"], "notes": "omnidash note"}  # and our notes too
    assert {k: v for k, v in after.items() if k != "omniboard"} == {k: v for k, v in before.items() if k != "omniboard"}

    both.ob.put("Runs/3", {"omniboard": {"notes": "Omniboard note"}})
    both.store.set_tags(3, ["mine"])  # omnidash's $set of omniboard.tags keeps Omniboard's notes
    assert both.ob.get("Runs/3")["omniboard"] == {"tags": ["mine"], "notes": "Omniboard note"}
    assert both.db.runs.find_one({"_id": 3})["omnidash"] == before["omnidash"]
    rows = {r["id"]: r for r in both.store.list_runs("", ["id"], 0, 10, ["tags", "notes", "max(val.acc)"]).rows}
    assert (rows[3]["tags"], rows[3]["notes"]) == (["mine"], "Omniboard note")
    assert rows[3]["max(val.acc)"] is not None


def test_omniboard_columns_show_in_omnidash(both: Both) -> None:
    # the bodies MetricColumnModal / CustomColumnModal POST
    both.ob.post("Omniboard.Metric.Columns", {"name": "best_acc", "metric_name": "val.acc", "extrema": "max", "lastn": 1})
    both.ob.post("Omniboard.Metric.Columns",
                 {"name": "loss_tail", "metric_name": "train.loss", "extrema": "last_avg", "lastn": 3})
    both.ob.post("Omniboard.Custom.Columns", {"name": "batch", "config_path": "config.batch_size"})

    both.store._shared_cache = None  # the store re-reads shared columns every 2 s; don't wait for it
    cols = {c.name: c for c in both.store.columns()}
    assert cols["best_acc"].kind == "metric" and cols["loss_tail"].kind == "metric"
    assert cols["batch"].kind == "custom" and cols["batch"].path == "config.batch_size"

    ours = {r["id"]: r for r in both.store.list_runs("", ["id"], 0, 10, ["best_acc", "loss_tail", "batch"]).rows}
    theirs = {r["_id"]: r for r in both.ob.get("Runs", select="_id,best_acc,loss_tail", query="{}", sort_by="_id",
                                                order_by="1")}
    assert sorted(ours) == sorted(theirs) == [1, 2, 3]
    assert [ours[i]["batch"] for i in (1, 2, 3)] == [32, 64, 16]
    for i in (1, 2, 3):  # the same numbers on both sides (run 2 has no NaN; $max skips NaN as we do)
        assert ours[i]["best_acc"] == pytest.approx(theirs[i]["best_acc"], rel=1e-12)
        assert ours[i]["loss_tail"] == pytest.approx(theirs[i]["loss_tail"], rel=1e-12)
        assert math.isfinite(ours[i]["best_acc"])

    # sorting omnidash's table by Omniboard's metric column gives Omniboard's order
    by_ours = [r["id"] for r in both.store.list_runs("", ["-best_acc"], 0, 10, ["best_acc"]).rows]
    by_theirs = [r["_id"] for r in both.ob.get("Runs", select="_id,best_acc", query="{}", sort_by="best_acc",
                                                order_by="-1")]
    assert by_ours == by_theirs


def test_omnidash_columns_show_in_omniboard(both: Both) -> None:
    both.store.add_metric_column("acc_min", "val.acc", "min")
    both.store.add_custom_column("optim", "config.optimizer")
    metric = {c["name"]: c for c in both.ob.get("Omniboard.Metric.Columns")}
    assert {k: metric["acc_min"][k] for k in ("metric_name", "extrema", "lastn")} == {
        "metric_name": "val.acc", "extrema": "min", "lastn": 1}
    assert "optim" in [c["name"] for c in both.ob.get("Omniboard.Custom.Columns")]
    theirs = omniboard_row(both.ob, 2, "_id,acc_min")
    ours = both.store.list_runs("id == 2", ["id"], 0, 1, ["acc_min", "optim"]).rows[0]
    assert ours["acc_min"] == pytest.approx(theirs["acc_min"], rel=1e-12)
    assert ours["optim"] == "adam"


def test_nan_points_in_shared_metric_columns(both: Both) -> None:
    """Run 1's val.acc holds a NaN (Sacred stores it as NaN): Omniboard's $min over it gives NaN, sent as
    null (an empty cell); omnidash's summaries skip NaN points; max agrees (README, Omniboard section)."""
    for name, extrema in (("acc_low", "min"), ("acc_high", "max")):
        both.ob.post("Omniboard.Metric.Columns", {"name": name, "metric_name": "val.acc", "extrema": extrema, "lastn": 1})
    both.store._shared_cache = None
    theirs = omniboard_row(both.ob, 1, "_id,acc_low,acc_high")
    ours = both.store.list_runs("id == 1", ["id"], 0, 1, ["acc_low", "acc_high"]).rows[0]
    assert theirs["acc_low"] is None
    assert math.isfinite(ours["acc_low"]) and ours["acc_low"] < ours["acc_high"]
    assert ours["acc_high"] == pytest.approx(theirs["acc_high"], rel=1e-12)
