"""The example UI test suites (examples/ui-tests: the virtual phone, and a Tk app on a private
Xvfb) run as a user runs them: pytest in their folder, with the plugin found through its entry
point. Run twice with the plan cache, the second run answers every verb from the cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.environments.test_desktop import require

EXAMPLES = Path(__file__).parents[2] / "examples" / "ui-tests"
COUNTING = """
import json, os
import {module} as model

def answer(prompt):
    with open(os.environ["VL_CALLS"], "a") as log:
        log.write("x")
    return model.answer(prompt)
"""


def run(folder: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "model"), os.environ.get("PYTHONPATH", "")]),
        "VL_CALLS": str(tmp_path / "calls.txt"),
    }
    return subprocess.run(
        [
            sys.executable,
            *"-m pytest -q -p no:cacheprovider".split(),
            f"--vl-runs={tmp_path / 'runs'}",
            *args,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def calls(tmp_path: Path) -> int:
    path = tmp_path / "calls.txt"
    count = len(path.read_text()) if path.exists() else 0
    path.unlink(missing_ok=True)
    return count


@pytest.mark.parametrize(("suite", "module"), [("phone", "phone_model"), ("desktop", "list_model")])
def test_the_example_suite_passes_and_then_runs_from_its_plan_cache(
    suite: str, module: str, tmp_path: Path
) -> None:
    if suite == "desktop":
        require("Xvfb", "xclip")
    folder = EXAMPLES / suite
    result = run(folder, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert not (tmp_path / "runs").exists()  # retain-on-failure: nothing kept for passing tests

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "counting_model.py").write_text(COUNTING.format(module=module))
    cache = ["--vl-model", "python:counting_model:answer", f"--vl-cache-dir={tmp_path / 'plans'}"]
    first = run(folder, tmp_path, *cache, "--vl-cache", "update")
    assert first.returncode == 0, first.stdout + first.stderr
    assert calls(tmp_path) >= 10
    second = run(folder, tmp_path, *cache, "--vl-cache", "read")
    assert second.returncode == 0, second.stdout + second.stderr
    assert calls(tmp_path) == 0
    shutil.rmtree(tmp_path / "plans")
