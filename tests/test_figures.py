"""Figure builders: payload types, modes, smoothing, groups, escaping, hyper-parameter charts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np

from omnidash.components.figures import (
    GL_THRESHOLD,
    PALETTE,
    RunInfo,
    array_of,
    empty_figure,
    metric_figure,
    parallel_figure,
    run_colors,
    scatter_figure,
    x_values,
)
from omnidash.core.types import Series

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def series(run_id, name="loss", n=50, start=T0, nan_at=None):
    steps = list(range(0, n * 10, 10))
    values = [1.0 / (i + 1) for i in range(n)]
    if nan_at is not None:
        values[nan_at] = None
    return Series(run_id, name, steps, values, [start + timedelta(seconds=3 * i) for i in range(n)], n)


def runs(*ids):
    return {rid: RunInfo(rid, f"lr={i}", T0 - timedelta(seconds=30)) for i, rid in enumerate(ids)}


def test_one_trace_per_run_with_stable_colours_and_typed_arrays() -> None:
    fig = metric_figure([series(1), series("abc")], runs(1, "abc"), title="loss")
    data = fig["data"]
    assert [t["type"] for t in data] == ["scatter", "scatter"]
    colors = run_colors([1, "abc"])
    assert [t["line"]["color"] for t in data] == [colors[1], colors["abc"]]
    assert data[0]["y"]["dtype"] == "f4" and "bdata" in data[0]["y"], "float32 base64 on the wire"
    assert data[0]["x"]["dtype"] == "i4"
    np.testing.assert_allclose(array_of(data[0]["y"]), series(1).values, rtol=1e-6)
    assert data[0]["meta"][0] == "1" and "step %{x}" in data[0]["hovertemplate"]
    assert data[0]["name"] == "#1 lr=0"
    assert fig["layout"]["meta"]["keys"] == ["1|loss", "abc|loss"]
    json.dumps(fig)  # plain JSON, no plotly objects


def test_gaps_stay_nan_and_log_axis() -> None:
    fig = metric_figure([series(1, nan_at=3)], runs(1), title="loss", log_y=True)
    assert np.isnan(array_of(fig["data"][0]["y"])[3])
    assert fig["layout"]["yaxis"]["type"] == "log"


def test_x_modes_wall_and_relative() -> None:
    s = series(1)
    wall = metric_figure([s], runs(1), title="loss", x_mode="wall")
    assert wall["layout"]["xaxis"]["type"] == "date"
    assert array_of(wall["data"][0]["x"])[0] == T0.timestamp() * 1000
    assert list(array_of(wall["data"][0]["customdata"])[:2]) == [0, 10], "hover keeps the step"
    rel = metric_figure([s], runs(1), title="loss", x_mode="relative")
    assert array_of(rel["data"][0]["x"])[0] == 0.5, "30 s after the run start, in minutes"
    assert "minutes" in rel["layout"]["xaxis"]["title"]["text"]
    no_time = Series(2, "loss", [0, 1], [1.0, 2.0])
    assert x_values(no_time, "wall") is None
    fig = metric_figure([s, no_time], runs(1, 2), title="loss", x_mode="wall")
    assert len(fig["data"]) == 1 and "without timestamps" in fig["layout"]["annotations"][0]["text"]


def test_smoothing_adds_a_faint_raw_trace() -> None:
    fig = metric_figure([series(1)], runs(1), title="loss", smoothing=0.9)
    raw, smooth = fig["data"]
    assert raw["opacity"] < 0.5 and raw["showlegend"] is False and raw["hoverinfo"] == "skip"
    raw_y, smooth_y = array_of(raw["y"]), array_of(smooth["y"])
    assert smooth_y[0] == raw_y[0] and smooth_y[-1] > raw_y[-1], "debiased EMA lags a falling curve"


def test_group_mode_mean_band_and_n() -> None:
    s = [series(1), series(2), series(3)]
    for i, x in enumerate(s):
        x.values = [v + i for v in x.values]
    fig = metric_figure(s, runs(1, 2, 3), title="loss", groups={"opt=adam": [1, 2], "opt=sgd": [3]})
    names = [t["name"] for t in fig["data"] if t.get("showlegend") is not False]
    assert names == ["opt=adam (n=2)", "opt=sgd (n=1)"]
    upper, lower, mean = fig["data"][:3]
    np.testing.assert_allclose(array_of(mean["y"]), [v + 0.5 for v in series(1).values], rtol=1e-6)
    np.testing.assert_allclose(array_of(upper["y"]) - array_of(lower["y"]), np.full(50, 1.0), rtol=1e-5)
    assert lower["fill"] == "tonexty"


def test_many_metrics_in_one_chart_and_webgl_only_when_huge() -> None:
    fig = metric_figure([series(1, "loss"), series(1, "acc")], runs(1), title="all")
    a, b = fig["data"]
    assert a["line"]["color"] == b["line"]["color"] and a["line"]["dash"] != b["line"]["dash"]
    assert metric_figure([series(i, n=500) for i in range(50)], runs(*range(50)), title="x")["data"][0]["type"] == "scatter"
    big = [series(i, n=GL_THRESHOLD // 4 + 1) for i in range(5)]
    assert metric_figure(big, runs(*range(5)), title="big")["data"][0]["type"] == "scattergl"


def test_untrusted_strings_are_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>"
    fig = metric_figure([series(evil, name=evil)], {evil: RunInfo(evil, evil)}, title=evil)
    text = json.dumps(fig)
    assert "<img" not in text and "&lt;img" in text
    assert "<img" not in json.dumps(empty_figure(evil))


def test_parallel_and_scatter_figures() -> None:
    rows = [{"id": i, "config.lr": 10.0**-i, "config.opt": ["adam", "sgd"][i % 2], "last(acc)": i / 10}
            for i in range(1, 6)]
    par = parallel_figure(rows, ["config.lr", "config.opt"], "last(acc)")
    dims = par["data"][0]["dimensions"]
    assert [d["label"] for d in dims] == ["lr (log)", "opt", "last(acc)"]  # 1e-5..0.1: a log10 axis
    assert dims[1]["ticktext"] == ["adam", "sgd"] and list(array_of(dims[1]["values"])) == [1, 0, 1, 0, 1]
    sc = scatter_figure(rows, "config.lr", "last(acc)", "config.opt")
    assert sorted(i for t in sc["data"] for i in t["customdata"]) == ["1", "2", "3", "4", "5"]
    assert sc["layout"]["xaxis"]["type"] == "log", "learning rates over decades get a log axis"


def test_parallel_tick_text_is_literal_but_labels_are_escaped() -> None:
    """plotly writes parcoords tick text with textContent (no markup: escaping it showed "&lt;"), but
    axis labels and the colour-bar title go through its pseudo-HTML, so those stay escaped."""
    values = ["<b>x</b>", "<script>f()</script>", "a<b", "&lt;"]
    rows = [{"id": i, "config.<i>k</i>": v, "last(<b>acc</b>)": i / 10} for i, v in enumerate(values)]
    par = parallel_figure(rows, ["config.<i>k</i>"], "last(<b>acc</b>)")
    key_axis, metric_axis = par["data"][0]["dimensions"]
    assert key_axis["ticktext"] == sorted(values), "raw text: plotly shows it literally, never as HTML"
    assert key_axis["label"] == "&lt;i&gt;k&lt;/i&gt;" and metric_axis["label"] == "last(&lt;b&gt;acc&lt;/b&gt;)"
    assert par["data"][0]["line"]["colorbar"]["title"]["text"] == "last(&lt;b&gt;acc&lt;/b&gt;)"
    assert "ticktext" not in metric_axis, "numeric axes keep plotly's own ticks"
    long = parallel_figure([{"id": 1, "k": "x" * 30, "m": 1.0}], ["k"], "m")["data"][0]["dimensions"][0]
    assert long["ticktext"] == ["x" * 23 + "…"], "long values cut visibly"
    margins = [parallel_figure(rows, keys, "m")["layout"]["margin"]["l"] for rows, keys in (
        ([{"id": 1, "k": "x" * 30, "m": 1.0}], ["k"]), ([{"id": 1, "k": "ab", "m": 1.0}], ["k"]))]
    assert margins[0] > 160 and margins[1] == 70, "room on the left for the first axis' tick text"
    # the scatter's cartesian axes do render pseudo-HTML: their tick text is escaped
    sc = scatter_figure(rows, "config.<i>k</i>", "last(<b>acc</b>)", None)
    assert "&lt;b&gt;x&lt;/b&gt;" in sc["layout"]["xaxis"]["ticktext"]
    assert "<b>" not in json.dumps(sc["data"]), "hover text escaped"


def sweep(n=8):
    opts = ["adam", "sgd", None, "sgd"]
    return [{"id": i, "config.lr": 10.0 ** -(i % 4 + 1), "config.opt": opts[i % 4], "config.bn": i % 2 == 0,
             "config.width": [16, 32, None, 64][i % 4], "last(acc)": 0.5 + i / 20} for i in range(n)]


def test_scatter_string_colour_key_is_categorical() -> None:
    rows = sweep()
    sc = scatter_figure(rows, "config.lr", "last(acc)", "config.opt")
    traces = sc["data"]
    assert [t["name"] for t in traces] == ["adam", "sgd", "None"], "one trace per value, missing last"
    assert all(t["showlegend"] for t in traces) and sc["layout"]["showlegend"]
    assert sc["layout"]["legend"]["title"]["text"] == "config.opt"
    colors = [t["marker"]["color"] for t in traces]
    assert len(set(colors)) == 3 and all(isinstance(c, str) for c in colors), "one discrete colour each"
    assert colors[2] == "#9aa0a6", "missing values grey"
    assert not any("colorscale" in t["marker"] or t["marker"].get("showscale") for t in traces)
    by_name = {t["name"]: t["customdata"] for t in traces}
    assert by_name == {"adam": ["0", "4"], "sgd": ["1", "3", "5", "7"], "None": ["2", "6"]}
    np.testing.assert_allclose(array_of(traces[0]["x"]), [0.1, 0.1])
    assert "config.opt: adam" in traces[0]["text"][0] and "run #0" in traces[0]["text"][0]
    # the same values in another row order: the same colour per value
    again = scatter_figure(rows[::-1], "config.lr", "last(acc)", "config.opt")["data"]
    assert {t["name"]: t["marker"]["color"] for t in again} == dict(zip(by_name, colors, strict=True))
    bools = scatter_figure(rows, "config.lr", "last(acc)", "config.bn")["data"]
    assert [t["name"] for t in bools] == ["false", "true"], "booleans written as in the table"


def test_scatter_many_string_values_share_an_other_colour() -> None:
    rows = [{"id": i, "x": i, "y": i, "c": f"v{i:02d}"} for i in range(30)]
    traces = scatter_figure(rows, "x", "y", "c")["data"]
    assert len(traces) == 12 and traces[-1]["name"] == "other (19 values)"
    assert len(traces[-1]["customdata"]) == 19 and traces[-1]["marker"]["color"] == "#9aa0a6"


def test_scatter_numeric_colour_key_keeps_a_colour_scale() -> None:
    rows = sweep()
    sc = scatter_figure(rows, "config.lr", "last(acc)", "config.width")
    scale, missing = sc["data"]
    assert scale["marker"]["showscale"] is True and scale["marker"]["colorscale"] == "Viridis"
    assert list(array_of(scale["marker"]["color"])) == [16, 32, 64, 16, 32, 64]
    assert scale["showlegend"] is False and "title" in scale["marker"]["colorbar"]
    assert missing["name"] == "no config.width" and missing["customdata"] == ["2", "6"]
    assert missing["showlegend"] is True and missing["marker"]["color"] == "#9aa0a6"
    assert sc["layout"]["legend"]["yref"] == "container", "legend at the bottom: the colour bar holds the right"
    lr = scatter_figure(rows, "last(acc)", "last(acc)", "config.lr")["data"]
    assert len(lr) == 1, "no run lacks lr"
    bar = lr[0]["marker"]["colorbar"]
    np.testing.assert_allclose(array_of(lr[0]["marker"]["color"])[:4], [-1, -2, -3, -4])
    assert bar["ticktext"] == ["0.0001", "0.001", "0.01", "0.1"] and "(log)" in bar["title"]["text"]


def test_scatter_without_colour_key_and_with_missing_y() -> None:
    rows = sweep(4)
    rows[1]["last(acc)"] = None
    rows[2]["config.opt"] = "adam"  # run 2 had no optimizer
    sc = scatter_figure(rows, "config.lr", "last(acc)", None)
    assert len(sc["data"]) == 1 and sc["layout"]["showlegend"] is False
    assert sc["data"][0]["customdata"] == ["0", "2", "3"] and len(array_of(sc["data"][0]["y"])) == 3
    assert "1 run without a value for x or y not shown" in sc["layout"]["annotations"][0]["text"]
    # legend entries only for values of runs on the chart (run 1, without y, was the only "sgd")
    rows[3]["config.opt"] = None
    colored = scatter_figure(rows, "config.lr", "last(acc)", "config.opt")["data"]
    assert [(t["name"], t["customdata"]) for t in colored] == [("adam", ["0", "2"]), ("None", ["3"])]
    assert not scatter_figure(sweep(2), "config.lr", "config.lr", "config.lr")["layout"]["annotations"]


def test_single_points_and_points_between_gaps_get_markers() -> None:
    one = Series(1, "val.acc", [100], [0.9], [T0], 1)
    fig = metric_figure([one], runs(1), title="val.acc")
    (trace,) = fig["data"]
    assert trace["mode"] == "lines+markers" and trace["marker"]["color"] == trace["line"]["color"]
    # only isolated points (every other value missing): markers on the line trace itself
    sparse = Series(2, "acc", [0, 1, 2, 3, 4], [0.1, None, 0.2, None, 0.3], [T0] * 5, 5)
    assert metric_figure([sparse], runs(2), title="acc")["data"][0]["mode"] == "lines+markers"
    # a line with one point cut off by gaps: the line stays, plus a dots trace of that point only
    mixed = Series(3, "loss", [0, 1, 2, 3, 4, 5, 6], [1.0, 0.9, None, 0.8, None, 0.7, 0.6], [T0] * 7, 7)
    fig = metric_figure([mixed, series(4)], runs(3, 4), title="loss", x_mode="wall")
    line, dots, other = fig["data"]
    assert line["mode"] == "lines" and dots["mode"] == "markers" and other["mode"] == "lines"
    assert dots["showlegend"] is False and dots["legendgroup"] == line["legendgroup"]
    assert list(array_of(dots["customdata"])) == [3], "hover keeps the step of the isolated point"
    np.testing.assert_allclose(array_of(dots["y"]), [0.8])
    assert fig["layout"]["meta"]["keys"].index("3|loss") == 0, "live updates still extend the line trace"
    assert fig["layout"]["meta"]["keys"].index("4|loss") == 2
    # smoothing keeps gaps, so the smoothed trace gets the dots; nothing extra for complete series
    smoothed = metric_figure([mixed], runs(3), title="loss", smoothing=0.5)["data"]
    assert [t["mode"] for t in smoothed] == ["lines", "lines", "markers"]
    assert all(t["mode"] == "lines" for t in metric_figure([series(1)], runs(1), title="loss")["data"])
    # a group whose mean has a single point
    grouped = metric_figure([one, Series(2, "val.acc", [100], [0.7], [T0], 1)], runs(1, 2), title="val.acc",
                            groups={"all runs": [1, 2]})["data"]
    assert grouped[-1]["mode"] == "lines+markers"
    np.testing.assert_allclose(array_of(grouped[-1]["y"]), [0.8], rtol=1e-6)


def test_run_and_group_colours_do_not_depend_on_selection_order() -> None:
    ids = [12, 3, "b7", 100, "a1"]
    assert run_colors(ids) == run_colors(list(reversed(ids))) == run_colors(sorted(ids, key=str))
    assert run_colors(ids)[3] == PALETTE[0] and run_colors(ids)[12] == PALETTE[1], "numeric ids by value"
    assert run_colors(["7", 12])["7"] == run_colors([7, 12])[7], "digit strings sort like numbers"
    a = metric_figure([series(12), series(3), series("b7")], runs(12, 3, "b7"), title="loss")
    b = metric_figure([series("b7"), series(3), series(12)], runs("b7", 3, 12), title="loss")
    color_of = lambda fig: {t["meta"][0]: t["line"]["color"] for t in fig["data"]}  # noqa: E731
    assert color_of(a) == color_of(b) == {"3": PALETTE[0], "12": PALETTE[1], "b7": PALETTE[2]}
    g1 = metric_figure([series(1), series(2), series(3)], runs(1, 2, 3), title="loss",
                       groups={"opt=sgd": [1], "opt=adam": [2, 3]})
    g2 = metric_figure([series(3), series(2), series(1)], runs(3, 2, 1), title="loss",
                       groups={"opt=adam": [3, 2], "opt=sgd": [1]})
    means = lambda fig: [(t["name"], t["line"]["color"]) for t in fig["data"] if "meta" in t]  # noqa: E731
    assert means(g1) == means(g2) == [("opt=adam (n=2)", PALETTE[0]), ("opt=sgd (n=1)", PALETTE[1])]


def test_parallel_axis_spanning_decades_is_log10_and_brushes_map_back() -> None:
    from omnidash.pages.compare_hparams import axis_defs, query_from

    rows = [{"id": i, "config.lr": lr, "config.depth": d, "last(acc)": a}
            for i, (lr, d, a) in enumerate([(1e-4, 2, 0.5), (1e-3, 4, 0.7), (3e-2, 8, 0.9)], 1)]
    lr_axis, depth_axis, _metric = parallel_figure(rows, ["config.lr", "config.depth"], "last(acc)")["data"][0][
        "dimensions"]
    assert lr_axis["label"] == "lr (log)" and depth_axis["label"] == "depth"  # 2..8: one decade, linear
    assert np.allclose(array_of(lr_axis["values"]), np.log10([1e-4, 1e-3, 3e-2]))
    assert lr_axis["tickvals"] == [-4, -3, -2, -1] and lr_axis["ticktext"] == ["0.0001", "0.001", "0.01", "0.1"]
    dims = axis_defs(rows, ["config.lr", "config.depth", "last(acc)"])
    assert [d["log"] for d in dims] == [True, False, False]
    q = query_from("", dims, {"0": [-3.5, -1.0], "1": [3, 9]})
    assert q.startswith("config.lr >= 0.000316") and "config.lr <= 0.1" in q and "config.depth >= 3" in q


def test_highlighted_runs_over_grey_context() -> None:
    from omnidash.components.figures import CONTEXT_COLOR, parallel_figure, scatter_figure

    rows = [{"id": i, "config.lr": 10.0 ** -(i % 3 + 1), "last(acc)": 0.5 + i / 20, "config.opt": "adam"}
            for i in range(1, 9)]
    rows[0]["last(acc)"] = None  # a context run without y
    sc = scatter_figure(rows, "config.lr", "last(acc)", "config.opt", highlight={"7", "8"})
    context, *mine = sc["data"]
    assert context["name"] == "other runs" and context["marker"]["color"] == CONTEXT_COLOR
    assert context["customdata"] == ["2", "3", "4", "5", "6"] and [t["customdata"] for t in mine] == [["7", "8"]]
    assert "1 run without a value" in sc["layout"]["annotations"][0]["text"], "counted over every run"
    par = parallel_figure(rows, ["config.lr"], "last(acc)", highlight={"7", "8"})
    line = par["data"][0]["line"]
    shades = array_of(line["color"])
    assert (shades[:6] == 0).all() and (shades[6:] > 0.1).all(), "context at the grey bottom of the scale"
    assert line["colorscale"][0][1] == CONTEXT_COLOR and line["colorbar"]["ticktext"][0] == "0.85"
    plain = parallel_figure(rows, ["config.lr"], "last(acc)", highlight={str(i) for i in range(1, 9)})
    assert plain["data"][0]["line"]["colorscale"] == "Viridis", "nothing to grey out: the usual scale"
