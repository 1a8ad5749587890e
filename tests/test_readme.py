"""The README's library example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_library_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, "the README has a Python example"
    exec(compile(blocks[0], str(README), "exec"), {"__name__": "readme_example"})


def test_readme_commands_are_the_ones_ci_runs() -> None:
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install torch==2.13.0 && pip install -e '.[test]' && pytest" in text
    assert "torch==2.13.0" in ci and "-e '.[test]'" in ci and "pytest" in ci
