"""``agent demo``: offline, a scripted episode on the virtual phone, trajectory and report."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli


def test_agent_demo_from_a_fresh_checkout(tmp_path: Path) -> None:
    result = run_cli("demo", "--out", str(tmp_path / "demo"), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = tmp_path / "demo" / "report.html"
    assert f"report: {report}" in result.stdout
    lines = [
        json.loads(line)
        for line in (tmp_path / "demo" / "trajectory.jsonl").read_text().splitlines()
    ]
    assert lines[-1]["status"] == "success"
    actions = [s["action"]["model"]["action"] for s in lines[1:-1]]
    assert actions == ["open", "click", "type", "click", "system_button", "terminate"]
    assert report.read_text(encoding="utf-8").count('class="screen"') == 6
