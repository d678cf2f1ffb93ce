"""A wheel (not an editable install) installs `omnidash` and `sacredlog` and nothing else, carries the assets
and the console script, and serves /assets/; `import sacredlog` loads no dashboard library."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import ROOT

CHECK = textwrap.dedent(
    """
    import sys, tempfile
    import omnidash, omnidash.assets, omnidash.components
    from omnidash.demo import write_demo_runs
    from omnidash.server import create_app
    from omnidash.store import open_store

    for module in (omnidash, omnidash.assets, omnidash.components):
        assert module.__file__.startswith(sys.prefix) and "site-packages" in module.__file__, module.__file__
    folder = tempfile.mkdtemp()
    write_demo_runs(folder, 2)
    client = create_app(open_store(folder)).server.test_client()
    css = client.get("/assets/base.css")
    page = client.get("/")
    health = client.get("/healthz")
    assets = [line.split('src="', 1)[1].split('"', 1)[0] for line in page.text.splitlines()
              if '<script src="/assets/' in line]
    missing = [a for a in assets if client.get(a).status_code != 200] or ["none"]
    print(css.status_code, len(css.data), page.status_code, health.get_json()["runs"], "base.css" in page.text,
          len(assets), ",".join(missing))
    """
)


def can_build_without_isolation() -> bool:
    """Offline and fast when the installed setuptools can build wheels itself (>= 70.1, or `wheel`)."""
    import importlib.util

    import setuptools

    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


def see_dependencies(python: Path) -> None:
    """Let the new venv import this environment's packages (dash, numpy, pip...), whether the suite runs
    from a venv or not: a venv made from inside a venv with --system-site-packages sees the base
    interpreter's packages, not this one's. Directories named in a .pth come after the venv's own
    site-packages and their own .pth files (this checkout's editable install) are not run."""
    import site

    ours = [*site.getsitepackages(), site.getusersitepackages()]
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    Path(purelib, "outer_environment.pth").write_text("\n".join(p for p in ours if Path(p).is_dir()) + "\n")


def test_wheel_install_serves_assets(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    isolation = [] if not can_build_without_isolation() else ["--no-build-isolation"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", *isolation, "-q", "-w", str(wheels)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = next(wheels.glob("omnidash-*.whl"))
    venv = tmp_path / "venv"
    # --without-pip: this environment's pip (visible through the .pth below) installs into the venv.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    see_dependencies(python)
    # --ignore-installed: an omnidash already installed outside (the README's `pip install .`), seen through the
    # .pth, must not stop pip from installing the wheel into this venv
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    work = tmp_path / "elsewhere"  # not the checkout, so `import omnidash` must come from the wheel
    work.mkdir()
    result = subprocess.run([str(python), "-c", CHECK], cwd=work, capture_output=True, text=True, timeout=180,
                            env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    css_status, css_size, page_status, runs, linked, scripts, missing = result.stdout.split()
    assert (css_status, page_status, runs, linked) == ("200", "200", "2", "True")
    # every script of assets/ the page names (assets/vendor/ too) is in the wheel
    assert int(scripts) >= 7 and missing == "none", missing
    assert int(css_size) > 100
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    installed = {p.name for p in site.iterdir() if not p.name.endswith((".dist-info", ".pth")) and p.name != "__pycache__"}
    assert installed == {"omnidash", "sacredlog"}, installed
    top_level = next(site.glob("omnidash-*.dist-info")) / "top_level.txt"
    if top_level.exists():  # setuptools writes it; the names a `pip install omnidash` puts on sys.path
        assert top_level.read_text().split() == ["omnidash", "sacredlog"]
    assert (site / "omnidash" / "assets" / "table.js").is_file()
    script = venv / "bin" / "omnidash"
    assert script.exists()
    usage = subprocess.run([str(script), "--help"], cwd=work, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "serve" in usage.stdout and "demo" in usage.stdout


SACREDLOG_ALONE = textwrap.dedent(
    """
    import json, sys
    import sacredlog
    heavy = ("dash", "flask", "plotly", "pandas", "omnidash", "pymongo", "bson", "gridfs", "dns", "snappy",
             "zstandard", "pymongocrypt", "cryptography")
    print(json.dumps([sacredlog.__file__, sorted({m.split(".")[0] for m in sys.modules} & set(heavy))]))
    """
)


def test_import_sacredlog_loads_no_dashboard_library() -> None:
    """A training script's `import sacredlog` pulls in neither the dashboard (dash, flask, plotly, pandas, omnidash)
    nor pymongo and its optional extras (loaded only when a MongoDB writer opens)."""
    import json

    out = subprocess.run([sys.executable, "-c", SACREDLOG_ALONE], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    where, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert where.endswith("sacredlog/__init__.py")
    assert loaded == []
