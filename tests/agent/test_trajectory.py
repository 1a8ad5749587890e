"""Trajectories: crash safety, tolerant reading, and the documented schema."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import run_cli, tool_call, write_script
from vlagent.agent.trajectory import TrajectoryError, generate_schema, read_trajectory, schema

ROOT = Path(__file__).resolve().parents[2]


def recorded_run(tmp_path: Path) -> Path:
    answers = [
        "no call here",
        tool_call(action="click", coordinate=[500, 300]),
        tool_call(action="swipe", coordinate=[500, 800], coordinate2=[500, 200]),
        tool_call(action="type", text="héllo 你好"),
        tool_call(action="answer", text="done"),
    ]
    script = write_script(tmp_path / "s.txt", answers)
    out = tmp_path / "run"
    done = run_cli(
        *"run --env memory --space mobile --goal demo --model".split(),
        f"scripted:{script}",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    return out


def test_every_line_matches_the_documented_schema(tmp_path: Path) -> None:
    out = recorded_run(tmp_path)
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    lines = (out / "trajectory.jsonl").read_text(encoding="utf-8").splitlines()
    kinds = [json.loads(line)["type"] for line in lines]
    assert kinds == ["header"] + ["step"] * 5 + ["end"]
    for line in lines:
        validator.validate(json.loads(line))
    trajectory = read_trajectory(out)
    assert trajectory.problems == [] and not trajectory.torn_tail
    for step in trajectory.steps:
        shot = trajectory.screenshot(step)
        assert shot is not None and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert trajectory.steps[3].action is not None
    assert trajectory.steps[3].action.model["text"] == "héllo 你好"


def test_the_committed_schema_is_the_one_the_record_models_generate() -> None:
    committed = json.loads(
        (ROOT / "agent" / "trajectory" / "schema.json").read_text(encoding="utf-8")
    )
    assert committed == generate_schema(), (
        "agent/trajectory/schema.json differs from the record models: run python -m "
        "vlagent.agent.trajectory"
    )
    jsonschema.Draft202012Validator.check_schema(committed)


def test_a_line_that_breaks_the_schema_is_reported_not_read(tmp_path: Path) -> None:
    out = recorded_run(tmp_path)
    path = out / "trajectory.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    damaged = json.loads(lines[2])
    damaged["screenshot"] = "../../etc/passwd"  # outside the run: not a screenshot of this run
    lines[2] = json.dumps(damaged)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    trajectory = read_trajectory(out)
    assert [s.index for s in trajectory.steps] == [0, 2, 3, 4]
    assert len(trajectory.problems) == 1 and trajectory.problems[0].startswith(
        "line 3: damaged (screenshot: String should match"
    )


def test_the_docs_describe_every_field_the_schema_has() -> None:
    doc = (ROOT / "docs" / "trajectory-format.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)`", doc, flags=re.MULTILINE))
    defs = schema()["$defs"]
    for kind in ("Header", "Step", "End"):
        missing = set(defs[kind]["properties"]) - documented
        assert not missing, f"{kind} fields not in docs/trajectory-format.md: {sorted(missing)}"
    assert "agent/trajectory/schema.json" in doc


def test_sigkill_mid_run_leaves_every_finished_step_readable(tmp_path: Path) -> None:
    waits = [tool_call(action="wait", time=0.3)] * 40
    script = write_script(tmp_path / "s.txt", waits)
    out = tmp_path / "run"
    child = subprocess.Popen(
        [
            sys.executable,
            *"-m vlagent.agent run --env memory --space".split(),
            *"mobile --size 1920x1080 --goal wait --model".split(),
            f"scripted:{script}",
            "--out",
            str(out),
            "--max-repeats",
            "50",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    file = out / "trajectory.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if file.exists() and file.read_bytes().count(b'"type": "step"') >= 3:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    trajectory = read_trajectory(out)
    assert trajectory.end is None  # killed: no closing line
    assert len(trajectory.steps) >= 3
    assert trajectory.problems == []  # every line that was finished reads, every screenshot exists
    assert [s.index for s in trajectory.steps] == list(range(len(trajectory.steps)))


def test_a_corrupt_line_is_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    out = recorded_run(tmp_path)
    file = out / "trajectory.jsonl"
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = '{"type": "step", "index": 1, "scr\n'
    file.write_text("".join(lines), encoding="utf-8")
    trajectory = read_trajectory(out)
    assert len(trajectory.steps) == 4 and trajectory.end is not None
    assert len(trajectory.problems) == 1 and trajectory.problems[0].startswith("line 3: unreadable")
    shown = run_cli("show", str(out))
    assert shown.returncode == 0
    assert "line 3: unreadable" in shown.stderr and "answered" in shown.stdout


def test_a_torn_last_line_is_accepted(tmp_path: Path) -> None:
    out = recorded_run(tmp_path)
    file = out / "trajectory.jsonl"
    data = file.read_bytes()
    file.write_bytes(data[: data.rindex(b'{"type": "end"') + 25])
    trajectory = read_trajectory(out)
    assert trajectory.torn_tail and trajectory.problems == [] and trajectory.end is None
    assert len(trajectory.steps) == 5


def test_a_missing_screenshot_is_reported(tmp_path: Path) -> None:
    out = recorded_run(tmp_path)
    os.remove(out / "screens" / "000002.png")
    assert read_trajectory(out).problems == ["line 4: screenshot screens/000002.png is missing"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "does not start with a trajectory header"),
        (b'{"type": "header", "format": "other"}\n', "is not a vlagent trajectory"),
        (b'{"type": "header", "format": "vlagent-trajectory", "version": 99}\n', "upgrade vlagent"),
    ],
)
def test_unreadable_trajectories_say_why(tmp_path: Path, content: bytes, words: str) -> None:
    (tmp_path / "trajectory.jsonl").write_bytes(content)
    with pytest.raises(TrajectoryError, match=words):
        read_trajectory(tmp_path)
    shown = run_cli("show", str(tmp_path))
    assert shown.returncode == 3 and words in shown.stderr and len(shown.stderr.splitlines()) == 1


def test_missing_trajectory(tmp_path: Path) -> None:
    with pytest.raises(TrajectoryError, match="no trajectory at"):
        read_trajectory(tmp_path / "nowhere")
