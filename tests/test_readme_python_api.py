"""The README's "Python API (pandas)" example runs as written, on a demo folder written for the test."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from omnidash.demo import write_demo_runs

README = Path(__file__).resolve().parent.parent / "README.md"


def section_code(title: str) -> str:
    """The first ```python block under the README heading `## title`."""
    text = README.read_text()
    start = text.index(f"## {title}\n")
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block, f"no python block under {title!r}"
    return block.group(1)



def test_readme_python_example_runs(tmp_path, monkeypatch):
    folder = tmp_path / "omnidash-demo"
    folder.mkdir()
    write_demo_runs(str(folder), 24)
    monkeypatch.chdir(tmp_path)  # the example connects to ./omnidash-demo and saves into "."
    code = section_code("Python API (pandas)")
    assert 'omnidash.connect("./omnidash-demo")' in code
    scope: dict = {}
    exec(compile(code, str(README) + ":Python API (pandas)", "exec"), scope)  # noqa: S102 - our own README
    df, runs, best = scope["df"], scope["runs"], scope["best"]
    assert len(df) > 0 and best in df.index and df.index.name == "id"
    assert str(df["start_time"].dt.tz) == "UTC"
    assert set(scope["curves"]["run_id"]) <= set(df.index) and isinstance(scope["loss"], pd.Series)
    assert (tmp_path / "summary.json").is_file()
    assert "best" in runs[best].tags and runs[best].notes == "picked for the paper"
    assert scope["ranking"].attrs["runs"] == 24
