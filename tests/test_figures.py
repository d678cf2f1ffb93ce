"""Figure builders: payload types, modes, smoothing, groups, escaping, hyper-parameter charts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import plotly.graph_objects as go

from app.store.base import Series
from components.figures import (
    GL_THRESHOLD,
    RunInfo,
    empty_figure,
    metric_figure,
    parallel_figure,
    run_colors,
    scatter_figure,
    x_values,
)

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
    assert [t.type for t in fig.data] == ["scatter", "scatter"]
    colors = run_colors([1, "abc"])
    assert [t.line.color for t in fig.data] == [colors[1], colors["abc"]]
    payload = fig.to_plotly_json()["data"][0]
    wire = json.loads(fig.to_json())["data"][0]
    assert "bdata" in wire["y"] and wire["y"]["dtype"] == "f4", "float32 base64 on the wire"
    assert wire["x"]["dtype"] == "i4"
    assert payload["meta"][0] == "1" and "step %{x}" in payload["hovertemplate"]
    assert fig.data[0].name == "#1 lr=0"


def test_gaps_stay_nan_and_log_axis() -> None:
    fig = metric_figure([series(1, nan_at=3)], runs(1), title="loss", log_y=True)
    assert np.isnan(fig.data[0].y[3])
    assert fig.layout.yaxis.type == "log"


def test_x_modes_wall_and_relative() -> None:
    s = series(1)
    wall = metric_figure([s], runs(1), title="loss", x_mode="wall")
    assert wall.layout.xaxis.type == "date"
    assert wall.data[0].x[0] == T0.timestamp() * 1000
    assert list(wall.data[0].customdata[:2]) == [0, 10], "hover keeps the step"
    rel = metric_figure([s], runs(1), title="loss", x_mode="relative")
    assert rel.data[0].x[0] == 0.5 and "minutes" in rel.layout.xaxis.title.text, "relative to the run start"
    no_time = Series(2, "loss", [0, 1], [1.0, 2.0])
    assert x_values(no_time, "wall") is None
    fig = metric_figure([s, no_time], runs(1, 2), title="loss", x_mode="wall")
    assert len(fig.data) == 1 and "without timestamps" in fig.layout.annotations[0].text


def test_smoothing_adds_a_faint_raw_trace() -> None:
    fig = metric_figure([series(1)], runs(1), title="loss", smoothing=0.9)
    raw, smooth = fig.data
    assert raw.opacity < 0.5 and raw.showlegend is False and raw.hoverinfo == "skip"
    assert smooth.y[0] == raw.y[0] and smooth.y[-1] > raw.y[-1], "debiased EMA lags a falling curve"


def test_group_mode_mean_band_and_n() -> None:
    s = [series(1), series(2), series(3)]
    for i, x in enumerate(s):
        x.values = [v + i for v in x.values]
    fig = metric_figure(s, runs(1, 2, 3), title="loss", groups={"opt=adam": [1, 2], "opt=sgd": [3]})
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["opt=adam (n=2)", "opt=sgd (n=1)"]
    mean = fig.data[2]
    np.testing.assert_allclose(mean.y, [v + 0.5 for v in series(1).values], rtol=1e-6)
    upper, lower = fig.data[0], fig.data[1]
    np.testing.assert_allclose(upper.y - lower.y, np.full(50, 1.0, dtype=np.float32), rtol=1e-5)
    assert lower.fill == "tonexty"


def test_many_metrics_in_one_chart_and_webgl_only_when_huge() -> None:
    fig = metric_figure([series(1, "loss"), series(1, "acc")], runs(1), title="all")
    assert fig.data[0].line.color == fig.data[1].line.color and fig.data[0].line.dash != fig.data[1].line.dash
    big = [series(i, n=GL_THRESHOLD // 4 + 1) for i in range(5)]
    assert isinstance(metric_figure(big, runs(*range(5)), title="big").data[0], go.Scattergl)


def test_untrusted_strings_are_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>"
    fig = metric_figure([series(evil, name=evil)], {evil: RunInfo(evil, evil)}, title=evil)
    text = fig.to_json()
    assert "<img" not in text and "&lt;img" in text
    assert "<img" not in empty_figure(evil).to_json()


def test_parallel_and_scatter_figures() -> None:
    rows = [{"id": i, "config.lr": 10.0**-i, "config.opt": ["adam", "sgd"][i % 2], "last(acc)": i / 10}
            for i in range(1, 6)]
    par = parallel_figure(rows, ["config.lr", "config.opt"], "last(acc)")
    dims = par.data[0].dimensions
    assert [d.label for d in dims] == ["lr", "opt", "last(acc)"]
    assert list(dims[1].ticktext) == ["adam", "sgd"] and list(dims[1].values) == [1, 0, 1, 0, 1]
    sc = scatter_figure(rows, "config.lr", "last(acc)", "config.opt")
    assert list(sc.data[0].customdata) == ["1", "2", "3", "4", "5"]
