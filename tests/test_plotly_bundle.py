"""The charts' plotly.js is the partial bundle of assets/vendor (omnidash.plotly_bundle): it is served at dcc.Graph's
URL for plotly.js when its version is the installed plotly's, it draws every trace type omnidash's figures use,
and plotly's own full bundle is served otherwise.

Real parts: the Flask/Dash app through werkzeug's client over a FileStore demo folder, Chromium."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from conftest import ROOT
from werkzeug.test import Client

from omnidash import plotly_bundle
from omnidash.context import Settings
from omnidash.plotly_bundle import TRACES, URL, bundle_header, bundle_path
from omnidash.server import create_app
from omnidash.store.files import FileStore
from tests.test_transfer import decoded


@pytest.fixture
def fresh_bundle():
    """The module's remembered bundle forgotten before and after the test (it reads the file once)."""
    plotly_bundle.bundle.cache_clear()
    yield
    plotly_bundle.bundle.cache_clear()


def header() -> tuple[set[str], str]:
    """(traces, plotly.js version) of the committed bundle."""
    found = bundle_header(bundle_path().read_bytes())
    assert found is not None, "assets/vendor/plotly-omnidash.min.js has no omnidash header"
    return found


@pytest.fixture
def matched() -> None:
    """Skip, saying why, when the installed plotly ships another plotly.js than the bundle's (a newer plotly than
    the bundle was built for: pages get plotly's full file, tested below; rebuild the bundle)."""
    from plotly.offline import get_plotlyjs_version

    version = header()[1]
    if version != get_plotlyjs_version():
        reason = (f"the installed plotly ships plotly.js {get_plotlyjs_version()}, the partial bundle is {version}: "
                  "pages get plotly's full bundle until `bash assets/vendor/build_plotly.sh` rebuilds it")
        print(reason)
        pytest.skip(reason)


@pytest.fixture
def client(demo_folder: Path, fresh_bundle) -> Client:
    return Client(create_app(FileStore(str(demo_folder)), Settings(refresh_interval=0)).server)


def full_plotly() -> bytes:
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def test_the_bundle_names_every_trace_we_draw():
    assert set(TRACES) <= header()[0]
    assert bundle_path().stat().st_size < len(full_plotly()) / 2


def test_the_figures_use_only_bundled_trace_types():
    """Every trace type named in a figure builder (a dict's "type", or what `trace_type` picks) is in TRACES."""
    import plotly.graph_objects as go

    trace_types = set(go.Figure()._data_validator.class_strs_map)
    found: dict[str, str] = {}
    for path in [*(ROOT / "components").glob("*.py"), *(ROOT / "app").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            values: list[ast.AST] = []
            if isinstance(node, ast.Dict):
                values = [v for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and k.value == "type" and v is not None]
            elif isinstance(node, ast.FunctionDef) and node.name == "trace_type":
                values = [node]
            for value in values:
                for const in ast.walk(value):
                    if isinstance(const, ast.Constant) and const.value in trace_types:
                        found[const.value] = f"{path.relative_to(ROOT)}:{const.lineno}"
    assert {"scatter", "scattergl", "bar", "parcoords"} <= set(found)  # the scan sees the figures
    assert set(found) <= set(TRACES), {t: where for t, where in found.items() if t not in TRACES}


def test_dcc_graph_gets_the_partial_bundle_compressed_and_revalidated(matched, client):
    first = client.get(URL, headers={"Accept-Encoding": "br"})
    assert first.status_code == 200 and first.headers["Content-Encoding"] == "br"
    assert first.mimetype == "application/javascript"
    body = decoded(first)
    assert body == bundle_path().read_bytes() and len(body) < len(full_plotly()) / 2
    again = client.get(URL, headers={"Accept-Encoding": "br", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert client.get(URL, headers={"If-None-Match": '"another"'}).status_code == 200


def test_an_unmatched_bundle_leaves_plotlys_own_file(client, monkeypatch, caplog):
    import plotly.offline

    monkeypatch.setattr(plotly.offline, "get_plotlyjs_version", lambda: "99.0.0")
    with caplog.at_level(logging.WARNING, logger="omnidash.plotly_bundle"):
        served = client.get(URL)
    assert served.status_code == 200 and decoded(served) == full_plotly()
    assert "rebuild it: bash assets/vendor/build_plotly.sh" in caplog.text and "99.0.0" in caplog.text


def test_a_missing_bundle_leaves_plotlys_own_file(client, monkeypatch, tmp_path):
    monkeypatch.setattr(plotly_bundle, "bundle_path", lambda: tmp_path / "absent.js")
    assert decoded(client.get(URL)) == full_plotly()


@pytest.mark.browser
def test_every_bundled_trace_type_draws_in_chromium(matched, page, serve, demo_folder, fresh_bundle):
    """The bundle that dcc.Graph loads draws each of TRACES (plotly.js hides a trace of a type it lacks)."""
    server = serve(create_app(FileStore(str(demo_folder)), Settings(refresh_interval=0)).server)
    page.goto(server.url + "/compare?runs=1,2")
    page.wait_for_selector("#cmp-sec-metrics .js-plotly-plot .scatterlayer .trace", timeout=60_000)
    drawn = page.evaluate("""async (types) => {
        const out = {};
        for (const type of types) {
            const div = document.createElement('div');
            document.body.appendChild(div);
            const trace = type === 'parcoords'
                ? {type, dimensions: [{label: 'a', values: [1, 2, 3]}, {label: 'b', values: [3, 1, 2]}]}
                : {type, x: [1, 2, 3], y: [2, 1, 3]};
            await Plotly.newPlot(div, [trace]);
            out[type] = [div._fullData[0].type, div._fullData[0].visible];
        }
        return {out, registered: Object.keys(Plotly.PlotSchema.get().traces)};
    }""", list(TRACES))
    assert drawn["out"] == {t: [t, True] for t in TRACES}, drawn["out"]
    assert set(drawn["registered"]) == set(TRACES)  # the partial bundle, not plotly.js's full one
