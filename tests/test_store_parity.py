"""Parity: the same query and sort give the same ids in the same order on MongoStore and FileStore.

The runs are written once by the REAL sacred package through MongoObserver and FileStorageObserver at the
same time (see sacred_helpers), then annotated through each store's own write path.
"""

from __future__ import annotations

from typing import Any

import pytest
from sacred_helpers import sacred_in_both

from omnidash.store import open_store
from omnidash.store.files import FileStore

pytestmark = pytest.mark.mongo


def sweep() -> list[dict[str, Any]]:
    """12 runs: 3 learning rates x 2 batch sizes x 2 optimizers, with failures, an interrupt and a queue."""
    runs = []
    seed = 100
    for lr in (0.1, 0.01, 0.001):
        for batch_size in (32, 64):
            for optimizer in ("adam", "sgd"):
                seed += 1
                cfg: dict[str, Any] = {"seed": seed, "lr": lr, "batch_size": batch_size, "optimizer": optimizer,
                                       "steps": 12 + seed % 5}
                if seed % 4 == 0:
                    cfg["adam"] = {"beta1": 0.8}
                if seed % 3 == 0:
                    cfg["tags"] = ["interop", "sweep"]
                runs.append({"config": cfg})
    runs[2]["config"]["mode"] = "fail"
    runs[5]["config"]["mode"] = "fail"
    runs[7]["config"]["mode"] = "interrupt"
    runs[9]["queue"] = True
    runs[10]["config"]["nan_at"] = -1
    return runs


QUERIES: list[tuple[str, str]] = [
    ("", "-id"),
    ("", "lr,-batch_size"),
    ("lr == 0.01", "id"),
    ("lr != 0.01", "-id"),
    ("lr > 0.005", "-lr,id"),
    ("lr >= 0.01 and batch_size < 64", "id"),
    ("lr <= 0.01 or optimizer == sgd", "-id"),
    ("optimizer ~ AD", "optimizer,id"),
    ("optimizer in [sgd, rmsprop]", "-lr,-id"),
    ("optimizer not in [sgd]", "batch_size,id"),
    ("tags has sweep", "id"),
    ("tags has best or tags has swept", "-id"),
    ("notes ~ check", "id"),
    ("not tags has sweep", "tags,id"),
    ("status == COMPLETED", "-max(val.acc)"),
    ("status in [FAILED, INTERRUPTED]", "id"),
    ("status != COMPLETED", "status,-id"),
    ("result exists", "-result"),
    ("result missing", "id"),
    ("max(val.acc) > 0.2", "-max(val.acc)"),
    ("last_avg(train.loss, 5) < 0.95", "last_avg(train.loss, 5)"),
    ("min(train.loss) < 0.9 and not (optimizer == sgd)", "min(train.loss)"),
    ("mean(val.acc) > 0", "-mean(val.acc)"),
    ("last(train.loss) < 1", "-last(train.loss),id"),
    ("start_time > -1d", "-start_time"),
    ("start_time < 2020-01-01", "id"),
    ("start_time missing", "id"),
    ("duration >= 0", "id"),
    ("experiment == interop_toy and command == train", "command,-id"),
    ("hostname exists", "hostname,id"),
    ("adam.beta1 == 0.8", "-id"),
    ("config.adam.beta2 > 0.99 and adam.beta1 < 0.85", "id"),
    ("info.best_acc exists", "-id"),
    ("interop", "id"),
    ("sgd", "-id"),
    ("(lr == 0.1 or lr == 0.001) and batch_size == 64", "-steps,id"),
    ("id in [1, 3, 5, 12]", "-id"),
    ("id > 4 and id <= 9", "-lr,id"),
    ("steps exists and seed > 105", "-seed"),
    ("nan_at == -1 or mode == fail", "mode,id"),
]


@pytest.fixture(scope="module")
def stores(mongo_server, tmp_path_factory):
    with sacred_in_both(mongo_server.uri, tmp_path_factory.mktemp("parity"), sweep(), "t_parity") as (uri, folder):
        mongo = open_store(uri)
        files = FileStore(str(folder))
        for store in (mongo, files):
            store.set_tags(3, ["best"])
            store.set_notes(4, "check the loss spike")
            store.update_tags([6, 7, 8], add=["swept"], remove=["sweep"])
        yield mongo, files
        mongo.close()


def test_the_runs_are_the_same(stores) -> None:
    mongo, files = stores
    assert mongo.run_ids() == files.run_ids() == list(range(1, 13))
    assert mongo.count() == files.count() == 12


@pytest.mark.parametrize(("query", "sort"), QUERIES, ids=[f"{q or '(all)'} | {s}" for q, s in QUERIES])
def test_same_ids_in_the_same_order(stores, query: str, sort: str) -> None:
    mongo, files = stores
    m = mongo.list_runs(query, sort=sort, limit=100, columns=["status"])
    f = files.list_runs(query, sort=sort, limit=100, columns=["status"])
    assert [r["id"] for r in m.rows] == [r["id"] for r in f.rows]
    assert m.total == f.total == len(f.rows)
    assert mongo.count(query) == files.count(query) == f.total
    assert mongo.run_ids(query) == files.run_ids(query)


def test_the_table_is_not_trivial(stores) -> None:
    """Most queries select some runs but not all of them, so the comparison means something."""
    _, files = stores
    sizes = [files.count(q) for q, _ in QUERIES]
    assert sum(1 for n in sizes if 0 < n < 12) >= 25, sizes


def test_same_pages(stores) -> None:
    mongo, files = stores
    for offset in (0, 5, 10):
        m = mongo.list_runs("lr < 0.1", sort="-lr,batch_size", offset=offset, limit=5)
        f = files.list_runs("lr < 0.1", sort="-lr,batch_size", offset=offset, limit=5)
        assert [r["id"] for r in m.rows] == [r["id"] for r in f.rows] and m.total == f.total == 8


def test_same_errors_for_bad_queries(stores) -> None:
    from omnidash.store.base import BadRequest

    mongo, files = stores
    for bad in ("lr >", "(lr == 1", "max() > 1", "lr == 1 and"):
        for store in (mongo, files):
            with pytest.raises(BadRequest):
                store.list_runs(bad)


def test_get_run_fields_limits_the_document(stores) -> None:
    for store in stores:
        whole = store.get_run(2)
        part = store.get_run(2, fields=["config", "status"])
        assert set(part) == {"_id", "config", "status"}, store.kind
        assert part["config"] == whole["config"] and part["status"] == whole["status"]
        assert "captured_out" in whole and "captured_out" not in part


def test_get_runs_reads_many_runs_like_get_run(stores) -> None:
    for store in stores:
        got = store.get_runs(["2", 5, 999, 3], fields=["config", "status"])
        assert list(got) == ["2", 5, 3], store.kind  # requested order, unknown ids left out
        for rid, doc in got.items():
            assert doc == store.get_run(rid, fields=["config", "status"]), (store.kind, rid)
        assert store.get_runs([]) == {}
