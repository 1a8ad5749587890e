"""The example UI test suite (examples/ui-tests) runs as a user runs it: pytest in its folder,
with the plugin found through its entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples" / "ui-tests"


def test_the_example_suite_passes(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--vl-runs", str(tmp_path / "runs")],
        cwd=EXAMPLES, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert not (tmp_path / "runs").exists()  # retain-on-failure: nothing kept for passing tests
