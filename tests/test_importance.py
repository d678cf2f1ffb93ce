"""Which settings matter (issue 16): the pure ranking on synthetic rows, and GET /api/importance over a
sweep written by the real Sacred into a FileStorage folder and the test MongoDB server."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from sacred_helpers import ROOT, sacred_in_both
from sweep_runs import DRIVERS, METRIC, NOISE, sweep
from werkzeug.test import Client

from omnidash.context import Settings
from omnidash.core.importance import MIN_RUNS, settings_importance
from omnidash.server import create_server
from omnidash.store import open_store


# -- the pure ranking --------------------------------------------------------------------------------
def synthetic(n: int, seed: int = 1, missing_every: int = 0) -> list[dict[str, Any]]:
    """Runs whose score depends strongly on lr and optimizer, not at all on the other keys."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        lr = rng.choice([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2])
        opt = rng.choice(["adam", "sgd", "rmsprop"])
        row = {
            "config.lr": lr, "config.optimizer": opt,
            "config.depth": rng.choice([2, 4, 8]), "config.dropout": rng.choice([0.0, 0.1, 0.3]),
            "config.activation": rng.choice(["relu", "tanh", "gelu"]), "config.augment": rng.choice([True, False]),
            "config.width": rng.choice([None, 64, 128, 256]),  # missing in some runs
            "config.seed": 1000 + i, "config.label": f"run-{i:03d}", "config.epochs": 10,
            "config.data.trial_id": 7 * i % 5,
            "config.layers": [rng.choice([32, 64]), 10],  # a list: a category
            "score": 0.3 * {1e-4: 0, 3e-4: 1, 1e-3: 2, 3e-3: 3, 1e-2: 4, 3e-2: 5}[lr] / 5
            + {"adam": 0.3, "sgd": 0.0, "rmsprop": 0.15}[opt] + rng.gauss(0, 0.01),
        }
        if missing_every and i % missing_every == 0:
            row["config.lr"] = None
        rows.append(row)
    return rows


def keys_of(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({k for r in rows for k in r if k.startswith("config.")})


def test_the_two_driving_keys_rank_first_and_seeds_ids_constants_are_flagged():
    rows = synthetic(60)
    result = settings_importance(rows, keys_of(rows), "score")
    ranked = [k.key for k in result.ranked]
    assert set(ranked[:2]) == {"config.lr", "config.optimizer"}, ranked
    by_key = {k.key: k for k in result.keys}
    assert min(by_key[k].importance for k in ranked[:2]) > 5 * max(abs(by_key[k].importance) for k in ranked[2:])
    assert by_key["config.lr"].correlation > 0.4  # higher lr, higher score: the sign is kept
    assert by_key["config.optimizer"].correlation is None  # unordered categories have no sign...
    assert by_key["config.optimizer"].levels[0]["value"] == "adam"  # ...but a best category
    assert by_key["config.optimizer"].kind == "category" and by_key["config.augment"].kind == "bool"
    flags = {k.key: k.flag for k in result.keys if k.flag}
    assert flags == {"config.seed": "seed", "config.label": "unique", "config.epochs": "constant",
                     "config.data.trial_id": "id"}
    # flagged keys are listed after every ranked key and are not given an importance
    order = [k.key for k in result.keys]
    assert order.index("config.seed") > order.index(ranked[-1])
    assert all(by_key[k].importance is None for k in flags)
    assert result.runs == 60 and not result.too_few and result.r2 > 0.8


def test_categories_and_lists_are_one_key_each_and_missing_values_are_kept():
    rows = synthetic(40, seed=3, missing_every=5)
    result = settings_importance(rows, keys_of(rows), "score")
    keys = [k.key for k in result.keys]
    assert len(keys) == len(set(keys)) == len(keys_of(rows))  # one entry per key, never per category
    by_key = {k.key: k for k in result.keys}
    assert by_key["config.lr"].runs == 32 and by_key["config.width"].runs < 40  # runs with a value
    assert by_key["config.layers"].kind == "category" and by_key["config.layers"].importance is not None
    assert set([k.key for k in result.ranked][:2]) == {"config.lr", "config.optimizer"}


def test_deterministic():
    rows = synthetic(30, seed=5)
    a = settings_importance(rows, keys_of(rows), "score").to_dict()
    b = settings_importance(list(reversed(rows)), list(reversed(keys_of(rows))), "score").to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(settings_importance(rows, keys_of(rows), "score").to_dict(),
                                                       sort_keys=True)
    assert [k["key"] for k in a["keys"]][:2] == [k["key"] for k in b["keys"]][:2]


def test_too_few_runs_gives_a_message_and_no_ranking():
    rows = synthetic(MIN_RUNS - 1)
    rows.append({"config.lr": 0.1, "score": None})  # no metric: not counted
    result = settings_importance(rows, keys_of(rows), "score")
    assert result.too_few and result.runs == MIN_RUNS - 1 and result.runs_without_metric == 1
    assert result.message.startswith("Too few runs: 7 runs with a value for score; at least 8")
    assert all(k.importance is None for k in result.keys)
    assert settings_importance([], ["config.lr"], "score").message == "No runs match this filter."


def test_a_constant_metric_has_nothing_to_explain():
    rows = [dict(r, score=1.0) for r in synthetic(20)]
    result = settings_importance(rows, keys_of(rows), "score")
    assert "the same in all 20 runs" in result.message and not result.ranked


def test_sacredlog_and_app_import_without_scikit_learn():
    code = ("import sys, sacredlog, omnidash, omnidash.api, omnidash.store.importance, omnidash.core.importance\n"
            "import omnidash.pages.importance_panel, omnidash.components.importance, omnidash.server\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy'))))")
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# -- the API over a real Sacred sweep, both backends -------------------------------------------------------
@pytest.fixture(scope="module")
def sweep_sources(tmp_path_factory, mongo_server) -> Iterator[dict[str, str]]:
    with sacred_in_both(mongo_server.uri, tmp_path_factory.mktemp("sweep"), sweep(), "importance") as (uri, folder):
        yield {"files": str(folder), "mongo": uri}


@pytest.fixture(params=["files", "mongo"])
def client(request, sweep_sources) -> Iterator[Client]:
    store = open_store(sweep_sources[request.param])
    yield Client(create_server(store, Settings()))
    store.close()


def get(client: Client, url: str, status: int = 200) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    return response.get_json()


def test_api_ranks_lr_and_batch_size_first(client):
    body = get(client, f"/api/importance?metric={quote(METRIC)}")
    assert body["runs"] == 24 and body["metric"] == METRIC and not body["too_few"] and body["message"] is None
    ranked = [k["key"] for k in body["keys"] if k["flag"] is None]
    assert set(ranked[:2]) == set(DRIVERS), ranked
    assert set(NOISE) <= set(ranked[2:])
    by_key = {k["key"]: k for k in body["keys"]}
    assert by_key["config.lr"]["correlation"] < -0.5  # larger lr, lower loss
    assert by_key["config.batch_size"]["correlation"] < -0.3
    assert by_key["config.seed"]["flag"] == "seed"
    assert by_key["config.steps"]["flag"] == "constant" and by_key["config.tags"]["flag"] == "constant"


def test_api_same_numbers_on_both_backends(sweep_sources):
    bodies = []
    for kind in ("files", "mongo"):
        store = open_store(sweep_sources[kind])
        try:
            bodies.append(get(Client(create_server(store, Settings())), f"/api/importance?metric={quote(METRIC)}"))
        finally:
            store.close()
    files, mongo = ({k["key"]: k for k in b["keys"] if k["key"] != "config.workdir"} for b in bodies)
    assert files.keys() == mongo.keys()
    for key in files:
        assert files[key]["flag"] == mongo[key]["flag"], key
        assert files[key]["importance"] == pytest.approx(mongo[key]["importance"], abs=1e-9), key


def test_api_query_filters_runs_and_too_few(client):
    body = get(client, "/api/importance?metric=" + quote(METRIC) + "&q=" + quote("config.batch_size == 32"))
    assert body["runs"] == 8 and not body["too_few"]
    assert {k["key"]: k["flag"] for k in body["keys"]}["config.batch_size"] == "constant"
    body = get(client, "/api/importance?metric=" + quote(METRIC) + "&q=" + quote("config.lr == 0.1"))
    assert body["runs"] == 6 and body["too_few"]
    assert body["message"].startswith("Too few runs: 6 runs")


@pytest.mark.parametrize(("params", "fragment"), [
    ("", "metric is required"),
    ("metric=max(nope)", "unknown metric column 'max(nope)'"),
    ("metric=config.lr", "is a config key"),
    ("metric=" + quote(METRIC) + "&q=" + quote("config.lr >"), "expected a value"),
])
def test_api_bad_metric_or_query_is_a_400(client, params, fragment):
    body = get(client, "/api/importance?" + params, 400)
    assert fragment in body["error"]


def test_api_requires_sign_in_like_every_route(sweep_sources, tmp_path):
    from omnidash.auth.users import UsersFile
    from omnidash.auth.web import AuthConfig
    from omnidash.config import single_source_config
    from omnidash.server import build_wsgi

    users = UsersFile(tmp_path / "users.toml", must_exist=False)
    users.add("ann", "a-long-password", "viewer")
    folder = sweep_sources["files"]
    wsgi = build_wsgi(single_source_config(folder), {"main": open_store(folder)},
                      AuthConfig(users=users, secret_key="k" * 32))
    body = get(Client(wsgi), f"/api/importance?metric={quote(METRIC)}", 401)
    assert body == {"error": "authentication required"}
