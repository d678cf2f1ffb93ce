"""Pure comparison helpers: config diff, summaries, text diff, EMA, group aggregation vs numpy."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from omnidash.core.compare import (
    MISSING,
    aggregate,
    config_diff,
    ema_smooth,
    group_runs,
    legend_label,
    lower_is_better,
    metric_summary,
    text_diff,
    varying_config_keys,
)
from omnidash.core.types import Series
from omnidash.store.query import brush_query, run_ids_query


def doc(run_id, config, **extra):
    base = {
        "_id": run_id,
        "config": config,
        "experiment": {"name": "mnist", "dependencies": ["numpy==1.26.0", "torch==2.2.0"],
                       "repositories": [{"url": "git@x:y.git", "commit": "abc", "dirty": False}] * 2},
        "host": {"hostname": "box", "python_version": "3.11.4"},
        "meta": {"command": "main", "named_configs": []},
        "status": "COMPLETED",
        "command": "main",
    }
    base.update(extra)
    return base


def test_config_diff_marks_exactly_the_differing_keys() -> None:
    docs = {
        1: doc(1, {"lr": 0.01, "opt": "adam", "net": {"depth": 3, "width": 64}, "seed": 1}),
        2: doc(2, {"lr": 0.1, "opt": "adam", "net": {"depth": 3, "width": 64}, "seed": 2}),
        "b7": doc("b7", {"lr": 0.01, "opt": "adam", "net": {"depth": 4, "width": 64}, "seed": 3, "extra": [1, 2]},
                  host={"hostname": "other", "python_version": "3.11.4"}),
    }
    docs["b7"]["experiment"] = {**docs["b7"]["experiment"], "dependencies": ["numpy==2.0.0", "torch==2.2.0"],
                                "repositories": [{"url": "git@x:y.git", "commit": "def", "dirty": True}]}
    diff = config_diff(docs)
    assert diff.run_ids == [1, 2, "b7"]
    assert set(diff.differing_keys) == {
        "config.lr", "config.net.depth", "config.seed", "config.extra", "host.hostname",
        "dependency.numpy", "git.commit", "git.dirty",
    }
    rows = {r.key: r for r in diff.rows}
    assert rows["config.extra"].values == [MISSING, MISSING, "[1, 2]"]
    assert not rows["config.opt"].differs and not rows["dependency.torch"].differs
    assert "git.commit[1]" not in rows, "duplicated repository entries are folded"
    assert diff.rows[0].key.startswith("config."), "config rows come first"


def test_host_gpus_and_os_read_as_text_in_the_config_diff() -> None:
    """Sacred's host.gpus and host.os (sacred-format.md) are shown as people read them, not as JSON; a value of
    another shape is still shown whole."""
    a100 = {"model": "NVIDIA A100-SXM4-40GB", "total_memory": 40960, "persistence_mode": True}
    docs = {
        1: doc(1, {}, host={"hostname": "a", "os": ["Linux", "Linux-6.8.0-49-generic-x86_64-with-glibc2.39"],
                            "gpus": {"gpus": [a100, a100], "driver_version": "550.127.05"}}),
        2: doc(2, {}, host={"hostname": "b", "os": ["Darwin", "macOS-14.5-arm64-arm-64bit"],
                            "gpus": {"gpus": [a100, {"model": "NVIDIA T4", "total_memory": 15360}]}}),
        3: doc(3, {}, host={"hostname": "c", "os": "Linux", "gpus": {"cards": 2}}),
        4: doc(4, {}, host={"hostname": "d", "gpus": None}),
    }
    rows = {r.key: r for r in config_diff(docs).rows}
    assert rows["host.gpus"].values == [
        "2 × NVIDIA A100-SXM4-40GB (40,960 MiB); driver 550.127.05",
        "1 × NVIDIA A100-SXM4-40GB (40,960 MiB) + 1 × NVIDIA T4 (15,360 MiB)",
        '{"cards": 2}',
        MISSING,
    ]
    assert rows["host.os"].values == ["Linux-6.8.0-49-generic-x86_64-with-glibc2.39",
                                      "Darwin, macOS-14.5-arm64-arm-64bit", "Linux", MISSING]


def test_legend_keys_most_informative_first_and_booleans_as_in_the_table() -> None:
    from omnidash.core.compare import format_value, informative_keys

    configs = [{"dataset": {"name": n}, "optimizer": o, "lr": lr, "batch_size": b, "depth": d, "augment": a}
               for n, o, lr, b, d, a in [("mnist", "adam", 1e-3, 32, 4, False), ("cifar10", "sgd", 1e-2, 64, 18, True),
                                         ("mnist", "adam", 3e-3, 128, 4, False)]]
    keys = ["augment", "batch_size", "dataset.name", "depth", "lr", "optimizer"]
    assert informative_keys(configs, keys) == ["lr", "optimizer", "batch_size", "augment", "depth", "dataset.name"]
    assert format_value(True) == "true" and format_value(False) == "false" and format_value(1) == "1"
    assert legend_label(doc(1, {"augment": True}), ["augment"]) == "augment=true"


def test_varying_keys_exclude_seed_and_labels() -> None:
    configs = [{"lr": 0.1, "opt": "sgd", "seed": 1, "n": 3}, {"lr": 0.01, "opt": "sgd", "seed": 2, "n": 3}]
    assert varying_config_keys(configs) == ["lr"]
    assert varying_config_keys(configs, exclude=()) == ["lr", "seed"]
    d = doc(1, {"opt": "adam", "lr": 0.01})
    assert legend_label(d, ["opt", "config.lr"]) == "opt=adam lr=0.01"
    groups = group_runs({1: doc(1, {"lr": 1, "seed": 1}), 2: doc(2, {"lr": 1, "seed": 2}),
                         3: doc(3, {"lr": 2, "seed": 1})}, ["lr"])
    assert groups == {"lr=1": [1, 2], "lr=2": [3]}


def test_metric_summary_marks_best_by_direction() -> None:
    series = [
        Series(1, "loss", [0, 1, 2], [3.0, 1.0, 2.0]),
        Series(2, "loss", [0, 1, 2], [2.0, 0.5, None]),
        Series(1, "val.acc", [0, 1], [0.5, 0.9]),
        Series(2, "val.acc", [0, 1], [0.6, float("nan")]),
        Series(3, "val.acc", [0], [None]),
    ]
    rows = {(r.metric, r.stat): r for r in metric_summary(series, [1, 2, 3])}
    assert rows[("loss", "min")].values == [1.0, 0.5, None] and rows[("loss", "min")].best == [1]
    assert rows[("loss", "last")].values == [2.0, 0.5, None], "last skips trailing gaps"
    assert rows[("val.acc", "max")].best == [0]
    assert rows[("val.acc", "last")].values == [0.9, 0.6, None]
    tie = metric_summary([Series(1, "lr", [0], [0.1]), Series(2, "lr", [0], [0.1])], [1, 2])
    assert all(r.best == [] for r in tie), "no star when every run has the same value"
    assert lower_is_better("train.loss") and not lower_is_better("val.accuracy")


def test_text_diff_lines() -> None:
    lines = text_diff("a\nb\nc", "a\nB\nc", "run 1", "run 2")
    assert lines[:2] == ["--- run 1", "+++ run 2"]
    assert "-b" in lines and "+B" in lines
    assert text_diff("same", "same") == []


def tensorboard_ema(values, weight):
    """The reference implementation from TensorBoard's vz_line_chart (JS), transcribed."""
    out, last, n = [], 0.0, 0
    for v in values:
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        last = last * weight + (1 - weight) * v
        n += 1
        out.append(last / (1 - weight**n))
    return out


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=200), st.floats(0.01, 0.99))
def test_ema_matches_tensorboard_and_is_debiased(values, weight) -> None:
    got = ema_smooth(values, weight)
    np.testing.assert_allclose(got, tensorboard_ema(values, weight), rtol=1e-9, atol=1e-9)
    assert math.isclose(got[0], values[0], rel_tol=1e-9, abs_tol=1e-9), "debiasing: the first smoothed point equals the first value"


def test_ema_keeps_gaps_and_zero_weight_is_identity() -> None:
    got = ema_smooth([1.0, None, float("nan"), 3.0], 0.5)
    assert np.isnan(got[1]) and np.isnan(got[2]) and got[0] == 1.0
    assert list(ema_smooth([1.0, 2.0], 0.0)) == [1.0, 2.0]


def test_group_mean_std_match_numpy_on_shared_steps() -> None:
    rng = np.random.default_rng(0)
    x = np.arange(0, 500, 5, dtype=float)
    ys = [rng.normal(size=len(x)) for _ in range(4)]
    curve = aggregate("g", [1, 2, 3, 4], [x] * 4, ys)
    stack = np.vstack(ys)
    np.testing.assert_allclose(curve.x, x)
    np.testing.assert_allclose(curve.mean, stack.mean(axis=0))
    np.testing.assert_allclose(curve.std, stack.std(axis=0))
    np.testing.assert_allclose(curve.lo, stack.min(axis=0))
    np.testing.assert_allclose(curve.hi, stack.max(axis=0))
    assert curve.n == 4 and (curve.count == 4).all()


def test_group_aligns_runs_of_different_lengths_and_steps() -> None:
    a = aggregate("g", [1, 2], [np.array([0.0, 2.0, 4.0]), np.array([0.0, 1.0, 2.0])],
                  [np.array([0.0, 2.0, 4.0]), np.array([10.0, 11.0, 12.0])])
    np.testing.assert_allclose(a.x, [0, 1, 2, 4])
    np.testing.assert_allclose(a.mean, [5.0, 6.0, 7.0, 4.0])  # run 1 interpolated at x=1; run 2 ends at 2
    assert list(a.count) == [2, 2, 2, 1]


def test_queries_quote_untrusted_strings() -> None:
    q = brush_query("status == COMPLETED", {"config.lr": (0.001, 0.1)}, {"config.opt": ['ad"am', "sgd"]})
    assert q == ('(status == COMPLETED) and config.lr >= 0.001 and config.lr <= 0.1 and '
                 'config.opt in ["ad\\"am", "sgd"]')
    assert run_ids_query([1, "x"]) == 'id in [1, "x"]'


def test_series_cache_matches_the_store(tmp_path) -> None:
    """Full-resolution cache of finished runs: same points as the store's own downsampling and x_range."""
    from omnidash.demo import write_demo_runs
    from omnidash.store.cache import SeriesCache
    from omnidash.store.files import FileStore

    write_demo_runs(tmp_path / "runs", 3)
    store = FileStore(str(tmp_path / "runs"))
    cache = SeriesCache()
    ids = store.run_ids("")
    name = store.metric_names(ids)[ids[0]][0]
    for max_points, x_range in ((50, None), (None, None), (40, (20.0, 120.0))):
        want = store.metric_series(ids, [name], max_points=max_points, x_range=x_range)
        got = cache.series(store, ids, [name], max_points, x_range)
        assert [(s.run_id, s.steps, s.values) for s in got] == [(s.run_id, s.steps, s.values) for s in want]
        assert [len(s.timestamps) for s in got] == [len(s.steps) for s in got]
    live = cache.series(store, ids, [name], 50, live=[ids[0]])
    assert [s.run_id for s in live] == ids, "running runs come from the store, in the same order"
    assert cache.series(store, ids, ["no such metric"], 50) == []


def test_points_per_series_shrink_when_a_chart_holds_many_runs() -> None:
    from omnidash.pages import plot_panel as pp

    one = {"layout": "multiples"}
    assert pp.chart_plan(one, ["loss"], 3)[1] == pp.POINTS_ONE_CHART
    plan, points, _ = pp.chart_plan(one, ["loss"], 50)
    assert plan == [("loss", ["loss"])] and points * 50 <= pp.CHART_POINT_BUDGET
    assert pp.chart_plan(one, ["loss", "acc"], 50)[1] == min(pp.POINTS_SMALL_MULTIPLE, pp.CHART_POINT_BUDGET // 50)
    assert pp.chart_plan({"layout": "single"}, ["loss", "acc"], 500)[1] == pp.MIN_POINTS_PER_SERIES


def test_live_smoothing_extends_raw_and_smoothed_traces_without_the_old_points() -> None:
    """A running run's new points go onto its faint raw trace and, smoothed from the carried EMA state,
    onto its smoothed trace: the same values a full redraw of all points would give."""
    from omnidash.core.compare import ema_smooth
    from omnidash.pages import plot_panel as pp

    values = [math.sin(i / 5) + i / 50 for i in range(60)]
    values[37] = None  # a gap stays a gap

    def part(lo: int, hi: int) -> Series:
        return Series(run_id=7, name="loss", steps=list(range(lo, hi)), values=values[lo:hi], timestamps=[])

    info = {"runs": [{"id": 7, "config": {"lr": 0.1}, "start": None, "status": "RUNNING"}], "missing": [],
            "metrics": {"loss": 1}}
    opts = pp.options_from([["loss"], "multiples", "step", "linear", 0.8, [], [], [], "std"])
    fig = pp.build_figure([part(0, 40)], info, "loss", opts, 320)
    keys = fig["layout"]["meta"]["keys"]
    ema = pp.smoothing_state([part(0, 40)], pp.running_ids(info), 0.8)
    xs, ys, idx = pp.live_extension([part(40, 60)], keys, pp.run_infos(info, []), "step", 0.8, ema)
    assert idx == [0, 1] and fig["data"][0]["opacity"] < 1  # the faint raw trace, then the smoothed one
    assert xs[0] == xs[1] == list(range(40, 60)) and ys[0] == values[40:60]
    assert np.allclose(np.array(ys[1], dtype=float), ema_smooth(values, 0.8)[40:], equal_nan=True)
    assert ema["7|loss"][1] == 59  # 59 finite points seen so far
    xs, ys, idx = pp.live_extension([part(40, 60)], keys, pp.run_infos(info, []), "step", 0.0, {})
    assert idx == [0] and ys == [values[40:60]]  # no smoothing: the line alone
